import type { HostRecord, OwnerToken, ReplacementPolicy, WorkloadOwner } from '@khutulun/cluster';
import type { Value } from '@khutulun/floria';
import type { AgentCluster } from './agent-cluster.js';
import { DeployError } from './agent-error.js';
import type {
  NodeFilter,
  PlacedWorkload,
  PlacementHost,
  PlacementPolicy,
  PlacementRequest,
  PlacementResult,
  ResourceRequest,
} from './host-policies.js';

/** A workload to place in the cluster: its vertex name, node template and kind. */
export interface ClusterWorkload {
  name: string;
  /** The node template it was instantiated from (what distinct-hosts and spread count). */
  node: string;
  kind: string;
  /** How it is replaced when its host is lost (default at-least-once). */
  policy?: ReplacementPolicy;
  /** It replaces a lost host's workload: the replacement intent it places. */
  replacement?: number;
  /** What it takes of its host's capacity (its `host` requirement's allocation). */
  resources?: ResourceRequest;
  /** What its host must be (its `host` requirement's node filter). */
  filter?: NodeFilter;
  /** The Placement policies that target it. */
  policies?: readonly PlacementPolicy[];
}

/**
 * Placement's view of the registry's hosts: state, labels, kinds, capacity, and what they
 * run: each running workload with its service, node template and the resources it holds
 * (when `owners` are given; else the bare count, which only load-balances).
 */
export function placementHosts(
  records: readonly HostRecord[],
  owners?: readonly WorkloadOwner[],
): PlacementHost[] {
  const byHost = new Map<string, PlacedWorkload[]>();
  for (const o of owners ?? []) {
    const list = byHost.get(o.owner) ?? [];
    const p = o.placement;
    list.push({
      service: o.service,
      node: p?.node ?? o.workload,
      name: o.workload,
      ...(p && (p.cpu !== undefined || p.memoryBytes !== undefined)
        ? {
            resources: {
              ...(p.cpu === undefined ? {} : { cpu: p.cpu }),
              ...(p.memoryBytes === undefined ? {} : { memory: p.memoryBytes }),
            },
          }
        : {}),
    });
    byHost.set(o.owner, list);
  }
  return records.map((h) => ({
    name: h.name,
    state: h.state,
    labels: h.labels,
    kinds: h.kinds,
    capacity: { cpu: h.capacity.cpuMillicores / 1000, memory: h.capacity.memoryBytes },
    workloads: owners ? (byHost.get(h.name) ?? []) : h.workloads,
  }));
}

/**
 * Places a service's workloads with the built-in `place_many` against the registry's hosts
 * (one snapshot, each placement counted by the next), and records each owner in the registry
 * at the epoch the snapshot showed (a host that re-joined or was declared lost since refuses:
 * `stale-epoch`). Resolves with the host of each workload, by name.
 *
 * `pin` pins every workload to one host: placement still checks that host (state, kinds,
 * capacity) and says why it refuses.
 *
 * `exclude` leaves out hosts that already failed these workloads (a replacement tried again
 * elsewhere), each with the reason it failed; a placement failure lists them with it.
 *
 * A workload no host takes fails the whole placement before any owner is recorded, with the
 * reason of every host (`placement-failed`, 409), as Nomad reports its placement failures.
 */
export async function placeInCluster(
  cluster: AgentCluster,
  service: string,
  workloads: readonly ClusterWorkload[],
  options: { pin?: string; exclude?: ReadonlyMap<string, string> } = {},
): Promise<Map<string, string>> {
  const results = await placeOnly(cluster, service, workloads, options);
  const placed = new Map<string, string>();
  for (const [i, w] of workloads.entries()) {
    const { host, epoch } = results[i]!;
    await cluster.cluster.registry.assignWorkload(
      { service, workload: w.name },
      { host, epoch },
      {
        policy: w.policy ?? 'at-least-once',
        ...(w.replacement === undefined ? {} : { replacement: w.replacement }),
        placement: {
          node: w.node,
          ...(w.resources?.cpu === undefined ? {} : { cpu: w.resources.cpu }),
          ...(w.resources?.memory === undefined ? {} : { memoryBytes: w.resources.memory }),
        },
      },
    );
    placed.set(w.name, host);
  }
  return placed;
}

