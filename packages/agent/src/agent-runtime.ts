import { join } from 'node:path';
import { ProcessDriver } from '@khutulun/driver-process';
import {
  FunctionRegistry,
  hostFunctions,
  instantiate,
  RoutingDispatcher,
  registerBuiltinFunctions,
  type Store,
  update,
} from '@khutulun/floria';
import { compile, createToscaDispatcher } from '@khutulun/tosca';
import type { AgentServices } from './agent-services.js';
import { openNetwork, openPluginHost, openStore } from './backends.js';
import { dispatchedPolicies } from './host-policies.js';

/** The agent's services plus the function that releases them (workloads keep running). */
export type AgentRuntime = AgentServices & { close(): Promise<void> };

/**
 * Opens what the agent runs on: the store (SQLite in the state directory, or PostgreSQL),
 * the process driver and port networking under the state directory, and the plugin host
 * with Floria's built-ins, the TOSCA functions and the built-in Wasm policies.
 */
export async function openAgentServices(options: {
  stateDir: string;
  host: string;
  store?: string;
  portRange?: { from: number; to: number };
}): Promise<AgentRuntime> {
  const store: Store = await openStore(options.store ?? join(options.stateDir, 'state.db'));
  const workloads = new ProcessDriver({ stateDirectory: options.stateDir });
  const network = await openNetwork(options.stateDir, options.portRange);
  const plugins = await openPluginHost(store, options.stateDir);
  const dispatcher = new RoutingDispatcher(
    {
      floria: registerBuiltinFunctions(new FunctionRegistry()),
      tosca: createToscaDispatcher(),
    },
    plugins,
  );
  const log = (level: string, message: string) => {
    if (level !== 'debug')
      process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
  };
  return {
    host: options.host,
    stateDir: options.stateDir,
    store,
    workloads,
    network,
    dispatcher,
    plugins,
    floria: { instantiate, update },
    compile,
    policies: dispatchedPolicies(dispatcher, hostFunctions({ reader: store, dispatcher })),
    log,
    async close() {
      await workloads.close();
      await plugins.close();
      await store.close();
    },
  };
}
