/**
 * Service and node templates (TOSCA 2.0 6.9, 7.2, 7.4, 8.4, 11.3, 11.5, 11.7, 12.2, 16.2, 16.4):
 * the second pass, which checks the templates against the types bound by the first.
 */
import type { Value } from '@khutulun/floria';
import { GRAMMAR } from '../grammar.js';
import type { Unit } from '../loader.js';
import { locationName, resolveRelative } from '../source-reader.js';
import { foldStaticProperties } from '../static-fold.js';
import type {
  CheckedService,
  CompiledCapability,
  IfaceDef,
  NodeTemplate,
  PropDef,
  ToscaType,
} from '../tosca-model.js';

import { getEntry, toPlain, type YMap, type YNode, type YScalar } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import {
  isIntegerScalar,
  itemOf,
  lit,
  MAX_INLINE_ARTIFACT,
  mergeMaps,
  q,
  valueNode,
} from './shared.js';

/**
 * A node template's interfaces. Without assignments they are the node type's, the same for
 * every template of that type in one file: compiled once (the value is shared, never written).
 */
export function nodeInterfaces(
  this: Checker,
  unit: Unit,
  node: YNode | undefined,
  type: ToscaType,
  path: string,
): Value {
  if (node) return this.interfaceAssignments(unit, node, type.interfaces, path, type);
  let byUnit = this.typeInterfaces.get(type);
  if (!byUnit) {
    byUnit = new Map();
    this.typeInterfaces.set(type, byUnit);
  }
  let value = byUnit.get(unit);
  if (value === undefined) {
    value = this.interfaceAssignments(unit, undefined, type.interfaces, path, type);
    byUnit.set(unit, value);
  }
  return value;
}

// ---------------------------------------------------------------- service

/** The scalar entries of a file's top-level `metadata`, as strings (checked by `checkFile`). */
function fileMetadata(unit: Unit): Record<string, string> {
  const root = unit.root as YMap | undefined;
  const md = root?.kind === 'map' ? getEntry(root, 'metadata')?.value : undefined;
  const out: Record<string, string> = {};
  if (md?.kind !== 'map') return out;
  for (const { key, value } of md.entries) {
    if (value.kind === 'scalar' && value.value !== null)
      out[String(key.value)] = String(value.value);
  }
  return out;
}

