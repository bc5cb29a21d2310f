import { GRAMMAR } from '../grammar.js';
import type { Unit } from '../loader.js';
import type {
  CapDef,
  FunctionDef,
  IfaceDef,
  OpDef,
  PropDef,
  ReqDef,
  ScalarInfo,
  Schema,
  ToscaType,
  TypeKind,
} from '../tosca-model.js';

import { getEntry, type YMap, type YNode, type YScalar } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import {
  canonicalName,
  itemOf,
  KINDS,
  PRIMITIVES,
  q,
  rangeBounds,
  rangeMax,
  SECTIONS,
  VERSION,
} from './shared.js';

// ---------------------------------------------------------------- type lookup

/** The types a file can name (its own, then its imports', under their namespaces), by `kind|name`. */
export function visible(
  this: Checker,
  unit: Unit,
  stack = new Set<Unit>(),
): Map<string, ToscaType> {
  const cached = this.visibleCache.get(unit);
  if (cached) return cached;
  const out = new Map<string, ToscaType>();
  for (const [k, t] of this.typesByUnit.get(unit) ?? []) out.set(k, t);
  stack.add(unit);
  for (const imp of unit.imports) {
    if (stack.has(imp.unit)) {
      for (const [k, t] of this.typesByUnit.get(imp.unit) ?? []) this.addVisible(out, k, t, imp);
      continue;
    }
    for (const [k, t] of this.visible(imp.unit, stack)) this.addVisible(out, k, t, imp);
  }
  stack.delete(unit);
  if (stack.size === 0) this.visibleCache.set(unit, out);
  return out;
}

/** Adds an imported type to what a file sees, reporting two different types under one name (6.8.4). */
export function addVisible(
  this: Checker,
  out: Map<string, ToscaType>,
  key: string,
  t: ToscaType,
  imp: Unit['imports'][number],
): void {
  const [kind, ...rest] = key.split('|');
  const name = rest.join('|');
  const k = imp.namespace ? `${kind}|${imp.namespace}:${name}` : key;
  const existing = out.get(k);
  if (!existing) out.set(k, t);
  // A file's own definitions shadow imported ones of the same name (the corpus relies on
  // it); two different imported types under one name are a conflict.
  else if (existing !== t && existing.unit !== imp.from) {
    // Two different types answer to the same name here (specification 6.8.4).
    const visibleName = k.slice(k.indexOf('|') + 1);
    this.sink.error(
      'TOSCA1014',
      imp.where,
      imp.path,
      `this import brings ${kind} type "${visibleName}" (from ${t.unit?.name ?? 'built-in'}), which conflicts with "${visibleName}" from ${existing.unit?.name ?? 'built-in'}: import one of them into a namespace`,
      [...(existing.node ? [{ where: existing.node, message: 'the other definition' }] : [])],
    );
  }
}

/**
 * The repositories a file can name: its own, and those of the files it imports (under their
 * namespace, if imported into one). Names are unique within a namespace (6.8.4): a file's own
 * repository shadows an imported one, two imported ones under one name are an error.
 */
export function repositories(
  this: Checker,
  unit: Unit,
  stack = new Set<Unit>(),
): Map<string, YNode> {
  const cached = this.repositoryCache.get(unit);
  if (cached) return cached;
  const out = new Map<string, YNode>();
  const own = unit.root ? getEntry(unit.root, 'repositories')?.value : undefined;
  if (own?.kind === 'map') for (const e of own.entries) out.set(String(e.key.value), e.key);
  stack.add(unit);
  for (const imp of unit.imports) {
    if (stack.has(imp.unit)) continue;
    for (const [name, def] of this.repositories(imp.unit, stack)) {
      const k = imp.namespace ? `${imp.namespace}:${name}` : name;
      const existing = out.get(k);
      if (!existing) out.set(k, def);
      else if (existing !== def && !(own?.kind === 'map' && getEntry(own, k)))
        this.sink.error(
          'TOSCA1014',
          imp.where,
          imp.path,
          `this import brings repository "${k}", which conflicts with another repository "${k}" imported here: names are unique within a namespace (TOSCA 2.0 6.8.4), so import one of them into a namespace`,
          [
            { where: def, message: 'this repository' },
            { where: existing, message: 'the other repository' },
          ],
        );
    }
  }
  stack.delete(unit);
  if (stack.size === 0) this.repositoryCache.set(unit, out);
  return out;
}

/**
 * The properties and attributes of a type or capability definition as one map (properties
 * are reflected as attributes): made once per definition, shared by every template of it.
 */
export function reflected(
  this: Checker,
  owner: { props: Map<string, PropDef>; attrs: Map<string, PropDef> },
): Map<string, PropDef> {
  let m = this.reflectedCache.get(owner);
  if (!m) {
    m = new Map([...owner.props, ...owner.attrs]);
    this.reflectedCache.set(owner, m);
  }
  return m;
}

/** Finds a type by the name a file uses for it. */
export function lookup(
  this: Checker,
  unit: Unit,
  kind: TypeKind,
  name: string,
): ToscaType | undefined {
  if (kind === 'data' && PRIMITIVES.includes(name)) return this.builtins.get(name);
  return (
    this.visible(unit).get(`${kind}|${name}`) ??
    (kind === 'data' ? this.builtins.get(name) : undefined)
  );
}

/** The type a `type`, `derived_from` or similar keyname names, or nothing after its diagnostic. */
export function typeRef(
  this: Checker,
  unit: Unit,
  kind: TypeKind,
  node: YNode | undefined,
  path: string,
  what: string,
): ToscaType | undefined {
  const name = this.str(node, path, what);
  if (name === undefined || !node) return undefined;
  const t = this.lookup(unit, kind, name);
  if (!t) this.sink.error('TOSCA1020', node, path, `unknown ${kind} type "${name}"`);
  else this.resolveType(t);
  return t;
}

/** Whether a type is its ancestor or derives from it. */
export function isA(this: Checker, t: ToscaType | undefined, ancestor: ToscaType): boolean {
  for (let c = t; c; c = c.parent) if (c === ancestor) return true;
  return false;
}

