/**
 * In-process plugins: trusted JavaScript/TypeScript modules called directly, for built-ins
 * such as the TOSCA run-time functions. They share the host's thread and heap, so their time
 * limit can only stop waiting for an asynchronous function (it cannot preempt a synchronous
 * loop) and they have no memory limit: user code belongs in Wasm.
 */
import type {
  CallSite,
  Expression,
  FloriaEvent,
  FunctionCall,
  HostFunctions,
  Value,
} from '@khutulun/floria';
import type { CallContext, LoadedPlugin } from './loaded-plugin.js';
import { isPluginError, PluginError } from './plugin-error.js';

/** What an in-process plugin function receives besides its arguments. */
export interface ModuleCallContext {
  plugin: string;
  function: string;
  site: CallSite;
  event?: FloriaEvent;
  lazy: boolean;
  /** The host functions the plugin was granted. */
  host: HostFunctions;
}

/**
 * One function of an in-process plugin. Throwing fails the call (code `FAILED`, or the
 * thrown `PluginError`'s own code).
 */
export type PluginFunction = (
  args: Value[] | Expression[],
  context: ModuleCallContext,
) => Value | Promise<Value>;

/** An in-process plugin: its functions by name (an ES module's exports fit). */
export type PluginModule = Readonly<Record<string, unknown>>;

/** Wraps a module's exported functions as a loaded plugin. */
export function modulePlugin(name: string, module: PluginModule): LoadedPlugin {
  return {
    async call(call: FunctionCall, context: CallContext): Promise<Value> {
      const fn = lookup(module, call.function);
      const fail = (code: 'FAILED' | 'TIMEOUT' | 'NOT_FOUND', message: string, cause?: unknown) =>
        new PluginError(message, {
          code,
          plugin: name,
          function: call.function,
          site: call.site,
          cause,
        });
      if (!fn) throw fail('NOT_FOUND', `the module exports no function '${call.function}'`);
      const moduleContext: ModuleCallContext = {
        plugin: name,
        function: call.function,
        site: call.site,
        lazy: call.lazy === true,
        host: context.host,
      };
      if (call.event) moduleContext.event = call.event;
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = fn(call.arguments, moduleContext);
        if (!(result instanceof Promise)) return result;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(fail('TIMEOUT', `the call did not finish within ${context.timeoutMs} ms`)),
            context.timeoutMs,
          );
        });
        return await Promise.race([result, timeout]);
      } catch (error) {
        if (isPluginError(error)) throw error;
        throw fail('FAILED', error instanceof Error ? error.message : String(error), error);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {},
  };
}

function lookup(module: PluginModule, fn: string): PluginFunction | undefined {
  const direct = module[fn];
  if (typeof direct === 'function') return direct as PluginFunction;
  const fallback = (module['default'] as PluginModule | undefined)?.[fn];
  return typeof fallback === 'function' ? (fallback as PluginFunction) : undefined;
}