/** Checks a service template (6.9): the second pass, over the types the first bound. */
export function checkService(this: Checker, unit: Unit, node: YNode): CheckedService | undefined {
  const path = 'service_template';
  const st = this.asMap(node, path, 'service_template');
  if (!st) return undefined;
  this.keys(st, GRAMMAR.service_template, path, 'the service template');
  const get = (k: string) => getEntry(st, k)?.value;
  const service: CheckedService = {
    types: this.allTypes,
    nodes: [],
    inputs: new Map(),
    outputs: new Map(),
    groups: [],
    policies: [],
    workflows: null,
    // The file's own metadata (e.g. `template_name`, already checked with the file) under
    // the service template's, which wins where both name a key.
    metadata: {
      ...fileMetadata(unit),
      ...(get('metadata') ? this.metadata(get('metadata'), `${path}.metadata`) : {}),
    },
    functions: this.allFunctions,
  };
  const desc = get('description');
  if (desc) {
    const d = this.description(desc, `${path}.description`);
    if (d !== undefined) service.description = d;
  }
  // inputs
  const inputDefs = new Map<string, PropDef>();
  if (get('inputs'))
    this.propDefs(unit, get('inputs'), inputDefs, `${path}.inputs`, false, 'parameter');
  for (const [name, d] of inputDefs) {
    const p = `${path}.inputs${q(name)}`;
    let value: Value | undefined;
    // A given value is checked like one written in the file (at the input's definition).
    const source =
      name in this.given ? valueNode(this.given[name] as Value, d.node) : (d.fixed ?? d.default);
    if (source) {
      const e = d.schema
        ? this.value(source, d.schema, p, { unit })
        : this.expression(source, p, { unit });
      if (!e) continue;
      if (e.kind === 'literal') value = e.value;
    } else if (d.required && !this.substituting) {
      this.sink.report(
        this.validateOnly ? 'warning' : 'error',
        'TOSCA1090',
        d.node,
        p,
        `input "${name}" is required and has no value (give it with -i ${name}=VALUE)`,
      );
    }
    const entry: { value?: Value; def: PropDef } = { def: d };
    if (value !== undefined) entry.value = value;
    this.inputs.set(name, entry);
  }
  for (const name of Object.keys(this.given)) {
    if (!inputDefs.has(name))
      this.sink.error(
        'TOSCA1091',
        st,
        `${path}.inputs`,
        `the service template has no input "${name}"`,
      );
  }
  service.inputs = this.inputs;
  // node templates
  const nts = get('node_templates');
  const ntMap = nts ? this.asMap(nts, `${path}.node_templates`, 'node_templates') : undefined;
  const templates = new Map<string, { node: YMap; path: string; key: YScalar }>();
  if (ntMap) {
    this.named(ntMap, `${path}.node_templates`, 'node template', (name, value, key, p) => {
      const m = this.asMap(value, p, `node template "${name}"`);
      if (m) templates.set(name, { node: m, path: p, key });
    });
  }
  const resolvedTemplates = this.resolveCopies(templates, 'node template');
  this.templateNodes = resolvedTemplates;
  for (const [name, m] of resolvedTemplates) {
    const tn = getEntry(m, 'type')?.value;
    this.templateTypes.set(
      name,
      tn?.kind === 'scalar' ? this.lookup(unit, 'node', String(tn.value)) : undefined,
    );
  }
  for (const [name, m] of resolvedTemplates) {
    const nt = this.nodeTemplate(unit, name, m, `${path}.node_templates${q(name)}`);
    if (nt) service.nodes.push(nt);
  }
  this.selfType = undefined;
  // relationship templates (reusable relationships referenced by requirements)
  const rts = get('relationship_templates');
  const relTemplates = new Map<string, { type: ToscaType; node: YMap }>();
  if (rts) {
    const map = this.asMap(rts, `${path}.relationship_templates`, 'relationship_templates');
    if (map) {
      const own = new Map<string, { node: YMap; path: string }>();
      this.named(
        map,
        `${path}.relationship_templates`,
        'relationship template',
        (name, value, _k, p) => {
          const m = this.asMap(value, p, `relationship template "${name}"`);
          if (m) own.set(name, { node: m, path: p });
        },
      );
      const resolved = this.resolveCopies(own, 'relationship template');
      this.named(
        map,
        `${path}.relationship_templates`,
        'relationship template',
        (name, _value, _k, p) => {
          const m = resolved.get(name);
          if (!m) return;
          this.keys(m, GRAMMAR.relationship_template, p, `relationship template "${name}"`);
          const type = this.typeRef(
            unit,
            'relationship',
            getEntry(m, 'type')?.value,
            `${p}.type`,
            'type',
          );
          if (!type) return;
          // Checked here too, so a template no requirement uses is still checked.
          this.relationshipAssignments(unit, m, type, p);
          relTemplates.set(name, { type, node: m });
        },
      );
    }
  }
  // requirements need all node templates
  const byName = new Map(service.nodes.map((n) => [n.name, n]));
  foldStaticProperties(service.nodes, byName, new Map());
  const substitutionReqs = this.substitutionRequirementTargets(get('substitution_mappings'));
  for (const nt of service.nodes) this.fulfil(unit, nt, byName, relTemplates, substitutionReqs);
  // groups
  const groups = get('groups');
  if (groups) {
    const map = this.asMap(groups, `${path}.groups`, 'groups');
    if (map) {
      this.named(map, `${path}.groups`, 'group', (name, value, _k, p) => {
        const m = this.asMap(value, p, `group "${name}"`);
        if (!m) return;
        this.keys(m, GRAMMAR.group, p, `group "${name}"`);
        const type = this.typeRef(unit, 'group', getEntry(m, 'type')?.value, `${p}.type`, 'type');
        if (!type) return;
        const members =
          this.strList(getEntry(m, 'members')?.value, `${p}.members`, 'members') ?? [];
        members.forEach((mem, i) => {
          const n = byName.get(mem);
          const where = itemOf(getEntry(m, 'members')?.value, i);
          if (!n)
            this.sink.error('TOSCA1020', where, `${p}.members[${i}]`, `no node template "${mem}"`);
          else if (
            type.members &&
            type.members.length > 0 &&
            !type.members.some((tn) => this.isNodeOf(unit, n.type, tn))
          ) {
            this.sink.error(
              'TOSCA1021',
              where,
              `${p}.members[${i}]`,
              `node template "${mem}" is not of a member type of group type "${type.name}" (${type.members.join(', ')})`,
            );
          }
        });
        const properties = this.assignProps(
          unit,
          getEntry(m, 'properties')?.value,
          type.props,
          `${p}.properties`,
          false,
          `group type "${type.name}"`,
        );
        service.groups.push({ name, type, members, properties });
      });
    }
  }
  // policies
  const policies = get('policies');
  if (policies) {
    const list = this.asList(
      policies,
      `${path}.policies`,
      'policies (a list of single-entry maps)',
    );
    list?.items.forEach((item, i) => {
      const p = `${path}.policies[${i}]`;
      const e = this.soleEntry(
        item,
        p,
        'TOSCA1010',
        'each policy must be a map with one entry (name: definition)',
      );
      if (!e) return;
      const name = String(e.key.value);
      const pp = `${p}${q(name)}`;
      const m = this.asMap(e.value, pp, `policy "${name}"`);
      if (!m) return;
      this.keys(m, GRAMMAR.policy, pp, `policy "${name}"`);
      const type = this.typeRef(unit, 'policy', getEntry(m, 'type')?.value, `${pp}.type`, 'type');
      if (!type) return;
      const targets = this.strList(getEntry(m, 'targets')?.value, `${pp}.targets`, 'targets') ?? [];
      targets.forEach((tg, j) => {
        const where = itemOf(getEntry(m, 'targets')?.value, j);
        const node = byName.get(tg);
        const group = service.groups.find((g) => g.name === tg);
        if (!node && !group) {
          this.sink.error(
            'TOSCA1020',
            where,
            `${pp}.targets[${j}]`,
            `no node template or group "${tg}"`,
          );
          return;
        }
        // The policy type may restrict its targets to some node or group types.
        const allowed = (type.targets ?? [])
          .map((n) =>
            node
              ? this.lookup(type.unit as Unit, 'node', n)
              : this.lookup(type.unit as Unit, 'group', n),
          )
          .filter((t) => t !== undefined);
        if (
          (type.targets ?? []).length > 0 &&
          !allowed.some((t) => this.isA(node ? node.type : group?.type, t))
        ) {
          this.sink.error(
            'TOSCA1021',
            where,
            `${pp}.targets[${j}]`,
            `policy type "${type.name}" applies only to ${(type.targets ?? []).join(', ')}; "${tg}" is a ${(node ? node.type : group?.type)?.name}`,
          );
        }
      });
      const triggersNode = getEntry(m, 'triggers')?.value;
      let triggers: Value = {};
      if (triggersNode) {
        const tm = this.asMap(triggersNode, `${pp}.triggers`, 'triggers');
        if (tm) {
          const out: Record<string, Value> = {};
          this.named(tm, `${pp}.triggers`, 'trigger', (tname, tv, _k, tp) => {
            const trig = this.asMap(tv, tp, `trigger "${tname}"`);
            if (!trig) return;
            this.keys(trig, GRAMMAR.trigger, tp, `trigger "${tname}"`);
            this.str(
              getEntry(trig, 'event')?.value,
              `${tp}.event`,
              'event (the name of the event that triggers it)',
            );
            const cond = getEntry(trig, 'condition')?.value;
            if (cond) this.checkCondition(cond, unit, `${tp}.condition`);
            const action = this.asList(getEntry(trig, 'action')?.value, `${tp}.action`, 'action');
            action?.items.forEach((a, j) => {
              this.activity(unit, a, `${tp}.action[${j}]`, undefined);
            });
            out[tname] = this.embedded(trig, tp, unit);
          });
          triggers = out;
        }
      }
      const properties = this.assignProps(
        unit,
        getEntry(m, 'properties')?.value,
        type.props,
        `${pp}.properties`,
        false,
        `policy type "${type.name}"`,
      );
      service.policies.push({ name, type, targets, triggers, properties });
    });
  }
  // workflows
  const workflows = get('workflows');
  if (workflows) {
    const map = this.asMap(workflows, `${path}.workflows`, 'workflows');
    if (map) {
      this.workflowNames = new Set(map.entries.map((e) => String(e.key.value)));
      this.groupNames = new Set(service.groups.map((g) => g.name));
      const out: Record<string, Value> = {};
      this.named(map, `${path}.workflows`, 'workflow', (name, value, _k, p) => {
        const w = this.workflow(unit, name, value, p, byName);
        if (w !== undefined) out[name] = w;
      });
      service.workflows = out;
    }
  }
  // outputs
  const outputs = get('outputs');
  if (outputs) {
    const defs = new Map<string, PropDef>();
    this.propDefs(unit, outputs, defs, `${path}.outputs`, false, 'parameter');
    for (const [name, d] of defs) {
      const v = d.fixed;
      // 9.7: `mapping` is for incoming parameters only (an output is outgoing), and excludes
      // `value`; an output gives its value with `value: { $get_attribute: [ ... ] }`.
      if (d.mapping) {
        this.sink.error(
          'TOSCA1011',
          d.mapping,
          `${path}.outputs${q(name)}.mapping`,
          v
            ? 'value and mapping exclude each other (TOSCA 2.0 9.7)'
            : 'mapping may only be defined for incoming parameters (TOSCA 2.0 9.7): an output gives its value with value: { $get_attribute: [ ... ] }',
        );
        continue;
      }
      if (!v) {
        service.outputs.set(name, lit(null));
        continue;
      }
      const e = d.schema
        ? this.value(v, d.schema, `${path}.outputs${q(name)}.value`, { unit })
        : this.expression(v, `${path}.outputs${q(name)}.value`, { unit });
      if (e) service.outputs.set(name, e);
    }
  }
  // substitution mappings
  const sm = get('substitution_mappings');
  if (sm)
    service.substitution = this.substitution(
      unit,
      sm,
      `${path}.substitution_mappings`,
      byName,
      service.outputs,
    );
  foldStaticProperties(service.nodes, byName, service.outputs);
  return service;
}