/** The primitive a data type derives from (`complex` for user structures). */
export function baseOf(this: Checker, t: ToscaType): string {
  for (let c: ToscaType | undefined = t; c; c = c.parent)
    if (c.builtin) return c.builtin.startsWith('scalar-unit') ? 'scalar' : c.builtin;
  return 'complex';
}

/** The scalar information (units, canonical unit, data type) a type has or inherits. */
export function scalarOf(this: Checker, t: ToscaType): ScalarInfo | undefined {
  for (let c: ToscaType | undefined = t; c; c = c.parent) if (c.scalar) return c.scalar;
  return undefined;
}

/** Collects the types and function definitions of a file (the first pass). */
export function collect(this: Checker, unit: Unit): void {
  const root = unit.root as YMap;
  const types = new Map<string, ToscaType>();
  this.typesByUnit.set(unit, types);
  for (const kind of KINDS) {
    const section = getEntry(root, SECTIONS[kind]);
    if (!section) continue;
    const map = this.asMap(section.value, SECTIONS[kind], SECTIONS[kind]);
    if (!map) continue;
    this.named(map, SECTIONS[kind], `${kind} type`, (name, value, _key, path) => {
      if (PRIMITIVES.includes(name) && kind === 'data') {
        this.sink.error(
          'TOSCA1014',
          value,
          path,
          `"${name}" is a built-in type and cannot be redefined`,
        );
        return;
      }
      if (value.kind !== 'map') {
        if (value.kind === 'scalar' && value.value === null) {
          const t = this.newType(
            kind,
            name,
            canonicalName(unit, name),
            unit,
            { kind: 'map', entries: [], file: value.file, offset: value.offset },
            path,
          );
          types.set(`${kind}|${name}`, t);
          this.allTypes.push(t);
          return;
        }
        this.sink.error(
          'TOSCA1010',
          value,
          path,
          `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} type definition must be a map`,
        );
        return;
      }
      const t = this.newType(kind, name, canonicalName(unit, name), unit, value, path);
      types.set(`${kind}|${name}`, t);
      this.allTypes.push(t);
    });
  }
  const fns = new Map<string, FunctionDef>();
  this.functionsByUnit.set(unit, fns);
  const functions = getEntry(root, 'functions');
  if (functions) {
    const map = this.asMap(functions.value, 'functions', 'functions');
    if (map) {
      if (map.entries.length === 0)
        this.sink.error('TOSCA1013', map, 'functions', 'functions is empty');
      this.named(map, 'functions', 'function', (name, value, _key, path) => {
        const def = this.functionDef(unit, name, value, path);
        if (def) {
          fns.set(name, def);
          this.allFunctions.push(def);
        }
      });
    }
  }
}

/** A custom function definition (10.4): its signatures and the plugin that implements it. */
export function functionDef(
  this: Checker,
  unit: Unit,
  name: string,
  node: YNode,
  path: string,
): FunctionDef | undefined {
  const map = this.asMap(node, path, `function "${name}"`);
  if (!map) return undefined;
  this.keys(map, GRAMMAR.function, path, `function "${name}"`);
  const def: FunctionDef = { name, plugin: 'tosca-functions', node, arities: [] };
  const sigs = getEntry(map, 'signatures')?.value;
  const list =
    sigs?.kind === 'seq'
      ? sigs.items
      : sigs?.kind === 'map'
        ? sigs.entries.map((e) => e.value)
        : undefined;
  if (sigs && !list)
    this.sink.error(
      'TOSCA1010',
      sigs,
      `${path}.signatures`,
      'signatures must be a list of signature definitions',
    );
  if (list && list.length === 0)
    this.sink.error(
      'TOSCA1013',
      sigs as YNode,
      `${path}.signatures`,
      'a function needs at least one signature',
    );
  list?.forEach((sig, i) => {
    const sp = `${path}.signatures[${i}]`;
    const m = this.asMap(sig, sp, 'a signature');
    if (!m) return;
    this.keys(m, GRAMMAR.signature, sp, 'a signature');
    const count = (k: string) => {
      const v = getEntry(m, k)?.value;
      return v?.kind === 'seq' ? v.items.length : 0;
    };
    const variadic = getEntry(m, 'variadic')?.value;
    const required = count('arguments');
    def.arities.push([
      variadic?.kind === 'scalar' && variadic.value === true ? Math.min(required, 1) : required,
      variadic?.kind === 'scalar' && variadic.value === true
        ? Number.POSITIVE_INFINITY
        : required + count('optional_arguments'),
    ]);
    for (const key of ['arguments', 'optional_arguments']) {
      const args = this.asList(getEntry(m, key)?.value, `${sp}.${key}`, key);
      args?.items.forEach((a, j) => {
        this.schema(unit, a, `${sp}.${key}[${j}]`);
      });
    }
    const result = getEntry(m, 'result')?.value;
    if (result) this.schema(unit, result, `${sp}.result`);
    const impl = getEntry(m, 'implementation')?.value;
    if (impl) {
      const file =
        impl.kind === 'scalar'
          ? impl.value
          : impl.kind === 'map'
            ? this.primaryFile(impl)
            : undefined;
      if (typeof file === 'string' && file !== '') {
        this.loadable(impl, `${sp}.implementation`);
        const base = file.split('/').pop() ?? file;
        def.plugin = base.replace(/\.[^.]*$/, '') || base;
        def.implementation = { file, unit };
      } else {
        this.sink.error(
          'TOSCA1010',
          impl,
          `${sp}.implementation`,
          'implementation must name an artifact file',
        );
      }
    }
  });
  return def;
}

/** The primary artifact file of an implementation definition. */
export function primaryFile(this: Checker, impl: YMap): string | undefined {
  const f = this.primaryNode(impl);
  return typeof f?.value === 'string' ? f.value : undefined;
}

/** The scalar naming an implementation's primary file (short form, or `primary`). */
export function primaryNode(this: Checker, impl: YNode): YScalar | undefined {
  if (impl.kind === 'scalar') return impl;
  if (impl.kind !== 'map') return undefined;
  const primary = getEntry(impl, 'primary')?.value;
  if (primary?.kind === 'scalar') return primary;
  const f = primary?.kind === 'map' ? getEntry(primary, 'file')?.value : undefined;
  return f?.kind === 'scalar' ? f : undefined;
}

