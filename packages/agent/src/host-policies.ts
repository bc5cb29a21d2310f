import type { Dispatcher, HostFunctions, Value } from '@khutulun/floria';
import type { HostPolicies } from './agent-services.js';

/** The plugin that implements the agent's policies (the built-in Wasm module `khutulun.wasm`). */
export const POLICY_PLUGIN = 'khutulun';

/**
 * The agent's placement and restart back-off, delegated through the dispatch contract to
 * the built-in Wasm plugin's `place` and `restart_delay` (see `@khutulun/plugins`).
 * Both are deterministic functions of their arguments, so their answers are remembered: a
 * restart does not wait for a Wasm call already made, and 200 alike workloads cost one call.
 */
export function dispatchedPolicies(dispatcher: Dispatcher, host: HostFunctions): HostPolicies {
  const site = {
    entity: { kind: 'plugin' as const, directory: ['khutulun'], name: POLICY_PLUGIN },
  };
  const call = (fn: string, argument: Value) =>
    dispatcher.dispatch({ plugin: POLICY_PLUGIN, function: fn, arguments: [argument], site }, host);
  const delays = new Map<number, number>();
  const placements = new Map<string, Promise<string>>();
  return {
    async place(input) {
      // The workload's name does not take part in placement (only a pinned host or labels
      // would), so workloads alike share one answer: `place` is deterministic.
      const argument: Value = {
        workload: {},
        hosts: input.hosts.map((name) => ({ name, available: true })),
      };
      const key = JSON.stringify(argument);
      let placed = placements.get(key);
      if (!placed) {
        placed = call('place', argument).then((r) => (typeof r === 'string' ? r : ''));
        placements.set(key, placed);
        placed.catch(() => placements.delete(key));
      }
      return placed;
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
