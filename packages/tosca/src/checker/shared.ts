/**
 * What every chapter of the checker shares: the type sections of a TOSCA file, the built-in
 * types, and the small functions on tree nodes, values and semantic paths.
 */
import type { Expression, Value } from '@khutulun/floria';
import { GRAPH_FUNCTIONS, PURE_FUNCTIONS } from '../builtin-functions.js';
import type { Unit } from '../loader.js';
import type { ToscaType, TypeKind } from '../tosca-model.js';

import { getEntry, type YMap, type YNode, type YScalar } from '../yaml-tree.js';

/** Archive entries up to this size travel inside the compiled templates. */
export const MAX_INLINE_ARTIFACT = 1024 * 1024;

/** The top-level keyname of each kind of type. */
export const SECTIONS: Record<TypeKind, string> = {
  artifact: 'artifact_types',
  data: 'data_types',
  capability: 'capability_types',
  interface: 'interface_types',
  relationship: 'relationship_types',
  node: 'node_types',
  group: 'group_types',
  policy: 'policy_types',
};
/** Every kind of type. */
export const KINDS = Object.keys(SECTIONS) as TypeKind[];

/** The built-in data types (9.1). */
export const PRIMITIVES = [
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
/** The TOSCA 1.3 scalar-unit types, still read: their units and multipliers. */
export const LEGACY_SCALARS: Record<string, Record<string, number>> = {
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

/** A literal expression. */
export const lit = (value: Value): Expression => ({ kind: 'literal', value });
/** The semantic path segment of a name: `["name"]`. */
export const q = (name: string) => `["${name}"]`;

/** What a value is checked in: where `$get_input` and custom functions resolve. */
export interface ValueContext {
  unit: Unit;
  /** Inside a validation clause, `$value` is the value validated. */
  value?: Value;
  inValidation?: boolean;
}

/** Checks a loaded service and builds the resolved model. */

/** TOSCA 1.3 keynames people carry over, with what TOSCA 2.0 says instead. */
export const LEGACY_KEYNAMES: Record<string, string> = {
  constraints: 'TOSCA 1.3; TOSCA 2.0 uses validation: { $function: [ $value, ... ] }',
  occurrences: 'TOSCA 1.3; TOSCA 2.0 uses count_range',
  valid_target_types: 'TOSCA 1.3; TOSCA 2.0 uses valid_capability_types',
  valid_source_types: 'TOSCA 1.3; TOSCA 2.0 uses valid_source_node_types',
  topology_template: 'TOSCA 1.3; TOSCA 2.0 uses service_template',
  namespace: 'TOSCA 1.3; in TOSCA 2.0 a namespace is given where a file is imported',
};

/** A TOSCA version: major.minor[.fix[.qualifier[-build]]] (9.1.2.3). */
export const VERSION = /^\d+\.\d+(\.\d+(\.[A-Za-z0-9_]+(-\d+)?)?)?$/;

/**
 * The bounds of a range `[ min, max ]` of integers, max possibly UNBOUNDED (as Infinity) and
 * min <= max (specification 9.1); undefined for anything else.
 */
export function rangeBounds(node: YNode): [number, number] | undefined {
  const [lo, hi] = node.kind === 'seq' && node.items.length === 2 ? node.items : [];
  const int = (n: YNode | undefined) =>
    n?.kind === 'scalar' && isIntegerScalar(n) ? (n.value as number) : undefined;
  const min = int(lo);
  const max =
    hi?.kind === 'scalar' && hi.value === 'UNBOUNDED' ? Number.POSITIVE_INFINITY : int(hi);
  return min !== undefined && max !== undefined && min <= max ? [min, max] : undefined;
}

/** Whether a scalar is written as an integer (not `1.0`). */
export function isIntegerScalar(n: YScalar): boolean {
  return (
    typeof n.value === 'number' &&
    Number.isInteger(n.value) &&
    (n.source === undefined || /^[-+]?\d+$/.test(n.source))
  );
}

/** A scalar as a diagnostic quotes it. */
export function describe(n: YScalar): string {
  if (n.value === null) return 'null (no value)';
  if (typeof n.value === 'string') return JSON.stringify(n.value);
  return n.source ?? String(n.value);
}

/** A unit of a TOSCA 1.3 scalar-unit type matched without regard to case, as TOSCA 1.x did. */
export function ciUnit(units: Map<string, number>, u: string, t: ToscaType): number | undefined {
  // The legacy scalar-unit types match units case-insensitively (TOSCA 1.x rule).
  let root: ToscaType | undefined = t;
  while (root?.parent) root = root.parent;
  if (!root?.builtin?.startsWith('scalar-unit')) return undefined;
  for (const [k, v] of units) if (k.toLowerCase() === u.toLowerCase()) return v;
  return undefined;
}

/** The profile-qualified name of a type defined in a unit. */
export function canonicalName(unit: Unit, name: string): string {
  return unit.inProfile ? `${unit.inProfile}/${name}` : name;
}

/** The i-th item of a list node (or the node itself, to point somewhere sensible). */
export function itemOf(node: YNode | undefined, i: number): YNode {
  if (node?.kind === 'seq') return node.items[i] ?? node;
  return node as YNode;
}

/** A short, readable rendering of a YAML value for messages. */
export function compact(v: unknown): string {
  const text = JSON.stringify(v)?.replace(/"(\$?[A-Za-z_][\w.-]*)"/g, '$1') ?? 'null';
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** A value given from outside (e.g. `-i`), as a tree positioned at `at`, to check it like YAML. */
export function valueNode(v: Value, at: YNode): YNode {
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

/** A range's upper bound as written (UNBOUNDED for infinity). */
export function rangeMax(n: number): string {
  return n === Number.POSITIVE_INFINITY ? 'UNBOUNDED' : String(n);
}

/** `$$text` is the literal `$text` (specification 10.1). */
export function unescapeDollar(s: string): string {
  return s.startsWith('$$') ? s.slice(1) : s;
}

/**
 * `own` over `base`: keys of both whose values are both maps (not function calls) merge
 * recursively, any other value of `own` replaces that of `base`; `base`'s other keys follow.
 */
export function mergeMaps(own: YMap, base: YMap): YMap {
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
export function isCall(m: YMap): boolean {
  const k = m.entries.length === 1 ? m.entries[0]?.key.value : undefined;
  return typeof k === 'string' && k.startsWith('$') && !k.startsWith('$$');
}

/** The built-in function a name is one or two typing errors away from, if any. */
export function nearBuiltin(fn: string): string | undefined {
  if (fn.length < 4) return undefined;
  for (const b of [...GRAPH_FUNCTIONS, ...Object.keys(PURE_FUNCTIONS)])
    if (Math.abs(b.length - fn.length) <= 2 && editDistance(fn, b) <= 2) return b;
  return undefined;
}

/** Levenshtein distance, for short names. */
export function editDistance(a: string, b: string): number {
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