/**
 * Khutulun loads a function, operation or notification implementation written in JavaScript
 * in process, and Node 20 cannot import TypeScript source: better said now than at run time.
 */
export function loadable(this: Checker, impl: YNode, path: string): void {
  const f = this.primaryNode(impl);
  if (typeof f?.value !== 'string' || !/\.(ts|mts|cts|tsx)$/i.test(f.value)) return;
  this.sink.error(
    'TOSCA1071',
    f,
    path,
    `implementation "${f.value}" is TypeScript source, which Node 20 cannot load: compile it to .js/.mjs and name that file`,
  );
}

/** Checks the top-level keynames of a file: version, profile, imports, DSL definitions, repositories. */
export function checkFile(this: Checker, unit: Unit): void {
  const root = unit.root as YMap;
  this.keys(root, GRAMMAR.file, '', 'a TOSCA file');
  const desc = getEntry(root, 'description');
  if (desc) this.description(desc.value, 'description');
  const md = getEntry(root, 'metadata');
  if (md) this.metadata(md.value, 'metadata');
  const profile = getEntry(root, 'profile');
  if (profile) {
    this.str(profile.value, 'profile', 'profile');
    if (getEntry(root, 'service_template')) {
      this.sink.error(
        'TOSCA1061',
        profile.key,
        'profile',
        'a TOSCA file that defines a profile must not contain a service_template (TOSCA 2.0 6.7.1: MUST NOT)',
      );
    }
  }
  const dsl = getEntry(root, 'dsl_definitions');
  if (dsl) {
    const map = this.asMap(dsl.value, 'dsl_definitions', 'dsl_definitions');
    if (map) {
      for (const e of map.entries) {
        const v = e.value;
        if ((v.kind === 'map' || v.kind === 'seq') && v.anchor) continue;
        this.sink.error(
          'TOSCA1010',
          e.key,
          `dsl_definitions${q(String(e.key.value))}`,
          'a DSL definition must be an anchored map or list (&name), meant to be reused with *name',
        );
      }
    }
  }
  this.repositories(unit);
  this.importedFunctions(unit);
  const repos = getEntry(root, 'repositories');
  if (repos) {
    const map = this.asMap(repos.value, 'repositories', 'repositories');
    if (map) {
      this.named(map, 'repositories', 'repository', (name, value, _k, path) => {
        if (value.kind === 'scalar' && typeof value.value === 'string' && value.value !== '')
          return; // short form: the URL
        const m = this.asMap(value, path, `repository "${name}"`);
        if (!m) return;
        this.keys(m, GRAMMAR.repository, path, `repository "${name}"`);
        this.str(getEntry(m, 'url')?.value, `${path}.url`, 'url');
      });
    }
  }
}

// ---------------------------------------------------------------- types