/** A template with `copy`: the copied template's keynames, overridden by its own. */
/**
 * Templates with `copy` resolved: the copied template's keynames and values, deep-merged
 * under the template's own (maps merge, lists and scalars are replaced), as Puccini does.
 * A copy of a copy is resolved transitively, with a warning, though 7.2 and 7.4 say the
 * source MUST NOT itself use `copy`; a cycle is an error. Templates whose copy fails are
 * left out.
 */
export function resolveCopies(
  this: Checker,
  templates: Map<string, { node: YMap; path: string }>,
  what: 'node template' | 'relationship template',
): Map<string, YMap> {
  const section = what === 'node template' ? '7.2' : '7.4';
  const resolved = new Map<string, YMap | undefined>();
  const resolving = new Set<string>();
  const resolve = (name: string): YMap | undefined => {
    if (resolved.has(name)) return resolved.get(name);
    const t = templates.get(name) as { node: YMap; path: string };
    const copy = getEntry(t.node, 'copy')?.value;
    if (!copy) {
      resolved.set(name, t.node);
      return t.node;
    }
    resolving.add(name);
    let out: YMap | undefined;
    const src = this.str(copy, `${t.path}.copy`, 'copy');
    const from = src === undefined ? undefined : templates.get(src);
    if (src !== undefined && !from)
      this.sink.error('TOSCA1020', copy, `${t.path}.copy`, `no ${what} "${src}" to copy`);
    else if (src !== undefined && resolving.has(src))
      this.sink.error(
        'TOSCA1021',
        copy,
        `${t.path}.copy`,
        `copying "${src}" makes a cycle of copies (${[...resolving, src].join(' -> ')})`,
      );
    else if (src !== undefined && from) {
      const base = resolve(src);
      if (base && getEntry(from.node, 'copy'))
        this.sink.warning(
          'TOSCA1021',
          copy,
          `${t.path}.copy`,
          `"${src}" is itself a copy, which TOSCA 2.0 ${section} forbids (MUST NOT); resolved transitively, as Puccini does`,
        );
      if (base) {
        const own: YMap = {
          ...t.node,
          entries: t.node.entries.filter((e) => e.key.value !== 'copy'),
        };
        out = mergeMaps(own, base);
      }
    }
    resolving.delete(name);
    resolved.set(name, out);
    return out;
  };
  const out = new Map<string, YMap>();
  for (const name of templates.keys()) {
    const m = resolve(name);
    if (m) out.set(name, m);
  }
  return out;
}

