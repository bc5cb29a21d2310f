/**
 * Compile-time evaluation of what needs no run time: static `$get_property` paths, service
 * inputs, and pure functions over literals.
 */
import type { Expression, Value } from '@khutulun/floria';
import { evaluatePure, PURE_FUNCTIONS } from './builtin-functions.js';
import type { NodeTemplate } from './tosca-model.js';

const lit = (value: Value): Expression => ({ kind: 'literal', value });

/** A list expression, or one literal list when every item is literal (nothing left to run). */
export function listExpression(items: Expression[]): Expression {
  return items.every((i) => i.kind === 'literal')
    ? lit(items.map((i) => (i as { value: Value }).value))
    : { kind: 'list', items };
}

/** A map expression, or one literal map when every key and value is literal. */
export function mapExpression(entries: Array<{ key: Expression; value: Expression }>): Expression {
  if (!entries.every((en) => en.key.kind === 'literal' && en.value.kind === 'literal'))
    return { kind: 'map', entries };
  const out: Record<string, Value> = {};
  for (const en of entries)
    out[String((en.key as { value: Value }).value)] = (en.value as { value: Value }).value;
  return lit(out);
}

/** The entry of a list (by number) or map (by name), if any. */
export function index(v: Value | undefined, i: Value): Value | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v) && typeof i === 'number') return v[i];
  if (typeof v === 'object' && !Array.isArray(v) && typeof i === 'string') return v[i];
  return undefined;
}

/**
 * Evaluates what can be evaluated of an expression at compile time: `$get_property` paths that
 * end at a literal property of a node template (SELF being `self`) or one of its capabilities,
 * `$get_input` of `inputs` with a value, and pure functions whose arguments are then literal.
 * `onFold` is told of each folding.
 */
export function foldExpression(
  e: Expression,
  self: NodeTemplate | undefined,
  byName: Map<string, NodeTemplate>,
  onFold: () => void = () => {},
  inputs?: Map<string, { value?: Value }>,
): Expression {
  const resolve = (args: Value[]): Value | undefined => {
    const start =
      args[0] === 'SELF' ? self : typeof args[0] === 'string' ? byName.get(args[0]) : undefined;
    if (!start) return undefined;
    let i = 1;
    let props = start.properties;
    if (args[i] === 'CAPABILITY') {
      const cap = start.capabilities.get(String(args[i + 1]));
      if (!cap) return undefined;
      props = cap.properties;
      i += 2;
    }
    const name = args[i];
    if (typeof name !== 'string' || name === 'RELATIONSHIP' || name === 'ALL') return undefined;
    const p = props.get(name)?.expr;
    if (p?.kind !== 'literal') return undefined;
    let v: Value | undefined = p.value;
    for (const idx of args.slice(i + 1)) v = v === undefined ? undefined : index(v, idx);
    return v;
  };
  const rewrite = (x: Expression): Expression => {
    if (x.kind === 'literal') return x;
    if (x.kind === 'list') return listExpression(x.items.map(rewrite));
    if (x.kind === 'map')
      return mapExpression(
        x.entries.map((en) => ({ key: rewrite(en.key), value: rewrite(en.value) })),
      );
    const args = x.arguments.map(rewrite);
    const call = { ...x, arguments: args };
    if (x.plugin !== 'tosca' || !args.every((a) => a.kind === 'literal')) return call;
    const values = args.map((a) => (a as { value: Value }).value);
    if (x.function === 'get_property') {
      const v = resolve(values);
      if (v === undefined) return call;
      onFold();
      return lit(v);
    }
    if (x.function === 'get_input' && inputs && typeof values[0] === 'string') {
      let v: Value | undefined = inputs.get(values[0])?.value;
      for (const idx of values.slice(1)) v = v === undefined ? undefined : index(v, idx);
      if (v === undefined) return call;
      onFold();
      return lit(v);
    }
    if (x.function in PURE_FUNCTIONS) {
      try {
        const v = evaluatePure(x.function, values);
        onFold();
        return lit(v);
      } catch {
        return call;
      }
    }
    return call;
  };
  return rewrite(e);
}

/**
 * Folds node template properties (and outputs) at compile time, repeating until nothing
 * changes, so chains of references resolve.
 */
export function foldStaticProperties(
  nodes: NodeTemplate[],
  byName: Map<string, NodeTemplate>,
  outputs: Map<string, Expression>,
): void {
  let changed = true;
  const onFold = () => {
    changed = true;
  };
  for (let round = 0; changed && round < 8; round++) {
    changed = false;
    for (const n of nodes) {
      const maps = [n.properties, ...[...n.capabilities.values()].map((c) => c.properties)];
      for (const m of maps)
        for (const [k, p] of m)
          if (p.expr.kind !== 'literal')
            m.set(k, { ...p, expr: foldExpression(p.expr, n, byName, onFold) });
    }
    for (const [k, e] of outputs)
      if (e.kind !== 'literal') outputs.set(k, foldExpression(e, undefined, byName, onFold));
  }
}
