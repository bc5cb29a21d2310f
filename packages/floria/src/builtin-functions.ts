/**
 * The built-in functions of plugin `floria`: what property expressions commonly need
 * (strings, comparison, logic, arithmetic, and reading the graph). Each is documented in the
 * package README; all accept eager calls, and `and`, `or` and `if` short-circuit when lazy.
 */
import type { FunctionContext, FunctionRegistry, PluginFunction } from './function-registry.js';
import { idFromValue } from './id.js';
import type { Entity, Expression, Id, Value } from './model.js';
import { valuesEqual } from './value.js';

/** The plugin name of the built-ins. */
export const BUILTIN_PLUGIN = 'floria';

/** An id as a plain Floria value (a map of kind, directory and name). */
export function idToValue(id: Id): Value {
  return { kind: id.kind, directory: [...id.directory], name: id.name };
}

/** Argument access that works for eager and lazy calls alike. */
class Arguments {
  constructor(
    private readonly args: Value[] | Expression[],
    private readonly context: FunctionContext,
  ) {}

  get count(): number {
    return this.args.length;
  }

  /** The value of argument `index` (evaluated now if the call is lazy); throws if missing. */
  async at(index: number): Promise<Value> {
    if (index >= this.args.length) {
      throw new Error(`${this.context.call.function} expects an argument at position ${index + 1}`);
    }
    const arg = this.args[index];
    if (!this.context.call.lazy) return arg as Value;
    return this.context.host.evaluate(arg as Expression, this.context.call.site);
  }

  async all(): Promise<Value[]> {
    const values: Value[] = [];
    for (let index = 0; index < this.args.length; index++) values.push(await this.at(index));
    return values;
  }
}

type Builtin = (args: Arguments, context: FunctionContext) => Value | Promise<Value>;

function describe(value: Value): string {
  return JSON.stringify(value);
}

function asString(value: Value): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function asNumber(value: Value, name: string): number {
  if (typeof value !== 'number')
    throw new Error(`${name}: expected a number, got ${describe(value)}`);
  return value;
}

function asBoolean(value: Value, name: string): boolean {
  if (typeof value !== 'boolean')
    throw new Error(`${name}: expected a boolean, got ${describe(value)}`);
  return value;
}

function asList(value: Value, name: string): Value[] {
  if (!Array.isArray(value)) throw new Error(`${name}: expected a list, got ${describe(value)}`);
  return value;
}

function compare(a: Value, b: Value, name: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new Error(`${name}: cannot compare ${describe(a)} with ${describe(b)}`);
}

function comparison(name: string, test: (order: number) => boolean): Builtin {
  return async (args) => test(compare(await args.at(0), await args.at(1), name));
}

/** Follows `path` (map keys or list indexes) into `value`; throws naming the missing step. */
function follow(value: Value, path: Value[], where: string): Value {
  let current = value;
  for (const step of path) {
    if (Array.isArray(current) && typeof step === 'number') {
      const next = current[step];
      if (next === undefined) throw new Error(`${where}: no index ${step}`);
      current = next;
    } else if (typeof current === 'object' && current !== null && !Array.isArray(current)) {
      if (typeof step !== 'string' || !Object.hasOwn(current, step)) {
        throw new Error(`${where}: no key ${describe(step)}`);
      }
      current = current[step] as Value;
    } else {
      throw new Error(`${where}: cannot follow ${describe(step)} into ${describe(current)}`);
    }
  }
  return current;
}

async function entityArgument(
  args: Arguments,
  index: number,
  context: FunctionContext,
): Promise<Entity> {
  const id = args.count > index ? idFromValue(await args.at(index)) : context.call.site.entity;
  if (!id) throw new Error(`${context.call.function}: argument ${index + 1} is not an id`);
  const entity = await context.host.getEntity(id);
  if (!entity) throw new Error(`${context.call.function}: no entity ${describe(idToValue(id))}`);
  return entity;
}

function propertyValue(entity: Entity, property: string, path: Value[]): Value {
  const properties = 'properties' in entity ? entity.properties : undefined;
  const where = `property ${property} of ${entity.id.kind} ${[...entity.id.directory, entity.id.name].join('/')}`;
  const found =
    properties && Object.hasOwn(properties, property) ? properties[property] : undefined;
  if (!found) throw new Error(`no ${where}`);
  return follow(found.value ?? null, path, where);
}

function reference(field: 'source' | 'target' | 'parent' | 'template'): Builtin {
  return async (args, context) => {
    const entity = await entityArgument(args, 0, context);
    const id = (entity as Partial<Record<typeof field, Id>>)[field];
    return id ? idToValue(id) : null;
  };
}

