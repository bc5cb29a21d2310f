/**
 * Turns a checked service into Floria entities, following the mapping in the README
 * ("Compiled output"): types to classes, nodes and capabilities to vertex templates,
 * requirements to edge templates, policies/groups/service to vertex templates.
 */
import { createHash } from 'node:crypto';
import type {
  Class,
  EdgeTemplate,
  Entity,
  Expression,
  Id,
  PluginEntity,
  Properties,
  Property,
  Value,
  VertexTemplate,
} from '@khutulun/floria';
import { resolveRelative, type SourceReader } from './source-reader.js';
import type { CheckedService, PropDef, ToscaType } from './tosca-model.js';
import { getEntry } from './yaml-tree.js';

/** What `compile` reports about the service besides its entities. */
export interface ServiceSummary {
  directory: string[];
  description?: string;
  /** Input values in effect (given or default). */
  inputs: Record<string, Value>;
  /** Each input's declaration, for asking users for values. */
  inputDefinitions: Record<string, { type?: string; required: boolean; description?: string }>;
  outputs: string[];
  nodeTemplates: string[];
  policies: string[];
  groups: string[];
  workflows: string[];
}

const KIND_CLASSES = ['node', 'capability', 'relationship', 'policy', 'group', 'service'] as const;

/** Emits the Floria entities of a checked service into `directory`. */
export function emit(
  service: CheckedService,
  directory: string[],
  reader: SourceReader,
): { templates: Entity[]; summary: ServiceSummary } {
  const out: Entity[] = [];
  const classIds = new Map<string, Id & { kind: 'class' }>();
  // One id per class, shared by every entity of it (ids are values, never written to).
  const classId = (name: string): Id & { kind: 'class' } => {
    let id = classIds.get(name);
    if (!id) {
      id = { kind: 'class', directory, name };
      classIds.set(name, id);
    }
    return id;
  };
  const typeClasses = new Map<ToscaType, Id & { kind: 'class' }>();
  const typeClass = (t: ToscaType) => {
    let id = typeClasses.get(t);
    if (!id) {
      id = classId(`${t.kind}:${t.canonical}`);
      typeClasses.set(t, id);
    }
    return id;
  };
  const vt = (name: string): Id & { kind: 'vertex-template' } => ({
    kind: 'vertex-template',
    directory,
    name,
  });
  for (const k of KIND_CLASSES)
    out.push({
      id: classId(`tosca:${k}`),
      metadata: { 'tosca.entity': 'kind' },
      classes: [],
      parents: [],
    } satisfies Class);
  for (const t of service.types) {
    const md: Record<string, string> = {
      'tosca.entity': 'type',
      'tosca.kind': t.kind,
      'tosca.name': t.canonical,
    };
    if (t.unit?.inProfile) md['tosca.profile'] = t.unit.inProfile;
    if (t.version) md['tosca.version'] = t.version;
    if (t.description) md['tosca.description'] = t.description;
    out.push({
      id: typeClass(t),
      metadata: md,
      classes: [],
      parents: t.parent && !t.parent.builtin ? [typeClass(t.parent)] : [],
    } satisfies Class);
  }
  // One metadata map per definition and kind, shared by every entity it describes (entities
  // are values: nothing writes to them once emitted).
  const propertyMetadata = new Map<PropDef | undefined, Record<string, string>>();
  const attributeMetadata = new Map<PropDef | undefined, Record<string, string>>();
  const metadataOf = (def: PropDef | undefined, kind: 'property' | 'attribute') => {
    const cache = kind === 'property' ? propertyMetadata : attributeMetadata;
    let md = cache.get(def);
    if (!md) {
      md = { 'tosca.kind': kind };
      if (def?.schema) md['tosca.type'] = def.schema.type.canonical;
      cache.set(def, md);
    }
    return md;
  };
  const props = (
    m: Map<string, { expr: Expression; def?: PropDef }>,
    kind: 'property' | 'attribute',
    into: Properties,
  ) => {
    m.forEach(({ expr, def }, k) => {
      const p: Property = { metadata: metadataOf(def, kind) };
      if (expr.kind === 'literal') p.value = expr.value;
      else p.updater = expr as Expression & { kind: 'call' };
      into[k] = p;
    });
  };
  const value = (v: Value): Property => ({ value: v });
  for (const n of service.nodes) {
    const properties: Properties = {};
    props(n.properties, 'property', properties);
    props(n.attributes, 'attribute', properties);
    properties['tosca:interfaces'] = value(n.interfaces);
    properties['tosca:artifacts'] = value(n.artifacts);
    properties['tosca:metadata'] = value(n.metadata);
    if (n.nodeFilter !== undefined) properties['tosca:node_filter'] = value(n.nodeFilter);
    const md: Record<string, string> = { 'tosca.entity': 'node', 'tosca.type': n.type.canonical };
    if (n.directives.length) md['tosca.directives'] = n.directives.join(',');
    if (n.description !== undefined) md['tosca.description'] = n.description;
    const nodeId = vt(n.name);
    const v: VertexTemplate = {
      id: nodeId,
      metadata: md,
      classes: [typeClass(n.type), classId('tosca:node')],
      properties,
    };
    if (n.count !== undefined) v.count = { initial: n.count };
    out.push(v);
    for (const c of n.capabilities.values()) {
      const cp: Properties = {};
      props(c.properties, 'property', cp);
      props(c.attributes, 'attribute', cp);
      out.push({
        id: vt(`${n.name}/capabilities/${c.name}`),
        parent: nodeId,
        metadata: {
          'tosca.entity': 'capability',
          'tosca.name': c.name,
          'tosca.node': n.name,
          'tosca.type': c.type.canonical,
        },
        classes: [typeClass(c.type), classId('tosca:capability')],
        properties: cp,
      } satisfies VertexTemplate);
    }
    for (const r of n.requirements) {
      const rp: Properties = {};
      props(r.properties, 'property', rp);
      props(r.attributes, 'attribute', rp);
      rp['tosca:interfaces'] = value(r.interfaces);
      if (r.allocation) rp['tosca:allocation'] = value(r.allocation);
      const md2: Record<string, string> = {
        'tosca.entity': 'relationship',
        'tosca.requirement': r.name,
        'tosca.index': String(r.index),
      };
      if (r.target) {
        md2['tosca.capability'] = r.target.capability;
        md2['tosca.target'] = r.target.node;
      }
      const e: EdgeTemplate = {
        id: {
          kind: 'edge-template',
          directory,
          name: `${n.name}/requirements/${r.index}/${r.name}`,
        },
        source: vt(n.name),
        selector: r.target
          ? { kind: 'id', id: vt(`${r.target.node}/capabilities/${r.target.capability}`) }
          : {
              kind: 'finder',
              call: {
                kind: 'call',
                plugin: 'tosca',
                function: 'find_target',
                arguments: [{ kind: 'literal', value: r.finder ?? {} }],
              },
            },
        metadata: md2,
        classes: r.relationship
          ? [typeClass(r.relationship), classId('tosca:relationship')]
          : [classId('tosca:relationship')],
        properties: rp,
      };
      if (r.optional) e.optional = true;
      out.push(e);
    }
  }
  for (const g of service.groups) {
    const gp: Properties = {};
    props(g.properties, 'property', gp);
    gp['tosca:members'] = value(g.members);
    out.push({
      id: vt(`group:${g.name}`),
      metadata: { 'tosca.entity': 'group', 'tosca.type': g.type.canonical },
      classes: [typeClass(g.type), classId('tosca:group')],
      properties: gp,
    } satisfies VertexTemplate);
  }
  for (const p of service.policies) {
    const pp: Properties = {};
    props(p.properties, 'property', pp);
    pp['tosca:targets'] = value(p.targets);
    pp['tosca:triggers'] = value(p.triggers);
    out.push({
      id: vt(`policy:${p.name}`),
      metadata: { 'tosca.entity': 'policy', 'tosca.type': p.type.canonical },
      classes: [typeClass(p.type), classId('tosca:policy')],
      properties: pp,
    } satisfies VertexTemplate);
  }
  const sp: Properties = {};
  const inputs: Record<string, Value> = {};
  const inputDefinitions = inputDefinitionsOf(service);
  for (const [k, i] of service.inputs) {
    // A deploy form is built from these (the dashboard's, for a CSAR too): type, description
    // and whether a value must be given.
    const definition = inputDefinitions[k];
    const metadata: Record<string, string> = { 'tosca.kind': 'input' };
    if (definition?.type) metadata['tosca.type'] = definition.type;
    if (definition?.description !== undefined)
      metadata['tosca.description'] = definition.description;
    if (definition) metadata['tosca.required'] = String(definition.required);
    const p: Property = { metadata };
    if (i.value !== undefined) {
      p.value = i.value;
      inputs[k] = i.value;
    }
    sp[`input:${k}`] = p;
  }
  for (const [k, e] of service.outputs) {
    sp[`output:${k}`] =
      e.kind === 'literal'
        ? { value: e.value, metadata: { 'tosca.kind': 'output' } }
        : { updater: e, metadata: { 'tosca.kind': 'output' } };
  }
  sp['tosca:workflows'] = value(service.workflows);
  sp['tosca:substitution'] = value(service.substitution ?? null);
  sp['tosca:metadata'] = value(service.metadata);
  out.push({
    id: vt('tosca:service'),
    metadata:
      service.description !== undefined
        ? { 'tosca.entity': 'service', 'tosca.description': service.description }
        : { 'tosca.entity': 'service' },
    classes: [classId('tosca:service')],
    properties: sp,
  } satisfies VertexTemplate);
  const plugins = new Set<string>();
  for (const f of service.functions) {
    if (!f.implementation || plugins.has(f.plugin)) continue;
    plugins.add(f.plugin);
    const loc = resolveRelative(f.implementation.unit.loc, f.implementation.file);
    const bytes = reader.bytes(loc);
    const ext = f.implementation.file.split('.').pop() ?? '';
    const p: PluginEntity = {
      id: { kind: 'plugin', directory, name: f.plugin },
      metadata: { 'tosca.entity': 'plugin', 'tosca.function': f.name },
      classes: [],
      pluginKind:
        ext === 'wasm' ? 'wasm' : ['js', 'mjs'].includes(ext) ? 'typescript' : 'executable',
      digest: `sha256:${createHash('sha256')
        .update(bytes ?? new Uint8Array())
        .digest('hex')}`,
      location: loc.archive ? 'inline:' : loc.path,
      grants: ['log', 'get-entity', 'evaluate', 'query'],
    };
    if (loc.archive && bytes) p.content = Buffer.from(bytes).toString('base64');
    out.push(p);
  }
  const summary: ServiceSummary = {
    directory,
    inputs,
    inputDefinitions,
    outputs: [...service.outputs.keys()],
    nodeTemplates: service.nodes.map((n) => n.name),
    policies: service.policies.map((p) => p.name),
    groups: service.groups.map((g) => g.name),
    workflows:
      service.workflows && typeof service.workflows === 'object'
        ? Object.keys(service.workflows)
        : [],
  };
  if (service.description !== undefined) summary.description = service.description;
  return { templates: out, summary };
}

/** Each input's type, description, and whether a deploy must give it (no default, no fixed value). */
function inputDefinitionsOf(service: CheckedService): ServiceSummary['inputDefinitions'] {
  const definitions: ServiceSummary['inputDefinitions'] = {};
  for (const [k, i] of service.inputs) {
    const d: ServiceSummary['inputDefinitions'][string] = {
      required: i.def.required && !i.def.default && !i.def.fixed,
    };
    if (i.def.schema) d.type = i.def.schema.type.canonical;
    const desc = i.def.node.kind === 'map' ? getEntry(i.def.node, 'description')?.value : undefined;
    if (desc?.kind === 'scalar' && typeof desc.value === 'string') d.description = desc.value;
    definitions[k] = d;
  }
  return definitions;
}
