/** In-process plugin functions behind the `Dispatcher` contract, and routing by plugin name. */
import type { Dispatcher, FunctionCall, HostFunctions } from './dispatch.js';
import { UnknownFunction } from './errors.js';
import type { Expression, Value } from './model.js';

/** What an in-process plugin function receives besides its arguments. */
export interface FunctionContext {
  call: FunctionCall;
  host: HostFunctions;
}

/**
 * A TypeScript plugin function. It gets argument values, or argument expressions when the
 * call is lazy (`context.call.lazy`); returning nothing means `null`.
 */
export type PluginFunction = (
  args: Value[] | Expression[],
  context: FunctionContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: handlers that return nothing are functions too
) => Value | void | Promise<Value | void>;

/**
 * A `Dispatcher` for TypeScript functions registered as `plugin:function`. Unknown functions
 * reject with `UnknownFunction`; a function's own error is passed through as it is (the
 * evaluator adds the call site).
 */
export class FunctionRegistry implements Dispatcher {
  readonly #functions = new Map<string, Map<string, PluginFunction>>();

  /** Registers (or replaces) `plugin:function`. */
  register(name: string, fn: PluginFunction): this {
    const colon = name.indexOf(':');
    if (colon <= 0 || colon === name.length - 1) {
      throw new TypeError(`function name must be plugin:function, got ${JSON.stringify(name)}`);
    }
    return this.registerPlugin(name.slice(0, colon), { [name.slice(colon + 1)]: fn });
  }

  /** Registers several functions of one plugin. */
  registerPlugin(plugin: string, functions: Record<string, PluginFunction>): this {
    let table = this.#functions.get(plugin);
    if (!table) {
      table = new Map();
      this.#functions.set(plugin, table);
    }
    for (const [name, fn] of Object.entries(functions)) table.set(name, fn);
    return this;
  }

  /** Whether `plugin:function` is registered. */
  has(plugin: string, name: string): boolean {
    return this.#functions.get(plugin)?.has(name) ?? false;
  }

  /** The names of the registered plugins. */
  plugins(): string[] {
    return [...this.#functions.keys()];
  }

  async dispatch(call: FunctionCall, host: HostFunctions): Promise<Value> {
    const fn = this.#functions.get(call.plugin)?.get(call.function);
    if (!fn) throw new UnknownFunction(call.plugin, call.function);
    return (await fn(call.arguments, { call, host })) ?? null;
  }
}

/**
 * A `Dispatcher` that routes each call by its plugin name to another dispatcher (e.g. `floria`
 * to a `FunctionRegistry`, the rest to the Wasm and executable plugin host), falling back to
 * `fallback` for other plugins, or rejecting with `UnknownFunction`.
 */
export class RoutingDispatcher implements Dispatcher {
  readonly #routes: Map<string, Dispatcher>;

  constructor(
    routes: Record<string, Dispatcher> | Map<string, Dispatcher>,
    private readonly fallback?: Dispatcher,
  ) {
    this.#routes = routes instanceof Map ? new Map(routes) : new Map(Object.entries(routes));
  }

  /** Adds or replaces the route for `plugin`. */
  route(plugin: string, dispatcher: Dispatcher): this {
    this.#routes.set(plugin, dispatcher);
    return this;
  }

  dispatch(call: FunctionCall, host: HostFunctions): Promise<Value> {
    const target = this.#routes.get(call.plugin) ?? this.fallback;
    if (!target) return Promise.reject(new UnknownFunction(call.plugin, call.function));
    return target.dispatch(call, host);
  }
}