/** Resolves a type once: its parent, then what it defines and refines (6.4.2), reporting derivation cycles. */
export function resolveType(this: Checker, t: ToscaType): void {
  if (t.state === 'done') return;
  if (t.state === 'resolving') {
    this.sink.error(
      'TOSCA1021',
      t.node ?? { file: '', line: 1, column: 1 },
      t.path,
      `type "${t.name}" derives from itself`,
    );
    t.state = 'done';
    return;
  }
  t.state = 'resolving';
  const node = t.node as YMap;
  const unit = t.unit as Unit;
  const grammarName = `${t.kind}_type` as keyof typeof GRAMMAR;
  this.keys(node, GRAMMAR[grammarName], t.path, `${t.kind} type "${t.name}"`);
  const derived = getEntry(node, 'derived_from');
  if (derived) {
    const name = this.str(derived.value, `${t.path}.derived_from`, 'derived_from');
    if (name !== undefined) {
      const parent = this.lookup(unit, t.kind, name);
      if (!parent) {
        this.sink.error(
          'TOSCA1020',
          derived.value,
          `${t.path}.derived_from`,
          `unknown ${t.kind} type "${name}" in derived_from`,
        );
      } else {
        if (parent.state === 'resolving') {
          this.sink.error(
            'TOSCA1021',
            derived.value,
            `${t.path}.derived_from`,
            `derivation cycle through "${name}"`,
          );
        } else {
          this.resolveType(parent);
          t.parent = parent;
        }
      }
    }
  }
  const version = getEntry(node, 'version');
  if (version) {
    const v = version.value;
    const s = v.kind === 'scalar' ? (v.source ?? String(v.value)) : undefined;
    if (s === undefined || !VERSION.test(s))
      this.sink.error(
        'TOSCA1030',
        v,
        `${t.path}.version`,
        `invalid version "${s ?? ''}" (expected major.minor[.fix[.qualifier[-build]]])`,
      );
    else t.version = s;
  }
  const desc = getEntry(node, 'description');
  if (desc) {
    const d = this.description(desc.value, `${t.path}.description`);
    if (d !== undefined) t.description = d;
  }
  const md = getEntry(node, 'metadata');
  if (md) t.metadata = this.metadata(md.value, `${t.path}.metadata`);
  const p = t.parent;
  if (p) {
    for (const [k, v] of p.props) t.props.set(k, v);
    for (const [k, v] of p.attrs) t.attrs.set(k, v);
    for (const [k, v] of p.capabilities) t.capabilities.set(k, v);
    for (const [k, v] of p.requirements) t.requirements.set(k, v);
    for (const [k, v] of p.interfaces) t.interfaces.set(k, v);
    for (const [k, v] of p.artifacts) t.artifacts.set(k, v);
    for (const [k, v] of p.operations) t.operations.set(k, v);
    for (const [k, v] of p.notifications) t.notifications.set(k, v);
    for (const [k, v] of p.inputs) t.inputs.set(k, v);
    if (p.entry) t.entry = p.entry;
    if (p.key) t.key = p.key;
    if (p.members) t.members = p.members;
    // Valid-type lists are inherited unless the derived type gives its own.
    if (p.validCapabilityTypes) t.validCapabilityTypes = p.validCapabilityTypes;
    if (p.validTargetNodeTypes) t.validTargetNodeTypes = p.validTargetNodeTypes;
    if (p.validSourceNodeTypes) t.validSourceNodeTypes = p.validSourceNodeTypes;
    if (p.validRelationshipTypes) t.validRelationshipTypes = p.validRelationshipTypes;
    if (p.targets) t.targets = p.targets;
  }
  const get = (k: string) => getEntry(node, k)?.value;
  if (get('properties'))
    this.propDefs(
      unit,
      get('properties'),
      t.props,
      `${t.path}.properties`,
      false,
      t.kind === 'data' ? 'data' : 'type',
    );
  if (get('attributes'))
    this.propDefs(unit, get('attributes'), t.attrs, `${t.path}.attributes`, true, 'type');
  switch (t.kind) {
    case 'data':
      this.dataType(t, node, unit);
      break;
    case 'capability':
    case 'relationship':
      for (const k of ['valid_source_node_types', 'valid_target_node_types']) {
        const list = this.strList(get(k), `${t.path}.${k}`, k);
        const found: ToscaType[] = [];
        list?.forEach((n, i) => {
          const nt = this.lookup(unit, 'node', n);
          if (nt) found.push(nt);
          else
            this.sink.error(
              'TOSCA1020',
              itemOf(get(k), i),
              `${t.path}.${k}[${i}]`,
              `unknown node type "${n}"`,
            );
        });
        if (k === 'valid_source_node_types' && found.length > 0) t.validSourceNodeTypes = found;
        if (k === 'valid_target_node_types' && found.length > 0) t.validTargetNodeTypes = found;
      }
      for (const [k, kind] of [
        ['valid_relationship_types', 'relationship'],
        ['valid_capability_types', 'capability'],
      ] as const) {
        const list = this.strList(get(k), `${t.path}.${k}`, k);
        const found: ToscaType[] = [];
        list?.forEach((n, i) => {
          const ft = this.lookup(unit, kind, n);
          if (!ft)
            this.sink.error(
              'TOSCA1020',
              itemOf(get(k), i),
              `${t.path}.${k}[${i}]`,
              `unknown ${kind} type "${n}"`,
            );
          else found.push(ft);
        });
        if (k === 'valid_capability_types' && list) t.validCapabilityTypes = found;
        if (k === 'valid_relationship_types' && list && found.length > 0)
          t.validRelationshipTypes = found;
      }
      if (t.kind === 'relationship' && get('interfaces'))
        this.interfaceDefs(unit, get('interfaces'), t.interfaces, `${t.path}.interfaces`);
      break;
    case 'interface':
      if (get('inputs'))
        this.propDefs(unit, get('inputs'), t.inputs, `${t.path}.inputs`, false, 'parameter');
      for (const k of ['operations', 'notifications'] as const) {
        const map = this.asMap(get(k), `${t.path}.${k}`, k);
        if (!map) continue;
        const target = k === 'operations' ? t.operations : t.notifications;
        this.named(map, `${t.path}.${k}`, k.slice(0, -1), (name, value, _key, path) => {
          const op = this.opDef(unit, name, value, path, target.get(name));
          if (op?.implementation) {
            this.sink.error(
              'TOSCA1070',
              op.implementation,
              `${path}.implementation`,
              'an interface type cannot give an operation implementation (implementations belong to node or relationship types and templates)',
            );
          }
          if (op) target.set(name, op);
        });
      }
      break;
    case 'node':
      this.nodeTypeParts(t, node, unit);
      break;
    case 'artifact': {
      const mime = get('mime_type');
      if (mime) this.str(mime, `${t.path}.mime_type`, 'mime_type');
      if (get('file_ext')) this.strList(get('file_ext'), `${t.path}.file_ext`, 'file_ext');
      break;
    }
    case 'group': {
      const members = get('members');
      if (members) {
        const list = this.strList(members, `${t.path}.members`, 'members');
        if (list) t.members = list;
      }
      break;
    }
    case 'policy': {
      const targets = get('targets');
      if (targets) {
        const list = this.strList(targets, `${t.path}.targets`, 'targets');
        if (list) t.targets = list;
      }
      const triggers = get('triggers');
      if (triggers) this.asMap(triggers, `${t.path}.triggers`, 'triggers');
      break;
    }
  }
  t.state = 'done';
}

/** Resolves what a node type defines: capabilities, requirements, interfaces and artifacts (7.1). */
export function nodeTypeParts(this: Checker, t: ToscaType, node: YMap, unit: Unit): void {
  const get = (k: string) => getEntry(node, k)?.value;
  const caps = this.asMap(get('capabilities'), `${t.path}.capabilities`, 'capabilities');
  if (caps) {
    this.named(caps, `${t.path}.capabilities`, 'capability', (name, value, _k, path) => {
      const c = this.capDef(unit, name, value, path, t.capabilities.get(name));
      if (c) t.capabilities.set(name, c);
    });
  }
  const reqs = get('requirements');
  if (reqs) {
    const list = this.asList(
      reqs,
      `${t.path}.requirements`,
      'requirements (a list of single-entry maps)',
    );
    const seen = new Set<string>();
    list?.items.forEach((item, i) => {
      const path = `${t.path}.requirements[${i}]`;
      const e = this.soleEntry(
        item,
        path,
        'TOSCA1010',
        'each requirement definition must be a map with one entry (name: definition)',
      );
      if (!e) return;
      const name = String(e.key.value);
      if (seen.has(name)) {
        this.sink.error(
          'TOSCA1014',
          e.key,
          `${path}${q(name)}`,
          `requirement "${name}" is defined twice in node type "${t.name}"`,
        );
        return;
      }
      seen.add(name);
      const r = this.reqDef(unit, name, e.value, `${path}${q(name)}`, t.requirements.get(name));
      if (r) t.requirements.set(name, r);
    });
  }
  if (get('interfaces'))
    this.interfaceDefs(unit, get('interfaces'), t.interfaces, `${t.path}.interfaces`);
  const arts = this.asMap(get('artifacts'), `${t.path}.artifacts`, 'artifacts');
  if (arts) {
    this.named(arts, `${t.path}.artifacts`, 'artifact', (name, value, _k, path) => {
      const a = this.artifactDef(unit, value, path);
      if (a) t.artifacts.set(name, { node: a, unit });
    });
  }
}