/** Whether a type is, or derives from, the node or capability type of this name. */
export function isNodeOf(this: Checker, unit: Unit, t: ToscaType, typeName: string): boolean {
  const want = this.lookup(unit, 'node', typeName) ?? this.lookup(unit, 'capability', typeName);
  return want ? this.isA(t, want) : true;
}

/** Checks a node template (7.2) and compiles it. */
export function nodeTemplate(
  this: Checker,
  unit: Unit,
  name: string,
  m: YMap,
  path: string,
): NodeTemplate | undefined {
  this.keys(m, GRAMMAR.node_template, path, `node template "${name}"`);
  this.owner = m;
  const get = (k: string) => getEntry(m, k)?.value;
  const type = this.typeRef(unit, 'node', get('type'), `${path}.type`, 'type');
  if (!type) return undefined;
  const directives = this.directives(
    get('directives'),
    `${path}.directives`,
    ['create', 'select', 'substitute'],
    '7.2',
  );
  const selectable = directives.includes('select') || directives.includes('substitute');
  this.selfType = type;
  this.selfName = name;
  const properties =
    selectable && !get('properties')
      ? new Map()
      : this.assignProps(
          unit,
          get('properties'),
          type.props,
          `${path}.properties`,
          false,
          `node type "${type.name}"`,
        );
  const attributes = this.assignProps(
    unit,
    get('attributes'),
    this.reflected(type),
    `${path}.attributes`,
    true,
    `node type "${type.name}"`,
    'error',
    properties,
  );
  for (const k of properties.keys()) attributes.delete(k);
  this.selfType = undefined;
  const nt: NodeTemplate = {
    name,
    node: m,
    type,
    path,
    properties,
    attributes,
    capabilities: new Map(),
    requirements: [],
    interfaces: this.nodeInterfaces(unit, get('interfaces'), type, `${path}.interfaces`),
    artifacts: {},
    directives,
    metadata: get('metadata') ? this.metadata(get('metadata'), `${path}.metadata`) : {},
  };
  const desc = get('description');
  if (desc) {
    const d = this.description(desc, `${path}.description`);
    if (d !== undefined) nt.description = d;
  }
  const count = get('count');
  if (count) {
    if (count.kind === 'scalar' && isIntegerScalar(count) && (count.value as number) >= 0)
      nt.count = count.value as number;
    else if (this.functionName(count) !== undefined) {
      const e = this.expression(count, `${path}.count`, { unit });
      if (
        e?.kind === 'literal' &&
        typeof e.value === 'number' &&
        Number.isInteger(e.value) &&
        e.value >= 0
      )
        nt.count = e.value;
      else if (e?.kind === 'literal')
        this.sink.error(
          'TOSCA1030',
          count,
          `${path}.count`,
          'count must be a non-negative integer',
        );
    } else
      this.sink.error('TOSCA1030', count, `${path}.count`, 'count must be a non-negative integer');
  }
  const nf = get('node_filter');
  if (nf) {
    // 7.2: the filter selects an existing node for a template with the select directive.
    if (!directives.includes('select'))
      this.sink.warning(
        'TOSCA1030',
        nf,
        `${path}.node_filter`,
        "a node template's node_filter selects an existing node only with the select directive (TOSCA 2.0 7.2): without it, the filter is kept but has no effect",
      );
    this.checkCondition(nf, unit, `${path}.node_filter`);
    const e = this.embedded(nf, `${path}.node_filter`, unit);
    nt.nodeFilter = e;
  }
  // capabilities
  const capsNode = get('capabilities');
  const capAssign = capsNode
    ? this.asMap(capsNode, `${path}.capabilities`, 'capabilities')
    : undefined;
  const assignedCaps = new Map<string, YMap>();
  if (capAssign) {
    this.named(capAssign, `${path}.capabilities`, 'capability', (cname, value, key, p) => {
      const def = type.capabilities.get(cname);
      if (!def) {
        this.sink.error(
          'TOSCA1033',
          key,
          p,
          `node type "${type.name}" has no capability "${cname}"`,
        );
        return;
      }
      const cm = this.asMap(value, p, `capability "${cname}"`);
      if (!cm) return;
      this.keys(cm, GRAMMAR.capability_assignment, p, `capability assignment "${cname}"`);
      const tn = getEntry(cm, 'type')?.value;
      if (tn) {
        const ct = this.typeRef(unit, 'capability', tn, `${p}.type`, 'type');
        if (ct && !this.isA(ct, def.type))
          this.sink.error(
            'TOSCA1022',
            tn,
            `${p}.type`,
            `capability type "${ct.name}" does not derive from "${def.type.name}"`,
          );
      }
      assignedCaps.set(cname, cm);
    });
  }
  for (const [cname, def] of type.capabilities) {
    const cm = assignedCaps.get(cname);
    const p = `${path}.capabilities${q(cname)}`;
    const cprops =
      selectable && !cm
        ? new Map()
        : this.assignProps(
            unit,
            cm ? getEntry(cm, 'properties')?.value : undefined,
            def.props,
            `${p}.properties`,
            false,
            `capability "${cname}"`,
          );
    const cattrs = this.assignProps(
      unit,
      cm ? getEntry(cm, 'attributes')?.value : undefined,
      this.reflected(def),
      `${p}.attributes`,
      true,
      `capability "${cname}"`,
      'error',
      cprops,
    );
    for (const k of cprops.keys()) cattrs.delete(k);
    const compiled: CompiledCapability = {
      name: cname,
      type: def.type,
      properties: cprops,
      attributes: cattrs,
    };
    if (def.validSources) compiled.validSources = def.validSources;
    const capDirectives = this.directives(
      cm ? getEntry(cm, 'directives')?.value : undefined,
      `${p}.directives`,
      ['internal', 'external'],
      '8.4',
    ).filter((d) => d === 'internal' || d === 'external');
    if (capDirectives.length > 0) compiled.directives = capDirectives;
    nt.capabilities.set(cname, compiled);
  }
  // artifacts
  const arts = get('artifacts');
  const artifacts: Record<string, Value> = {};
  for (const [aname, a] of type.artifacts)
    artifacts[aname] = this.artifactValue(a.node, a.unit, `${path}.artifacts${q(aname)}`);
  if (arts) {
    const am = this.asMap(arts, `${path}.artifacts`, 'artifacts');
    if (am) {
      this.named(am, `${path}.artifacts`, 'artifact', (aname, value, _k, p) => {
        const inherited = type.artifacts.get(aname);
        if (!inherited || value.kind !== 'map') {
          const a = this.artifactDef(unit, value, p);
          if (a) artifacts[aname] = this.artifactValue(a, unit, p);
          return;
        }
        // 7.2: the template's artifacts "augment or replace" its type's. One of the same
        // name refines it: what it leaves out (type, file...) is the type's, and a type it
        // names must derive from the type's.
        const ownType = getEntry(value, 'type')?.value;
        const typeUnit = ownType ? unit : inherited.unit;
        const a = this.artifactDef(typeUnit, mergeMaps(value, inherited.node), p);
        if (!a) return;
        const base = this.artifactTypeOf(inherited.node, inherited.unit);
        const refined = ownType ? this.artifactTypeOf(value, unit) : undefined;
        if (base && refined && !this.isA(refined, base))
          this.sink.error(
            'TOSCA1022',
            ownType as YNode,
            `${p}.type`,
            `artifact type "${refined.name}" does not derive from "${base.name}", the type the node type gives artifact "${aname}"`,
          );
        const fileUnit = getEntry(value, 'file') ? unit : inherited.unit;
        artifacts[aname] = this.artifactValue(a, typeUnit, p, fileUnit);
      });
    }
  }
  nt.artifacts = artifacts;
  this.selfName = undefined;
  return nt;
}

