/**
 * Expressions: builders for the four kinds, and `evaluate`, which computes a value through
 * the plugin dispatch contract.
 */
import type { CallSite, Dispatcher, HostFunctions } from './dispatch.js';
import { EvaluationError, isFloriaError } from './errors.js';
import type { Expression, Value } from './model.js';
import { isValue } from './value.js';

/** A constant. */
export function literal(value: Value): Expression & { kind: 'literal' } {
  return { kind: 'literal', value };
}

/** A list whose items are evaluated in order. */
export function list(...items: Expression[]): Expression & { kind: 'list' } {
  return { kind: 'list', items };
}

/** A map, from an object of string keys or from `[key, value]` expression pairs. */
export function map(
  entries: Record<string, Expression> | Array<[Expression, Expression]>,
): Expression & { kind: 'map' } {
  const pairs = Array.isArray(entries)
    ? entries
    : Object.entries(entries).map(([key, value]): [Expression, Expression] => [
        literal(key),
        value,
      ]);
  return { kind: 'map', entries: pairs.map(([key, value]) => ({ key, value })) };
}

/**
 * A call of `plugin:function` (the plugin name is everything before the first `:`).
 * Arguments are evaluated before the call unless `lazy` is set.
 */
export function call(
  name: string,
  args: Expression[] = [],
  options: { lazy?: boolean } = {},
): Expression & { kind: 'call' } {
  const colon = name.indexOf(':');
  if (colon <= 0 || colon === name.length - 1) {
    throw new TypeError(`call name must be plugin:function, got ${JSON.stringify(name)}`);
  }
  const expression: Expression & { kind: 'call' } = {
    kind: 'call',
    plugin: name.slice(0, colon),
    function: name.slice(colon + 1),
    arguments: args,
  };
  if (options.lazy) expression.lazy = true;
  return expression;
}

/** What evaluation needs: where it happens, who runs calls, and what the plugins may use. */
export interface EvaluationContext {
  site: CallSite;
  dispatcher: Dispatcher;
  host: HostFunctions;
}

/**
 * Evaluates an expression. Literal, list and map evaluate structurally (map keys must be
 * strings); a call dispatches `plugin:function` with its evaluated arguments, or with the
 * argument expressions when lazy. Rejects with `EvaluationError` naming the call site and
 * the innermost failing `plugin:function`.
 */
export async function evaluate(expression: Expression, context: EvaluationContext): Promise<Value> {
  switch (expression.kind) {
    case 'literal':
      return expression.value;
    case 'list': {
      const values: Value[] = [];
      for (const item of expression.items) values.push(await evaluate(item, context));
      return values;
    }
    case 'map': {
      const result: { [key: string]: Value } = {};
      for (const entry of expression.entries) {
        const key = await evaluate(entry.key, context);
        if (typeof key !== 'string') {
          throw new EvaluationError(
            `map key must be a string, got ${JSON.stringify(key)}`,
            context.site,
          );
        }
        // defineProperty: a `__proto__` key is data, not the prototype.
        Object.defineProperty(result, key, {
          value: await evaluate(entry.value, context),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return result;
    }
    case 'call':
      return evaluateCall(expression, context);
    default:
      throw new EvaluationError(
        `unknown expression kind ${JSON.stringify((expression as { kind?: unknown }).kind)}`,
        context.site,
      );
  }
}

async function evaluateCall(
  expression: Expression & { kind: 'call' },
  context: EvaluationContext,
): Promise<Value> {
  const { plugin, function: name } = expression;
  const lazy = expression.lazy === true;
  let args: Value[] | Expression[];
  if (lazy) {
    args = expression.arguments;
  } else {
    const values: Value[] = [];
    for (const argument of expression.arguments) values.push(await evaluate(argument, context));
    args = values;
  }
  let result: Value | undefined;
  try {
    result = await context.dispatcher.dispatch(
      { plugin, function: name, arguments: args, ...(lazy ? { lazy } : {}), site: context.site },
      context.host,
    );
  } catch (error) {
    // A lazy argument evaluated by the plugin already names the innermost call.
    if (isFloriaError(error, 'evaluation-failed')) throw error;
    throw new EvaluationError(messageOf(error), context.site, plugin, name, { cause: error });
  }
  if (result === undefined) return null;
  if (!isValue(result)) {
    throw new EvaluationError(
      'returned something that is not a Floria value',
      context.site,
      plugin,
      name,
    );
  }
  return result;
}

/** The message of an error-like thing, for wrapping it. */
export function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}