/** A capability definition or refinement (8.2, 8.3). */
export function capDef(
  this: Checker,
  unit: Unit,
  name: string,
  node: YNode,
  path: string,
  inherited?: CapDef,
): CapDef | undefined {
  if (node.kind === 'scalar') {
    const type = this.typeRef(unit, 'capability', node, path, `capability "${name}" type`);
    if (!type) return undefined;
    const def: CapDef = {
      name,
      type,
      node,
      props: new Map(type.props),
      attrs: new Map(type.attrs),
    };
    if (type.validSourceNodeTypes) def.validSources = type.validSourceNodeTypes;
    return def;
  }
  const map = this.asMap(node, path, `capability "${name}"`);
  if (!map) return undefined;
  this.keys(
    map,
    inherited ? GRAMMAR.capability_refinement : GRAMMAR.capability_definition,
    path,
    `capability definition "${name}"`,
  );
  const typeNode = getEntry(map, 'type')?.value;
  let type = inherited?.type;
  if (typeNode) {
    const t = this.typeRef(unit, 'capability', typeNode, `${path}.type`, 'type');
    if (!t) return undefined;
    if (inherited && !this.isA(t, inherited.type)) {
      this.sink.error(
        'TOSCA1022',
        typeNode,
        `${path}.type`,
        `capability type "${t.name}" does not derive from the inherited "${inherited.type.name}"`,
      );
    }
    type = t;
  }
  if (!type) return undefined;
  const props = new Map(type.props);
  if (inherited) for (const [k, v] of inherited.props) props.set(k, v);
  const attrs = new Map(type.attrs);
  if (inherited) for (const [k, v] of inherited.attrs) attrs.set(k, v);
  const pn = getEntry(map, 'properties')?.value;
  if (pn) this.propDefs(unit, pn, props, `${path}.properties`, false, 'refinement');
  const an = getEntry(map, 'attributes')?.value;
  if (an) this.propDefs(unit, an, attrs, `${path}.attributes`, true, 'refinement');
  const def: CapDef = { name, type, node, props, attrs };
  const sources = inherited?.validSources ?? type.validSourceNodeTypes;
  if (sources) def.validSources = sources;
  const vs = getEntry(map, 'valid_source_node_types')?.value;
  const names = vs
    ? this.strList(vs, `${path}.valid_source_node_types`, 'valid_source_node_types')
    : undefined;
  if (names && names.length > 0) {
    const found: ToscaType[] = [];
    names.forEach((n, i) => {
      const nt = this.lookup(unit, 'node', n);
      if (nt) found.push(nt);
      else
        this.sink.error(
          'TOSCA1020',
          itemOf(vs, i),
          `${path}.valid_source_node_types[${i}]`,
          `unknown node type "${n}"`,
        );
    });
    def.validSources = found;
  }
  return def;
}

/** A requirement definition or refinement (8.5, 8.6). */
export function reqDef(
  this: Checker,
  unit: Unit,
  name: string,
  node: YNode,
  path: string,
  inherited?: ReqDef,
): ReqDef | undefined {
  const r: ReqDef = inherited
    ? { ...inherited, name, node }
    : { name, node, countRange: [0, Number.POSITIVE_INFINITY] };
  if (node.kind === 'scalar') {
    const s = this.str(node, path, `requirement "${name}"`);
    if (s === undefined) return undefined;
    const ct = this.lookup(unit, 'capability', s);
    if (!ct) this.sink.error('TOSCA1020', node, path, `unknown capability type "${s}"`);
    else r.capability = { type: ct };
    return r;
  }
  const map = this.asMap(node, path, `requirement "${name}"`);
  if (!map) return undefined;
  this.keys(
    map,
    inherited ? GRAMMAR.requirement_refinement : GRAMMAR.requirement_definition,
    path,
    `requirement definition "${name}"`,
  );
  const cap = getEntry(map, 'capability')?.value;
  if (cap) {
    const s = this.str(cap, `${path}.capability`, 'capability');
    if (s !== undefined) {
      const ct = this.lookup(unit, 'capability', s);
      if (ct) r.capability = { type: ct };
      else
        this.sink.error('TOSCA1020', cap, `${path}.capability`, `unknown capability type "${s}"`);
    }
  }
  const n = getEntry(map, 'node')?.value;
  if (n) {
    const s = this.str(n, `${path}.node`, 'node');
    if (s !== undefined) {
      const nt = this.lookup(unit, 'node', s);
      if (nt) r.nodeType = nt;
      else this.sink.error('TOSCA1020', n, `${path}.node`, `unknown node type "${s}"`);
    }
  }
  const rel = getEntry(map, 'relationship')?.value;
  if (rel) {
    if (rel.kind === 'map') {
      this.keys(
        rel,
        inherited ? GRAMMAR.relationship_refinement : GRAMMAR.relationship_definition,
        `${path}.relationship`,
        'relationship definition',
      );
      const tn = getEntry(rel, 'type')?.value;
      if (tn) {
        const rt = this.typeRef(unit, 'relationship', tn, `${path}.relationship.type`, 'type');
        if (rt) r.relationship = rt;
      }
      const ifs = getEntry(rel, 'interfaces')?.value;
      if (ifs) this.asMap(ifs, `${path}.relationship.interfaces`, 'interfaces');
    } else {
      const rt = this.typeRef(unit, 'relationship', rel, `${path}.relationship`, 'relationship');
      if (rt) r.relationship = rt;
    }
  }
  const cr = getEntry(map, 'count_range')?.value;
  if (cr) {
    const range = this.countRange(cr, `${path}.count_range`);
    if (
      range &&
      inherited &&
      (range[0] < inherited.countRange[0] || range[1] > inherited.countRange[1])
    ) {
      this.sink.error(
        'TOSCA1022',
        cr,
        `${path}.count_range`,
        `count_range must stay within the inherited [${inherited.countRange[0]}, ${rangeMax(inherited.countRange[1])}]`,
      );
    } else if (range) r.countRange = range;
  }
  const nf = getEntry(map, 'node_filter')?.value;
  if (nf) {
    this.checkCondition(nf, unit, `${path}.node_filter`);
    r.nodeFilter = nf;
  }
  return r;
}

/** A `count_range` [ min, max ] (max may be UNBOUNDED), or nothing after its diagnostic. */
export function countRange(this: Checker, node: YNode, path: string): [number, number] | undefined {
  const bounds = rangeBounds(node);
  if (bounds && bounds[0] >= 0) return bounds;
  this.sink.error(
    'TOSCA1030',
    node,
    path,
    'count_range must be [min, max] with non-negative integers, min <= max (max may be UNBOUNDED)',
  );
  return undefined;
}

