import { availableParallelism, totalmem } from 'node:os';
import type { Cluster, ClusterEvent, FenceReason, HostRecord, JoinResult } from '@khutulun/cluster';
import type { Value } from '@khutulun/floria';
import { AgentStartError } from './agent-error.js';
import { relay, serveRelay } from './api-relay.js';
import {
  type ExecRequest,
  type FrameSession,
  type FrameSink,
  relayExec,
  serveExecRelay,
} from './exec-frames.js';
import { type CallOptions, callHostOp, type OpHandler, serveHostOps } from './host-ops.js';
import type { ClusterPolicies } from './host-policies.js';

/** Where the cluster is and how this host joins it (`--store` and `--bus`). */
export interface ClusterOptions {
  /** The cluster's PostgreSQL database (the agent's `--store`). */
  postgresUrl: string;
  /** `nats://USER:PASSWORD@HOST:PORT` (or `nats://TOKEN@HOST:PORT`, `tls://...`). */
  bus: string;
  /** The cluster's name (default `default`): its NATS subjects and event stream. */
  name?: string;
  host: {
    name: string;
    address: string;
    labels: Record<string, string>;
    kinds: string[];
    /** Which of the kinds run commands in a workload (the dashboards offer terminals). */
    execKinds: string[];
  };
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Placement across the cluster's hosts (the built-in Wasm plugin's `place_many`). */
  policies: ClusterPolicies;
}

/**
 * This agent's membership of a cluster, as the agent's services see it: the host registry
 * (PostgreSQL, the source of truth) and the membership (heartbeats and events over NATS).
 */
export interface AgentCluster {
  /** The joined cluster (`@khutulun/cluster`). */
  readonly cluster: Cluster;
  /** Placement across the cluster's hosts. */
  readonly policies: ClusterPolicies;
  /** Every host of the cluster, from the registry. */
  hosts(): Promise<HostRecord[]>;
  /**
   * Relays an API request to `host`'s agent over NATS and streams its answer back
   * (`api-relay.ts`): how any agent serves requests about another host's workloads.
   */
  relay(host: string, request: Request): Promise<Response>;
  /** Serves relayed requests for this host with the agent's API; returns how to stop. */
  serveRelay(fetch: (request: Request) => Response | Promise<Response>): () => void;
  /**
   * Runs a host operation (`host-ops.ts`) on `host`'s agent: how a workload's driver
   * operations run on its owner. Fails at once if `host` is declared lost meanwhile.
   */
  call(host: string, op: string, args: Value, options?: CallOptions): Promise<Value>;
  /** Relays an exec session to `host`'s agent (`exec-frames.ts`). */
  relayExec(
    host: string,
    target: { service: string; name: string },
    request: ExecRequest,
    sink: FrameSink,
  ): FrameSession;
  /** Serves exec sessions relayed to this host; returns how to stop. */
  serveExec(
    open: (
      target: { service: string; name: string },
      request: ExecRequest,
      sink: FrameSink,
    ) => Promise<FrameSession>,
  ): () => void;
  /** Serves this host's operations; returns how to stop. */
  serveOps(handle: OpHandler): () => void;
  /** Calls `listener` with every cluster event; returns how to stop. */
  onEvent(listener: (event: ClusterEvent) => void): () => void;
  /** Sets what the agent does when this host is fenced or re-joins (the service controller). */
  handle(handlers: MembershipHandlers): void;
  /** Leaves the cluster (stops heartbeating); workloads keep running. */
  close(): Promise<void>;
}

/** What the agent does on the membership's decisions about this host. */
export interface MembershipHandlers {
  /** This host is fenced: stop its workloads (within the fencing delay). */
  fenced(reason: FenceReason): Promise<void>;
  /** This host re-joined with a new epoch: what it still owns, and what was replaced. */
  rejoined(result: JoinResult): Promise<void>;
}

/** The parts of a `--bus` URL: servers and credentials, never logged. */
export interface BusAddress {
  servers: string;
  user?: string;
  password?: string;
  token?: string;
  /** `tls://`: TLS only, verified against `?ca=FILE` (PEM) when given. */
  tls?: { caFile?: string };
}

/**
 * Reads `nats://USER:PASSWORD@HOST:PORT` (a user and password) or `nats://TOKEN@HOST:PORT`
 * (a token); `tls://` for TLS only, with `?ca=FILE` naming the certificate authority (PEM)
 * the servers' certificates are verified against. Undefined for anything else.
 */
