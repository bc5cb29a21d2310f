/**
 * What each plugin kind (Wasm, executable, in-process module) implements behind the
 * `PluginHost`. Not part of the public API.
 */
import type { FunctionCall, HostFunctions, Value } from '@khutulun/floria';

/** Per-call context the host gives a kind. */
export interface CallContext {
  /** The host functions this plugin was granted (already checked). */
  host: HostFunctions;
  /** The call's time limit. */
  timeoutMs: number;
  /** Whether this call happens inside a host function served to the same plugin. */
  nested: boolean;
}

/** A loaded, ready-to-call plugin. */
export interface LoadedPlugin {
  /** Calls a function; rejects with a `PluginError`. */
  call(call: FunctionCall, context: CallContext): Promise<Value>;
  /** Releases every worker, process or handle the plugin holds. */
  close(): Promise<void>;
}