/**
 * An artifact definition as kept for run time: `path` is where its file is (a path, or
 * `archive!entry`), and `content` its base64 bytes when it is inside an archive (which may
 * be gone by the time it runs) and not larger than 1 MiB.
 */
export function artifactValue(
  this: Checker,
  a: YMap,
  unit: Unit,
  path: string,
  fileUnit: Unit = unit,
): Record<string, Value> {
  const value = this.embedded(a, path, unit) as Record<string, Value>;
  const type = this.artifactTypeOf(a, unit);
  if (type) value.type = type.canonical;
  if (typeof value.file === 'string' && !getEntry(a, 'repository'))
    Object.assign(value, this.fileInfo(value.file, fileUnit));
  return value;
}

/** The artifact type an artifact definition names, looked up where it was written. */
export function artifactTypeOf(this: Checker, a: YMap, unit: Unit): ToscaType | undefined {
  const tn = getEntry(a, 'type')?.value;
  return tn?.kind === 'scalar' ? this.lookup(unit, 'artifact', String(tn.value)) : undefined;
}

/** Where an artifact file is (a path, or `archive!entry`), with its bytes when read from an archive. */
export function fileInfo(this: Checker, file: string, unit: Unit): Record<string, Value> {
  if (/^[a-z][a-z0-9+.-]*:/i.test(file)) return {};
  const loc = resolveRelative(unit.loc, file);
  const out: Record<string, Value> = { path: locationName(loc) };
  if (loc.archive && this.reader) {
    const bytes = this.reader.bytes(loc);
    if (bytes && bytes.length <= MAX_INLINE_ARTIFACT)
      out.content = Buffer.from(bytes).toString('base64');
  }
  return out;
}

