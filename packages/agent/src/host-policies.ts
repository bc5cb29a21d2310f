import { randomUUID } from 'node:crypto';
import type { Dispatcher, HostFunctions, Value } from '@khutulun/floria';
import type { HostPolicies } from './agent-services.js';

/** The plugin that implements the agent's policies (the built-in Wasm module `khutulun.wasm`). */
export const POLICY_PLUGIN = 'khutulun';

/** A workload a host runs now, as placement counts it. */
export interface PlacedWorkload {
  service: string;
  /** The node template it was instantiated from. */
  node: string;
  /** Its vertex name (informative; placement does not read it). */
  name?: string;
  /** What it holds of the host's capacity (each, when `count` > 1). */
  resources?: ResourceRequest;
  /** How many alike workloads this entry stands for (default 1). */
  count?: number;
}

/** CPU in cores (0.5 = half a core), memory in bytes. Absent = nothing. */
export interface ResourceRequest {
  cpu?: number;
  memory?: number;
}

/** One host as placement sees it (a host record plus what it runs). */
export interface PlacementHost {
  name: string;
  /** `false` excludes the host (the earlier form; prefer `state`). */
  available?: boolean;
  /** Only `up` or `ready` hosts (or hosts without a state) take workloads. */
  state?: string;
  labels?: Record<string, string>;
  /** The workload kinds the host offers; absent = any kind. */
  kinds?: readonly string[];
  /** Absent dimensions are unlimited (never exhausted). */
  capacity?: ResourceRequest;
  /** The workloads it runs (a bare count is the earlier form: load without resources). */
  workloads?: PlacedWorkload[] | number;
}

/** A host label's allowed values: one value, `{ equal }`, `{ in: [...] }` or a list. */
export type LabelMatch = string | readonly string[] | { equal?: string; in?: readonly string[] };

/** The node filter of a workload's host requirement: every part must hold. */
export interface NodeFilter {
  labels?: Record<string, LabelMatch>;
  /** Kinds the host must all offer (beyond the workload's own `kind`). */
  kinds?: readonly string[];
  /** Capacities the host must have at least (its total, not what is left). */
  capacity?: ResourceRequest;
}

/**
 * A placement policy applying to the workload. `targets` are node templates of the same
 * service (default: the workload's own node template).
 * - `distinct-hosts`: no two workloads of the targets on one host (anti-affinity);
 * - `colocate`: only on a host already running a workload of `with` (every one listed);
 * - `spread`: across the values of host label `label`, each value taking its share of the
 *   targets' workloads (`shares`, relative weights; default even over the values present);
 * - `scoring`: `binpack` (fill the fullest host that fits) or `spread` (the emptiest, the
 *   default).
 */
export type PlacementPolicy =
  | { type: 'distinct-hosts'; targets?: readonly string[] }
  | { type: 'colocate'; with: string | readonly string[] }
  | { type: 'spread'; label: string; shares?: Record<string, number>; targets?: readonly string[] }
  | { type: 'scoring'; mode: 'binpack' | 'spread' };

/** A workload to place. */
export interface PlacementRequest {
  service: string;
  /** The node template it is instantiated from. */
  node: string;
  /** Its vertex name (informative). */
  name?: string;
  /** Its workload kind: the host must offer it. */
  kind?: string;
  /** Pins it to this host. */
  host?: string;
  resources?: ResourceRequest;
  filter?: NodeFilter;
  policies?: readonly PlacementPolicy[];
  /**
   * How many alike instances to place (default 1): each is placed in turn and has its own
   * result, in order. Once one fails the others do too (nothing changed in between): they
   * carry the summary of reasons only, not the reason per host.
   */
  count?: number;
}

/** Tuning of one placement call. */
export interface PlacementOptions {
  /**
   * How many fitting hosts are scored per placement (default 16 for `placeMany`, all for
   * `placeOne`; 0 = all). Fewer is faster on large clusters; candidates are taken round-robin
   * (spread) or from the first host that fits (bin-pack), so small clusters are always
   * scored whole.
   */
  candidates?: number;
  /** At most this many per-host reasons in a failure (default: every host). */
  maxReasons?: number;
}

/**
 * Where one workload went: a host, or why every host refused it (`reasons` by host name,
 * e.g. `resources exhausted: memory`, `label mismatch: zone`, `distinct hosts: web already
 * on host`; `summary` counts each reason, as Nomad's "constraint filtered N nodes").
 */
export type PlacementResult =
  | { host: string }
  | { host: null; reasons: Record<string, string>; summary: Record<string, number> };

