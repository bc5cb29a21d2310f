import type { Dispatcher, Value } from '@khutulun/floria';
import type { HostPolicies } from './agent-services.js';

/** The plugin that implements the agent's policies (the built-in Wasm module `khutulun.wasm`). */
export const POLICY_PLUGIN = 'khutulun';

/**
 * The agent's placement and restart back-off, delegated through the dispatch contract to
 * the `khutulun` plugin's `place` and `restart_delay` functions.
 */
export function dispatchedPolicies(
  dispatcher: Dispatcher,
  host: Parameters<Dispatcher['dispatch']>[1],
): HostPolicies {
  const site = { entity: { kind: 'plugin' as const, directory: [], name: POLICY_PLUGIN } };
  return {
    async place(input) {
      const result = await dispatcher.dispatch(
        { plugin: POLICY_PLUGIN, function: 'place', arguments: [input as unknown as Value], site },
        host,
      );
      return typeof result === 'string' ? result : String((result as { host?: Value })?.host ?? '');
    },
    async restartDelay(input) {
      const result = await dispatcher.dispatch(
        {
          plugin: POLICY_PLUGIN,
          function: 'restart_delay',
          arguments: [input as unknown as Value],
          site,
        },
        host,
      );
      return typeof result === 'number'
        ? result
        : Number((result as { delay_ms?: Value })?.delay_ms ?? 0);
    },
  };
}
