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
  const folder = new Folder(byName, onFold, inputs);
  folder.self = self;
  return folder.fold(e);
}

/** Folds expressions for one service: `self` is the node template SELF denotes. */
class Folder {
  self: NodeTemplate | undefined;
  constructor(
    private readonly byName: Map<string, NodeTemplate>,
    private readonly onFold: () => void,
    private readonly inputs?: Map<string, { value?: Value }>,
  ) {}

  /** The expression with what is known folded; the same object when nothing folds in it. */
  fold(x: Expression): Expression {
    if (x.kind === 'literal') return x;
    if (x.kind === 'list') {
      const items = x.items.map((item) => this.fold(item));
      return items.every((item, i) => item === x.items[i]) ? x : listExpression(items);
    }
    if (x.kind === 'map') {
      let same = true;
      const entries = x.entries.map((en) => {
        const key = this.fold(en.key);
        const value = this.fold(en.value);
        if (key !== en.key || value !== en.value) same = false;
        return same ? en : { key, value };
      });
      return same ? x : mapExpression(entries);
    }
    let args = x.arguments;
    let literal = true;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as Expression;
      const folded = this.fold(arg);
      if (folded !== arg) {
        if (args === x.arguments) args = [...x.arguments];
        args[i] = folded;
      }
      if (folded.kind !== 'literal') literal = false;
    }
    const call = args === x.arguments ? x : { ...x, arguments: args };
    if (x.plugin !== 'tosca' || !literal) return call;
    // (Most calls left here are run-time ones, such as $get_attribute: no values for them.)
    const fn = x.function;
    if (fn !== 'get_property' && fn !== 'get_input' && !(fn in PURE_FUNCTIONS)) return call;
    const values = args.map((a) => (a as { value: Value }).value);
    if (x.function === 'get_property') {
      const v = this.property(values);
      if (v === undefined) return call;
      this.onFold();
      return lit(v);
    }
    if (x.function === 'get_input' && this.inputs && typeof values[0] === 'string') {
      let v: Value | undefined = this.inputs.get(values[0])?.value;
      for (const idx of values.slice(1)) v = v === undefined ? undefined : index(v, idx);
      if (v === undefined) return call;
      this.onFold();
      return lit(v);
    }
    if (x.function in PURE_FUNCTIONS) {
      try {
        const v = evaluatePure(x.function, values);
        this.onFold();
        return lit(v);
      } catch {
        return call;
      }
    }
    return call;
  }

  /** The literal value a static `$get_property` path reaches, if any. */
  private property(args: Value[]): Value | undefined {
    const start =
      args[0] === 'SELF'
        ? this.self
        : typeof args[0] === 'string'
          ? this.byName.get(args[0])
          : undefined;
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
  }
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
  const folder = new Folder(byName, () => {
    changed = true;
  });
  // Only what is not yet literal can fold: found once, revisited each round.
  const open: Array<{ node: NodeTemplate; map: NodeTemplate['properties']; key: string }> = [];
  // (forEach: no iterator entry per property, of which there are many.)
  for (const node of nodes) {
    const properties = node.properties;
    properties.forEach((p, key) => {
      if (p.expr.kind !== 'literal') open.push({ node, map: properties, key });
    });
    node.capabilities.forEach((c) => {
      const map = c.properties;
      map.forEach((p, key) => {
        if (p.expr.kind !== 'literal') open.push({ node, map, key });
      });
    });
  }
  for (let round = 0; changed && round < 8; round++) {
    changed = false;
    for (const { node, map, key } of open) {
      const p = map.get(key);
      if (!p || p.expr.kind === 'literal') continue;
      folder.self = node;
      const expr = folder.fold(p.expr);
      if (expr !== p.expr) map.set(key, { ...p, expr });
    }
    for (const [k, e] of outputs) {
      if (e.kind === 'literal') continue;
      folder.self = undefined;
      const folded = folder.fold(e);
      if (folded !== e) outputs.set(k, folded);
    }
  }
}
