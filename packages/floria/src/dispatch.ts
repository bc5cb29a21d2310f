/**
 * The plugin dispatch contract: how Floria (and everything above it) calls user code.
 *
 * A call names `plugin:function`, carries argument values (or, for lazy calls, the argument
 * expressions themselves) and the call site, and returns a value or fails with an error.
 * Wasm modules, executables and in-process TypeScript modules all sit behind `Dispatcher`,
 * interchangeable for the caller (`@khutulun/plugins` implements them).
 */
import type { Entity, Expression, FloriaEvent, Id, Value } from './model.js';
import type { Query, TraverseOptions, TraverseStep } from './store.js';

/** Where a call happens: the entity, and the property path when evaluating a property. */
export interface CallSite {
  entity: Id;
  /** e.g. `['port']` or `['settings', 'timeout']`; absent for event handlers and instantiation. */
  path?: string[];
}

/** One call through the dispatch contract. */
export interface FunctionCall {
  plugin: string;
  function: string;
  /** Evaluated argument values; for a lazy call, the unevaluated argument expressions. */
  arguments: Value[] | Expression[];
  lazy?: boolean;
  site: CallSite;
  /** For event handlers: the event being handled. */
  event?: FloriaEvent;
}

/** The names of host functions a plugin can be granted. */
export type HostFunctionName = 'log' | 'get-entity' | 'evaluate' | 'query' | 'change-graph';

/**
 * What the host offers a plugin during a call. A plugin can use only the functions it was
 * granted; calling another one fails with a `PermissionDenied`-branded error.
 */
export interface HostFunctions {
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  getEntity(id: Id): Promise<Entity | undefined>;
  evaluate(expression: Expression, site: CallSite): Promise<Value>;
  query(query: Query): Promise<Entity[]>;
  traverse(options: TraverseOptions): Promise<TraverseStep[]>;
  /** Graph changes (event handlers and instantiation only). */
  put(entity: Entity): Promise<void>;
  delete(id: Id): Promise<boolean>;
  emit(event: { type: string; id: Id; data?: Value }): Promise<void>;
}

/** Dispatches calls to plugins. Rejects with an error that names the plugin and function. */
export interface Dispatcher {
  dispatch(call: FunctionCall, host: HostFunctions): Promise<Value>;
}