/**
 * A TOSCA structure kept for run time. Function calls in it become `{ $expression: E }`
 * (a Floria Expression), so they can never be mistaken for data.
 */
export function embedded(this: Checker, node: YNode, path: string, unit: Unit): Value {
  if (this.functionName(node) !== undefined) {
    const e = this.expression(node, path, { unit, inValidation: true });
    return e ? (e.kind === 'literal' ? e.value : { $expression: e as unknown as Value }) : null;
  }
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map((i, n) => this.embedded(i, `${path}[${n}]`, unit));
  const out: Record<string, Value> = {};
  for (const e of node.entries)
    out[String(e.key.value)] = this.embedded(e.value, `${path}${q(String(e.key.value))}`, unit);
  return out;
}

/** The property, attribute and interface assignments of a relationship, checked against its type. */
export function relationshipAssignments(
  this: Checker,
  unit: Unit,
  m: YMap | undefined,
  type: ToscaType,
  path: string,
) {
  const owner = `relationship type "${type.name}"`;
  return {
    properties: this.assignProps(
      unit,
      m ? getEntry(m, 'properties')?.value : undefined,
      type.props,
      `${path}.properties`,
      false,
      owner,
    ),
    attributes: this.assignProps(
      unit,
      m ? getEntry(m, 'attributes')?.value : undefined,
      type.attrs,
      `${path}.attributes`,
      true,
      owner,
    ),
    interfaces: this.interfaceAssignments(
      unit,
      m ? getEntry(m, 'interfaces')?.value : undefined,
      type.interfaces,
      `${path}.interfaces`,
    ),
  };
}

