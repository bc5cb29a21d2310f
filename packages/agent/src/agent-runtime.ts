import { join } from 'node:path';
import type { WorkloadKind } from '@khutulun/driver';
import { dockerKind } from '@khutulun/driver-docker';
import { podmanKind } from '@khutulun/driver-podman';
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
import { compile, createToscaDispatcher, extractCsar } from '@khutulun/tosca';
import { type AgentCluster, joinAgentCluster } from './agent-cluster.js';
import { AgentStartError } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import { openNetwork, openPluginHost, openStore } from './backends.js';
import { fenceLeaseMs } from './fence-watchdog.js';
import { type FenceLease, holdFenceLease } from './fence-watchdog-lease.js';
import { dispatchedPolicies } from './host-policies.js';
import { FENCE_GRACE_MS } from './supervisor.js';
import { WorkloadKinds } from './workload-kinds.js';

/** The agent's services plus the function that releases them (workloads keep running). */
export type AgentRuntime = AgentServices & { close(): Promise<void> };

/**
 * The workload kinds an agent offers, in the order they are probed. The one place that names
 * them: adding a kind touches its package, this list and the profile catalog (and the fence
 * watchdog's loaders, `WATCHDOG_KINDS` in `fence-watchdog-main.ts`: a test checks they agree).
 */
export const WORKLOAD_KINDS: readonly WorkloadKind[] = [processKind, podmanKind, dockerKind];

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
  /** Only these of the kinds (by name), e.g. `['process']` on a host meant for processes. */
  kindNames?: readonly string[];
  /**
   * Join a cluster on this bus (`nats://USER:PASSWORD@HOST:PORT`); requires a PostgreSQL
   * `store`, which holds the cluster's records. Undefined: the embedded single host.
   */
  bus?: string;
  /** The cluster's name (default `default`). */
  clusterName?: string;
  /** This host's labels in the cluster (`--label k=v`). */
  labels?: Record<string, string>;
}): Promise<AgentRuntime> {
  const offered = selectKinds(options.kinds ?? WORKLOAD_KINDS, options.kindNames);
  const store: Store = await openStore(options.store ?? join(options.stateDir, 'state.db'));
  const log = (level: string, message: string) => {
    if (level !== 'debug')
      process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
  };
  const kinds = await WorkloadKinds.open(offered, {
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
  const policies = dispatchedPolicies(dispatcher, hostFunctions({ reader: store, dispatcher }));
  let cluster: AgentCluster | undefined;
  let fence: { lease: FenceLease; stop(): void } | undefined;
  if (options.bus) {
    if (!options.store || !/^postgres(ql)?:\/\//.test(options.store)) {
      await kinds.close();
      await plugins.close();
      await store.close();
      throw new AgentStartError({
        code: 'bad-options',
        status: 400,
        message: "--bus requires --store postgres://... (the cluster's records)",
      });
    }
    try {
      cluster = await joinAgentCluster({
        postgresUrl: options.store,
        bus: options.bus,
        ...(options.clusterName ? { name: options.clusterName } : {}),
        host: {
          name: options.host,
          address: options.address ?? '127.0.0.1',
          labels: options.labels ?? {},
          kinds: kinds
            .offered()
            .filter((k) => k.available)
            .map((k) => k.kind),
          execKinds: kinds.execKinds(),
        },
        log,
        policies,
      });
    } catch (error) {
      await kinds.close();
      await plugins.close();
      await store.close();
      throw error;
    }
    try {
      fence = await holdWatchdogLease(cluster, options.stateDir, options.host, kinds, log);
    } catch (error) {
      await cluster.close();
      await kinds.close();
      await plugins.close();
      await store.close();
      throw new AgentStartError({
        code: 'fence-watchdog-failed',
        status: 500,
        message: `cannot start the fence watchdog: ${(error as Error).message}`,
        cause: error,
      });
    }
  }
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
    unpack: extractCsar,
    policies,
    log,
    ...(cluster ? { cluster } : {}),
    async close() {
      // Leaving cleanly: the watchdog goes without fencing (the workloads keep running).
      fence?.stop();
      await fence?.lease.close();
      await cluster?.close();
      await kinds.close();
      await plugins.close();
      await store.close();
    },
  };
}

/**
 * In a cluster, the lease on this host's fence watchdog (`fence-watchdog.ts`), renewed each
 * time the membership is. The bound is the membership's `fenceAfterMs` plus the fence's stop
 * grace (1.5 + 3 = 4.5 s by default): a live agent fences first and has stopped its workloads
 * by then, and the watchdog's stops (3 s grace each) end within about 7.5 s of the last
 * renewal, before anyone may start an at-most-once replacement (the host is declared lost no
 * earlier than `lostAfterMs`, 2 s, after its last heartbeat, and the replacement waits the
 * registry's `fencingDelayMs`, 10 s, after that).
 */
async function holdWatchdogLease(
  cluster: AgentCluster,
  stateDir: string,
  host: string,
  kinds: WorkloadKinds,
  log: AgentServices['log'],
): Promise<{ lease: FenceLease; stop(): void }> {
  const membership = cluster.cluster.membership;
  const leaseMs = fenceLeaseMs(membership.timings, FENCE_GRACE_MS);
  const replaceableAfterMs =
    membership.timings.lostAfterMs + cluster.cluster.registry.fencingDelayMs;
  if (leaseMs + FENCE_GRACE_MS >= replaceableAfterMs) {
    log(
      'warn',
      `cluster: the fencing delay (${cluster.cluster.registry.fencingDelayMs} ms) is too short for ` +
        `the fence watchdog (${leaseMs} ms lease + ${FENCE_GRACE_MS} ms grace): an at-most-once ` +
        'replacement may start before a SIGKILLed agent’s workload has stopped',
    );
  }
  const lease = await holdFenceLease({
    stateDir,
    host,
    kinds: kinds
      .offered()
      .filter((k) => k.available)
      .map((k) => k.kind),
    leaseMs,
    graceMs: FENCE_GRACE_MS,
    log,
  });
  log(
    'info',
    `cluster: fence watchdog PID ${lease.pid} holds the lease` +
      (lease.fencesAtConnect ? ` (it fenced this host ${lease.fencesAtConnect} times)` : ''),
  );
  // The join counts as a renewal, as it does for the membership's own fence timer.
  if (membership.state === 'member') lease.renew();
  const stop = membership.onRenewed(() => lease.renew());
  return { lease, stop };
}

/** The kinds named (all of them without names); an unknown name is a start error. */
function selectKinds(kinds: readonly WorkloadKind[], names?: readonly string[]): WorkloadKind[] {
  if (!names) return [...kinds];
  const unknown = names.filter((n) => !kinds.some((k) => k.kind === n));
  if (unknown.length) {
    throw new AgentStartError({
      code: 'bad-options',
      status: 400,
      message: `unknown workload kind ${unknown.join(', ')} (known: ${kinds.map((k) => k.kind).join(', ')})`,
    });
  }
  return kinds.filter((k) => names.includes(k.kind));
}