/** Interface definitions and refinements of a type (11.2), over those it inherits. */
export function interfaceDefs(
  this: Checker,
  unit: Unit,
  node: YNode | undefined,
  out: Map<string, IfaceDef>,
  path: string,
): void {
  const map = this.asMap(node, path, 'interfaces');
  if (!map) return;
  this.named(map, path, 'interface', (name, value, _k, p) => {
    const m = this.asMap(value, p, `interface "${name}"`);
    if (!m) return;
    const inherited = out.get(name);
    this.keys(
      m,
      inherited ? GRAMMAR.interface_refinement : GRAMMAR.interface_definition,
      p,
      `interface definition "${name}"`,
    );
    let type = inherited?.type;
    const tn = getEntry(m, 'type')?.value;
    if (tn) {
      const t = this.typeRef(unit, 'interface', tn, `${p}.type`, 'type');
      if (!t) return;
      type = t;
    }
    if (!type) return;
    const def: IfaceDef = {
      name,
      type,
      inputs: new Map([...type.inputs, ...(inherited?.inputs ?? [])]),
      operations: new Map([...type.operations, ...(inherited?.operations ?? [])]),
      notifications: new Map([...type.notifications, ...(inherited?.notifications ?? [])]),
    };
    const inputs = getEntry(m, 'inputs')?.value;
    if (inputs) this.propDefs(unit, inputs, def.inputs, `${p}.inputs`, false, 'parameter');
    for (const k of ['operations', 'notifications'] as const) {
      const ops = this.asMap(getEntry(m, k)?.value, `${p}.${k}`, k);
      if (!ops) continue;
      const target = k === 'operations' ? def.operations : def.notifications;
      this.named(ops, `${p}.${k}`, k.slice(0, -1), (opName, opNode, key, op) => {
        if (!target.has(opName)) {
          this.sink.error(
            'TOSCA1033',
            key,
            op,
            `interface type "${type?.name}" has no ${k.slice(0, -1)} "${opName}"`,
          );
          return;
        }
        const d = this.opDef(unit, opName, opNode, op, target.get(opName));
        if (d) target.set(opName, d);
      });
    }
    this.sharedInputs(def, p);
    out.set(name, def);
  });
}

/**
 * An operation receives its interface's inputs and its own (11.1, 11.2): one name defined
 * at both levels must have types one of which derives from the other, or no value could
 * satisfy both definitions.
 */
export function sharedInputs(this: Checker, def: IfaceDef, path: string): void {
  for (const k of ['operations', 'notifications'] as const) {
    for (const [opName, op] of def[k]) {
      for (const [name, own] of op.inputs) {
        const outer = def.inputs.get(name);
        const a = own.schema?.type;
        const b = outer?.schema?.type;
        if (!outer || !a || !b || this.isA(a, b) || this.isA(b, a)) continue;
        this.sink.error(
          'TOSCA1022',
          own.node,
          `${path}.${k}${q(opName)}.inputs${q(name)}`,
          `input "${name}" of ${k.slice(0, -1)} "${opName}" has type ${a.name}, but interface input "${name}", which the ${k.slice(0, -1)} also receives, has type ${b.name}`,
          [{ where: outer.node, message: 'the interface input' }],
        );
      }
    }
  }
}

/** An operation or notification definition or refinement (11.4, 11.6). */
export function opDef(
  this: Checker,
  unit: Unit,
  name: string,
  node: YNode,
  path: string,
  inherited?: OpDef,
): OpDef | undefined {
  const op: OpDef = { name, inputs: new Map(inherited?.inputs ?? []) };
  if (inherited?.implementation) op.implementation = inherited.implementation;
  if (node.kind === 'scalar') {
    if (node.value === null) return op;
    this.loadable(node, path);
    op.implementation = node;
    return op;
  }
  const map = this.asMap(node, path, `operation "${name}"`);
  if (!map) return undefined;
  this.keys(map, GRAMMAR.operation_definition, path, `operation "${name}"`);
  const impl = getEntry(map, 'implementation')?.value;
  if (impl) {
    this.implementation(unit, impl, `${path}.implementation`);
    op.implementation = impl;
  }
  const inputs = getEntry(map, 'inputs')?.value;
  if (inputs) this.propDefs(unit, inputs, op.inputs, `${path}.inputs`, false, 'parameter');
  const outputs = getEntry(map, 'outputs')?.value;
  if (outputs) {
    this.asMap(outputs, `${path}.outputs`, 'outputs');
    op.outputs = outputs;
  }
  return op;
}

/** Checks an operation or notification implementation definition (11.8). */
export function implementation(this: Checker, unit: Unit, node: YNode, path: string): void {
  this.loadable(node, path);
  if (node.kind === 'scalar') {
    this.str(node, path, 'implementation');
    return;
  }
  const m = this.asMap(node, path, 'implementation');
  if (!m) return;
  this.keys(m, GRAMMAR.implementation, path, 'an implementation');
  const primary = getEntry(m, 'primary')?.value;
  if (primary && primary.kind === 'map') this.artifactDef(unit, primary, `${path}.primary`);
  else if (primary) this.str(primary, `${path}.primary`, 'primary');
  const deps = this.asList(
    getEntry(m, 'dependencies')?.value,
    `${path}.dependencies`,
    'dependencies',
  );
  deps?.items.forEach((d, i) => {
    if (d.kind === 'map') this.artifactDef(unit, d, `${path}.dependencies[${i}]`);
    else this.str(d, `${path}.dependencies[${i}]`, 'dependency');
  });
}