/** Checks interface assignments (11.3, 11.5, 11.7) and compiles the interfaces in effect. */
export function interfaceAssignments(
  this: Checker,
  unit: Unit,
  node: YNode | undefined,
  defs: Map<string, IfaceDef>,
  path: string,
  owner?: ToscaType,
): Value {
  const out: Record<string, Value> = {};
  const map = node ? this.asMap(node, path, 'interfaces') : undefined;
  const assigned = new Map<string, YMap>();
  if (map) {
    this.named(map, path, 'interface', (name, value, key, p) => {
      const def = defs.get(name);
      // 11.3 says what an assignment is for, not that an undefined one is an error, and
      // its example s41 assigns an interface its relationship type lacks: a warning.
      if (!def) {
        this.sink.report(
          'warning',
          'TOSCA1033',
          key,
          p,
          `no interface "${name}" is defined for this entity: the assignment is ignored`,
        );
        return;
      }
      const m = this.asMap(value, p, `interface "${name}"`);
      if (!m) return;
      this.keys(m, GRAMMAR.interface_assignment, p, `interface assignment "${name}"`);
      for (const k of ['operations', 'notifications'] as const) {
        const ops = this.asMap(getEntry(m, k)?.value, `${p}.${k}`, k);
        if (!ops) continue;
        const known = k === 'operations' ? def.operations : def.notifications;
        this.named(ops, `${p}.${k}`, k.slice(0, -1), (opName, opNode, opKey, op) => {
          if (!known.has(opName)) {
            this.sink.error(
              'TOSCA1033',
              opKey,
              op,
              `interface "${name}" (type "${def.type.name}") has no ${k.slice(0, -1)} "${opName}"`,
            );
            return;
          }
          if (opNode.kind === 'map')
            this.keys(
              opNode,
              GRAMMAR.operation_assignment,
              op,
              `${k.slice(0, -1)} assignment "${opName}"`,
            );
          else if (opNode.kind === 'scalar' && opNode.value !== null) {
            this.str(opNode, op, 'an operation implementation', false);
            this.loadable(opNode, op);
          }
          if (opNode.kind === 'map') {
            const impl = getEntry(opNode, 'implementation')?.value;
            if (impl) this.implementation(unit, impl, `${op}.implementation`);
          }
        });
      }
      assigned.set(name, m);
    });
  }
  for (const [name, def] of defs) {
    const m = assigned.get(name);
    const p = `${path}${q(name)}`;
    const iface: Record<string, Value> = {
      type: def.type.canonical,
      inputs: this.embeddedInputs(
        unit,
        def.inputs,
        m ? getEntry(m, 'inputs')?.value : undefined,
        `${p}.inputs`,
      ),
    };
    for (const k of ['operations', 'notifications'] as const) {
      const ops: Record<string, Value> = {};
      const known = k === 'operations' ? def.operations : def.notifications;
      const am = m ? getEntry(m, k)?.value : undefined;
      for (const [opName, opDef] of known) {
        const an = am?.kind === 'map' ? getEntry(am, opName)?.value : undefined;
        const implNode =
          an?.kind === 'scalar'
            ? an
            : an?.kind === 'map'
              ? (getEntry(an, 'implementation')?.value ?? opDef.implementation)
              : opDef.implementation;
        const op: Record<string, Value> = {
          inputs: this.embeddedInputs(
            unit,
            opDef.inputs,
            an?.kind === 'map' ? getEntry(an, 'inputs')?.value : undefined,
            `${p}.${k}${q(opName)}.inputs`,
            def.inputs,
          ),
        };
        if (implNode && !(implNode.kind === 'scalar' && implNode.value === null))
          op.implementation = this.implementationValue(implNode, unit);
        const outputs = an?.kind === 'map' ? getEntry(an, 'outputs')?.value : opDef.outputs;
        if (outputs) {
          op.outputs = toPlain(outputs) as Value;
          if (owner && an?.kind === 'map')
            this.checkOutputMappings(outputs, owner, `${p}.${k}${q(opName)}.outputs`);
        }
        ops[opName] = op;
      }
      iface[k] = ops;
    }
    out[name] = iface;
  }
  return out;
}

/**
 * Operation outputs map to attributes (11.5): `[ SELF, attribute, ...indexes ]` must name an
 * attribute (or property) of the node; other paths are followed at run time.
 */
export function checkOutputMappings(
  this: Checker,
  outputs: YNode,
  owner: ToscaType,
  path: string,
): void {
  if (outputs.kind !== 'map') return;
  for (const e of outputs.entries) {
    const k = String(e.key.value);
    const v = toPlain(e.value);
    if (!Array.isArray(v) || v.length < 2) {
      this.sink.error(
        'TOSCA1070',
        e.value,
        `${path}${q(k)}`,
        'an output mapping is an attribute path: [ SELF, attribute_name, ... ]',
      );
      continue;
    }
    if (
      v[0] !== 'SELF' ||
      v[1] === 'CAPABILITY' ||
      v[1] === 'RELATIONSHIP' ||
      typeof v[1] !== 'string'
    )
      continue;
    if (!owner.attrs.has(v[1]) && !owner.props.has(v[1]))
      this.sink.error(
        'TOSCA1041',
        e.value,
        `${path}${q(k)}`,
        `node type "${owner.name}" has no attribute "${v[1]}" to receive output "${k}"`,
      );
  }
}