/** The agent's policies, with placement across a cluster's hosts. */
export interface ClusterPolicies extends HostPolicies {
  /**
   * Places `workloads` in order against one snapshot of `hosts`, each placement counted
   * by the next (capacity, distinct hosts, colocation, spread). One Wasm call: use it for a
   * whole deployment rather than one `placeOne` per workload.
   */
  placeMany(input: {
    hosts: PlacementHost[];
    workloads: PlacementRequest[];
    options?: PlacementOptions;
  }): Promise<PlacementResult[]>;
  /**
   * A placement session: calls that send the host snapshot once and then only workloads,
   * the plugin keeping the snapshot (with every placement made) between calls. For many
   * deploys in a row against a large cluster.
   */
  placementSession(): PlacementSession;
  /** Places one workload, scoring every host; on failure, the reasons per host. */
  placeOne(input: {
    hosts: PlacementHost[];
    workload: PlacementRequest;
    options?: PlacementOptions;
  }): Promise<PlacementResult>;
}

/**
 * Placements against a snapshot the plugin keeps between calls. The snapshot is read from
 * `hosts()` on the first call, after `invalidate()`, and whenever the plugin no longer holds
 * it (another instance answered, it was restarted, or another call replaced it); otherwise
 * only the workloads travel, so a call costs what its workloads cost, not the cluster's size.
 * Calls of one session run one at a time, in order.
 */
export interface PlacementSession {
  placeMany(input: {
    workloads: PlacementRequest[];
    /** The current snapshot, read only when the plugin needs it. */
    hosts: () => PlacementHost[] | Promise<PlacementHost[]>;
    options?: PlacementOptions;
  }): Promise<PlacementResult[]>;
  /**
   * Something changed that the session did not place: a host joined, was lost or drained,
   * workloads were removed or placed elsewhere (another agent, a deploy rolled back). The
   * next call sends a fresh snapshot.
   */
  invalidate(): void;
}

/**
 * The agent's placement and restart back-off, delegated through the dispatch contract to
 * the built-in Wasm plugin's `place`, `place_many` and `restart_delay` (see
 * `@khutulun/plugins-builtin`). `place` and `restart_delay` are deterministic functions of
 * their arguments, so their answers are remembered: a restart does not wait for a Wasm call
 * already made, and 200 alike workloads cost one call.
 */
export function dispatchedPolicies(dispatcher: Dispatcher, host: HostFunctions): ClusterPolicies {
  const site = {
    entity: { kind: 'plugin' as const, directory: ['khutulun'], name: POLICY_PLUGIN },
  };
  const call = (fn: string, argument: Value) =>
    dispatcher.dispatch({ plugin: POLICY_PLUGIN, function: fn, arguments: [argument], site }, host);
  const delays = new Map<number, number>();
  const placements = new Map<string, Promise<string>>();
  const placeMany: ClusterPolicies['placeMany'] = async (input) => {
    // In this order the plugin reads the input once, front to back.
    const argument = {
      options: wireOptions(input.options),
      hosts: input.hosts,
      workloads: input.workloads,
    } as unknown as Value;
    const result = (await call('place_many', argument)) as unknown as {
      placements: PlacementResult[];
    };
    return result.placements;
  };
  const placementSession = (): PlacementSession => {
    const id = randomUUID();
    let version = 0;
    let held = false;
    // Bumped by invalidate(): a call in flight then must not mark the snapshot held.
    let generation = 0;
    let queue: Promise<unknown> = Promise.resolve();
    const once = async (
      input: Parameters<PlacementSession['placeMany']>[0],
    ): Promise<PlacementResult[]> => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const started = generation;
        const argument: Record<string, unknown> = {
          options: wireOptions(input.options),
          snapshot: { id, version },
        };
        if (!held) argument['hosts'] = await input.hosts();
        argument['workloads'] = input.workloads;
        let result: { placements?: PlacementResult[]; stale?: boolean };
        try {
          result = (await call('place_many', argument as unknown as Value)) as typeof result;
        } catch (error) {
          held = false;
          throw error;
        }
        if (result.stale) {
          held = false;
          continue;
        }
        version++;
        held = started === generation;
        return result.placements ?? [];
      }
      throw new Error('place_many kept answering that it holds no snapshot');
    };
    return {
      placeMany(input) {
        const placed = queue.then(() => once(input));
        queue = placed.catch(() => {});
        return placed;
      },
      invalidate() {
        held = false;
        generation++;
      },
    };
  };
  return {
    placementSession,
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
    placeMany,
    async placeOne(input) {
      // One workload: every host is scored, unless the options say otherwise.
      const [result] = await placeMany({
        hosts: input.hosts,
        workloads: [input.workload],
        options: { candidates: 0, ...input.options },
      });
      if (!result) throw new Error('place_many answered no placement');
      return result;
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

function wireOptions(options: PlacementOptions | undefined): Record<string, number> {
  const wire: Record<string, number> = {};
  if (options?.candidates !== undefined) wire['candidates'] = options.candidates;
  if (options?.maxReasons !== undefined) wire['max_reasons'] = options.maxReasons;
  return wire;
}
