import type { Dispatcher, HostFunctions, Value } from '@khutulun/floria';
import type { HostPolicies } from './agent-services.js';

/** The plugin that implements the agent's policies (the built-in Wasm module `khutulun.wasm`). */
export const POLICY_PLUGIN = 'khutulun';

/**
 * The agent's placement and restart back-off, delegated through the dispatch contract to
 * the built-in Wasm plugin's `place` and `restart_delay` (see `@khutulun/plugins`).
 * `restart_delay` is a pure function of the attempt number, so its answers are remembered:
 * a restart does not wait for a Wasm call it has already made.
 */
export function dispatchedPolicies(dispatcher: Dispatcher, host: HostFunctions): HostPolicies {
  const site = {
    entity: { kind: 'plugin' as const, directory: ['khutulun'], name: POLICY_PLUGIN },
  };
  const call = (fn: string, argument: Value) =>
    dispatcher.dispatch({ plugin: POLICY_PLUGIN, function: fn, arguments: [argument], site }, host);
  const delays = new Map<number, number>();
  return {
    async place(input) {
      const result = await call('place', {
        workload: { name: `${input.service}/${input.workload}` },
        hosts: input.hosts.map((name) => ({ name, available: true })),
      });
      return typeof result === 'string' ? result : '';
    },
    async restartDelay(input) {
      const known = delays.get(input.restarts);
      if (known !== undefined) return known;
      const result = await call('restart_delay', { attempt: input.restarts });
      const delay = typeof result === 'number' ? result : 0;
      delays.set(input.restarts, delay);
      return delay;
    },
  };
}
