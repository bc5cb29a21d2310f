/**
 * Data types and values (TOSCA 2.0 9): scalar types, values checked against data types and
 * schemas, validation clauses, property and attribute assignments.
 */
import type { Expression, Value } from '@khutulun/floria';
import { evaluatePure, PURE_FUNCTIONS, timestampMillis } from '../builtin-functions.js';
import type { DiagnosticSink } from '../diagnostic.js';
import type { Unit } from '../loader.js';
import { index, listExpression, mapExpression } from '../static-fold.js';
import type { Clause, PropDef, Schema, ToscaType } from '../tosca-model.js';

import { getEntry, toPlain, type YMap, type YNode, type YScalar } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import {
  ciUnit,
  compact,
  describe,
  lit,
  q,
  rangeBounds,
  unescapeDollar,
  type ValueContext,
  VERSION,
  valueNode,
} from './shared.js';

/** Resolves what a data type adds: validation, properties, schemas, and for a scalar type its units (9.1.2.2, 9.2). */
export function dataType(this: Checker, t: ToscaType, node: YMap, unit: Unit): void {
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
    if (k === 'key_schema' && base !== 'map') {
      this.sink.error(
        'TOSCA1021',
        e.key,
        `${t.path}.${k}`,
        'key_schema is only allowed for types derived from map (TOSCA 2.0 9.2)',
      );
      continue;
    }
    const s = this.schema(unit, e.value, `${t.path}.${k}`);
    if (s && k === 'key_schema' && this.baseOf(s.type) !== 'string') {
      this.sink.error(
        'TOSCA1021',
        e.value,
        `${t.path}.${k}`,
        `map keys are strings: key_schema must be string or derive from it, not "${s.type.name}" (TOSCA 2.0 9.2)`,
      );
      continue;
    }
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
export function multipliers(
  this: Checker,
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

/**
 * Checks a value against a schema and compiles it. `definition` is set for defaults and
 * fixed values in definitions (where `$get_input` has no service to refer to).
 */
export function value(
  this: Checker,
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
export function checkLiteral(
  this: Checker,
  node: YNode,
  schema: Schema,
  path: string,
  ctx: ValueContext,
): Expression | undefined {
  const t = schema.type;
  const base = this.baseOf(t);
  let out: Expression | undefined;
  switch (base) {
    case 'list': {
      if (node.kind !== 'seq')
        return mismatch(this.sink, node, path, `expected a list for type "${t.name}"`);
      const entry = schema.entry ?? t.entry;
      const items = new Array<Expression>(node.items.length);
      let ok = true;
      for (let i = 0; i < items.length; i++) {
        const item = node.items[i] as YNode;
        const e = entry
          ? this.value(item, entry, `${path}[${i}]`, ctx)
          : this.expression(item, `${path}[${i}]`, ctx);
        if (e) items[i] = e;
        else ok = false;
      }
      if (!ok) return undefined;
      out = listExpression(items);
      break;
    }
    case 'map': {
      if (node.kind !== 'map')
        return mismatch(this.sink, node, path, `expected a map for type "${t.name}"`);
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
        const p = `${path}${q(k)}`;
        // (A key is checked only where the map's type has a key schema.)
        if (
          key &&
          computed.expr.kind === 'literal' &&
          !this.checkLiteral(valueNode(computed.expr.value, e.key), key, p, ctx)
        )
          ok = false;
        const v = entry ? this.value(e.value, entry, p, ctx) : this.expression(e.value, p, ctx);
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
        return mismatch(
          this.sink,
          node,
          path,
          `expected a range [ min, max ] of integers (max may be UNBOUNDED, min <= max) for type "${t.name}"`,
        );
      }
      const [min, max] = bounds;
      out = lit([min, max === Number.POSITIVE_INFINITY ? 'UNBOUNDED' : max]);
      break;
    }
    case 'complex': {
      if (node.kind !== 'map')
        return mismatch(
          this.sink,
          node,
          path,
          `expected a map of properties for data type "${t.name}"`,
        );
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
        return mismatch(
          this.sink,
          node,
          path,
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
export function literalValue(
  this: Checker,
  node: YNode,
  v: Value,
  schema: Schema,
  path: string,
  unit: Unit,
): boolean {
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

/** The value of a scalar written for a primitive or special type (string, integer, timestamp, version, scalar...), or nothing after its diagnostic. */
export function primitive(
  this: Checker,
  node: YScalar,
  t: ToscaType,
  base: string,
  path: string,
): Value | undefined {
  const v = node.value;
  const src = node.source;
  switch (base) {
    case 'string':
      if (typeof v !== 'string')
        return mismatch(
          this.sink,
          node,
          path,
          `expected a string for type "${t.name}", got ${describe(node)}`,
        );
      return unescapeDollar(v);
    case 'integer':
      if (
        typeof v !== 'number' ||
        !Number.isInteger(v) ||
        (src !== undefined && !/^[-+]?(0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)$/.test(src))
      ) {
        return mismatch(
          this.sink,
          node,
          path,
          `expected an integer for type "${t.name}", got ${describe(node)}`,
        );
      }
      return v;
    case 'float':
      if (typeof v !== 'number')
        return mismatch(
          this.sink,
          node,
          path,
          `expected a float for type "${t.name}", got ${describe(node)}`,
        );
      return v;
    case 'boolean':
      if (typeof v !== 'boolean' || (src !== undefined && src !== 'true' && src !== 'false'))
        return mismatch(
          this.sink,
          node,
          path,
          `expected true or false for type "${t.name}", got ${describe(node)}`,
        );
      return v;
    case 'bytes':
      if (typeof v !== 'string' || node.tag || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v))
        return mismatch(
          this.sink,
          node,
          path,
          `expected base64-encoded bytes for type "${t.name}", got ${describe(node)}`,
        );
      return v;
    case 'nil':
      if (v !== null) return mismatch(this.sink, node, path, `expected null for type "${t.name}"`);
      return null;
    case 'timestamp': {
      const tagged = node.tag !== undefined && node.tag !== 'tag:yaml.org,2002:str';
      const when = typeof v === 'string' && !tagged ? timestampMillis(v) : undefined;
      if (typeof when !== 'number')
        return mismatch(
          this.sink,
          node,
          path,
          `expected an RFC 3339 timestamp for type "${t.name}", got ${describe(node)}: ${when?.reason ?? (tagged ? `the tag ${node.tag} is not a TOSCA timestamp` : 'not a string')} (TOSCA 2.0 9.1.2.1)`,
        );
      return v;
    }
    case 'version': {
      const s = src ?? (typeof v === 'string' ? v : undefined);
      if ((typeof v !== 'string' && typeof v !== 'number') || s === undefined || !VERSION.test(s))
        return mismatch(
          this.sink,
          node,
          path,
          `expected a version (major.minor[.fix[.qualifier[-build]]]) for type "${t.name}", got ${describe(node)}`,
        );
      return s;
    }
    case 'range':
      return mismatch(this.sink, node, path, `expected a range [min, max] for type "${t.name}"`);
    case 'scalar': {
      const info = this.scalarOf(t);
      if (!info) return mismatch(this.sink, node, path, `type "${t.name}" has no units`);
      if (typeof v !== 'string')
        return mismatch(
          this.sink,
          node,
          path,
          `expected a scalar "<number> <unit>" for type "${t.name}", got ${describe(node)}`,
        );
      const m = /^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*$/.exec(v);
      if (!m)
        return mismatch(
          this.sink,
          node,
          path,
          `expected a scalar "<number> <unit>" for type "${t.name}", got ${describe(node)}`,
        );
      const mult = info.units.get(m[2] as string) ?? ciUnit(info.units, m[2] as string, t);
      if (mult === undefined)
        return mismatch(
          this.sink,
          node,
          path,
          `unknown unit "${m[2]}" for type "${t.name}" (units: ${[...info.units.keys()].join(', ')})`,
        );
      if (this.baseOf(info.dataType) === 'integer' && !/^[-+]?\d+$/.test(m[1] as string))
        return mismatch(
          this.sink,
          node,
          path,
          `the number in ${v} must be an integer (the data type of "${t.name}" is integer; TOSCA 2.0 9.1.2.2)`,
        );
      const n = Number(m[1]) * mult;
      if (
        this.baseOf(info.dataType) === 'integer' &&
        !Number.isInteger(Math.round(n * 1e9) / 1e9)
      ) {
        return mismatch(
          this.sink,
          node,
          path,
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
export function validate(
  this: Checker,
  node: YNode,
  v: Value,
  schema: Schema,
  path: string,
  _unit: Unit,
): boolean {
  if (this.baseOf(schema.type) === 'range' && node.kind === 'seq') {
    // ranges are checked structurally below
  }
  // The type's clauses, then the schema's, walked in turn (most values have none at all).
  const typeClauses = schema.type.validations;
  const own = schema.validations;
  for (let i = 0, n = typeClauses.length + own.length; i < n; i++) {
    const c = (i < typeClauses.length ? typeClauses[i] : own[i - typeClauses.length]) as Clause;
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

/** Evaluates a validation clause at compile time: true or false, or nothing when it needs what only run time knows. */
export function evaluateClause(
  this: Checker,
  c: Clause,
  v: Value,
  type: ToscaType,
): boolean | undefined {
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
export function assignProps(
  this: Checker,
  unit: Unit,
  node: YNode | undefined,
  defs: Map<string, PropDef>,
  path: string,
  isAttribute: boolean,
  owner = 'the type',
  undefinedSeverity: 'error' | 'warning' = 'error',
  /**
   * Names the caller drops from the result afterwards (a template's properties, from its
   * reflected attributes): their defaults are not entered where that says nothing (no
   * default, or one already compiled to a literal), so the map neither grows nor shrinks
   * for them.
   */
  dropped?: Map<string, unknown>,
): Map<string, { expr: Expression; def?: PropDef }> {
  const out = new Map<string, { expr: Expression; def?: PropDef }>();
  const map = node ? this.asMap(node, path, isAttribute ? 'attributes' : 'properties') : undefined;
  // (Most attribute assignments are absent: no set for them.)
  const assigned = map && map.entries.length > 0 ? new Set<string>() : undefined;
  const ctx = { unit };
  if (map && assigned) {
    for (const e of map.entries) {
      const k = String(e.key.value);
      const p = `${path}${q(k)}`;
      assigned.add(k);
      const d = defs.get(k);
      if (!d) {
        this.sink.report(
          undefinedSeverity,
          'TOSCA1033',
          e.key,
          p,
          `${owner} defines no ${isAttribute ? 'attribute' : 'property'} "${k}"${undefinedSeverity === 'warning' ? ' (its value is kept unchecked)' : ''}`,
        );
        continue;
      }
      if (d.fixed && !isAttribute) {
        this.sink.error(
          'TOSCA1034',
          e.value,
          p,
          `property "${k}" has a fixed value in its definition and cannot be assigned`,
          [{ where: d.fixed, message: 'the fixed value' }],
        );
        continue;
      }
      const assignment = isAttribute ? this.attributeValue(e.value, d, p) : e.value;
      if (!assignment) {
        assigned.delete(k);
        continue;
      }
      const expr = d.schema
        ? this.value(assignment, d.schema, p, ctx)
        : this.expression(assignment, p, ctx);
      if (expr) out.set(k, { expr, def: d });
    }
  }
  for (const [k, d] of defs) {
    if (assigned?.has(k)) continue;
    const v = d.fixed ?? d.default;
    if (dropped?.has(k) && (v ? literalDefaults.has(d) : isAttribute || !d.required)) continue;
    if (v) {
      // A default without functions compiles to the same literal for every template.
      let expr = literalDefaults.get(d);
      if (!expr) {
        expr = this.expression(v, `${path}${q(k)}`, { unit: d.unit });
        if (expr?.kind === 'literal') literalDefaults.set(d, expr);
      }
      if (expr) out.set(k, { expr, def: d });
    } else if (d.required && !isAttribute) {
      this.sink.error(
        'TOSCA1032',
        map ?? node ?? this.owner ?? d.node,
        `${path}${q(k)}`,
        `required property "${k}" has no value (assign one, or give the definition a default)`,
        [{ where: d.node, message: 'the definition' }],
      );
    } else if (isAttribute) out.set(k, { expr: NO_VALUE, def: d });
  }
  return out;
}

/** The literal each definition's default (or fixed value) compiles to, once compiled. */
const literalDefaults = new WeakMap<PropDef, Expression>();

/** An attribute with no value yet (shared: expressions are never written to). */
const NO_VALUE: Expression = { kind: 'literal', value: null };

/**
 * The value of an attribute assignment. TOSCA 2.0 9.6 assigns a value alone; the TOSCA 1.3
 * long notation `{ description, value }`, which Puccini still reads, is accepted with a
 * warning for an attribute whose type is not itself a map or data type with such keys
 * (nothing when there is no value: the definition's default stands).
 */
export function attributeValue(
  this: Checker,
  node: YNode,
  d: PropDef,
  path: string,
): YNode | undefined {
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

/** Reports a value that does not fit its type (TOSCA1030); nothing, for the caller to return. */
function mismatch(sink: DiagnosticSink, node: YNode, path: string, message: string): undefined {
  sink.error('TOSCA1030', node, path, message);
  return undefined;
}
