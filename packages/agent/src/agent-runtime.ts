import { join } from 'node:path';
import type { WorkloadKind } from '@khutulun/driver';
import { dockerKind } from '@khutulun/driver-docker';
import { processKind } from '@khutulun/driver-process';
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
import { WorkloadKinds } from './workload-kinds.js';

/** The agent's services plus the function that releases them (workloads keep running). */
export type AgentRuntime = AgentServices & { close(): Promise<void> };

/**
 * The workload kinds an agent offers, in the order they are probed. The one place that names
 * them: adding a kind touches its package, this list and the profile catalog.
 */
export const WORKLOAD_KINDS: readonly WorkloadKind[] = [processKind, dockerKind];

/**
 * The composition root. Opens what the agent runs on: the store (SQLite in the state
 * directory, or PostgreSQL), the workload kinds this host offers (probed), port networking
 * under the state directory, and the plugin host with Floria's built-ins, the TOSCA
 * functions and the built-in Wasm policies.
 */
export async function openAgentServices(options: {
  stateDir: string;
  host: string;
  /** This host's address (default 127.0.0.1: the embedded single host). */
  address?: string;
  store?: string;
  portRange?: { from: number; to: number };
  /** The kinds to offer (default `WORKLOAD_KINDS`): tests pass the in-memory reference kind. */
  kinds?: readonly WorkloadKind[];
}): Promise<AgentRuntime> {
  const store: Store = await openStore(options.store ?? join(options.stateDir, 'state.db'));
  const log = (level: string, message: string) => {
    if (level !== 'debug')
      process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
  };
  const kinds = await WorkloadKinds.open([...(options.kinds ?? WORKLOAD_KINDS)], {
    stateDirectory: options.stateDir,
    host: options.host,
    log,
  });
  const network = await openNetwork(options.stateDir, options.portRange);
  const plugins = await openPluginHost(store, options.stateDir);
  const dispatcher = new RoutingDispatcher(
    {
      floria: registerBuiltinFunctions(new FunctionRegistry()),
      tosca: createToscaDispatcher(),
    },
    plugins,
  );
  return {
    host: options.host,
    address: options.address ?? '127.0.0.1',
    stateDir: options.stateDir,
    store,
    kinds,
    network,
    dispatcher,
    plugins,
    floria: { instantiate, update },
    compile,
    policies: dispatchedPolicies(dispatcher, hostFunctions({ reader: store, dispatcher })),
    log,
    async close() {
      await kinds.close();
      await plugins.close();
      await store.close();
    },
  };
}
