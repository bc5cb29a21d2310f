/**
 * The TOSCA 2.0 semantic checker: grammar, types and derivation, values against data types,
 * functions, templates, requirement fulfilment, workflows. It fills a `DiagnosticSink` and
 * builds the resolved model that `emit` turns into Floria entities.
 */
import type { Expression, Value } from '@khutulun/floria';
import {
  evaluatePure,
  GRAPH_FUNCTIONS,
  isFunctionError,
  PURE_FUNCTIONS,
  timestampMillis,
} from './builtin-functions.js';
import type { DiagnosticSink } from './diagnostic.js';
import type { DiagnosticCode } from './diagnostic-codes.js';
import { GRAMMAR, type Keynames } from './grammar.js';
import type { Unit } from './loader.js';
import { locationName, resolveRelative, type SourceReader } from './source-reader.js';
import {
  foldExpression,
  foldStaticProperties,
  index,
  listExpression,
  mapExpression,
} from './static-fold.js';
import type {
  CapDef,
  CheckedService,
  Clause,
  CompiledCapability,
  CompiledRequirement,
  FunctionDef,
  IfaceDef,
  NodeTemplate,
  OpDef,
  PropDef,
  ReqDef,
  ScalarInfo,
  Schema,
  ToscaType,
  TypeKind,
} from './tosca-model.js';

/** Archive entries up to this size travel inside the compiled templates. */
const MAX_INLINE_ARTIFACT = 1024 * 1024;

import { getEntry, toPlain, type YMap, type YNode, type YScalar } from './yaml-tree.js';

const SECTIONS: Record<TypeKind, string> = {
  artifact: 'artifact_types',
  data: 'data_types',
  capability: 'capability_types',
  interface: 'interface_types',
  relationship: 'relationship_types',
  node: 'node_types',
  group: 'group_types',
  policy: 'policy_types',
};
const KINDS = Object.keys(SECTIONS) as TypeKind[];

const PRIMITIVES = [
  'string',
  'integer',
  'float',
  'boolean',
  'bytes',
  'nil',
  'timestamp',
  'version',
  'range',
  'list',
  'map',
  'scalar',
];
const LEGACY_SCALARS: Record<string, Record<string, number>> = {
  'scalar-unit.size': {
    B: 1,
    kB: 1e3,
    KiB: 1024,
    MB: 1e6,
    MiB: 1048576,
    GB: 1e9,
    GiB: 1073741824,
    TB: 1e12,
    TiB: 1099511627776,
  },
  'scalar-unit.time': { d: 86400, h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 },
  'scalar-unit.frequency': { Hz: 1, kHz: 1e3, MHz: 1e6, GHz: 1e9 },
  'scalar-unit.bitrate': {
    bps: 1,
    Kbps: 1e3,
    Kibps: 1024,
    Mbps: 1e6,
    Mibps: 1048576,
    Gbps: 1e9,
    Gibps: 1073741824,
    Tbps: 1e12,
    Tibps: 1099511627776,
  },
};

const lit = (value: Value): Expression => ({ kind: 'literal', value });
const q = (name: string) => `["${name}"]`;

/** What a value is checked in: where `$get_input` and custom functions resolve. */
interface ValueContext {
  unit: Unit;
  /** Inside a validation clause, `$value` is the value validated. */
  value?: Value;
  inValidation?: boolean;
}

/** Checks a loaded service and builds the resolved model. */
export class Checker {
  private readonly typesByUnit = new Map<Unit, Map<string, ToscaType>>();
  private readonly visibleCache = new Map<Unit, Map<string, ToscaType>>();
  private readonly repositoryCache = new Map<Unit, Map<string, YNode>>();
  private readonly reflectedCache = new Map<ToscaType, Map<string, PropDef>>();
  private readonly typeInterfaces = new Map<ToscaType, Map<Unit, Value>>();
  private readonly requiredKeys = new Map<Keynames, string[]>();
  private readonly functionsByUnit = new Map<Unit, Map<string, FunctionDef>>();
  private readonly allTypes: ToscaType[] = [];
  private readonly builtins = new Map<string, ToscaType>();
  private inputs = new Map<string, { value?: Value; def: PropDef }>();
  /** Checking a substitution template (its inputs are fed by the substituted node). */
  private substituting = false;
  private readonly allFunctions: FunctionDef[] = [];
  /** `$valid_values` calls written with their list alone, and the arguments they imply. */
  private readonly impliedValue = new WeakMap<YNode, YNode[]>();
  private readonly unitByName = new Map<string, Unit>();
  /** Node template name -> its type, known before templates are checked (for TOSCA paths). */
  private templateTypes = new Map<string, ToscaType | undefined>();
  /** The service's workflow and group names (workflow steps and activities refer to them). */
  private workflowNames = new Set<string>();
  private groupNames = new Set<string>();
  /** The service's node templates (as written, copies applied), for references to them. */
  private templateNodes = new Map<string, YMap>();
  /** The node template SELF denotes where a path is being compiled. */
  private selfName: string | undefined;
  /** The node type SELF denotes where a path is being compiled (node properties/attributes). */
  private selfType: ToscaType | undefined;
  /** The template being checked: where a missing assignment is reported. */
  private owner: YNode | undefined;

  constructor(
    private readonly sink: DiagnosticSink,
    private readonly units: Unit[],
    private readonly given: Record<string, Value>,
    private readonly validateOnly: boolean,
    private readonly reader?: SourceReader,
  ) {
    for (const u of units) this.unitByName.set(u.name, u);
    for (const name of [...PRIMITIVES, ...Object.keys(LEGACY_SCALARS)]) {
      const t = this.newType('data', name, name, undefined, undefined, name);
      t.builtin = name;
      t.state = 'done';
      if (LEGACY_SCALARS[name]) {
        t.scalar = {
          units: new Map(Object.entries(LEGACY_SCALARS[name])),
          canonical: Object.keys(LEGACY_SCALARS[name])[0] ?? '',
          dataType: t,
        };
      }
      this.builtins.set(name, t);
    }
    for (const t of this.builtins.values())
      if (t.scalar) t.scalar.dataType = this.builtins.get('float') as ToscaType;
  }

  private newType(
    kind: TypeKind,
    name: string,
    canonical: string,
    unit: Unit | undefined,
    node: YMap | undefined,
    path: string,
  ): ToscaType {
    return {
      kind,
      name,
      canonical,
      unit,
      node,
      path,
      state: 'new',
      props: new Map(),
      attrs: new Map(),
      capabilities: new Map(),
      requirements: new Map(),
      interfaces: new Map(),
      artifacts: new Map(),
      operations: new Map(),
      notifications: new Map(),
      inputs: new Map(),
      validations: [],
      metadata: {},
    };
  }

  // ---------------------------------------------------------------- shape helpers

  private keys(node: YMap, grammar: Keynames, path: string, what: string): void {
    for (const e of node.entries) {
      const k = e.key.value;
      if (typeof k !== 'string' || !(k in grammar)) {
        this.sink.error(
          'TOSCA1011',
          e.key,
          `${path}.${String(k)}`,
          `unknown keyname "${String(k)}" in ${what}${typeof k === 'string' && LEGACY_KEYNAMES[k] ? ` (${LEGACY_KEYNAMES[k]})` : ''}`,
        );
      } else if (
        k === 'description' &&
        !(e.value.kind === 'scalar' && typeof e.value.value === 'string')
      ) {
        // Common keynames (5.3) have the same shape everywhere.
        this.sink.error(
          'TOSCA1010',
          e.value,
          `${path}.description`,
          'description must be a string',
        );
      } else if (k === 'metadata' && e.value.kind !== 'map') {
        this.sink.error('TOSCA1010', e.value, `${path}.metadata`, 'metadata must be a map');
      }
    }
    let required = this.requiredKeys.get(grammar);
    if (!required) {
      required = Object.entries(grammar)
        .filter(([, req]) => req)
        .map(([k]) => k);
      this.requiredKeys.set(grammar, required);
    }
    for (const k of required) {
      if (!getEntry(node, k))
        this.sink.error('TOSCA1012', node, path, `${what} is missing the required keyname "${k}"`);
    }
  }

  /** The one entry of a map that must have exactly one (name: definition), or a diagnostic. */
  private soleEntry(
    node: YNode,
    path: string,
    code: DiagnosticCode,
    message: string,
  ): { key: YScalar; value: YNode } | undefined {
    if (node.kind === 'map' && node.entries.length === 1)
      return node.entries[0] as { key: YScalar; value: YNode };
    this.sink.error(code, node, path, message);
    return undefined;
  }

  /** A map node, or a diagnostic. `null` values get the "empty" diagnostic. */
  private asMap(node: YNode | undefined, path: string, what: string): YMap | undefined {
    if (!node) return undefined;
    if (node.kind === 'map') return node;
    if (node.kind === 'scalar' && node.value === null)
      this.sink.error('TOSCA1013', node, path, `${what} is empty: give a map or omit the keyname`);
    else this.sink.error('TOSCA1010', node, path, `${what} must be a map`);
    return undefined;
  }

  private asList(node: YNode | undefined, path: string, what: string) {
    if (!node) return undefined;
    if (node.kind === 'seq') return node;
    if (node.kind === 'scalar' && node.value === null)
      this.sink.error('TOSCA1013', node, path, `${what} is empty: give a list or omit the keyname`);
    else this.sink.error('TOSCA1010', node, path, `${what} must be a list`);
    return undefined;
  }

  private str(
    node: YNode | undefined,
    path: string,
    what: string,
    allowEmpty = false,
  ): string | undefined {
    if (!node) return undefined;
    if (
      node.kind === 'scalar' &&
      typeof node.value === 'string' &&
      (allowEmpty || node.value !== '')
    )
      return node.value;
    this.sink.error(
      'TOSCA1010',
      node,
      path,
      `${what} must be a ${allowEmpty ? '' : 'non-empty '}string`,
    );
    return undefined;
  }