const builtins: Record<string, Builtin> = {
  concat: async (args) => (await args.all()).map(asString).join(''),
  join: async (args) => {
    const items = asList(await args.at(0), 'join');
    const separator = args.count > 1 ? asString(await args.at(1)) : '';
    return items.map(asString).join(separator);
  },
  token: async (args) => {
    const text = asString(await args.at(0));
    const separators = [...asString(await args.at(1))];
    const index = asNumber(await args.at(2), 'token');
    let tokens = [text];
    for (const separator of separators) tokens = tokens.flatMap((t) => t.split(separator));
    const token = tokens[index];
    if (token === undefined) throw new Error(`token: no token ${index} in ${describe(text)}`);
    return token;
  },
  equal: async (args) => valuesEqual(await args.at(0), await args.at(1)),
  not: async (args) => !asBoolean(await args.at(0), 'not'),
  and: async (args) => {
    for (let index = 0; index < args.count; index++) {
      if (!asBoolean(await args.at(index), 'and')) return false;
    }
    return true;
  },
  or: async (args) => {
    for (let index = 0; index < args.count; index++) {
      if (asBoolean(await args.at(index), 'or')) return true;
    }
    return false;
  },
  if: async (args) =>
    asBoolean(await args.at(0), 'if') ? args.at(1) : args.count > 2 ? args.at(2) : null,
  less_than: comparison('less_than', (order) => order < 0),
  less_or_equal: comparison('less_or_equal', (order) => order <= 0),
  greater_than: comparison('greater_than', (order) => order > 0),
  greater_or_equal: comparison('greater_or_equal', (order) => order >= 0),
  in_range: async (args) => {
    const value = await args.at(0);
    const range = asList(await args.at(1), 'in_range');
    if (range.length !== 2) throw new Error('in_range: the range must be [low, high]');
    return (
      compare(value, range[0] as Value, 'in_range') >= 0 &&
      compare(value, range[1] as Value, 'in_range') <= 0
    );
  },
  valid_values: async (args) => {
    const value = await args.at(0);
    return asList(await args.at(1), 'valid_values').some((item) => valuesEqual(item, value));
  },
  length: async (args) => {
    const value = await args.at(0);
    if (typeof value === 'string') return [...value].length;
    if (Array.isArray(value)) return value.length;
    if (typeof value === 'object' && value !== null) return Object.keys(value).length;
    throw new Error(`length: expected a string, list or map, got ${describe(value)}`);
  },
  pattern: async (args) => {
    const text = await args.at(0);
    const pattern = await args.at(1);
    if (typeof text !== 'string' || typeof pattern !== 'string') {
      throw new Error('pattern: expected a string and a regular expression');
    }
    return new RegExp(`^(?:${pattern})$`).test(text);
  },
  sum: async (args) => (await args.all()).reduce<number>((sum, v) => sum + asNumber(v, 'sum'), 0),
  product: async (args) =>
    (await args.all()).reduce<number>((product, v) => product * asNumber(v, 'product'), 1),
  difference: async (args) =>
    asNumber(await args.at(0), 'difference') - asNumber(await args.at(1), 'difference'),
  quotient: async (args) => {
    const divisor = asNumber(await args.at(1), 'quotient');
    if (divisor === 0) throw new Error('quotient: division by zero');
    return asNumber(await args.at(0), 'quotient') / divisor;
  },
  self: (_args, context) => idToValue(context.call.site.entity),
  value: async (_args, context) => {
    const { entity: id, path } = context.call.site;
    const [property, ...rest] = path ?? [];
    if (property === undefined) throw new Error('value: the call site has no property path');
    const entity = await context.host.getEntity(id);
    if (!entity) throw new Error(`value: no entity ${describe(idToValue(id))}`);
    return propertyValue(entity, property, rest);
  },
  get_property: async (args, context) => {
    const entity = await entityArgument(args, 0, context);
    const property = await args.at(1);
    if (typeof property !== 'string')
      throw new Error('get_property: the property name must be a string');
    const path: Value[] = [];
    for (let index = 2; index < args.count; index++) path.push(await args.at(index));
    return propertyValue(entity, property, path);
  },
  source: reference('source'),
  target: reference('target'),
  parent: reference('parent'),
  template: reference('template'),
};

/** The built-in functions by name, as in-process plugin functions. */
export const builtinFunctions: Readonly<Record<string, PluginFunction>> = Object.fromEntries(
  Object.entries(builtins).map(([name, builtin]): [string, PluginFunction] => [
    name,
    (args, context) => builtin(new Arguments(args, context), context),
  ]),
);

/** Registers the built-ins under plugin `floria`; returns the registry. */
export function registerBuiltinFunctions(registry: FunctionRegistry): FunctionRegistry {
  return registry.registerPlugin(BUILTIN_PLUGIN, builtinFunctions);
}