export function parseBusUrl(text: string): BusAddress | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'nats:' && url.protocol !== 'tls:') return undefined;
  if (!url.hostname || (url.pathname !== '' && url.pathname !== '/')) return undefined;
  const tls = url.protocol === 'tls:';
  const query = [...url.searchParams.keys()];
  if (query.some((k) => k !== 'ca') || (query.length && !tls)) return undefined;
  const caFile = url.searchParams.get('ca') ?? undefined;
  const servers = `nats://${url.host}`;
  const secure = tls ? { tls: caFile ? { caFile } : {} } : {};
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  if (user && password) return { servers, user, password, ...secure };
  if (user) return { servers, token: user, ...secure };
  return { servers, ...secure };
}

/** `KHUTULUN_FENCING_DELAY_MS`, when set to a positive number. */
function fencingDelay(): { fencingDelayMs?: number } {
  const ms = Number(process.env.KHUTULUN_FENCING_DELAY_MS);
  return Number.isFinite(ms) && ms > 0 ? { fencingDelayMs: ms } : {};
}

/** What this machine offers for placement: CPU in millicores and memory in bytes. */
export function hostCapacity(): { cpuMillicores: number; memoryBytes: number } {
  return { cpuMillicores: availableParallelism() * 1000, memoryBytes: totalmem() };
}

/**
 * Joins the cluster through `@khutulun/cluster` (loaded only here: the embedded single host
 * carries no NATS client). Rejects with an `AgentStartError` when the bus refuses the
 * credentials or the database is unreachable, leaving nothing open.
 *
 * A fence (this host stopped hearing its own heartbeats, or was declared lost) and a re-join
 * are logged and handed to the handlers set with `handle` (the service controller's).
 */
export async function joinAgentCluster(options: ClusterOptions): Promise<AgentCluster> {
  const bus = parseBusUrl(options.bus);
  if (!bus) {
    throw new AgentStartError({
      code: 'bad-options',
      status: 400,
      message: '--bus expects nats://USER:PASSWORD@HOST:PORT',
    });
  }
  const { clusterSubject, joinCluster } = await import('@khutulun/cluster');
  const base = clusterSubject(options.name ?? 'default');
  let cluster: Cluster;
  let handlers: MembershipHandlers | undefined;
  try {
    cluster = await joinCluster({
      postgresUrl: options.postgresUrl,
      nats: bus,
      ...(options.name ? { cluster: options.name } : {}),
      host: { ...options.host, capacity: hostCapacity() },
      // How long at-most-once replacements wait after their host was declared lost (the
      // registry's default, 10 s, unless set for the whole cluster: every agent the same).
      ...fencingDelay(),
      onFenced: async (reason: FenceReason) => {
        options.log('warn', `cluster: this host is fenced (${reason.reason})`);
        await handlers?.fenced(reason);
      },
      onRejoined: async (result: JoinResult) => {
        options.log(
          'info',
          `cluster: re-joined at epoch ${result.host.epoch} ` +
            `(${result.replaced.length} replaced while away, ${result.owned.length} still owned)`,
        );
        await handlers?.rejoined(result);
      },
    });
  } catch (error) {
    throw new AgentStartError({
      code: 'cluster-unreachable',
      status: 503,
      message: `cannot join the cluster: ${(error as Error).message}`,
      cause: error,
    });
  }
  options.log(
    'info',
    `cluster: joined as ${options.host.name} at epoch ${cluster.membership.epoch}`,
  );
  return {
    cluster,
    policies: options.policies,
    hosts: () => cluster.registry.hosts(),
    relay: (host, request) => relay(cluster.nats, base, host, request),
    serveRelay: (fetch) =>
      serveRelay(cluster.nats, base, options.host.name, fetch, (level, message) =>
        options.log(level, message),
      ),
    call(host, op, args, callOptions = {}) {
      // A host declared lost while its operation runs will never answer it.
      let stop = () => {};
      const lost = new Promise<void>((resolve) => {
        stop = cluster.membership.onEvent((event) => {
          if (event.type === 'host-lost' && event.host === host) resolve();
        });
      });
      return callHostOp(cluster.nats, base, host, op, args, { ...callOptions, lost }).finally(() =>
        stop(),
      );
    },
    serveOps: (handle) => serveHostOps(cluster.nats, base, options.host.name, handle),
    relayExec: (host, target, request, sink) =>
      relayExec(cluster.nats, base, host, target, request, sink),
    serveExec: (open) => serveExecRelay(cluster.nats, base, options.host.name, open),
    onEvent: (listener) => cluster.membership.onEvent((event) => listener(event)),
    handle(set) {
      handlers = set;
    },
    close: () => cluster.close(),
  };
}