/** Checks an artifact definition (12.2): its keynames, type, file, repository and properties. */
export function artifactDef(
  this: Checker,
  unit: Unit,
  node: YNode,
  path: string,
): YMap | undefined {
  const m = this.asMap(node, path, 'an artifact definition');
  if (!m) return undefined;
  this.keys(m, GRAMMAR.artifact_definition, path, 'an artifact definition');
  const tn = getEntry(m, 'type')?.value;
  const type = tn ? this.typeRef(unit, 'artifact', tn, `${path}.type`, 'type') : undefined;
  const file = this.str(getEntry(m, 'file')?.value, `${path}.file`, 'file');
  const checksum = getEntry(m, 'checksum');
  if (checksum && !getEntry(m, 'checksum_algorithm'))
    this.sink.error(
      'TOSCA1012',
      checksum.key,
      `${path}.checksum`,
      'a checksum needs its checksum_algorithm (TOSCA 2.0 12.2: shall be specified)',
    );
  // 12.1 lists the file extensions of an artifact type; a file with another is likely wrong.
  const extensions = type ? fileExtensions(type) : undefined;
  const ext = file !== undefined ? /\.([^./\\]+)$/.exec(file)?.[1] : undefined;
  if (extensions && ext !== undefined && !extensions.includes(ext))
    this.sink.warning(
      'TOSCA1030',
      getEntry(m, 'file')?.value as YNode,
      `${path}.file`,
      `"${file}" does not end in an extension artifact type "${type?.name}" lists (file_ext: ${extensions.join(', ')}; TOSCA 2.0 12.1)`,
    );
  const repository = getEntry(m, 'repository')?.value;
  if (repository) {
    const name = this.str(repository, `${path}.repository`, 'repository');
    if (name !== undefined && !this.repositories(unit).has(name))
      this.sink.error(
        'TOSCA1020',
        repository,
        `${path}.repository`,
        `no repository "${name}" is defined in this file or the files it imports (6.5)`,
      );
  }
  const props = getEntry(m, 'properties')?.value;
  // 12.2 ties artifact properties to no definition, and its own example (s121) assigns
  // properties its artifact type lacks: a warning, not an error.
  if (props && type)
    this.assignProps(
      unit,
      props,
      type.props,
      `${path}.properties`,
      false,
      'the artifact type',
      'warning',
    );
  return m;
}

/** The error for refining a definition whose inherited value is fixed (specification 9.3). */
export function fixedRefined(
  this: Checker,
  where: YNode,
  path: string,
  name: string,
  fixed: YNode,
): void {
  this.sink.error(
    'TOSCA1034',
    where,
    path,
    `"${name}" has a fixed value in the type it derives from and cannot be refined`,
    [{ where: fixed, message: 'the fixed value' }],
  );
}

/** Reads property/attribute/parameter definitions (or refinements of inherited ones). */
export function propDefs(
  this: Checker,
  unit: Unit,
  node: YNode | undefined,
  out: Map<string, PropDef>,
  path: string,
  isAttribute: boolean,
  mode: 'type' | 'data' | 'refinement' | 'parameter',
): void {
  const map = this.asMap(
    node,
    path,
    // The section's own name (the path's last step) says best what was expected.
    `${path.slice(path.lastIndexOf('.') + 1) || 'this section'} (a map of ${isAttribute ? 'attribute' : mode === 'parameter' ? 'parameter' : 'property'} definitions)`,
  );
  if (!map) return;
  this.named(map, path, isAttribute ? 'attribute' : 'property', (name, value, _k, p) => {
    const inherited = out.get(name);
    const d = this.propDef(unit, name, value, p, isAttribute, mode, inherited);
    if (d) out.set(name, d);
  });
}

/** A property, attribute or parameter definition or refinement (9.3, 9.5, 9.7). */
export function propDef(
  this: Checker,
  unit: Unit,
  name: string,
  node: YNode,
  path: string,
  isAttribute: boolean,
  mode: 'type' | 'data' | 'refinement' | 'parameter',
  inherited?: PropDef,
): PropDef | undefined {
  if (mode === 'parameter' && (node.kind !== 'map' || this.functionName(node) !== undefined)) {
    // A parameter given as a bare value: a value assignment with an implied type.
    return { name, node, required: false, fixed: node, unit, isAttribute };
  }
  if (inherited && node.kind !== 'map') {
    // Refinement short form: a bare value fixes the value (specification 9.3).
    if (inherited.fixed) {
      this.fixedRefined(node, path, name, inherited.fixed);
      return undefined;
    }
    const d: PropDef = { ...inherited, node, fixed: node };
    if (d.schema) this.value(node, d.schema, path, { unit }, true);
    return d;
  }
  const map = this.asMap(node, path, `definition of "${name}"`);
  if (!map) return undefined;
  if (inherited?.fixed && mode !== 'parameter') {
    this.fixedRefined(map, path, name, inherited.fixed);
    return undefined;
  }
  const grammar =
    mode === 'parameter'
      ? GRAMMAR.parameter
      : inherited
        ? isAttribute
          ? GRAMMAR.attribute_refinement
          : GRAMMAR.property_refinement
        : isAttribute
          ? GRAMMAR.attribute
          : GRAMMAR.property;
  this.keys(
    map,
    grammar,
    path,
    `${isAttribute ? 'attribute' : mode === 'parameter' ? 'parameter' : 'property'} definition "${name}"`,
  );
  const d: PropDef = { name, node, required: inherited?.required ?? true, unit, isAttribute };
  if (inherited?.schema) d.schema = inherited.schema;
  if (inherited?.default) d.default = inherited.default;
  if (inherited?.fixed) d.fixed = inherited.fixed;
  const typeNode = getEntry(map, 'type')?.value;
  if (
    typeNode ||
    getEntry(map, 'entry_schema') ||
    getEntry(map, 'key_schema') ||
    getEntry(map, 'validation')
  ) {
    const s = this.schemaFrom(unit, map, path, inherited?.schema);
    if (!s) return undefined;
    if (inherited?.schema && typeNode && !this.isA(s.type, inherited.schema.type)) {
      this.sink.error(
        'TOSCA1022',
        typeNode,
        `${path}.type`,
        `type "${s.type.name}" does not derive from the inherited type "${inherited.schema.type.name}"`,
      );
      return undefined;
    }
    d.schema = s;
  }
  const req = getEntry(map, 'required')?.value;
  if (req) {
    if (req.kind === 'scalar' && typeof req.value === 'boolean') {
      if (inherited?.required && !req.value && !isAttribute && mode !== 'parameter')
        this.sink.error(
          'TOSCA1022',
          req,
          `${path}.required`,
          `"${name}" is required in the type it derives from and cannot be made optional`,
        );
      d.required = req.value;
    } else this.sink.error('TOSCA1030', req, `${path}.required`, 'required must be true or false');
  } else if (isAttribute) d.required = false;
  const mapping = getEntry(map, 'mapping')?.value;
  if (mapping) d.mapping = mapping;
  if (
    d.schema &&
    (mode === 'type' || mode === 'data' || mode === 'refinement') &&
    !d.schema.entry
  ) {
    const b = this.baseOf(d.schema.type);
    if ((b === 'list' || b === 'map') && !d.schema.type.entry)
      // Mandatory by the text of 9.3, yet omitted by the specification's own examples (s115):
      // a warning, and entries are then not checked.
      this.sink.report(
        'warning',
        'TOSCA1012',
        map,
        path,
        `"${name}" is a ${b} without an entry_schema: its entries are not checked`,
      );
  }
  for (const k of ['default', 'value'] as const) {
    const v = getEntry(map, k)?.value;
    if (!v) continue;
    if (k === 'default') d.default = v;
    else d.fixed = v;
    if (d.schema) this.value(v, d.schema, `${path}.${k}`, { unit }, true);
  }
  return d;
}