  private strList(node: YNode | undefined, path: string, what: string): string[] | undefined {
    const list = this.asList(node, path, what);
    if (!list) return undefined;
    const out: string[] = [];
    list.items.forEach((item, i) => {
      const s = this.str(item, `${path}[${i}]`, `each entry of ${what}`);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  /** Iterates a map of named definitions, checking names are non-empty strings. */
  private named(
    map: YMap,
    path: string,
    what: string,
    fn: (name: string, value: YNode, key: YScalar, path: string) => void,
  ): void {
    for (const e of map.entries) {
      const k = e.key.value;
      if (typeof k !== 'string' || k === '' || (e.key.quoted === false && typeof k !== 'string')) {
        this.sink.error(
          k === '' || k === null ? 'TOSCA1013' : 'TOSCA1010',
          e.key,
          path,
          `${what} names must be non-empty strings`,
        );
        continue;
      }
      fn(k, e.value, e.key, `${path}${q(k)}`);
    }
  }

  private metadata(node: YNode | undefined, path: string): Record<string, string> {
    const out: Record<string, string> = {};
    const map = this.asMap(node, path, 'metadata');
    if (!map) return out;
    for (const e of map.entries) {
      const k = String(e.key.value);
      const v = e.value;
      if (v.kind === 'scalar' && v.value === null) {
        this.sink.error('TOSCA1013', v, `${path}${q(k)}`, `metadata "${k}" has no value`);
        continue;
      }
      if (
        (k === 'template_name' || k === 'template_author') &&
        v.kind === 'scalar' &&
        typeof v.value !== 'string'
      ) {
        this.sink.error('TOSCA1030', v, `${path}${q(k)}`, `metadata "${k}" must be a string`);
        continue;
      }
      out[k] = v.kind === 'scalar' ? (v.source ?? String(v.value)) : JSON.stringify(toPlain(v));
    }
    return out;
  }

  private description(node: YNode | undefined, path: string): string | undefined {
    if (!node) return undefined;
    return this.str(node, path, 'description', true);
  }

  // ---------------------------------------------------------------- type lookup

  private visible(unit: Unit, stack = new Set<Unit>()): Map<string, ToscaType> {
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

  private addVisible(
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
  private repositories(unit: Unit, stack = new Set<Unit>()): Map<string, YNode> {
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
   * A node template's interfaces. Without assignments they are the node type's, the same for
   * every template of that type in one file: compiled once (the value is shared, never written).
   */
  private nodeInterfaces(
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

  /** A type's properties and attributes as one map (properties are reflected as attributes). */
  private reflected(type: ToscaType): Map<string, PropDef> {
    let m = this.reflectedCache.get(type);
    if (!m) {
      m = new Map([...type.props, ...type.attrs]);
      this.reflectedCache.set(type, m);
    }
    return m;
  }

  /** Finds a type by the name a file uses for it. */
  lookup(unit: Unit, kind: TypeKind, name: string): ToscaType | undefined {
    if (kind === 'data' && PRIMITIVES.includes(name)) return this.builtins.get(name);
    return (
      this.visible(unit).get(`${kind}|${name}`) ??
      (kind === 'data' ? this.builtins.get(name) : undefined)
    );
  }

  private typeRef(
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

  private isA(t: ToscaType | undefined, ancestor: ToscaType): boolean {
    for (let c = t; c; c = c.parent) if (c === ancestor) return true;
    return false;
  }

  /** The primitive a data type derives from (`complex` for user structures). */
  baseOf(t: ToscaType): string {
    for (let c: ToscaType | undefined = t; c; c = c.parent)
      if (c.builtin) return c.builtin.startsWith('scalar-unit') ? 'scalar' : c.builtin;
    return 'complex';
  }

  private scalarOf(t: ToscaType): ScalarInfo | undefined {
    for (let c: ToscaType | undefined = t; c; c = c.parent) if (c.scalar) return c.scalar;
    return undefined;
  }

  // ---------------------------------------------------------------- files

  /** Runs every check. Returns the service when the entry file has one. */
  /**
   * Runs every check. `substitutes` are the CSAR's Other-Definitions: substitution templates,
   * checked as services whose inputs come from the node they substitute.
   */
  check(entry: Unit, substitutes: Unit[] = []): CheckedService | undefined {
    for (const unit of this.units) if (unit.root && unit.ok) this.collect(unit);
    for (const unit of this.units) if (unit.root && unit.ok) this.checkFile(unit);
    for (const t of this.allTypes) this.resolveType(t);
    for (const unit of substitutes) {
      const st = unit.root && unit.ok ? getEntry(unit.root, 'service_template') : undefined;
      if (!st) continue;
      this.substituting = true;
      this.checkService(unit, st.value);
      this.substituting = false;
      this.inputs = new Map();
      this.templateTypes = new Map();
    }
    const st = entry.root && entry.ok ? getEntry(entry.root, 'service_template') : undefined;
    if (!st) return undefined;
    return this.checkService(entry, st.value);
  }

  private collect(unit: Unit): void {
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

  private functionDef(
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

  private primaryFile(impl: YMap): string | undefined {
    const f = this.primaryNode(impl);
    return typeof f?.value === 'string' ? f.value : undefined;
  }

  /** The scalar naming an implementation's primary file (short form, or `primary`). */
  private primaryNode(impl: YNode): YScalar | undefined {
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
  private loadable(impl: YNode, path: string): void {
    const f = this.primaryNode(impl);
    if (typeof f?.value !== 'string' || !/\.(ts|mts|cts|tsx)$/i.test(f.value)) return;
    this.sink.error(
      'TOSCA1071',
      f,
      path,
      `implementation "${f.value}" is TypeScript source, which Node 20 cannot load: compile it to .js/.mjs and name that file`,
    );
  }

  private checkFile(unit: Unit): void {
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

  private resolveType(t: ToscaType): void {
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

  private dataType(t: ToscaType, node: YMap, unit: Unit): void {
    const get = (k: string) => getEntry(node, k);
    const base = this.baseOf(t);
    const validation = get('validation');
    if (validation) {
      this.checkClause(validation.value, unit, `${t.path}.validation`);
      t.validations = [...(t.parent?.validations ?? []), { node: validation.value, unit }];
    } else if (t.parent) t.validations = [...t.parent.validations];
    if (get('properties') && base !== 'complex') {
      this.sink.error(
        'TOSCA1021',
        get('properties')?.key as YNode,
        `${t.path}.properties`,
        `a data type derived from "${base}" cannot define properties`,
      );
    }
    for (const k of ['entry_schema', 'key_schema'] as const) {
      const e = get(k);
      if (!e) continue;
      if (base !== 'list' && base !== 'map') {
        this.sink.error(
          'TOSCA1021',
          e.key,
          `${t.path}.${k}`,
          `${k} is only allowed for types derived from list or map`,
        );
        continue;
      }
      const s = this.schema(unit, e.value, `${t.path}.${k}`);
      if (s) {
        if (k === 'entry_schema') t.entry = s;
        else t.key = s;
      }
    }
    const scalarKeys = ['data_type', 'units', 'canonical_unit', 'prefixes'].filter((k) => get(k));
    if (scalarKeys.length === 0) {
      if (base === 'scalar' && t.parent?.builtin === 'scalar')
        this.sink.error(
          'TOSCA1023',
          node,
          t.path,
          'a type derived from the abstract scalar must define its units (TOSCA 2.0 9.1.2.2)',
        );
      return;
    }
    if (base !== 'scalar') {
      for (const k of scalarKeys)
        this.sink.error(
          'TOSCA1023',
          get(k)?.key as YNode,
          `${t.path}.${k}`,
          `${k} is only allowed for types derived from scalar`,
        );
      return;
    }
    const inherited = this.scalarOf(t);
    let dataType = inherited?.dataType ?? (this.builtins.get('float') as ToscaType);
    const dt = get('data_type');
    if (dt) {
      const ref = this.typeRef(unit, 'data', dt.value, `${t.path}.data_type`, 'data_type');
      if (ref) {
        const b = this.baseOf(ref);
        if (b !== 'integer' && b !== 'float') {
          this.sink.error(
            'TOSCA1023',
            dt.value,
            `${t.path}.data_type`,
            `the data_type of a scalar must derive from integer or float, not ${b}`,
          );
          return;
        }
        if (
          inherited &&
          inherited.dataType !== ref &&
          !this.isA(ref, inherited.dataType) &&
          t.parent?.builtin !== 'scalar'
        ) {
          this.sink.error(
            'TOSCA1022',
            dt.value,
            `${t.path}.data_type`,
            `data_type "${ref.name}" is not compatible with the inherited data_type "${inherited.dataType.name}"`,
          );
          return;
        }
        dataType = ref;
      } else return;
    }
    const isInt = this.baseOf(dataType) === 'integer';
    // A derived scalar type may add units and prefixes, never change an inherited one (9.1.2.2).
    const refine = (
      what: 'unit' | 'prefix',
      from: Map<string, number> | undefined,
      own: Map<string, number>,
      at: YNode,
    ): Map<string, number> | undefined => {
      const merged = new Map(from ?? []);
      for (const [name, m] of own) {
        const was = merged.get(name);
        if (was !== undefined && was !== m) {
          this.sink.error(
            'TOSCA1022',
            at,
            `${t.path}.${what === 'unit' ? 'units' : 'prefixes'}${q(name)}`,
            `${what} "${name}" is inherited with the multiplier ${was}: a derived scalar type may add ${what === 'unit' ? 'units' : 'prefixes'}, not change them (TOSCA 2.0 9.1.2.2)`,
          );
          return undefined;
        }
        merged.set(name, m);
      }
      return merged;
    };
    let units = inherited ? (inherited.baseUnits ?? inherited.units) : undefined;
    const unitsNode = get('units');
    if (unitsNode) {
      const own = this.multipliers(unitsNode.value, `${t.path}.units`, 'unit', isInt);
      if (!own) return;
      units = refine('unit', units, own, unitsNode.value);
      if (!units) return;
    }
    if (!units || units.size === 0) {
      this.sink.error(
        'TOSCA1023',
        node,
        t.path,
        'a type derived from the abstract scalar must define its units (TOSCA 2.0 9.1.2.2)',
      );
      return;
    }
    const ones = [...units].filter(([, m]) => m === 1).map(([u]) => u);
    if (ones.length === 0) {
      this.sink.error(
        'TOSCA1023',
        unitsNode?.value ?? node,
        `${t.path}.units`,
        'one unit must have the multiplier 1',
      );
      return;
    }
    let prefixes = inherited?.prefixes;
    const prefixNode = get('prefixes');
    if (prefixNode) {
      const own = this.multipliers(prefixNode.value, `${t.path}.prefixes`, 'prefix', isInt);
      if (!own) return;
      prefixes = refine('prefix', prefixes, own, prefixNode.value);
      if (!prefixes) return;
      if (![...prefixes.values()].includes(1)) {
        this.sink.error(
          'TOSCA1023',
          prefixNode.value,
          `${t.path}.prefixes`,
          'one prefix (usually "") must have the multiplier 1',
        );
        return;
      }
    }
    const expanded = new Map<string, number>();
    for (const [u, m] of units) {
      if (prefixes) for (const [p, pm] of prefixes) expanded.set(`${p}${u}`, m * pm);
      else expanded.set(u, m);
    }
    let canonical = inherited?.canonical;
    const cu = get('canonical_unit');
    if (cu) {
      const name = this.str(cu.value, `${t.path}.canonical_unit`, 'canonical_unit');
      if (name === undefined) return;
      const m = expanded.get(name);
      if (m === undefined) {
        this.sink.error(
          'TOSCA1023',
          cu.value,
          `${t.path}.canonical_unit`,
          `canonical_unit "${name}" is not one of the units`,
        );
        return;
      }
      if (m !== 1) {
        this.sink.error(
          'TOSCA1023',
          cu.value,
          `${t.path}.canonical_unit`,
          `canonical_unit "${name}" must have the multiplier 1 (it has ${m})`,
        );
        return;
      }
      canonical = name;
    } else if (unitsNode || prefixNode) {
      const expandedOnes = [...expanded].filter(([, m]) => m === 1).map(([u]) => u);
      if (expandedOnes.length > 1 && ones.length > 1) {
        this.sink.error(
          'TOSCA1023',
          unitsNode?.value ?? node,
          `${t.path}.units`,
          `several units have the multiplier 1 (${ones.join(', ')}): set canonical_unit`,
        );
        return;
      }
      canonical = ones[0];
    }
    t.scalar = {
      units: expanded,
      baseUnits: units,
      canonical: canonical ?? ones[0] ?? '',
      dataType,
    };
    if (prefixes) t.scalar.prefixes = prefixes;
  }

  /**
   * The multipliers of a scalar type's units or prefixes, each positive (and whole for an
   * integer scalar), or undefined after the first bad one's diagnostic. A null prefix key is
   * the empty prefix.
   */
  private multipliers(
    node: YNode,
    path: string,
    what: 'unit' | 'prefix',
    isInt: boolean,
  ): Map<string, number> | undefined {
    const map = this.asMap(node, path, what === 'unit' ? 'units' : 'prefixes');
    if (!map) return undefined;
    const multipliers = new Map<string, number>();
    for (const e of map.entries) {
      const v = e.value;
      if (
        v.kind !== 'scalar' ||
        typeof v.value !== 'number' ||
        v.value <= 0 ||
        (isInt && !Number.isInteger(v.value))
      ) {
        this.sink.error(
          'TOSCA1023',
          v,
          `${path}${q(String(e.key.value))}`,
          `a ${what} multiplier must be a positive ${isInt ? 'integer' : 'number'}`,
        );
        return undefined;
      }
      const key = what === 'prefix' ? (e.key.value ?? '') : e.key.value;
      multipliers.set(String(key), v.value);
    }
    return multipliers;
  }

  private nodeTypeParts(t: ToscaType, node: YMap, unit: Unit): void {
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

  private capDef(
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

  private reqDef(
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

  private countRange(node: YNode, path: string): [number, number] | undefined {
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

  private interfaceDefs(
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
  private sharedInputs(def: IfaceDef, path: string): void {
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

  private opDef(
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

  private implementation(unit: Unit, node: YNode, path: string): void {
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

  private artifactDef(unit: Unit, node: YNode, path: string): YMap | undefined {
    const m = this.asMap(node, path, 'an artifact definition');
    if (!m) return undefined;
    this.keys(m, GRAMMAR.artifact_definition, path, 'an artifact definition');
    const tn = getEntry(m, 'type')?.value;
    const type = tn ? this.typeRef(unit, 'artifact', tn, `${path}.type`, 'type') : undefined;
    this.str(getEntry(m, 'file')?.value, `${path}.file`, 'file');
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
  private fixedRefined(where: YNode, path: string, name: string, fixed: YNode): void {
    this.sink.error(
      'TOSCA1034',
      where,
      path,
      `"${name}" has a fixed value in the type it derives from and cannot be refined`,
      [{ where: fixed, message: 'the fixed value' }],
    );
  }

  /** Reads property/attribute/parameter definitions (or refinements of inherited ones). */
  private propDefs(
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

  private propDef(
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
      } else
        this.sink.error('TOSCA1030', req, `${path}.required`, 'required must be true or false');
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

  private schemaFrom(unit: Unit, map: YMap, path: string, inherited?: Schema): Schema | undefined {
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
  private schema(unit: Unit, node: YNode, path: string, inherited?: Schema): Schema | undefined {
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

  // ---------------------------------------------------------------- values

  /** Whether a node is a function call `{ $name: args }`, and which. */
  private functionName(node: YNode): string | undefined {
    // A string starting with `$` (not `$$`) is a call without arguments (specification 10.1).
    if (node.kind === 'scalar')
      return typeof node.value === 'string' &&
        node.value.length > 1 &&
        node.value.startsWith('$') &&
        !node.value.startsWith('$$')
        ? node.value.slice(1)
        : undefined;
    if (node.kind !== 'map' || node.entries.length !== 1) return undefined;
    const k = (node.entries[0] as { key: YScalar }).key.value;
    // `$name$suffix` lets one function appear several times as keys of one map.
    if (typeof k === 'string' && k.startsWith('$') && !k.startsWith('$$'))
      return k.slice(1).split('$')[0];
    return undefined;
  }

  /** The argument nodes of a function call node. */
  private argumentNodes(node: YNode): YNode[] {
    if (node.kind !== 'map') return [];
    const arg = (node.entries[0] as { value: YNode }).value;
    return arg.kind === 'seq'
      ? arg.items
      : arg.kind === 'scalar' && arg.value === null
        ? []
        : [arg];
  }

  /**
   * The arguments of a call in a validation clause. `$valid_values` written with its list
   * alone (`$valid_values: [ a, b, c ]`, as the community simple profile does) implies
   * `$value`: it reads as `[ $value, [ a, b, c ] ]`. Any other call: its own arguments.
   */
  private clauseArguments(node: YNode, fn: string, inValidation: boolean): YNode[] {
    const args = this.argumentNodes(node);
    if (fn !== 'valid_values' || !inValidation) return args;
    const second = args[1];
    if (
      args.length === 2 &&
      second &&
      (second.kind === 'seq' || this.functionName(second) !== undefined)
    )
      return args;
    let implied = this.impliedValue.get(node);
    if (!implied) {
      const only = args.length === 1 && args[0]?.kind === 'seq' ? args[0] : undefined;
      const list: YNode = only ?? {
        kind: 'seq',
        items: args,
        file: node.file,
        offset: node.offset,
      };
      implied = [
        { kind: 'scalar', value: '$value', quoted: false, file: node.file, offset: node.offset },
        list,
      ];
      this.impliedValue.set(node, implied);
    }
    return implied;
  }

  /** Compiles a function call (or any value containing calls) to an expression. */
  private expression(node: YNode, path: string, ctx: ValueContext): Expression | undefined {
    const fn = this.functionName(node);
    if (fn !== undefined) return this.call(node, fn, path, ctx);
    if (node.kind === 'scalar') {
      if (typeof node.value === 'string' && node.value.startsWith('$$'))
        return lit(node.value.slice(1));
      return lit(node.value);
    }
    if (node.kind === 'seq') {
      const items: Expression[] = [];
      let ok = true;
      node.items.forEach((item, i) => {
        const e = this.expression(item, `${path}[${i}]`, ctx);
        if (e) items.push(e);
        else ok = false;
      });
      if (!ok) return undefined;
      return listExpression(items);
    }
    const entries: Array<{ key: Expression; value: Expression }> = [];
    let ok = true;
    for (const e of node.entries) {
      const computed = this.keyExpression(e.key, path, ctx);
      if (!computed) {
        ok = false;
        continue;
      }
      const v = this.expression(e.value, `${path}${q(computed.text)}`, ctx);
      if (v) entries.push({ key: computed.expr, value: v });
      else ok = false;
    }
    if (!ok) return undefined;
    return mapExpression(entries);
  }

  /**
   * A map key as an expression. A function call written as the key is called (10.1: functions
   * may return the keys of a map); any other key is its text, `$$` unescaped.
   */
  private keyExpression(
    key: YScalar,
    path: string,
    ctx: ValueContext,
  ): { expr: Expression; text: string } | undefined {
    const complex = key.complex;
    if (complex && this.functionName(complex) !== undefined) {
      const expr = this.expression(complex, `${path}${q(String(key.value))}`, ctx);
      if (!expr) return undefined;
      if (expr.kind !== 'literal') return { expr, text: String(key.value) };
      if (typeof expr.value !== 'string' && typeof expr.value !== 'number') {
        this.sink.error(
          'TOSCA1040',
          key,
          `${path}${q(String(key.value))}`,
          `a function used as a map key must give a string, not ${compact(expr.value)}`,
        );
        return undefined;
      }
      const text = String(expr.value);
      return { expr: lit(text), text };
    }
    const text = unescapeDollar(String(key.value));
    return { expr: lit(text), text };
  }

  private call(node: YNode, fn: string, path: string, ctx: ValueContext): Expression | undefined {
    const argNodes = this.clauseArguments(node, fn, ctx.inValidation === true);
    if (this.impliedValue.has(node))
      this.sink.warning(
        'TOSCA1040',
        node,
        path,
        '$valid_values takes the value and a list of valid values (TOSCA 2.0 10.2.2.2.6); read as [ $value, [ ...its arguments ] ], as Puccini does',
      );
    if (fn === 'value' && !ctx.inValidation) {
      this.sink.error('TOSCA1040', node, path, '$value is only meaningful in validation clauses');
      return undefined;
    }
    const custom = this.customFunction(ctx.unit, fn);
    const known = GRAPH_FUNCTIONS.has(fn) || fn in PURE_FUNCTIONS;
    if (fn === 'in_range' && !custom)
      this.sink.warning(
        'TOSCA1040',
        node.kind === 'map' ? (node.entries[0]?.key ?? node) : node,
        path,
        '$in_range is not among the functions TOSCA 2.0 defines (10.2), though its own examples use it (8.8, 9.1.1.2); read as Puccini reads it: [ value, [ lower, upper ] ], bounds included',
      );
    if (!known && !custom) {
      // 10.1 lets service designers "optionally" declare custom functions (6.6), so an
      // undeclared one is left to run time (the tosca-functions plugin), with a warning that
      // names the built-in it may be a misspelling of.
      const where = node.kind === 'map' ? (node.entries[0]?.key ?? node) : node;
      const near = nearBuiltin(fn);
      this.sink.warning(
        'TOSCA1040',
        where,
        path,
        `no function definition declares $${fn}${near ? ` (did you mean $${near}?)` : ''}: TOSCA 2.0 6.6 makes declaring it optional, so it is called at run time, on the tosca-functions plugin`,
      );
    }
    const args: Expression[] = [];
    for (const [i, a] of argNodes.entries()) {
      const e = this.expression(a, `${path}.$${fn}[${i}]`, ctx);
      if (!e) return undefined;
      args.push(e);
    }
    if (!known && !custom)
      return { kind: 'call', plugin: 'tosca-functions', function: fn, arguments: args };
    if (custom) {
      if (
        custom.arities.length > 0 &&
        !custom.arities.some(([lo, hi]) => args.length >= lo && args.length <= hi)
      ) {
        this.sink.error(
          'TOSCA1040',
          node,
          path,
          `$${fn}: no signature of "${custom.name}" takes ${args.length} argument${args.length === 1 ? '' : 's'}`,
        );
        return undefined;
      }
      return { kind: 'call', plugin: custom.plugin, function: custom.name, arguments: args };
    }
    const arity = PURE_FUNCTIONS[fn];
    if (arity && (args.length < arity[0] || (arity[1] >= 0 && args.length > arity[1]))) {
      this.sink.error(
        'TOSCA1040',
        node,
        path,
        `$${fn} takes ${arity[0] === arity[1] ? arity[0] : `${arity[0]} to ${arity[1] < 0 ? 'any number of' : arity[1]}`} arguments, not ${args.length}`,
      );
      return undefined;
    }
    if (fn === 'get_input') {
      const first = args[0];
      if (args.length < 1 || first?.kind !== 'literal' || typeof first.value !== 'string') {
        this.sink.error(
          'TOSCA1040',
          node,
          path,
          '$get_input takes an input name (and optional indexes)',
        );
        return undefined;
      }
      if (ctx.inValidation) return { kind: 'call', plugin: 'tosca', function: fn, arguments: args };
      const input = this.inputs.get(first.value);
      if (!input) {
        this.sink.error('TOSCA1041', node, path, `$get_input: no input named "${first.value}"`);
        return undefined;
      }
      if (input.value === undefined)
        return { kind: 'call', plugin: 'tosca', function: fn, arguments: args };
      let v: Value | undefined = input.value;
      for (const idx of args.slice(1)) {
        if (idx.kind !== 'literal')
          return { kind: 'call', plugin: 'tosca', function: fn, arguments: args };
        v = index(v, idx.value);
      }
      if (v === undefined) {
        this.sink.error(
          'TOSCA1041',
          node,
          path,
          `$get_input: input "${first.value}" has nothing at that index`,
        );
        return undefined;
      }
      return lit(v);
    }
    if (fn in PURE_FUNCTIONS && args.every((a) => a.kind === 'literal')) {
      try {
        return lit(
          evaluatePure(
            fn,
            args.map((a) => (a as { value: Value }).value),
          ),
        );
      } catch (e) {
        if (isFunctionError(e)) {
          this.sink.error('TOSCA1040', node, path, e.message);
          return undefined;
        }
        throw e;
      }
    }
    if (fn === 'get_property' || fn === 'get_attribute') {
      if (args.length < 2) {
        this.sink.error(
          'TOSCA1041',
          node,
          path,
          `$${fn} takes a TOSCA path: [SELF|node name, ...steps, property name, ...indexes]`,
        );
        return undefined;
      }
      if (!ctx.inValidation) {
        const checked = this.checkPath(fn, args, node, path);
        if (!checked) return undefined;
        args.splice(0, args.length, ...checked);
      }
    }
    if (fn === 'get_artifact' && !ctx.inValidation && !this.checkArtifactRef(args, node, path))
      return undefined;
    return { kind: 'call', plugin: 'tosca', function: fn, arguments: args };
  }

  /**
   * Checks what can be checked of a TOSCA path at compile time: the node template it starts
   * at, a capability step, and that the final name is a property (for get_property) or a
   * property or attribute (for get_attribute) of what it reaches. Paths through relationships
   * are left to run time. Returns the path to use: TOSCA 1.3 forms that Puccini still reads
   * (`HOST`, a capability or requirement name without `CAPABILITY` or `RELATIONSHIP`) are
   * rewritten to the TOSCA 2.0 path (10.3), with a warning; nothing when the path is wrong.
   */
  private checkPath(
    fn: string,
    args: Expression[],
    node: YNode,
    path: string,
  ): Expression[] | undefined {
    if (!args.every((a) => a.kind === 'literal')) return args;
    let v = args.map((a) => (a as { value: Value }).value);
    let rewritten = false;
    const result = () => (rewritten ? v.map(lit) : args);
    if (v[0] === 'HOST') {
      const host = this.selfType ? this.hostRequirement(this.selfType) : undefined;
      if (!host) {
        this.sink.error(
          'TOSCA1041',
          node,
          path,
          `$${fn}: HOST (TOSCA 1.3) means the target of a HostedOn requirement, and ${this.selfType ? `node type "${this.selfType.name}" has none` : 'there is no node here'} (TOSCA 2.0 10.3 writes SELF, RELATIONSHIP, <requirement>, TARGET, ...)`,
        );
        return undefined;
      }
      this.sink.warning(
        'TOSCA1041',
        node,
        path,
        `HOST is TOSCA 1.3; TOSCA 2.0 10.3 writes SELF, RELATIONSHIP, ${host}, TARGET, ...: read so, as Puccini reads it`,
      );
      v = ['SELF', 'RELATIONSHIP', host, 'TARGET', ...v.slice(1)];
      rewritten = true;
    }
    let type: ToscaType | undefined;
    let i = 1;
    if (v[0] === 'SELF') type = this.selfType;
    else if (v[0] === 'SOURCE' || v[0] === 'TARGET') return result();
    else if (typeof v[0] === 'string' && this.templateTypes.size > 0) {
      if (!this.templateTypes.has(v[0])) {
        this.sink.error('TOSCA1041', node, path, `$${fn}: no node template "${v[0]}"`);
        return undefined;
      }
      type = this.templateTypes.get(v[0]);
      if (v[1] === 'ALL' || typeof v[1] === 'number') i = 2;
    }
    if (!type) return result();
    const step = v[i];
    // A capability or requirement named without its keyword (TOSCA 1.3's path).
    if (
      typeof step === 'string' &&
      step !== 'RELATIONSHIP' &&
      step !== 'CAPABILITY' &&
      !type.props.has(step) &&
      !type.attrs.has(step)
    ) {
      const keyword = type.capabilities.has(step)
        ? 'CAPABILITY'
        : type.requirements.has(step)
          ? 'RELATIONSHIP'
          : undefined;
      if (keyword) {
        this.sink.warning(
          'TOSCA1041',
          node,
          path,
          `"${step}" is a ${keyword === 'CAPABILITY' ? 'capability' : 'requirement'} of node type "${type.name}": TOSCA 2.0 10.3 writes ${keyword}, ${step}; read so, as Puccini reads it`,
        );
        v = [...v.slice(0, i), keyword, ...v.slice(i)];
        rewritten = true;
      }
    }
    let props = type.props;
    let attrs = type.attrs;
    let what = `node type "${type.name}"`;
    if (v[i] === 'RELATIONSHIP') return result();
    if (v[i] === 'CAPABILITY') {
      const cap = type.capabilities.get(String(v[i + 1]));
      if (!cap) {
        this.sink.error(
          'TOSCA1041',
          node,
          path,
          `$${fn}: ${what} has no capability "${String(v[i + 1])}"`,
        );
        return undefined;
      }
      if (v[i + 2] === 'RELATIONSHIP') return result();
      props = cap.props;
      attrs = cap.attrs;
      what = `capability "${cap.name}"`;
      i += 2;
    }
    const name = v[i];
    if (typeof name !== 'string') {
      this.sink.error('TOSCA1041', node, path, `$${fn}: the path names no property`);
      return undefined;
    }
    if (!props.has(name) && (fn === 'get_property' || !attrs.has(name))) {
      this.sink.error(
        'TOSCA1041',
        node,
        path,
        `$${fn}: ${what} has no ${fn === 'get_property' ? 'property' : 'property or attribute'} "${name}"`,
      );
      return undefined;
    }
    return result();
  }

  /** The requirement of a node type whose relationship is a HostedOn (what 1.3's HOST follows). */
  private hostRequirement(type: ToscaType): string | undefined {
    for (const [name, r] of type.requirements) {
      for (let t: ToscaType | undefined = r.relationship; t; t = t.parent)
        if (/(^|[:./])HostedOn$/.test(t.name)) return name;
    }
    return type.requirements.has('host') ? 'host' : undefined;
  }

  /** `$get_artifact: [ SELF|node, artifact, ... ]` must name an artifact of that node. */
  private checkArtifactRef(args: Expression[], node: YNode, path: string): boolean {
    const [first, second] = args;
    if (first?.kind !== 'literal' || second?.kind !== 'literal' || typeof second.value !== 'string')
      return true;
    const name =
      first.value === 'SELF'
        ? this.selfName
        : typeof first.value === 'string'
          ? first.value
          : undefined;
    if (name === undefined || !this.templateNodes.has(name)) {
      if (
        first.value !== 'SELF' &&
        typeof first.value === 'string' &&
        this.templateNodes.size > 0
      ) {
        this.sink.error(
          'TOSCA1041',
          node,
          path,
          `$get_artifact: no node template "${first.value}"`,
        );
        return false;
      }
      return true;
    }
    const own = getEntry(this.templateNodes.get(name) as YMap, 'artifacts')?.value;
    const has =
      this.templateTypes.get(name)?.artifacts.has(second.value) ||
      (own?.kind === 'map' && getEntry(own, second.value) !== undefined);
    if (!has) {
      this.sink.error(
        'TOSCA1041',
        node,
        path,
        `$get_artifact: node template "${name}" has no artifact "${second.value}"`,
      );
      return false;
    }
    return true;
  }

  private customFunction(unit: Unit, fn: string): FunctionDef | undefined {
    if (this.allFunctions.length === 0) return undefined;
    const own = this.functionsByUnit.get(unit)?.get(fn);
    if (own) return own;
    const colon = fn.indexOf(':');
    for (const imp of unit.imports) {
      if (imp.namespace) {
        if (colon > 0 && fn.slice(0, colon) === imp.namespace) {
          const f = this.customFunction(imp.unit, fn.slice(colon + 1));
          if (f) return f;
        }
      } else if (imp.unit !== unit) {
        const f = this.functionsByUnit.get(imp.unit)?.get(fn);
        if (f) return f;
      }
    }
    return undefined;
  }

  /** Checks a validation clause's functions exist (at definition time). */
  private checkClause(node: YNode, unit: Unit, path: string): void {
    if (this.functionName(node) === undefined) {
      this.sink.error(
        'TOSCA1040',
        node,
        path,
        'a validation clause must be a boolean function call, e.g. { $greater_than: [ $value, 0 ] }',
      );
      return;
    }
    this.expression(node, path, { unit, inValidation: true });
  }

  private checkCondition(node: YNode, unit: Unit, path: string): void {
    if (node.kind === 'seq') {
      node.items.forEach((n, i) => {
        this.checkCondition(n, unit, `${path}[${i}]`);
      });
      return;
    }
    if (this.functionName(node) !== undefined)
      this.expression(node, path, { unit, inValidation: true });
  }

  /**
   * Checks a value against a schema and compiles it. `definition` is set for defaults and
   * fixed values in definitions (where `$get_input` has no service to refer to).
   */
  value(
    node: YNode,
    schema: Schema,
    path: string,
    ctx: ValueContext,
    definition = false,
  ): Expression | undefined {
    const fn = this.functionName(node);
    if (fn !== undefined) {
      if (definition) return this.expression(node, path, { ...ctx, inValidation: true });
      const e = this.call(node, fn, path, ctx);
      if (e?.kind === 'literal' && fn === 'get_input') {
        return this.literalValue(node, e.value, schema, path, ctx.unit) ? e : undefined;
      }
      return e;
    }
    const v = this.checkLiteral(node, schema, path, ctx);
    return v === undefined ? undefined : v;
  }

  /** Checks a plain value (recursively, functions allowed inside collections). */
  private checkLiteral(
    node: YNode,
    schema: Schema,
    path: string,
    ctx: ValueContext,
  ): Expression | undefined {
    const t = schema.type;
    const base = this.baseOf(t);
    const fail = (msg: string) => {
      this.sink.error('TOSCA1030', node, path, msg);
      return undefined;
    };
    let out: Expression | undefined;
    switch (base) {
      case 'list': {
        if (node.kind !== 'seq') return fail(`expected a list for type "${t.name}"`);
        const entry = schema.entry ?? t.entry;
        const items: Expression[] = [];
        let ok = true;
        node.items.forEach((item, i) => {
          const e = entry
            ? this.value(item, entry, `${path}[${i}]`, ctx)
            : this.expression(item, `${path}[${i}]`, ctx);
          if (e) items.push(e);
          else ok = false;
        });
        if (!ok) return undefined;
        out = listExpression(items);
        break;
      }
      case 'map': {
        if (node.kind !== 'map') return fail(`expected a map for type "${t.name}"`);
        const entry = schema.entry ?? t.entry;
        const key = schema.key ?? t.key;
        const entries: Array<{ key: Expression; value: Expression }> = [];
        let ok = true;
        for (const e of node.entries) {
          const computed = this.keyExpression(e.key, path, ctx);
          if (!computed) {
            ok = false;
            continue;
          }
          const k = computed.text;
          const keyNode =
            computed.expr.kind === 'literal' ? valueNode(computed.expr.value, e.key) : undefined;
          if (key && keyNode && !this.checkLiteral(keyNode, key, `${path}${q(k)}`, ctx)) ok = false;
          const v = entry
            ? this.value(e.value, entry, `${path}${q(k)}`, ctx)
            : this.expression(e.value, `${path}${q(k)}`, ctx);
          if (v) entries.push({ key: computed.expr, value: v });
          else ok = false;
        }
        if (!ok) return undefined;
        out = mapExpression(entries);
        break;
      }
      case 'range': {
        const bounds = rangeBounds(node);
        if (!bounds) {
          return fail(
            `expected a range [ min, max ] of integers (max may be UNBOUNDED, min <= max) for type "${t.name}"`,
          );
        }
        const [min, max] = bounds;
        out = lit([min, max === Number.POSITIVE_INFINITY ? 'UNBOUNDED' : max]);
        break;
      }
      case 'complex': {
        if (node.kind !== 'map')
          return fail(`expected a map of properties for data type "${t.name}"`);
        const entries: Array<{ key: Expression; value: Expression }> = [];
        let ok = true;
        for (const e of node.entries) {
          const k = String(e.key.value);
          const d = t.props.get(k);
          if (!d) {
            this.sink.error(
              'TOSCA1033',
              e.key,
              `${path}${q(k)}`,
              `data type "${t.name}" has no property "${k}"`,
            );
            ok = false;
            continue;
          }
          const v = d.schema
            ? this.value(e.value, d.schema, `${path}${q(k)}`, ctx)
            : this.expression(e.value, `${path}${q(k)}`, ctx);
          if (v) entries.push({ key: lit(k), value: v });
          else ok = false;
        }
        for (const [k, d] of t.props) {
          if (getEntry(node, k)) continue;
          if (d.fixed || d.default) {
            const v = d.fixed ?? d.default;
            const e = v ? this.expression(v, `${path}${q(k)}`, ctx) : undefined;
            if (e) entries.push({ key: lit(k), value: e });
          } else if (d.required) {
            this.sink.error(
              'TOSCA1032',
              node,
              `${path}${q(k)}`,
              `data type "${t.name}" requires property "${k}"`,
            );
            ok = false;
          }
        }
        if (!ok) return undefined;
        out = mapExpression(entries);
        break;
      }
      default: {
        if (node.kind !== 'scalar')
          return fail(
            `expected ${/^[aeiou]/.test(base) ? 'an' : 'a'} ${base} for type "${t.name}", got a ${node.kind === 'map' ? 'map' : 'list'}`,
          );
        const v = this.primitive(node, t, base, path);
        if (v === undefined) return undefined;
        out = lit(v);
      }
    }
    if (out.kind === 'literal') {
      if (!this.validate(node, out.value, schema, path, ctx.unit)) return undefined;
    }
    return out;
  }

  /** Checks a compile-time value (e.g. from an input) against a schema. */
  private literalValue(node: YNode, v: Value, schema: Schema, path: string, unit: Unit): boolean {
    const base = this.baseOf(schema.type);
    const ok =
      (base === 'string' && typeof v === 'string') ||
      (base === 'integer' && typeof v === 'number' && Number.isInteger(v)) ||
      (base === 'float' && typeof v === 'number') ||
      (base === 'boolean' && typeof v === 'boolean') ||
      (base === 'list' && Array.isArray(v)) ||
      ((base === 'map' || base === 'complex') &&
        typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v)) ||
      !['string', 'integer', 'float', 'boolean', 'list', 'map', 'complex'].includes(base);
    if (!ok) {
      this.sink.error(
        'TOSCA1030',
        node,
        path,
        `value ${JSON.stringify(v)} does not match type "${schema.type.name}"`,
      );
      return false;
    }
    return this.validate(node, v, schema, path, unit);
  }

  private primitive(node: YScalar, t: ToscaType, base: string, path: string): Value | undefined {
    const v = node.value;
    const src = node.source;
    const fail = (msg: string) => {
      this.sink.error('TOSCA1030', node, path, msg);
      return undefined;
    };
    switch (base) {
      case 'string':
        if (typeof v !== 'string')
          return fail(`expected a string for type "${t.name}", got ${describe(node)}`);
        return unescapeDollar(v);
      case 'integer':
        if (
          typeof v !== 'number' ||
          !Number.isInteger(v) ||
          (src !== undefined && !/^[-+]?(0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)$/.test(src))
        ) {
          return fail(`expected an integer for type "${t.name}", got ${describe(node)}`);
        }
        return v;
      case 'float':
        if (typeof v !== 'number')
          return fail(`expected a float for type "${t.name}", got ${describe(node)}`);
        return v;
      case 'boolean':
        if (typeof v !== 'boolean' || (src !== undefined && src !== 'true' && src !== 'false'))
          return fail(`expected true or false for type "${t.name}", got ${describe(node)}`);
        return v;
      case 'bytes':
        if (typeof v !== 'string' || node.tag || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v))
          return fail(`expected base64-encoded bytes for type "${t.name}", got ${describe(node)}`);
        return v;
      case 'nil':
        if (v !== null) return fail(`expected null for type "${t.name}"`);
        return null;
      case 'timestamp': {
        const tagged = node.tag !== undefined && node.tag !== 'tag:yaml.org,2002:str';
        const when = typeof v === 'string' && !tagged ? timestampMillis(v) : undefined;
        if (typeof when !== 'number')
          return fail(
            `expected an RFC 3339 timestamp for type "${t.name}", got ${describe(node)}: ${when?.reason ?? (tagged ? `the tag ${node.tag} is not a TOSCA timestamp` : 'not a string')} (TOSCA 2.0 9.1.2.1)`,
          );
        return v;
      }
      case 'version': {
        const s = src ?? (typeof v === 'string' ? v : undefined);
        if ((typeof v !== 'string' && typeof v !== 'number') || s === undefined || !VERSION.test(s))
          return fail(
            `expected a version (major.minor[.fix[.qualifier[-build]]]) for type "${t.name}", got ${describe(node)}`,
          );
        return s;
      }
      case 'range':
        return fail(`expected a range [min, max] for type "${t.name}"`);
      case 'scalar': {
        const info = this.scalarOf(t);
        if (!info) return fail(`type "${t.name}" has no units`);
        if (typeof v !== 'string')
          return fail(
            `expected a scalar "<number> <unit>" for type "${t.name}", got ${describe(node)}`,
          );
        const m = /^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*$/.exec(v);
        if (!m)
          return fail(
            `expected a scalar "<number> <unit>" for type "${t.name}", got ${describe(node)}`,
          );
        const mult = info.units.get(m[2] as string) ?? ciUnit(info.units, m[2] as string, t);
        if (mult === undefined)
          return fail(
            `unknown unit "${m[2]}" for type "${t.name}" (units: ${[...info.units.keys()].join(', ')})`,
          );
        if (this.baseOf(info.dataType) === 'integer' && !/^[-+]?\d+$/.test(m[1] as string))
          return fail(
            `the number in ${v} must be an integer (the data type of "${t.name}" is integer; TOSCA 2.0 9.1.2.2)`,
          );
        const n = Number(m[1]) * mult;
        if (
          this.baseOf(info.dataType) === 'integer' &&
          !Number.isInteger(Math.round(n * 1e9) / 1e9)
        ) {
          return fail(
            `${v} is not a whole number of ${info.canonical} (the data type of "${t.name}" is integer)`,
          );
        }
        const canonical = this.baseOf(info.dataType) === 'integer' ? Math.round(n) : n;
        if (
          info.dataType !== this.builtins.get('float') &&
          info.dataType !== this.builtins.get('integer')
        ) {
          if (
            !this.validate(
              node,
              canonical,
              { type: info.dataType, validations: [] },
              path,
              t.unit as Unit,
            )
          )
            return undefined;
        }
        return canonical;
      }
    }
    return v;
  }

  /** Runs validation clauses (type chain and schema) on a literal value. */
  private validate(node: YNode, v: Value, schema: Schema, path: string, _unit: Unit): boolean {
    if (this.baseOf(schema.type) === 'range' && node.kind === 'seq') {
      // ranges are checked structurally below
    }
    const clauses = [...schema.type.validations, ...schema.validations];
    for (const c of clauses) {
      const r = this.evaluateClause(c, v, schema.type);
      if (r === false) {
        const where = c.node;
        this.sink.error(
          'TOSCA1031',
          node,
          path,
          `value ${JSON.stringify(v)} does not satisfy the validation clause ${compact(toPlain(c.node))}`,
          [{ where, message: 'the validation clause' }],
        );
        return false;
      }
    }
    return true;
  }

  private evaluateClause(c: Clause, v: Value, type: ToscaType): boolean | undefined {
    const scalar = this.scalarOf(type);
    const conv = (x: Value): Value => {
      if (scalar && typeof x === 'string') {
        const m = /^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*$/.exec(x);
        const mult = m ? scalar.units.get(m[2] as string) : undefined;
        if (m && mult !== undefined) return Number(m[1]) * mult;
      }
      return x;
    };
    const ev = (node: YNode): Value | undefined => {
      const fn = this.functionName(node);
      if (fn === undefined) {
        if (node.kind === 'scalar') return conv(node.value);
        if (node.kind === 'seq') {
          const items = node.items.map(ev);
          return items.some((i) => i === undefined) ? undefined : (items as Value[]).map(conv);
        }
        return toPlain(node) as Value;
      }
      const argNodes = this.clauseArguments(node, fn, true);
      if (fn === 'value') {
        // $value, or $value: [ names and indexes into it ]
        let cur: Value | undefined = v;
        for (const a of argNodes)
          cur = cur === undefined || a.kind !== 'scalar' ? undefined : index(cur, a.value as Value);
        return cur;
      }
      if (!(fn in PURE_FUNCTIONS)) return undefined;
      const args = argNodes.map(ev);
      if (args.some((a) => a === undefined)) return undefined;
      try {
        return evaluatePure(fn, args as Value[]);
      } catch {
        return undefined;
      }
    };
    const r = ev(c.node);
    return typeof r === 'boolean' ? r : undefined;
  }

  /** Checks assignments against definitions; reports missing required ones. */
  private assignProps(
    unit: Unit,
    node: YNode | undefined,
    defs: Map<string, PropDef>,
    path: string,
    isAttribute: boolean,
    owner = 'the type',
    undefinedSeverity: 'error' | 'warning' = 'error',
  ): Map<string, { expr: Expression; def?: PropDef }> {
    const out = new Map<string, { expr: Expression; def?: PropDef }>();
    const map = node
      ? this.asMap(node, path, isAttribute ? 'attributes' : 'properties')
      : undefined;
    const assigned = new Set<string>();
    if (map) {
      for (const e of map.entries) {
        const k = String(e.key.value);
        assigned.add(k);
        const d = defs.get(k);
        if (!d) {
          this.sink.report(
            undefinedSeverity,
            'TOSCA1033',
            e.key,
            `${path}${q(k)}`,
            `${owner} defines no ${isAttribute ? 'attribute' : 'property'} "${k}"${undefinedSeverity === 'warning' ? ' (its value is kept unchecked)' : ''}`,
          );
          continue;
        }
        if (d.fixed && !isAttribute) {
          this.sink.error(
            'TOSCA1034',
            e.value,
            `${path}${q(k)}`,
            `property "${k}" has a fixed value in its definition and cannot be assigned`,
            [{ where: d.fixed, message: 'the fixed value' }],
          );
          continue;
        }
        const assignment = isAttribute
          ? this.attributeValue(e.value, d, `${path}${q(k)}`)
          : e.value;
        if (!assignment) {
          assigned.delete(k);
          continue;
        }
        const expr = d.schema
          ? this.value(assignment, d.schema, `${path}${q(k)}`, { unit })
          : this.expression(assignment, `${path}${q(k)}`, { unit });
        if (expr) out.set(k, { expr, def: d });
      }
    }
    for (const [k, d] of defs) {
      if (assigned.has(k)) continue;
      const v = d.fixed ?? d.default;
      if (v) {
        const expr = this.expression(v, `${path}${q(k)}`, { unit: d.unit });
        if (expr) out.set(k, { expr, def: d });
      } else if (d.required && !isAttribute) {
        this.sink.error(
          'TOSCA1032',
          map ?? node ?? this.owner ?? d.node,
          `${path}${q(k)}`,
          `required property "${k}" has no value (assign one, or give the definition a default)`,
          [{ where: d.node, message: 'the definition' }],
        );
      } else if (isAttribute) out.set(k, { expr: lit(null), def: d });
    }
    return out;
  }

  /**
   * The value of an attribute assignment. TOSCA 2.0 9.6 assigns a value alone; the TOSCA 1.3
   * long notation `{ description, value }`, which Puccini still reads, is accepted with a
   * warning for an attribute whose type is not itself a map or data type with such keys
   * (nothing when there is no value: the definition's default stands).
   */
  private attributeValue(node: YNode, d: PropDef, path: string): YNode | undefined {
    if (node.kind !== 'map' || node.entries.length === 0 || this.functionName(node) !== undefined)
      return node;
    if (!node.entries.every((e) => e.key.value === 'description' || e.key.value === 'value'))
      return node;
    const base = d.schema ? this.baseOf(d.schema.type) : 'map';
    if (base === 'map' || base === 'complex') return node;
    this.sink.warning(
      'TOSCA1030',
      node,
      path,
      'an attribute assignment is its value alone (TOSCA 2.0 9.6); the TOSCA 1.3 long notation { description, value } is read as Puccini reads it',
    );
    return getEntry(node, 'value')?.value;
  }

  // ---------------------------------------------------------------- service

  private checkService(unit: Unit, node: YNode): CheckedService | undefined {
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
      metadata: get('metadata') ? this.metadata(get('metadata'), `${path}.metadata`) : {},
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
              this.sink.error(
                'TOSCA1020',
                where,
                `${p}.members[${i}]`,
                `no node template "${mem}"`,
              );
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
        const targets =
          this.strList(getEntry(m, 'targets')?.value, `${pp}.targets`, 'targets') ?? [];
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
        if (!v) {
          if (!d.mapping) service.outputs.set(name, lit(null));
          else
            service.outputs.set(name, {
              kind: 'call',
              plugin: 'tosca',
              function: 'get_attribute',
              arguments: (toPlain(d.mapping) as Value[]).map((x) => lit(x)),
            });
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
  private resolveCopies(
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

  private isNodeOf(unit: Unit, t: ToscaType, typeName: string): boolean {
    const want = this.lookup(unit, 'node', typeName) ?? this.lookup(unit, 'capability', typeName);
    return want ? this.isA(t, want) : true;
  }

  private nodeTemplate(unit: Unit, name: string, m: YMap, path: string): NodeTemplate | undefined {
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
        this.sink.error(
          'TOSCA1030',
          count,
          `${path}.count`,
          'count must be a non-negative integer',
        );
    }
    const nf = get('node_filter');
    if (nf) {
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
        new Map([...def.props, ...def.attrs]),
        `${p}.attributes`,
        true,
        `capability "${cname}"`,
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
  private artifactValue(
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
  private artifactTypeOf(a: YMap, unit: Unit): ToscaType | undefined {
    const tn = getEntry(a, 'type')?.value;
    return tn?.kind === 'scalar' ? this.lookup(unit, 'artifact', String(tn.value)) : undefined;
  }

  private fileInfo(file: string, unit: Unit): Record<string, Value> {
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
  private embedded(node: YNode, path: string, unit: Unit): Value {
    if (this.functionName(node) !== undefined) {
      const e = this.expression(node, path, { unit, inValidation: true });
      return e ? (e.kind === 'literal' ? e.value : { $expression: e as unknown as Value }) : null;
    }
    if (node.kind === 'scalar') return node.value;
    if (node.kind === 'seq')
      return node.items.map((i, n) => this.embedded(i, `${path}[${n}]`, unit));
    const out: Record<string, Value> = {};
    for (const e of node.entries)
      out[String(e.key.value)] = this.embedded(e.value, `${path}${q(String(e.key.value))}`, unit);
    return out;
  }

  /** The property, attribute and interface assignments of a relationship, checked against its type. */
  private relationshipAssignments(unit: Unit, m: YMap | undefined, type: ToscaType, path: string) {
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

  private interfaceAssignments(
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
  private checkOutputMappings(outputs: YNode, owner: ToscaType, path: string): void {
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

  private implementationValue(node: YNode, templateUnit: Unit): Value {
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

  private embeddedInputs(
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

  // ---------------------------------------------------------------- requirements

  private substitutionRequirementTargets(sm: YNode | undefined): Set<string> {
    const out = new Set<string>();
    if (sm?.kind !== 'map') return out;
    const reqs = getEntry(sm, 'requirements')?.value;
    const visit = (v: YNode): void => {
      const plain = toPlain(v);
      if (typeof plain === 'string') out.add(`${plain}|*`);
      if (
        Array.isArray(plain) &&
        plain.every((x) => Array.isArray(x) || typeof x === 'string') &&
        plain.some((x) => Array.isArray(x))
      ) {
        for (const item of (v as { items: YNode[] }).items) visit(item);
        return;
      }
      if (Array.isArray(plain) && typeof plain[0] === 'string' && typeof plain[1] === 'string')
        out.add(`${plain[0]}|${plain[1]}`);
      if (Array.isArray(plain) && typeof plain[0] === 'string' && plain.length === 1)
        out.add(`${plain[0]}|*`);
    };
    if (reqs?.kind === 'seq')
      for (const item of reqs.items)
        if (item.kind === 'map') for (const e of item.entries) visit(e.value);
    if (reqs?.kind === 'map') for (const e of reqs.entries) visit(e.value);
    return out;
  }

  private fulfil(
    unit: Unit,
    nt: NodeTemplate,
    byName: Map<string, NodeTemplate>,
    relTemplates: Map<string, { type: ToscaType; node: YMap }>,
    mapped: Set<string>,
  ): void {
    const reqsNode = getEntry(nt.node, 'requirements')?.value;
    const list = reqsNode
      ? this.asList(
          reqsNode,
          `${nt.path}.requirements`,
          'requirements (a list of single-entry maps)',
        )
      : undefined;
    const counts = new Map<string, { total: number; mandatory: number; where: YNode }>();
    const selectable = nt.directives.includes('select') || nt.directives.includes('substitute');
    let index = 0;
    const items: Array<{ name: string; node: YNode; path: string; implicit?: boolean }> = [];
    list?.items.forEach((item, i) => {
      const p = `${nt.path}.requirements[${i}]`;
      const e = this.soleEntry(
        item,
        p,
        'TOSCA1010',
        'each requirement assignment must be a map with one entry (name: assignment)',
      );
      if (!e) return;
      items.push({
        name: String(e.key.value),
        node: e.value,
        path: `${p}${q(String(e.key.value))}`,
      });
    });
    for (const [rname, def] of nt.type.requirements) {
      if (!items.some((i) => i.name === rname) && def.countRange[0] > 0 && !selectable) {
        for (let i = 0; i < def.countRange[0]; i++)
          items.push({
            name: rname,
            node: def.node,
            path: `${nt.path}.requirements(implicit ${rname})`,
            implicit: true,
          });
      }
    }
    for (const item of items) {
      const def = nt.type.requirements.get(item.name);
      if (!def) {
        this.sink.error(
          'TOSCA1033',
          item.node,
          item.path,
          `node type "${nt.type.name}" has no requirement "${item.name}"`,
        );
        continue;
      }
      let targetName: string | undefined;
      let capName: string | undefined;
      let capType = def.capability?.type;
      let nodeType = def.nodeType;
      let relType = def.relationship;
      let relNode: YNode | undefined;
      let count = 1;
      let optional = false;
      let filter: YNode | undefined = def.nodeFilter;
      const allocation: Record<string, Value> = {};
      // internal: targets in this service; external: found at deployment (8.7.2), in order.
      let reqDirectives: string[] = [];
      const a = item.implicit ? undefined : item.node;
      if (a?.kind === 'scalar') {
        const s = this.str(a, item.path, 'requirement target');
        if (s === undefined) continue;
        targetName = s;
      } else if (a?.kind === 'seq') {
        // Short form [ node, index ]: a target node (the index selects among its instances).
        const first = a.items[0];
        if (a.items.length !== 2 || first?.kind !== 'scalar' || typeof first.value !== 'string') {
          this.sink.error(
            'TOSCA1010',
            a,
            item.path,
            'a requirement target list is [ node template, index ]',
          );
          continue;
        }
        targetName = first.value;
        this.expression(a.items[1] as YNode, `${item.path}[1]`, { unit, inValidation: true });
      } else if (a) {
        const m = this.asMap(a, item.path, `requirement "${item.name}"`);
        if (!m) continue;
        this.keys(
          m,
          GRAMMAR.requirement_assignment,
          item.path,
          `requirement assignment "${item.name}"`,
        );
        const n = getEntry(m, 'node')?.value;
        if (n?.kind === 'seq') {
          const first = n.items[0];
          if (first?.kind === 'scalar' && typeof first.value === 'string') targetName = first.value;
        } else if (n) targetName = this.str(n, `${item.path}.node`, 'node');
        const c = getEntry(m, 'capability')?.value;
        if (c) {
          const s = this.str(c, `${item.path}.capability`, 'capability');
          if (s !== undefined) {
            const ct = this.lookup(unit, 'capability', s);
            if (ct) {
              if (capType && !this.isA(ct, capType))
                this.sink.error(
                  'TOSCA1022',
                  c,
                  `${item.path}.capability`,
                  `capability type "${s}" does not derive from "${capType.name}"`,
                );
              capType = ct;
            } else capName = s;
          }
        }
        const r = getEntry(m, 'relationship')?.value;
        if (r) {
          relNode = r;
          if (r.kind === 'scalar') {
            const s = this.str(r, `${item.path}.relationship`, 'relationship');
            const rt = s !== undefined ? relTemplates.get(s) : undefined;
            if (rt) {
              // A relationship template: its type and its values.
              relType = rt.type;
              relNode = rt.node;
            } else if (s !== undefined) {
              const t = this.lookup(unit, 'relationship', s);
              if (t) relType = t;
              else
                this.sink.error(
                  'TOSCA1020',
                  r,
                  `${item.path}.relationship`,
                  `unknown relationship type or template "${s}"`,
                );
            }
          } else if (r.kind === 'map') {
            this.keys(
              r,
              GRAMMAR.relationship_assignment,
              `${item.path}.relationship`,
              'relationship assignment',
            );
            const tn = getEntry(r, 'type')?.value;
            if (tn) {
              const t = this.typeRef(
                unit,
                'relationship',
                tn,
                `${item.path}.relationship.type`,
                'type',
              );
              if (t) relType = t;
            }
          }
        }
        const cnt = getEntry(m, 'count')?.value;
        if (cnt) {
          const c = this.countValue(unit, cnt, `${item.path}.count`);
          if (c !== undefined) count = c;
          else if (c === undefined && this.functionName(cnt) === undefined)
            this.sink.error(
              'TOSCA1030',
              cnt,
              `${item.path}.count`,
              'count must be a non-negative integer',
            );
        }
        const opt = getEntry(m, 'optional')?.value;
        if (opt) {
          if (opt.kind === 'scalar' && typeof opt.value === 'boolean') optional = opt.value;
          else
            this.sink.error(
              'TOSCA1030',
              opt,
              `${item.path}.optional`,
              'optional must be true or false',
            );
        }
        const nf = getEntry(m, 'node_filter')?.value;
        if (nf) {
          this.checkCondition(nf, unit, `${item.path}.node_filter`);
          filter = nf;
        }
        const alloc = getEntry(m, 'allocation')?.value;
        const allocMap = alloc
          ? this.asMap(alloc, `${item.path}.allocation`, 'allocation')
          : undefined;
        // Allocations name numeric properties of the target capability (8.7.5); the capacity
        // they draw on is counted when relationships are made, at instantiation.
        for (const e of allocMap?.entries ?? []) {
          const k = String(e.key.value);
          const p = `${item.path}.allocation${q(k)}`;
          // The text says a capability property; the specification's own example (s61)
          // allocates node properties. Both are accepted; anything else is a warning, as
          // the corpus holds such allocations valid.
          const def = capType?.props.get(k) ?? nodeType?.props.get(k);
          if (!def) {
            this.sink.report(
              'warning',
              'TOSCA1033',
              e.key,
              p,
              `no property "${k}" of the target capability${nodeType ? ' or node' : ''} to allocate from`,
            );
            continue;
          }
          const base = def.schema ? this.baseOf(def.schema.type) : undefined;
          if (base !== 'integer' && base !== 'float' && base !== 'scalar') {
            this.sink.error(
              'TOSCA1030',
              e.key,
              p,
              `only integer, float and scalar properties can be allocated; "${k}" is ${base ?? 'untyped'}`,
            );
            continue;
          }
          const v = def.schema ? this.value(e.value, def.schema, p, { unit }) : undefined;
          if (v?.kind === 'literal') allocation[k] = v.value;
        }
        reqDirectives = this.directives(
          getEntry(m, 'directives')?.value,
          `${item.path}.directives`,
          ['internal', 'external'],
          '8.7',
        ).filter((d) => d === 'internal' || d === 'external');
      }
      if (!item.implicit) {
        const c = counts.get(item.name) ?? { total: 0, mandatory: 0, where: item.node };
        c.total += count;
        if (!optional) c.mandatory += count;
        counts.set(item.name, c);
      }
      // candidates
      // A capability may restrict which node types can target it (valid_source_node_types).
      const accepts = (c: CompiledCapability) =>
        (!c.validSources || c.validSources.some((v) => this.isA(nt.type, v))) &&
        (!c.directives || c.directives.includes('internal'));
      const matchCap = (n: NodeTemplate): string | undefined => {
        if (capName !== undefined) {
          const c = n.capabilities.get(capName);
          return c && (!capType || this.isA(c.type, capType)) && accepts(c) ? capName : undefined;
        }
        for (const [cn, c] of n.capabilities)
          if ((!capType || this.isA(c.type, capType)) && accepts(c)) return cn;
        return undefined;
      };
      let found: Array<{ n: NodeTemplate; cap: string | undefined }> = [];
      const named = targetName !== undefined ? byName.get(targetName) : undefined;
      const externalFirst = reqDirectives[0] === 'external';
      const internalOnly = reqDirectives.length > 0 && !reqDirectives.includes('external');
      if (externalFirst && !named) {
        // Looked for outside the service first: leave it to the finder.
        if (targetName !== undefined) nodeType = this.lookup(unit, 'node', targetName) ?? nodeType;
      } else if (named) {
        const cap = matchCap(named);
        if (cap !== undefined) found.push({ n: named, cap });
      } else {
        if (targetName !== undefined) {
          const t = this.lookup(unit, 'node', targetName);
          if (!t) {
            this.sink.error(
              'TOSCA1050',
              item.node,
              item.path,
              `requirement "${item.name}": no node template or node type "${targetName}"`,
            );
            continue;
          }
          nodeType = t;
        }
        // Only a node_filter needs every candidate; otherwise the first one is the target.
        // A filter needs every candidate, and so does spreading count > 1 over targets.
        const all = filter !== undefined || count > 1;
        for (const n of byName.values()) {
          if (n === nt || (nodeType && !this.isA(n.type, nodeType))) continue;
          const cap = matchCap(n);
          if (cap === undefined) continue;
          found.push({ n, cap });
          if (!all) break;
        }
      }
      // A node_filter decided at compile time selects among the candidates; one that needs
      // run-time values leaves the choice to a finder.
      let filterDecided = false;
      if (filter && targetName === undefined && found.length > 0) {
        const clauses = (filter.kind === 'seq' ? filter.items : [filter]).map((c) =>
          this.expression(c, `${item.path}.node_filter`, { unit, inValidation: true }),
        );
        const verdicts = found.map(({ n }) => {
          let verdict: boolean | undefined = true;
          for (const c of clauses) {
            const r = c ? foldExpression(c, n, byName, undefined, this.inputs) : undefined;
            if (r?.kind !== 'literal' || typeof r.value !== 'boolean') verdict = undefined;
            else if (!r.value && verdict !== undefined) verdict = false;
          }
          return verdict;
        });
        if (verdicts.every((v) => v !== undefined)) {
          found = found.filter((_, i) => verdicts[i]);
          filterDecided = true;
        }
      }
      const req: CompiledRequirement = {
        name: item.name,
        index,
        node: item.node,
        properties: new Map(),
        attributes: new Map(),
        interfaces: {},
      };
      if (Object.keys(allocation).length > 0) req.allocation = allocation;
      if (relType) {
        req.relationship = relType;
        const assigned = this.relationshipAssignments(
          unit,
          relNode?.kind === 'map' ? relNode : undefined,
          relType,
          `${item.path}.relationship`,
        );
        req.properties = assigned.properties;
        req.attributes = assigned.attributes;
        req.interfaces = assigned.interfaces;
      }
      const chosen = found[0];
      let spread: typeof found = [];
      if (chosen && !(targetName === undefined && filter && !filterDecided)) {
        if (targetName !== undefined && byName.has(targetName) && !chosen.cap) continue;
        req.target = { node: chosen.n.name, capability: chosen.cap as string };
        const why = this.relationshipMismatch(
          relType,
          nt,
          chosen.n,
          chosen.n.capabilities.get(chosen.cap as string)?.type,
        );
        if (why) {
          this.sink.error('TOSCA1050', item.node, item.path, `requirement "${item.name}": ${why}`);
          continue;
        }
        // With count > 1 the occurrences go round the suitable candidates.
        spread = found.filter(
          (f) =>
            !this.relationshipMismatch(
              relType,
              nt,
              f.n,
              f.n.capabilities.get(f.cap as string)?.type,
            ),
        );
      } else if (chosen || filter) {
        const finder: Record<string, Value> = {};
        if (nodeType) finder.node_type = nodeType.canonical;
        if (capType) finder.capability_type = capType.canonical;
        if (capName) finder.capability = capName;
        if (filter) finder.node_filter = this.embedded(filter, `${item.path}.node_filter`, unit);
        req.finder = finder;
      } else {
        const isMapped = mapped.has(`${nt.name}|${item.name}`) || mapped.has(`${nt.name}|*`);
        if (targetName !== undefined && byName.has(targetName)) {
          this.sink.error(
            'TOSCA1050',
            item.node,
            item.path,
            `requirement "${item.name}": ${this.whyNoCapability(byName.get(targetName) as NodeTemplate, nt, capName, capType)}`,
          );
          continue;
        }
        if (internalOnly && !optional) {
          this.sink.error(
            'TOSCA1050',
            item.node,
            item.path,
            `requirement "${item.name}" of "${nt.name}" must be fulfilled inside the service (directive internal), but no node template offers ${capName ? `capability "${capName}"` : `a capability of type "${capType?.name ?? '?'}"`}`,
          );
          continue;
        }
        if (!optional && !selectable && !isMapped && !externalFirst) {
          // Not fulfillable inside this service: a dangling requirement, left to a finder
          // that selects a target among what is deployed when the service is.
          this.sink.report(
            'warning',
            'TOSCA1050',
            item.node,
            item.path,
            `requirement "${item.name}" of "${nt.name}" cannot be fulfilled inside the service: no node template offers ${capName ? `capability "${capName}"` : `a capability of type "${capType?.name ?? '?'}"`}${nodeType ? ` on a node of type "${nodeType.name}"` : ''}; it will be looked for at deployment`,
          );
        }
        const finder: Record<string, Value> = {};
        if (nodeType) finder.node_type = nodeType.canonical;
        if (capType) finder.capability_type = capType.canonical;
        if (capName) finder.capability = capName;
        req.finder = finder;
        if (optional) continue;
      }
      for (let i = 0; i < Math.max(1, count); i++) {
        const t = spread[i % Math.max(1, spread.length)];
        const occurrence =
          t && req.target
            ? { ...req, index, target: { node: t.n.name, capability: t.cap as string } }
            : { ...req, index };
        nt.requirements.push(occurrence);
        index++;
      }
    }
    for (const [rname, c] of counts) {
      const def = nt.type.requirements.get(rname);
      if (!def) continue;
      const [lo, hi] = def.countRange;
      if (c.total > hi || c.mandatory > hi) {
        this.sink.error(
          'TOSCA1051',
          c.where,
          `${nt.path}.requirements`,
          `requirement "${rname}" is assigned ${c.total} times, more than its count_range allows (${hi})`,
        );
      } else if (c.mandatory < lo && c.total < lo) {
        this.sink.error(
          'TOSCA1051',
          c.where,
          `${nt.path}.requirements`,
          `requirement "${rname}" is assigned ${c.total} times, fewer than its count_range requires (${lo})`,
        );
      } else if (c.total < lo) {
        this.sink.error(
          'TOSCA1051',
          c.where,
          `${nt.path}.requirements`,
          `requirement "${rname}" is assigned ${c.total} times, fewer than its count_range requires (${lo})`,
        );
      }
    }
  }

  /** A non-negative integer count, literal or computed at compile time; undefined if not known. */
  /** A directives list, each one of `allowed`. */
  /**
   * A directives list. The specification calls directives "processing instructions to
   * orchestrators and tooling" (7.2, 8.4, 8.7): one it does not define is kept, with a warning,
   * and means nothing here.
   */
  private directives(
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

  private countValue(unit: Unit, node: YNode, path: string): number | undefined {
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

  /** What forbids a relationship between these nodes and capability (valid_* lists), if anything. */
  private relationshipMismatch(
    rel: ToscaType | undefined,
    source: NodeTemplate,
    target: NodeTemplate,
    cap: ToscaType | undefined,
  ): string | undefined {
    const names = (ts: ToscaType[]) => ts.map((t) => `"${t.name}"`).join(', ');
    if (
      rel?.validCapabilityTypes?.length &&
      cap &&
      !rel.validCapabilityTypes.some((v) => this.isA(cap, v))
    )
      return `relationship type "${rel.name}" targets only capabilities of type ${names(rel.validCapabilityTypes)}, not "${cap.name}"`;
    if (
      rel?.validTargetNodeTypes &&
      !rel.validTargetNodeTypes.some((v) => this.isA(target.type, v))
    )
      return `relationship type "${rel.name}" targets only nodes of type ${names(rel.validTargetNodeTypes)}, not "${target.type.name}"`;
    if (
      rel?.validSourceNodeTypes &&
      !rel.validSourceNodeTypes.some((v) => this.isA(source.type, v))
    )
      return `relationship type "${rel.name}" starts only from nodes of type ${names(rel.validSourceNodeTypes)}, not "${source.type.name}"`;
    if (
      rel &&
      cap?.validRelationshipTypes &&
      !cap.validRelationshipTypes.some((v) => this.isA(rel, v))
    )
      return `capability type "${cap.name}" accepts only relationships of type ${names(cap.validRelationshipTypes)}, not "${rel.name}"`;
    return undefined;
  }

  /** Why a node template offers no capability a requirement of `source` can target. */
  private whyNoCapability(
    target: NodeTemplate,
    source: NodeTemplate,
    capName: string | undefined,
    capType: ToscaType | undefined,
  ): string {
    const candidates =
      capName !== undefined
        ? [target.capabilities.get(capName)].filter((c) => c !== undefined)
        : [...target.capabilities.values()];
    if (candidates.length === 0)
      return `node template "${target.name}" has no capability ${capName ? `"${capName}"` : 'at all'}`;
    const typed = candidates.filter((c) => !capType || this.isA(c.type, capType));
    if (typed.length === 0) {
      return capName !== undefined
        ? `capability "${capName}" of "${target.name}" is of type "${candidates[0]?.type.name}", not "${capType?.name}"`
        : `node template "${target.name}" has no capability of type "${capType?.name}"`;
    }
    const c = typed[0] as CompiledCapability;
    return `capability "${c.name}" of "${target.name}" accepts requirements only from nodes of type ${(c.validSources ?? []).map((t) => `"${t.name}"`).join(', ')} (valid_source_node_types), not "${source.type.name}"`;
  }

  // ---------------------------------------------------------------- workflows

  private workflow(
    unit: Unit,
    name: string,
    node: YNode,
    path: string,
    byName: Map<string, NodeTemplate>,
  ): Value | undefined {
    const m = this.asMap(node, path, `workflow "${name}"`);
    if (!m) return undefined;
    this.keys(m, GRAMMAR.workflow, path, `workflow "${name}"`);
    const precondition = getEntry(m, 'precondition')?.value;
    if (precondition) this.checkCondition(precondition, unit, `${path}.precondition`);
    const inputs = new Map<string, PropDef>();
    const inNode = getEntry(m, 'inputs')?.value;
    if (inNode) this.propDefs(unit, inNode, inputs, `${path}.inputs`, false, 'parameter');
    const steps = this.asMap(getEntry(m, 'steps')?.value, `${path}.steps`, 'steps');
    if (steps) {
      const stepNames = new Set(steps.entries.map((e) => String(e.key.value)));
      this.named(steps, `${path}.steps`, 'step', (sname, sv, _k, sp) => {
        const s = this.asMap(sv, sp, `step "${sname}"`);
        if (!s) return;
        this.keys(s, GRAMMAR.step, sp, `step "${sname}"`);
        const stepFilter = getEntry(s, 'filter')?.value;
        if (stepFilter) this.checkCondition(stepFilter, unit, `${sp}.filter`);
        const target = this.str(getEntry(s, 'target')?.value, `${sp}.target`, 'target');
        const nt = target !== undefined ? byName.get(target) : undefined;
        if (target !== undefined && !nt && !this.groupNames.has(target))
          this.sink.error(
            'TOSCA1020',
            getEntry(s, 'target')?.value as YNode,
            `${sp}.target`,
            `no node template or group "${target}"`,
          );
        const acts = this.asList(
          getEntry(s, 'activities')?.value,
          `${sp}.activities`,
          'activities',
        );
        acts?.items.forEach((a, i) => {
          this.activity(unit, a, `${sp}.activities[${i}]`, nt, inputs);
        });
        for (const k of ['on_success', 'on_failure']) {
          const v = getEntry(s, k)?.value;
          if (!v) continue;
          const list = v.kind === 'scalar' ? [String(v.value)] : this.strList(v, `${sp}.${k}`, k);
          for (const n of list ?? [])
            if (!stepNames.has(n))
              this.sink.error('TOSCA1020', v, `${sp}.${k}`, `no step "${n}" in workflow "${name}"`);
        }
      });
    }
    return this.embedded(m, path, unit);
  }

  private activity(
    unit: Unit,
    node: YNode,
    path: string,
    target: NodeTemplate | undefined,
    wfInputs?: Map<string, PropDef>,
  ): void {
    const e = this.soleEntry(
      node,
      path,
      'TOSCA1070',
      'an activity is a map with one entry: delegate, set_state, call_operation or inline',
    );
    if (!e) return;
    const kind = String(e.key.value);
    if (!['delegate', 'set_state', 'call_operation', 'inline'].includes(kind)) {
      this.sink.error(
        'TOSCA1070',
        e.key,
        path,
        `unknown activity "${kind}" (delegate, set_state, call_operation, inline)`,
      );
      return;
    }
    if (kind === 'set_state') {
      this.str(e.value, `${path}.set_state`, 'set_state (a node state)');
      return;
    }
    if (kind === 'inline' || kind === 'delegate') {
      const v = e.value;
      const name =
        v.kind === 'scalar'
          ? this.str(v, `${path}.${kind}`, 'a workflow name')
          : v.kind === 'map'
            ? this.str(getEntry(v, 'workflow')?.value, `${path}.${kind}.workflow`, 'workflow')
            : undefined;
      if (v.kind === 'map')
        this.keys(
          v,
          { workflow: kind === 'inline', inputs: false },
          `${path}.${kind}`,
          `a ${kind} activity`,
        );
      // Inline workflows are this service's; delegated ones are the orchestrator's (deploy...).
      if (kind === 'inline' && name !== undefined && !this.workflowNames.has(name))
        this.sink.error('TOSCA1070', v, `${path}.inline`, `no workflow "${name}" to inline`);
      return;
    }
    if (kind !== 'call_operation') return;
    let opName: string | undefined;
    let inputs: YMap | undefined;
    if (e.value.kind === 'scalar')
      opName = this.str(e.value, `${path}.call_operation`, 'operation');
    else if (e.value.kind === 'map') {
      opName = this.str(
        getEntry(e.value, 'operation')?.value,
        `${path}.call_operation.operation`,
        'operation',
      );
      const inNode = getEntry(e.value, 'inputs')?.value;
      if (inNode) inputs = this.asMap(inNode, `${path}.call_operation.inputs`, 'inputs');
    }
    if (opName === undefined || !target) return;
    const [ifName, op] = opName.split('.', 2);
    const iface = target.type.interfaces.get(ifName ?? '');
    const opDef = iface?.operations.get(op ?? '');
    if (!iface || !opDef) {
      this.sink.error(
        'TOSCA1070',
        e.value,
        `${path}.call_operation`,
        `node template "${target.name}" has no operation "${opName}"`,
      );
      return;
    }
    const defs = new Map([...iface.inputs, ...opDef.inputs]);
    const given = new Set<string>();
    for (const ie of inputs?.entries ?? []) {
      const k = String(ie.key.value);
      given.add(k);
      const d = defs.get(k);
      const p = `${path}.call_operation.inputs${q(k)}`;
      if (!d) {
        this.sink.error('TOSCA1033', ie.key, p, `operation "${opName}" has no input "${k}"`);
        continue;
      }
      const fn = this.functionName(ie.value);
      if (fn === 'get_input' && wfInputs) {
        const arg = (ie.value as YMap).entries[0]?.value;
        const inName = arg?.kind === 'seq' ? arg.items[0] : arg;
        const wn = inName?.kind === 'scalar' ? String(inName.value) : undefined;
        const wd = wn !== undefined ? wfInputs.get(wn) : undefined;
        if (wd) {
          if (
            wd.schema &&
            d.schema &&
            !this.isA(wd.schema.type, d.schema.type) &&
            !this.isA(d.schema.type, wd.schema.type)
          ) {
            this.sink.error(
              'TOSCA1030',
              ie.value,
              p,
              `workflow input "${wn}" has type "${wd.schema.type.name}", but operation input "${k}" needs "${d.schema.type.name}"`,
            );
          }
          if (d.required && !d.default && !wd.required && !wd.default) {
            this.sink.error(
              'TOSCA1032',
              ie.value,
              p,
              `operation input "${k}" is required but workflow input "${wn}" is optional`,
            );
          }
          continue;
        }
        // Inputs not declared by the workflow are given when it is run.
        continue;
      }
      if (d.schema) this.value(ie.value, d.schema, p, { unit });
    }
    const assigned = target.interfaces as Record<
      string,
      {
        inputs?: Record<string, Value>;
        operations?: Record<string, { inputs?: Record<string, Value> }>;
      }
    >;
    const preset = {
      ...(assigned[ifName ?? '']?.inputs ?? {}),
      ...(assigned[ifName ?? '']?.operations?.[op ?? '']?.inputs ?? {}),
    };
    for (const [k, d] of defs) {
      if (given.has(k) || k in preset || d.default || d.fixed || !d.required) continue;
      this.sink.error(
        'TOSCA1032',
        e.value,
        `${path}.call_operation.inputs`,
        `operation "${opName}" requires input "${k}", which is not given`,
      );
    }
  }

  // ---------------------------------------------------------------- substitution

  /**
   * A property or attribute mapping's key written as a path (15.2, 15.3):
   * `[ CAPABILITY, capability, name ]` or `[ RELATIONSHIP, requirement, index?, name ]`,
   * each name defined by the substituted node type.
   */
  private mappedPath(
    type: ToscaType,
    key: YScalar,
    complex: unknown,
    path: string,
    what: 'property' | 'attribute',
  ): void {
    const err = (message: string) => this.sink.error('TOSCA1080', key, path, message);
    const parts = Array.isArray(complex) ? complex : [];
    const has = (defs: { props: Map<string, PropDef>; attrs: Map<string, PropDef> }, n: unknown) =>
      typeof n === 'string' && (defs.props.has(n) || (what === 'attribute' && defs.attrs.has(n)));
    if (parts[0] === 'CAPABILITY' && parts.length === 3) {
      const cap = type.capabilities.get(String(parts[1]));
      if (!cap) err(`node type "${type.name}" has no capability "${String(parts[1])}"`);
      else if (!has(cap, parts[2]))
        err(
          `capability "${cap.name}" of node type "${type.name}" has no ${what} "${String(parts[2])}"`,
        );
      return;
    }
    if (parts[0] === 'RELATIONSHIP' && (parts.length === 3 || parts.length === 4)) {
      const idx = parts.length === 4 ? parts[2] : 0;
      const req = type.requirements.get(String(parts[1]));
      if (!req) err(`node type "${type.name}" has no requirement "${String(parts[1])}"`);
      else if (!(idx === 'ALL' || (typeof idx === 'number' && Number.isInteger(idx) && idx >= 0)))
        err(
          `the relationship index must be a non-negative integer or ALL, not ${compact(idx as Value)}`,
        );
      else if (req.relationship && !has(req.relationship, parts[parts.length - 1]))
        err(
          `relationship type "${req.relationship.name}" of requirement "${req.name}" has no ${what} "${String(parts[parts.length - 1])}"`,
        );
      return;
    }
    err(
      `a ${what} mapping key is a ${what} name, [ CAPABILITY, <capability>, <${what}> ] or [ RELATIONSHIP, <requirement>, <index>, <${what}> ] (TOSCA 2.0 ${what === 'property' ? '15.2' : '15.3'})`,
    );
  }

  private substitution(
    unit: Unit,
    node: YNode,
    path: string,
    byName: Map<string, NodeTemplate>,
    outputs: Map<string, Expression>,
  ): Value | undefined {
    const m = this.asMap(node, path, 'substitution_mappings');
    if (!m) return undefined;
    this.keys(m, GRAMMAR.substitution_mappings, path, 'substitution_mappings');
    const type = this.typeRef(
      unit,
      'node',
      getEntry(m, 'node_type')?.value,
      `${path}.node_type`,
      'node_type',
    );
    const err = (where: YNode, p: string, message: string) =>
      this.sink.error('TOSCA1080', where, p, message);
    const filter = getEntry(m, 'substitution_filter')?.value;
    if (filter) this.checkCondition(filter, unit, `${path}.substitution_filter`);
    // [ node_template, name ] pointing into this service.
    const target = (v: YNode, p: string, kind: 'capability' | 'requirement'): void => {
      const plain = toPlain(v);
      if (kind === 'requirement') {
        // A selectable node's name, [ node, requirement ], or a list of those (15.5).
        if (typeof plain === 'string') {
          if (!byName.has(plain)) err(v, p, `no node template "${plain}"`);
          return;
        }
        if (
          v.kind === 'seq' &&
          v.items.length > 0 &&
          v.items.every((i) => i.kind === 'seq' || i.kind === 'scalar') &&
          !(v.items.length === 2 && v.items.every((i) => i.kind === 'scalar'))
        ) {
          for (const [n, i] of v.items.entries()) target(i, `${p}[${n}]`, kind);
          return;
        }
      }
      if (
        !Array.isArray(plain) ||
        plain.length !== 2 ||
        typeof plain[0] !== 'string' ||
        typeof plain[1] !== 'string'
      ) {
        err(v, p, `a ${kind} mapping is [ node_template, ${kind}_name ]`);
        return;
      }
      const nt = byName.get(plain[0]);
      if (!nt) {
        err(v, p, `no node template "${plain[0]}"`);
        return;
      }
      const has =
        kind === 'capability' ? nt.capabilities.has(plain[1]) : nt.type.requirements.has(plain[1]);
      if (!has) err(v, p, `node template "${plain[0]}" has no ${kind} "${plain[1]}"`);
    };
    const caps = this.asMap(
      getEntry(m, 'capabilities')?.value,
      `${path}.capabilities`,
      'capabilities',
    );
    for (const e of caps?.entries ?? []) {
      const k = String(e.key.value);
      const p = `${path}.capabilities${q(k)}`;
      if (type && !type.capabilities.has(k))
        err(e.key, p, `node type "${type.name}" has no capability "${k}"`);
      target(e.value, p, 'capability');
    }
    const reqs = getEntry(m, 'requirements')?.value;
    if (reqs) {
      if (reqs.kind !== 'seq' && reqs.kind !== 'map') {
        this.sink.error(
          'TOSCA1010',
          reqs,
          `${path}.requirements`,
          'requirements must be a list of requirement mappings',
        );
      }
      const entries =
        reqs.kind === 'seq'
          ? reqs.items.flatMap((i) => (i.kind === 'map' ? i.entries : []))
          : reqs.kind === 'map'
            ? reqs.entries
            : [];
      for (const e of entries) {
        // A complex key [ name, count ] maps a requirement a number of times.
        const complex = e.key.complex ? toPlain(e.key.complex) : undefined;
        const k = Array.isArray(complex) ? String(complex[0]) : String(e.key.value);
        const p = `${path}.requirements${q(k)}`;
        if (type && !type.requirements.has(k))
          err(e.key, p, `node type "${type.name}" has no requirement "${k}"`);
        target(e.value, p, 'requirement');
      }
    }
    // Property mappings: node properties to service inputs; every input without a value
    // must be fed by one.
    const props = this.asMap(getEntry(m, 'properties')?.value, `${path}.properties`, 'properties');
    const fed = new Set<string>();
    for (const e of props?.entries ?? []) {
      const complex = e.key.complex ? toPlain(e.key.complex) : undefined;
      const k = String(e.key.value);
      const p = `${path}.properties${q(k)}`;
      if (type && !complex && !type.props.has(k))
        err(e.key, p, `node type "${type.name}" has no property "${k}"`);
      if (type && complex !== undefined) this.mappedPath(type, e.key, complex, p, 'property');
      const v = e.value;
      const input =
        v.kind === 'scalar' && typeof v.value === 'string'
          ? v.value
          : Array.isArray(toPlain(v))
            ? String((toPlain(v) as Value[])[0])
            : undefined;
      if (input === undefined) {
        err(v, p, 'a property mapping names a service input');
        continue;
      }
      if (!this.inputs.has(input)) err(v, p, `the service template has no input "${input}"`);
      fed.add(input);
    }
    if (props) {
      for (const [name, i] of this.inputs) {
        if (!fed.has(name) && i.def.required && !i.def.default && !i.def.fixed) {
          err(
            props,
            `${path}.properties`,
            `input "${name}" is required, has no default, and no property maps to it`,
          );
        }
      }
    }
    const attrs = this.asMap(getEntry(m, 'attributes')?.value, `${path}.attributes`, 'attributes');
    for (const e of attrs?.entries ?? []) {
      const complex = e.key.complex ? toPlain(e.key.complex) : undefined;
      const k = String(e.key.value);
      const p = `${path}.attributes${q(k)}`;
      if (type && !complex && !type.attrs.has(k) && !type.props.has(k))
        err(e.key, p, `node type "${type.name}" has no attribute "${k}"`);
      if (type && complex !== undefined) this.mappedPath(type, e.key, complex, p, 'attribute');
      const v = e.value;
      const plain = toPlain(v);
      // TOSCA 1.3's [ node_template, attribute ], which Puccini still reads.
      if (
        Array.isArray(plain) &&
        plain.length === 2 &&
        typeof plain[0] === 'string' &&
        typeof plain[1] === 'string' &&
        byName.has(plain[0]) &&
        !outputs.has(plain[0])
      ) {
        const nt = byName.get(plain[0]) as NodeTemplate;
        if (!nt.type.attrs.has(plain[1]) && !nt.type.props.has(plain[1]))
          err(v, p, `node type "${nt.type.name}" of "${plain[0]}" has no attribute "${plain[1]}"`);
        else
          this.sink.warning(
            'TOSCA1080',
            v,
            p,
            'TOSCA 2.0 15.3 maps an attribute to a service output; [ node_template, attribute ] is the TOSCA 1.3 form, read as Puccini reads it',
          );
        continue;
      }
      const output =
        v.kind === 'scalar' && typeof v.value === 'string'
          ? v.value
          : Array.isArray(plain)
            ? String((plain as Value[])[0])
            : undefined;
      if (output === undefined) err(v, p, 'an attribute mapping names a service output');
      else if (!outputs.has(output)) err(v, p, `the service template has no output "${output}"`);
    }
    const ifaces = this.asMap(getEntry(m, 'interfaces')?.value, `${path}.interfaces`, 'interfaces');
    for (const e of ifaces?.entries ?? []) {
      const k = String(e.key.value);
      if (type && !type.interfaces.has(k))
        err(e.key, `${path}.interfaces${q(k)}`, `node type "${type.name}" has no interface "${k}"`);
    }
    const out = this.embedded(m, path, unit) as Record<string, Value>;
    if (type) out.node_type = type.canonical;
    return out;
  }
}

/** TOSCA 1.3 keynames people carry over, with what TOSCA 2.0 says instead. */
const LEGACY_KEYNAMES: Record<string, string> = {
  constraints: 'TOSCA 1.3; TOSCA 2.0 uses validation: { $function: [ $value, ... ] }',
  occurrences: 'TOSCA 1.3; TOSCA 2.0 uses count_range',
  valid_target_types: 'TOSCA 1.3; TOSCA 2.0 uses valid_capability_types',
  valid_source_types: 'TOSCA 1.3; TOSCA 2.0 uses valid_source_node_types',
  topology_template: 'TOSCA 1.3; TOSCA 2.0 uses service_template',
  namespace: 'TOSCA 1.3; in TOSCA 2.0 a namespace is given where a file is imported',
};

const VERSION = /^\d+\.\d+(\.\d+(\.[A-Za-z0-9_]+(-\d+)?)?)?$/;

/**
 * The bounds of a range `[ min, max ]` of integers, max possibly UNBOUNDED (as Infinity) and
 * min <= max (specification 9.1); undefined for anything else.
 */
function rangeBounds(node: YNode): [number, number] | undefined {
  const [lo, hi] = node.kind === 'seq' && node.items.length === 2 ? node.items : [];
  const int = (n: YNode | undefined) =>
    n?.kind === 'scalar' && isIntegerScalar(n) ? (n.value as number) : undefined;
  const min = int(lo);
  const max =
    hi?.kind === 'scalar' && hi.value === 'UNBOUNDED' ? Number.POSITIVE_INFINITY : int(hi);
  return min !== undefined && max !== undefined && min <= max ? [min, max] : undefined;
}

function isIntegerScalar(n: YScalar): boolean {
  return (
    typeof n.value === 'number' &&
    Number.isInteger(n.value) &&
    (n.source === undefined || /^[-+]?\d+$/.test(n.source))
  );
}

function describe(n: YScalar): string {
  if (n.value === null) return 'null (no value)';
  if (typeof n.value === 'string') return JSON.stringify(n.value);
  return n.source ?? String(n.value);
}

function ciUnit(units: Map<string, number>, u: string, t: ToscaType): number | undefined {
  // The legacy scalar-unit types match units case-insensitively (TOSCA 1.x rule).
  let root: ToscaType | undefined = t;
  while (root?.parent) root = root.parent;
  if (!root?.builtin?.startsWith('scalar-unit')) return undefined;
  for (const [k, v] of units) if (k.toLowerCase() === u.toLowerCase()) return v;
  return undefined;
}

/** The profile-qualified name of a type defined in a unit. */
function canonicalName(unit: Unit, name: string): string {
  return unit.inProfile ? `${unit.inProfile}/${name}` : name;
}

/** The i-th item of a list node (or the node itself, to point somewhere sensible). */
function itemOf(node: YNode | undefined, i: number): YNode {
  if (node?.kind === 'seq') return node.items[i] ?? node;
  return node as YNode;
}

/** A short, readable rendering of a YAML value for messages. */
function compact(v: unknown): string {
  const text = JSON.stringify(v)?.replace(/"(\$?[A-Za-z_][\w.-]*)"/g, '$1') ?? 'null';
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** A value given from outside (e.g. `-i`), as a tree positioned at `at`, to check it like YAML. */
function valueNode(v: Value, at: YNode): YNode {
  const base = { file: at.file, offset: at.offset };
  if (Array.isArray(v)) return { kind: 'seq', items: v.map((x) => valueNode(x, at)), ...base };
  if (v !== null && typeof v === 'object') {
    return {
      kind: 'map',
      entries: Object.entries(v).map(([k, x]) => ({
        key: { kind: 'scalar', value: k, quoted: true, ...base },
        value: valueNode(x, at),
      })),
      ...base,
    };
  }
  const s: YScalar = { kind: 'scalar', value: v, quoted: typeof v === 'string', ...base };
  if (typeof v === 'number' || typeof v === 'boolean') s.source = String(v);
  return s;
}

function rangeMax(n: number): string {
  return n === Number.POSITIVE_INFINITY ? 'UNBOUNDED' : String(n);
}

/** `$$text` is the literal `$text` (specification 10.1). */
function unescapeDollar(s: string): string {
  return s.startsWith('$$') ? s.slice(1) : s;
}

/**
 * `own` over `base`: keys of both whose values are both maps (not function calls) merge
 * recursively, any other value of `own` replaces that of `base`; `base`'s other keys follow.
 */
function mergeMaps(own: YMap, base: YMap): YMap {
  const entries = own.entries.map((e) => {
    const under = getEntry(base, String(e.key.value))?.value;
    if (under?.kind === 'map' && e.value.kind === 'map' && !isCall(e.value) && !isCall(under))
      return { key: e.key, value: mergeMaps(e.value, under) };
    return e;
  });
  for (const e of base.entries) if (!getEntry(own, String(e.key.value))) entries.push(e);
  return { ...own, entries };
}

/** Whether a map node is a function call (a single key starting with one `$`). */
function isCall(m: YMap): boolean {
  const k = m.entries.length === 1 ? m.entries[0]?.key.value : undefined;
  return typeof k === 'string' && k.startsWith('$') && !k.startsWith('$$');
}

/** The built-in function a name is one or two typing errors away from, if any. */
function nearBuiltin(fn: string): string | undefined {
  if (fn.length < 4) return undefined;
  for (const b of [...GRAPH_FUNCTIONS, ...Object.keys(PURE_FUNCTIONS)])
    if (Math.abs(b.length - fn.length) <= 2 && editDistance(fn, b) <= 2) return b;
  return undefined;
}

/** Levenshtein distance, for short names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = row;
  }
  return prev[b.length] as number;
}
