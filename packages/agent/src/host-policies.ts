import type { Dispatcher, HostFunctions, Value } from '@khutulun/floria';
import type { HostPolicies } from './agent-services.js';

/** The plugin that implements the agent's policies (the built-in Wasm module `khutulun.wasm`). */
export const POLICY_PLUGIN = 'khutulun';

/**
 * The agent's placement and restart back-off, delegated through the dispatch contract to
 * the built-in Wasm plugin's `place` and `restart_delay` (see `@khutulun/plugins`).
 */
export function dispatchedPolicies(dispatcher: Dispatcher, host: HostFunctions): HostPolicies {
  const site = {
    entity: { kind: 'plugin' as const, directory: ['khutulun'], name: POLICY_PLUGIN },
  };
  const call = (fn: string, argument: Value) =>
    dispatcher.dispatch({ plugin: POLICY_PLUGIN, function: fn, arguments: [argument], site }, host);
  return {
    async place(input) {
      const result = await call('place', {
        workload: { name: `${input.service}/${input.workload}` },
        hosts: input.hosts.map((name) => ({ name, available: true })),
      });
      return typeof result === 'string' ? result : '';
    },
    async restartDelay(input) {
      const result = await call('restart_delay', { attempt: input.restarts });
      return typeof result === 'number' ? result : 0;
    },
  };
}
