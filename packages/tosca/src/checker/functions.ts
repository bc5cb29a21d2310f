/**
 * Expressions and functions (TOSCA 2.0 10): function calls compiled to Floria expressions, TOSCA
 * paths, custom function definitions.
 */
import type { Expression, Value } from '@khutulun/floria';
import {
  evaluatePure,
  GRAPH_FUNCTIONS,
  isFunctionError,
  PURE_FUNCTIONS,
} from '../builtin-functions.js';
import type { Unit } from '../loader.js';
import { index, listExpression, mapExpression } from '../static-fold.js';
import type { FunctionDef, ToscaType } from '../tosca-model.js';

import { getEntry, type YMap, type YNode, type YScalar } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import { compact, lit, nearBuiltin, q, unescapeDollar, type ValueContext } from './shared.js';

// ---------------------------------------------------------------- values

/** Whether a node is a function call `{ $name: args }`, and which. */
export function functionName(this: Checker, node: YNode): string | undefined {
  // A string starting with `$` (not `$$`) is a call without arguments (specification 10.1).
  let text: unknown;
  if (node.kind === 'scalar') text = node.value;
  else if (node.kind === 'map' && node.entries.length === 1) text = node.entries[0]?.key.value;
  else return undefined;
  if (typeof text !== 'string' || text.charCodeAt(0) !== 0x24 || text.charCodeAt(1) === 0x24)
    return undefined;
  if (node.kind === 'scalar' && text.length < 2) return undefined;
  // By the text, not the node: a service writes few distinct calls, many times over (and a
  // weak map of every call node would weigh on each garbage collection).
  let name = this.callNames.get(text);
  if (name === undefined) {
    // `$name$suffix` lets one function appear several times as keys of one map.
    const end = text.indexOf('$', 1);
    name = end < 0 ? text.slice(1) : text.slice(1, end);
    this.callNames.set(text, name);
  }
  return name;
}

/** The argument nodes of a function call node. */
export function argumentNodes(this: Checker, node: YNode): YNode[] {
  if (node.kind !== 'map') return [];
  const arg = (node.entries[0] as { value: YNode }).value;
  return arg.kind === 'seq' ? arg.items : arg.kind === 'scalar' && arg.value === null ? [] : [arg];
}

/**
 * The arguments of a call in a validation clause. `$valid_values` written with its list
 * alone (`$valid_values: [ a, b, c ]`, as the community simple profile does) implies
 * `$value`: it reads as `[ $value, [ a, b, c ] ]`. Any other call: its own arguments.
 */
export function clauseArguments(
  this: Checker,
  node: YNode,
  fn: string,
  inValidation: boolean,
): YNode[] {
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
export function expression(
  this: Checker,
  node: YNode,
  path: string,
  ctx: ValueContext,
): Expression | undefined {
  const fn = this.functionName(node);
  if (fn !== undefined) return this.call(node, fn, path, ctx);
  if (node.kind === 'scalar') {
    if (typeof node.value === 'string' && node.value.startsWith('$$'))
      return lit(node.value.slice(1));
    return lit(node.value);
  }
  if (node.kind === 'seq') {
    const items = new Array<Expression>(node.items.length);
    let ok = true;
    for (let i = 0; i < items.length; i++) {
      const e = this.expression(node.items[i] as YNode, `${path}[${i}]`, ctx);
      if (e) items[i] = e;
      else ok = false;
    }
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
export function keyExpression(
  this: Checker,
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

/** Compiles a function call: built-in, custom, or undeclared (called at run time), folding what is known at compile time. */
export function call(
  this: Checker,
  node: YNode,
  fn: string,
  path: string,
  ctx: ValueContext,
): Expression | undefined {
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
  // Sized once: most calls keep their arguments in the compiled model.
  const args = new Array<Expression>(argNodes.length);
  const argPath = `${path}.$${fn}`;
  for (let i = 0; i < argNodes.length; i++) {
    const e = this.expression(argNodes[i] as YNode, `${argPath}[${i}]`, ctx);
    if (!e) return undefined;
    args[i] = e;
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
      if (checked !== args) args.splice(0, args.length, ...checked);
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
export function checkPath(
  this: Checker,
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
  // (What the path reaches, as a message names it: spelled out only for a diagnostic.)
  let capName: string | undefined;
  const what = () =>
    capName === undefined ? `node type "${type.name}"` : `capability "${capName}"`;
  if (v[i] === 'RELATIONSHIP') return result();
  if (v[i] === 'CAPABILITY') {
    const cap = type.capabilities.get(String(v[i + 1]));
    if (!cap) {
      this.sink.error(
        'TOSCA1041',
        node,
        path,
        `$${fn}: ${what()} has no capability "${String(v[i + 1])}"`,
      );
      return undefined;
    }
    if (v[i + 2] === 'RELATIONSHIP') return result();
    props = cap.props;
    attrs = cap.attrs;
    capName = cap.name;
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
      `$${fn}: ${what()} has no ${fn === 'get_property' ? 'property' : 'property or attribute'} "${name}"`,
    );
    return undefined;
  }
  return result();
}

/** The requirement of a node type whose relationship is a HostedOn (what 1.3's HOST follows). */
export function hostRequirement(this: Checker, type: ToscaType): string | undefined {
  for (const [name, r] of type.requirements) {
    for (let t: ToscaType | undefined = r.relationship; t; t = t.parent)
      if (/(^|[:./])HostedOn$/.test(t.name)) return name;
  }
  return type.requirements.has('host') ? 'host' : undefined;
}

/** `$get_artifact: [ SELF|node, artifact, ... ]` must name an artifact of that node. */
export function checkArtifactRef(
  this: Checker,
  args: Expression[],
  node: YNode,
  path: string,
): boolean {
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
    if (first.value !== 'SELF' && typeof first.value === 'string' && this.templateNodes.size > 0) {
      this.sink.error('TOSCA1041', node, path, `$get_artifact: no node template "${first.value}"`);
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

/** The custom function definition a file can call by this name (its own, or imported), if any. */
export function customFunction(this: Checker, unit: Unit, fn: string): FunctionDef | undefined {
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
export function checkClause(this: Checker, node: YNode, unit: Unit, path: string): void {
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

/** Checks the functions of a condition (a node filter, a trigger condition, a workflow filter). */
export function checkCondition(this: Checker, node: YNode, unit: Unit, path: string): void {
  if (node.kind === 'seq') {
    node.items.forEach((n, i) => {
      this.checkCondition(n, unit, `${path}[${i}]`);
    });
    return;
  }
  if (this.functionName(node) !== undefined)
    this.expression(node, path, { unit, inValidation: true });
}