/** An operation implementation as kept for run time (11.8). */
export function implementationValue(this: Checker, node: YNode, templateUnit: Unit): Value {
  // Relative files are relative to the file that wrote the implementation.
  const unit = this.unitByName.get(node.file.name) ?? templateUnit;
  const artifact = (a: YNode): Value => {
    if (a.kind !== 'scalar') return this.artifactValue(a as YMap, unit, '');
    const out: Record<string, Value> = { file: String(a.value) };
    Object.assign(out, this.fileInfo(String(a.value), unit));
    return out;
  };
  if (node.kind === 'scalar') return { primary: artifact(node), dependencies: [] };
  if (node.kind !== 'map') return null;
  const out: Record<string, Value> = { dependencies: [] };
  const primary = getEntry(node, 'primary')?.value;
  if (primary) out.primary = artifact(primary);
  const deps = getEntry(node, 'dependencies')?.value;
  if (deps?.kind === 'seq') out.dependencies = deps.items.map(artifact);
  const timeout = getEntry(node, 'timeout')?.value;
  if (timeout?.kind === 'scalar') out.timeout = timeout.value;
  return out;
}

/** Operation or interface inputs as kept for run time: definitions' defaults and fixed values, then assignments. */
export function embeddedInputs(
  this: Checker,
  unit: Unit,
  defs: Map<string, PropDef>,
  assigned: YNode | undefined,
  path: string,
  outer?: Map<string, PropDef>,
): Value {
  const out: Record<string, Value> = {};
  for (const [k, d] of defs) {
    const v = d.fixed ?? d.default;
    if (v) {
      const e = this.expression(v, `${path}${q(k)}`, { unit: d.unit });
      if (e) out[k] = e as unknown as Value;
    }
  }
  const map = assigned ? this.asMap(assigned, path, 'inputs') : undefined;
  if (map) {
    for (const e of map.entries) {
      const k = String(e.key.value);
      const d = defs.get(k);
      // 11.5: no assignment to an input whose definition (or the interface's) fixes its value.
      const fixed = d ? d.fixed : outer?.get(k)?.fixed;
      if (fixed) {
        this.sink.error(
          'TOSCA1034',
          e.value,
          `${path}${q(k)}`,
          `input "${k}" has a fixed value in its definition and cannot be assigned (TOSCA 2.0 11.5)`,
          [{ where: fixed, message: 'the fixed value' }],
        );
        continue;
      }
      const expr = d?.schema
        ? this.value(e.value, d.schema, `${path}${q(k)}`, { unit })
        : this.expression(e.value, `${path}${q(k)}`, { unit });
      if (expr) out[k] = expr as unknown as Value;
    }
  }
  return out;
}

/** A non-negative integer count, literal or computed at compile time; undefined if not known. */
/** A directives list, each one of `allowed`. */
/**
 * A directives list. The specification calls directives "processing instructions to
 * orchestrators and tooling" (7.2, 8.4, 8.7): one it does not define is kept, with a warning,
 * and means nothing here.
 */
export function directives(
  this: Checker,
  node: YNode | undefined,
  path: string,
  allowed: string[],
  section: string,
): string[] {
  const list = node ? this.strList(node, path, 'directives') : undefined;
  if (!list) return [];
  list.forEach((d, i) => {
    if (!allowed.includes(d))
      this.sink.warning(
        'TOSCA1030',
        itemOf(node, i),
        `${path}[${i}]`,
        `directive "${d}" is not one TOSCA 2.0 ${section} defines (${allowed.join(', ')}); kept for other tooling, ignored here`,
      );
  });
  return list;
}

/** A requirement or node `count` value, or nothing after its diagnostic. */
export function countValue(
  this: Checker,
  unit: Unit,
  node: YNode,
  path: string,
): number | undefined {
  if (node.kind === 'scalar' && isIntegerScalar(node) && (node.value as number) >= 0)
    return node.value as number;
  if (this.functionName(node) === undefined) return undefined;
  const e = this.expression(node, path, { unit });
  if (e?.kind !== 'literal') return undefined;
  if (typeof e.value === 'number' && Number.isInteger(e.value) && e.value >= 0) return e.value;
  this.sink.error(
    'TOSCA1030',
    node,
    path,
    `count must be a non-negative integer, not ${JSON.stringify(e.value)}`,
  );
  return undefined;
}