/**
 * Places a replacement again after the host it was placed on (`from`, the owner's token)
 * failed to start it: placement without the `exclude`d hosts (`from` among them), then the
 * owner record and the intent's `placed_on` move to the chosen host in one transaction,
 * fenced by `from`'s token (the workload must still be `from`'s, at its current epoch: if
 * `from` was declared lost meanwhile, its loss recorded a new intent for the workload, and
 * the move is refused with `stale-epoch`) and by the chosen host's epoch from the snapshot.
 * The intent stays placed once, on one host: moved, never placed twice. Resolves with the
 * chosen host.
 */
export async function moveReplacement(
  cluster: AgentCluster,
  service: string,
  workload: ClusterWorkload & { replacement: number },
  from: OwnerToken,
  exclude: ReadonlyMap<string, string>,
): Promise<string> {
  const to = (await placeOnly(cluster, service, [workload], { exclude }))[0]!;
  await cluster.cluster.registry.moveReplacement(
    { service, workload: workload.name },
    workload.replacement,
    from,
    to,
  );
  return to.host;
}

/** The host (and its epoch in the snapshot) that placement gives each workload, in order. */
async function placeOnly(
  cluster: AgentCluster,
  service: string,
  workloads: readonly ClusterWorkload[],
  options: { pin?: string; exclude?: ReadonlyMap<string, string> },
): Promise<Array<{ host: string; epoch: number }>> {
  const exclude = options.exclude ?? new Map<string, string>();
  const [records, owners] = await Promise.all([
    cluster.hosts(),
    cluster.cluster.registry.runningWorkloads(),
  ]);
  const requests: PlacementRequest[] = workloads.map((w) => ({
    service,
    node: w.node,
    name: w.name,
    kind: w.kind,
    ...(options.pin ? { host: options.pin } : {}),
    ...(w.resources ? { resources: w.resources } : {}),
    ...(w.filter ? { filter: w.filter } : {}),
    ...(w.policies ? { policies: w.policies } : {}),
  }));
  const results = await cluster.policies.placeMany({
    hosts: placementHosts(
      records.filter((h) => !exclude.has(h.name)),
      // A workload placed again (a replacement, a move) does not count against itself.
      owners.filter(
        (o) => !(o.service === service && workloads.some((w) => w.name === o.workload)),
      ),
    ),
    workloads: requests,
    options: { candidates: 0 },
  });
  const epochs = new Map(records.map((h) => [h.name, h.epoch]));
  return results.map((result, i) => {
    if (result.host === null) throw placementFailed(service, workloads[i]!.name, result, exclude);
    return { host: result.host, epoch: epochs.get(result.host)! };
  });
}

/**
 * Forgets the owners of a service's workloads that this host owns (after a delete or a
 * rolled-back deploy). A refusal for a stale epoch means this host is fenced: it is reported
 * to the membership, and the owners stay for the replacement to take over.
 */
export async function releaseOwners(cluster: AgentCluster, service: string): Promise<void> {
  const { membership, registry } = cluster.cluster;
  const owned = (await registry.workloadsOf(membership.token.host)).filter(
    (o) => o.service === service,
  );
  for (const owner of owned) {
    try {
      await registry.releaseWorkload(owner, membership.token);
    } catch (error) {
      if ((error as { code?: string }).code === 'stale-epoch') {
        membership.reportStaleEpoch();
        return;
      }
      throw error;
    }
  }
}

function placementFailed(
  service: string,
  workload: string,
  result: Extract<PlacementResult, { host: null }>,
  excluded: ReadonlyMap<string, string>,
): DeployError {
  // Hosts left out (they failed it already) with their reason, then placement's own.
  const byHost = { ...Object.fromEntries(excluded), ...result.reasons };
  const reasons = Object.entries(byHost)
    .map(([host, reason]) => `${host}: ${reason}`)
    .join('; ');
  return new DeployError({
    code: 'placement-failed',
    status: 409,
    message: `workload ${workload} cannot be placed on any host (${reasons || 'no hosts'})`,
    details: {
      service,
      workload,
      reasons: byHost as Record<string, Value>,
      summary: result.summary as Record<string, Value>,
    },
  });
}