/** The schema a definition map declares: type, entry and key schemas, validation (9.3). */
export function schemaFrom(
  this: Checker,
  unit: Unit,
  map: YMap,
  path: string,
  inherited?: Schema,
): Schema | undefined {
  const typeNode = getEntry(map, 'type')?.value;
  let type = inherited?.type;
  if (typeNode) {
    const t = this.typeRef(unit, 'data', typeNode, `${path}.type`, 'type');
    if (!t) return undefined;
    type = t;
  }
  if (!type) {
    this.sink.error('TOSCA1012', map, path, 'a definition needs a type');
    return undefined;
  }
  const s: Schema = { type, validations: [...(inherited?.validations ?? [])] };
  const base = this.baseOf(type);
  if (base === 'scalar' && !this.scalarOf(type) && typeNode) {
    this.sink.error(
      'TOSCA1023',
      typeNode,
      `${path}.type`,
      `"${type.name}" is abstract, with no units: use a type derived from it that defines them (TOSCA 2.0 9.1.2.2)`,
    );
    return undefined;
  }
  for (const k of ['entry_schema', 'key_schema'] as const) {
    const e = getEntry(map, k);
    if (!e) continue;
    if (base !== 'list' && base !== 'map') {
      this.sink.error(
        'TOSCA1010',
        e.key,
        `${path}.${k}`,
        `${k} is only allowed for list and map types`,
      );
      continue;
    }
    if (k === 'key_schema' && base !== 'map') {
      this.sink.error(
        'TOSCA1010',
        e.key,
        `${path}.${k}`,
        'key_schema is only allowed for map types',
      );
      continue;
    }
    const sub = this.schema(
      unit,
      e.value,
      `${path}.${k}`,
      k === 'entry_schema' ? inherited?.entry : inherited?.key,
    );
    if (!sub) return undefined;
    if (k === 'key_schema' && this.baseOf(sub.type) !== 'string') {
      this.sink.error(
        'TOSCA1010',
        e.value,
        `${path}.key_schema`,
        `map keys are strings: key_schema must be string or derive from it, not "${sub.type.name}"`,
      );
      return undefined;
    }
    if (k === 'entry_schema') s.entry = sub;
    else s.key = sub;
  }
  if (!s.entry && inherited?.entry) s.entry = inherited.entry;
  if (!s.key && inherited?.key) s.key = inherited.key;
  const validation = getEntry(map, 'validation')?.value;
  if (validation) {
    this.checkClause(validation, unit, `${path}.validation`);
    s.validations.push({ node: validation, unit });
  }
  return s;
}

/** A schema definition: a type name, or a map with type/entry_schema/key_schema/validation. */
export function schema(
  this: Checker,
  unit: Unit,
  node: YNode,
  path: string,
  inherited?: Schema,
): Schema | undefined {
  if (node.kind === 'scalar') {
    const t = this.typeRef(unit, 'data', node, path, 'schema type');
    return t ? { type: t, validations: [] } : undefined;
  }
  const map = this.asMap(node, path, 'a schema definition');
  if (!map) return undefined;
  this.keys(
    map,
    inherited ? { ...GRAMMAR.schema, type: false } : GRAMMAR.schema,
    path,
    'a schema definition',
  );
  return this.schemaFrom(unit, map, path, inherited);
}

/**
 * Reports two different function definitions that one file sees under one name from its
 * imports without a namespace: names are unique within a namespace (6.8.4). A file's own
 * definition shadows imported ones.
 */
export function importedFunctions(this: Checker, unit: Unit): void {
  const own = this.functionsByUnit.get(unit);
  const seen = new Map<string, FunctionDef>();
  const visit = (u: Unit, via: Unit['imports'][number], stack: Set<Unit>) => {
    for (const [name, def] of this.functionsByUnit.get(u) ?? []) {
      if (own?.has(name)) continue;
      const existing = seen.get(name);
      if (!existing) seen.set(name, def);
      else if (existing !== def)
        this.sink.error(
          'TOSCA1014',
          via.where,
          via.path,
          `this import brings function "${name}", which conflicts with another function "${name}" imported here: names are unique within a namespace (TOSCA 2.0 6.8.4), so import one of them into a namespace`,
          [
            { where: def.node, message: 'this definition' },
            { where: existing.node, message: 'the other definition' },
          ],
        );
    }
    stack.add(u);
    for (const imp of u.imports)
      if (!imp.namespace && !stack.has(imp.unit)) visit(imp.unit, via, stack);
  };
  for (const imp of unit.imports) if (!imp.namespace) visit(imp.unit, imp, new Set([unit]));
}

/** The file extensions an artifact type lists (its own `file_ext`, else the nearest ancestor's). */
function fileExtensions(type: ToscaType): string[] | undefined {
  for (let t: ToscaType | undefined = type; t; t = t.parent) {
    const ext = t.node ? getEntry(t.node, 'file_ext')?.value : undefined;
    if (ext?.kind === 'seq')
      return ext.items.flatMap((i) => (i.kind === 'scalar' ? [String(i.value)] : []));
  }
  return undefined;
}
