/**
 * Membership: heartbeats over NATS, loss detection by every agent, decision by PostgreSQL,
 * and self-fencing of an agent that cannot renew.
 *
 * Every agent publishes a heartbeat every `heartbeatIntervalMs` on core NATS and watches
 * everyone's (its own included). When an agent hears nothing from a host for `lostAfterMs`,
 * it asks PostgreSQL to declare that host lost at the epoch it last heard; the conditional
 * update lets exactly one agent win per epoch. There is no vote and no leader: any agent may
 * detect, and the transaction decides. The decision is then published on the cluster's
 * JetStream stream (idempotently: every agent that tried publishes the same event id).
 *
 * Renewal is an agent hearing its own heartbeat back from the server. An agent that has not
 * for `fenceAfterMs` (< `lostAfterMs`) fences itself (`onFenced`: stop your workloads),
 * before anyone can have declared it lost; it re-joins with a new epoch once it hears itself
 * again, and learns what was replaced meanwhile (`onRejoined`). An agent that is not renewing
 * never declares others lost: being cut off itself, silence proves nothing about them.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  type ClusterEvent,
  type ClusterEventSubscription,
  ClusterEvents,
  clusterSubject,
  type ReplacementIntent,
  type SubscribeFrom,
} from './cluster-events.js';
import {
  type HostInfo,
  type HostRecord,
  type HostRegistry,
  type HostRegistryOptions,
  type JoinResult,
  type OwnerToken,
  openHostRegistry,
  type Replacement,
  type WorkloadOwner,
} from './host-registry.js';
import { connectNats, type NatsBusOptions } from './nats-connection.js';

/** Why an agent fenced itself. */
export type FenceReason =
  | {
      /** No heartbeat of its own came back for `fenceAfterMs`: partitioned, or NATS is down. */
      reason: 'no-renewal';
      /** Milliseconds since the send of the last heartbeat that came back. */
      sinceRenewalMs: number;
    }
  | {
      /** The cluster declared this host lost (e.g. the agent was paused longer than the bound). */
      reason: 'declared-lost';
      epoch: number;
    }
  | {
      /** The agent reported that a write of its own was refused for a stale epoch. */
      reason: 'stale-epoch';
    };

/** The time bounds of membership. */
export interface MembershipTimings {
  /** How often a heartbeat is published (default 500 ms). */
  heartbeatIntervalMs?: number;
  /**
   * How long after the last heartbeat heard from a host a watcher declares it lost (default
   * 2,000 ms). Detection therefore takes at most this plus one PostgreSQL transaction.
   */
  lostAfterMs?: number;
  /**
   * How long after the send of its last heartbeat that came back an agent fences itself
   * (default 1,500 ms). Must be below `lostAfterMs`, so that a partitioned agent has fenced
   * before the others can declare it lost. It is also how long a NATS outage is ridden out
   * without fencing.
   */
  fenceAfterMs?: number;
}

/** Options for {@link Membership.start}. */
export interface MembershipOptions extends MembershipTimings {
  nats: NatsConnection;
  registry: HostRegistry;
  events: ClusterEvents;
  /** This host, as it registers (its name is a NATS subject token: letters, digits, - and _). */
  host: HostInfo;
  /** The cluster's name (default `default`), as for {@link ClusterEvents.open}. */
  cluster?: string;
  /** Where the listeners' events start: `new` (default), `all`, or after a handled sequence. */
  eventsFrom?: SubscribeFrom;
  /**
   * Called once when the agent fences itself: stop every workload this host runs. The agent
   * stays fenced (its writes carry an epoch about to be refused) until it re-joins.
   */
  onFenced?: (reason: FenceReason) => void | Promise<void>;
  /**
   * Called after a fenced agent re-joined with a new epoch: stop `replaced` (replaced while
   * it was away), re-adopt `owned` (still its own; restart those `onFenced` stopped).
   */
  onRejoined?: (result: JoinResult) => void | Promise<void>;
  /** A first listener of cluster events, attached before the join (so it sees its own). */
  onEvent?: ClusterEventListener;
}

/** The membership state of this agent. */
export type MemberState = 'member' | 'fenced' | 'rejoining' | 'stopped';

/** A listener of cluster events, with the event's sequence number in the stream. */
export type ClusterEventListener = (event: ClusterEvent, sequence: number) => void;

interface Heartbeat {
  /** host */
  h: string;
  /** epoch */
  e: number;
  /** the sender's monotonic clock at sending (meaningful to the sender only) */
  t: number;
  /** set while the sender is fenced: it is not alive as a member */
  f?: true;
}

interface Peer {
  epoch: number;
  lost: boolean;
  timer?: NodeJS.Timeout;
}

function intent(replacement: Replacement): ReplacementIntent {
  return {
    id: replacement.id,
    service: replacement.service,
    workload: replacement.workload,
    policy: replacement.policy,
    notBefore: replacement.notBefore.toISOString(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** This agent's membership of the cluster. Start it with {@link Membership.start}. */
export class Membership {
  readonly #nc: NatsConnection;
  readonly #registry: HostRegistry;
  readonly #events: ClusterEvents;
  readonly #info: HostInfo;
  readonly #subject: string;
  readonly #intervalMs: number;
  readonly #lostAfterMs: number;
  readonly #fenceAfterMs: number;
  readonly #onFenced: MembershipOptions['onFenced'];
  readonly #onRejoined: MembershipOptions['onRejoined'];
  readonly #listeners = new Set<ClusterEventListener>();
  readonly #renewalListeners = new Set<() => void>();
  readonly #peers = new Map<string, Peer>();
  #joined!: JoinResult;
  #epoch = 0;
  #state: MemberState = 'member';
  #beatTimer?: NodeJS.Timeout;
  #fenceTimer?: NodeJS.Timeout;
  /** Monotonic send time of the newest own heartbeat that came back. */
  #renewedSentAt = 0;
  /** Monotonic time an own heartbeat last came back. */
  #renewedAt = 0;
  #heartbeats?: Subscription;
  #subscription?: ClusterEventSubscription;
  readonly #pending = new Set<Promise<unknown>>();

  private constructor(options: MembershipOptions) {
    this.#nc = options.nats;
    this.#registry = options.registry;
    this.#events = options.events;
    this.#info = options.host;
    if (!/^[A-Za-z0-9_-]+$/.test(options.host.name)) {
      throw new Error(`a host name is letters, digits, '-' and '_': ${options.host.name}`);
    }
    this.#subject = `${clusterSubject(options.cluster ?? 'default')}.heartbeat`;
    this.#intervalMs = options.heartbeatIntervalMs ?? 500;
    this.#lostAfterMs = options.lostAfterMs ?? 2_000;
    this.#fenceAfterMs = options.fenceAfterMs ?? 1_500;
    if (this.#fenceAfterMs >= this.#lostAfterMs) {
      throw new Error(
        'fenceAfterMs must be below lostAfterMs: an agent fences before it can be declared lost',
      );
    }
    if (this.#fenceAfterMs < 2 * this.#intervalMs) {
      throw new Error('fenceAfterMs must be at least two heartbeat intervals');
    }
    this.#onFenced = options.onFenced;
    this.#onRejoined = options.onRejoined;
    if (options.onEvent) this.#listeners.add(options.onEvent);
  }

  /**
   * Joins the cluster: registers the host in PostgreSQL (a new epoch), publishes
   * `host-joined` (or `host-returned` if it had been declared lost), starts heartbeating and
   * watching the other hosts. Resolves once registered; `joined` says what the join decided.
   */
  static async start(options: MembershipOptions): Promise<Membership> {
    const membership = new Membership(options);
    await membership.#start(options.eventsFrom ?? 'new');
    return membership;
  }

  /** What the latest join decided (epoch, workloads to re-adopt, workloads replaced meanwhile). */
  get joined(): JoinResult {
    return this.#joined;
  }

  /** This host's current epoch. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The fencing token this agent's writes about its workloads carry. */
  get token(): OwnerToken {
    return { host: this.#info.name, epoch: this.#epoch };
  }

  /** `member`, `fenced` (stopped its workloads, waiting to renew), `rejoining`, or `stopped`. */
  get state(): MemberState {
    return this.#state;
  }

  /** The bounds in force. */
  get timings(): Required<MembershipTimings> {
    return {
      heartbeatIntervalMs: this.#intervalMs,
      lostAfterMs: this.#lostAfterMs,
      fenceAfterMs: this.#fenceAfterMs,
    };
  }

  /** Calls `listener` with every cluster event (host-joined, host-lost, ...). Returns an unsubscribe. */
  onEvent(listener: ClusterEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Calls `listener` each time this host's membership is renewed: one of its own heartbeats
   * came back while it is a member (about every `heartbeatIntervalMs`; never while fenced or
   * re-joining), and once a re-join succeeded, before `onRejoined`. Meant for a lease held outside the agent's process (the agent's fence
   * watchdog), so it is called synchronously on the heartbeat's arrival and must be cheap and
   * must not throw (a throw is swallowed). Returns an unsubscribe.
   */
  onRenewed(listener: () => void): () => void {
    this.#renewalListeners.add(listener);
    return () => this.#renewalListeners.delete(listener);
  }

  /**
   * Drains `host` (any host: any agent serves the cluster) and publishes `host-draining`.
   * Moving its workloads off, in dependency order, is the agent's job.
   */
  async drain(host: string): Promise<HostRecord> {
    const record = await this.#registry.drain(host);
    await this.#events.publish(
      { type: 'host-draining', host, epoch: record.epoch, at: new Date().toISOString() },
      `host-draining:${host}:${record.epoch}:${record.changedAt.getTime()}`,
    );
    return record;
  }

  /** Takes a drained `host` back and publishes `host-undrained`. */
  async undrain(host: string): Promise<HostRecord> {
    const record = await this.#registry.undrain(host);
    await this.#events.publish(
      { type: 'host-undrained', host, epoch: record.epoch, at: new Date().toISOString() },
      `host-undrained:${host}:${record.epoch}:${record.changedAt.getTime()}`,
    );
    return record;
  }

  /**
   * Places a replacement intent (from a `host-lost` event) on THIS host, at its current
   * epoch, and publishes `workload-replaced`. Refused with `too-early` before an at-most-once
   * intent's `notBefore`, and with `stale-epoch` if another agent placed it first or this
   * agent is fenced. The caller then starts the workload.
   */
  async placeReplacement(
    intent: Pick<ReplacementIntent, 'id' | 'service' | 'workload'>,
  ): Promise<WorkloadOwner> {
    const token = this.token;
    const owner = await this.#registry.assignWorkload(
      { service: intent.service, workload: intent.workload },
      token,
      { replacement: intent.id },
    );
    await this.#events.publish(
      {
        type: 'workload-replaced',
        host: token.host,
        epoch: token.epoch,
        service: intent.service,
        workload: intent.workload,
        replacement: intent.id,
        at: new Date().toISOString(),
      },
      `workload-replaced:${intent.id}`,
    );
    return owner;
  }

  /**
   * Tells the membership that a write of this agent was refused for a stale epoch: the agent
   * fences itself at once (and re-joins when it renews).
   */
  reportStaleEpoch(): void {
    this.#fence({ reason: 'stale-epoch' });
  }

  /**
   * Stops heartbeating and watching (the host is then declared lost after `lostAfterMs`
   * unless it joins again). Does not close the NATS connection or the registry.
   */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    clearInterval(this.#beatTimer);
    clearTimeout(this.#fenceTimer);
    for (const peer of this.#peers.values()) clearTimeout(peer.timer);
    this.#heartbeats?.unsubscribe();
    await this.#subscription?.stop();
    await Promise.allSettled([...this.#pending]);
  }

  async #start(from: SubscribeFrom): Promise<void> {
    this.#subscription = await this.#events.subscribe((event, sequence) => {
      this.#observe(event);
      for (const listener of this.#listeners) {
        try {
          listener(event, sequence);
        } catch {
          // One listener's failure is not the others'.
        }
      }
    }, from);
    this.#heartbeats = this.#nc.subscribe(`${this.#subject}.*`, {
      callback: (error, message) => {
        if (error) return;
        let beat: Heartbeat;
        try {
          beat = message.json<Heartbeat>();
        } catch {
          return;
        }
        if (beat.h === this.#info.name) this.#renewed(beat);
        else this.#heard(beat);
      },
    });
    await this.#join();
    for (const host of await this.#registry.hosts()) {
      if (host.name === this.#info.name || this.#peers.has(host.name)) continue;
      const peer: Peer = { epoch: host.epoch, lost: host.state === 'lost' };
      this.#peers.set(host.name, peer);
      // A host recorded as up that never beats again is declared lost like any other.
      if (!peer.lost) this.#arm(host.name, peer);
    }
    this.#beatTimer = setInterval(() => this.#beat(), this.#intervalMs);
    this.#beat();
  }

  /** Registers (a new epoch), publishes it, and starts counting renewals from now. */
  async #join(): Promise<JoinResult> {
    const result = await this.#registry.join(this.#info);
    this.#joined = result;
    this.#epoch = result.host.epoch;
    this.#renewedSentAt = performance.now();
    this.#renewedAt = this.#renewedSentAt;
    this.#armFence();
    const at = new Date().toISOString();
    const event: ClusterEvent =
      result.previous?.state === 'lost'
        ? {
            type: 'host-returned',
            host: this.#info.name,
            epoch: this.#epoch,
            previousEpoch: result.previous.epoch,
            address: this.#info.address,
            replaced: result.replaced.map(({ service, workload }) => ({ service, workload })),
            at,
          }
        : {
            type: 'host-joined',
            host: this.#info.name,
            epoch: this.#epoch,
            address: this.#info.address,
            at,
          };
    this.#publish(event, `${event.type}:${this.#info.name}:${this.#epoch}`);
    return result;
  }

  #beat(): void {
    if (this.#state === 'stopped') return;
    const beat: Heartbeat = { h: this.#info.name, e: this.#epoch, t: performance.now() };
    if (this.#state !== 'member') beat.f = true;
    try {
      this.#nc.publish(`${this.#subject}.${this.#info.name}`, JSON.stringify(beat));
    } catch {
      // Closed or draining: the missing renewals fence this agent.
    }
  }

  /** One of our own heartbeats came back: membership renewed. */
  #renewed(beat: Heartbeat): void {
    if (this.#state === 'stopped') return;
    const now = performance.now();
    const gap = now - this.#renewedAt;
    this.#renewedAt = now;
    if (beat.t > this.#renewedSentAt) this.#renewedSentAt = beat.t;
    if (gap > 2 * this.#intervalMs) {
      // We were cut off ourselves: the others' silence meanwhile proves nothing. Give each
      // host a full bound from now before suspecting it.
      for (const [name, peer] of this.#peers) if (!peer.lost) this.#arm(name, peer);
    }
    if (this.#state === 'member') {
      this.#armFence();
      this.#notifyRenewed();
    } else if (this.#state === 'fenced') this.#track(this.#rejoin());
  }

  #notifyRenewed(): void {
    for (const listener of this.#renewalListeners) {
      try {
        listener();
      } catch {
        // A listener's failure is not the membership's.
      }
    }
  }

  #armFence(): void {
    clearTimeout(this.#fenceTimer);
    const due = this.#renewedSentAt + this.#fenceAfterMs - performance.now();
    this.#fenceTimer = setTimeout(
      () => {
        if (this.#state !== 'member') return;
        const since = performance.now() - this.#renewedSentAt;
        // A late timer (a busy event loop) re-checks rather than trusting its own firing.
        if (since < this.#fenceAfterMs) this.#armFence();
        else this.#fence({ reason: 'no-renewal', sinceRenewalMs: Math.round(since) });
      },
      Math.max(0, due),
    );
  }

  #fence(reason: FenceReason): void {
    if (this.#state !== 'member') return;
    this.#state = 'fenced';
    clearTimeout(this.#fenceTimer);
    this.#track(
      (async () => {
        try {
          await this.#onFenced?.(reason);
        } catch {
          // The agent's own stopping failed; it is fenced regardless.
        }
      })(),
    );
  }

  async #rejoin(): Promise<void> {
    this.#state = 'rejoining';
    let result: JoinResult;
    try {
      result = await this.#join();
    } catch {
      // PostgreSQL unreachable: stay fenced and try again on the next renewal.
      if (this.#state === 'rejoining') this.#state = 'fenced';
      return;
    }
    if (this.#state !== 'rejoining') return;
    this.#state = 'member';
    for (const [name, peer] of this.#peers) if (!peer.lost) this.#arm(name, peer);
    // The join renewed the membership (as it does the fence timer): a lease held outside the
    // agent is renewed before `onRejoined` starts any workload again.
    this.#notifyRenewed();
    try {
      await this.#onRejoined?.(result);
    } catch {
      // The agent's problem; membership is restored regardless.
    }
  }

  /** Another host's heartbeat. */
  #heard(beat: Heartbeat): void {
    if (this.#state === 'stopped' || beat.f) return;
    const peer = this.#peers.get(beat.h);
    if (!peer) {
      const added: Peer = { epoch: beat.e, lost: false };
      this.#peers.set(beat.h, added);
      this.#arm(beat.h, added);
      return;
    }
    // Beats of an epoch that was declared lost (or superseded) do not revive it.
    if (beat.e < peer.epoch || (beat.e === peer.epoch && peer.lost)) return;
    peer.epoch = beat.e;
    peer.lost = false;
    this.#arm(beat.h, peer);
  }

  #arm(name: string, peer: Peer): void {
    clearTimeout(peer.timer);
    peer.timer = setTimeout(() => this.#track(this.#suspect(name)), this.#lostAfterMs);
  }

  /** Nothing heard from `name` for `lostAfterMs`: ask PostgreSQL to declare it lost. */
  async #suspect(name: string): Promise<void> {
    const peer = this.#peers.get(name);
    if (!peer || peer.lost || this.#state === 'stopped') return;
    if (this.#state !== 'member' || performance.now() - this.#renewedAt > this.#fenceAfterMs) {
      // Not renewing ourselves: we may be the one cut off. Suspect again later.
      this.#arm(name, peer);
      return;
    }
    const seen = peer.epoch;
    let decided: Awaited<ReturnType<HostRegistry['declareLost']>>;
    try {
      decided = await this.#registry.declareLost(name, seen);
    } catch {
      if ((this.#state as MemberState) !== 'stopped') this.#arm(name, peer);
      return;
    }
    if (peer.epoch !== seen || peer.lost) return; // heard from it meanwhile, or told
    const host = decided.host;
    if (!host) {
      this.#peers.delete(name);
      return;
    }
    if (host.state !== 'lost') {
      // It re-joined meanwhile (a newer epoch): watch that one.
      peer.epoch = host.epoch;
      this.#arm(name, peer);
      return;
    }
    peer.epoch = host.epoch;
    peer.lost = true;
    clearTimeout(peer.timer);
    // The winner publishes; a loser that saw the same epoch publishes the same event id (a
    // duplicate JetStream drops), so the event survives the winner dying after its commit.
    if (host.epoch !== seen + 1) return;
    const replacements = decided.declared
      ? decided.replacements
      : await this.#registry.replacementsOf(name, seen).catch(() => []);
    this.#publish(
      {
        type: 'host-lost',
        host: name,
        epoch: host.epoch,
        lostEpoch: seen,
        declaredBy: this.#info.name,
        replacements: replacements.map(intent),
        at: new Date().toISOString(),
      },
      `host-lost:${name}:${host.epoch}`,
    );
  }

  /** Keeps the local view in step with the stream, and fences on news of our own loss. */
  #observe(event: ClusterEvent): void {
    if (event.host === this.#info.name) {
      if (event.type === 'host-lost' && event.lostEpoch >= this.#epoch) {
        this.#fence({ reason: 'declared-lost', epoch: event.epoch });
      }
      return;
    }
    let peer = this.#peers.get(event.host);
    if (event.type === 'host-lost') {
      if (!peer) {
        peer = { epoch: event.epoch, lost: true };
        this.#peers.set(event.host, peer);
      } else if (event.epoch >= peer.epoch) {
        clearTimeout(peer.timer);
        peer.epoch = event.epoch;
        peer.lost = true;
      }
    } else if (event.type === 'host-joined' || event.type === 'host-returned') {
      if (!peer || event.epoch > peer.epoch) {
        const fresh: Peer = { epoch: event.epoch, lost: false };
        if (peer) clearTimeout(peer.timer);
        this.#peers.set(event.host, fresh);
        this.#arm(event.host, fresh);
      }
    }
  }

  /** Publishes a decision, retrying while NATS is unreachable (the id makes retries safe). */
  #publish(event: ClusterEvent, id: string): void {
    this.#track(
      (async () => {
        for (let attempt = 0; attempt < 60 && this.#state !== 'stopped'; attempt++) {
          try {
            await this.#events.publish(event, id);
            return;
          } catch {
            await sleep(Math.min(100 * 2 ** attempt, 1_000));
          }
        }
      })(),
    );
  }

  #track(work: Promise<unknown>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }
}

/** Options for {@link joinCluster}: where PostgreSQL and NATS are, and the membership's. */
export interface JoinClusterOptions
  extends Omit<MembershipOptions, 'nats' | 'registry' | 'events'>,
    HostRegistryOptions {
  /** The PostgreSQL database holding the cluster's records. */
  postgresUrl: string;
  /** The NATS servers and credentials. */
  nats: NatsBusOptions;
}

/** A joined cluster: the membership, the records, the event stream, and how to leave. */
export interface Cluster {
  membership: Membership;
  registry: HostRegistry;
  events: ClusterEvents;
  nats: NatsConnection;
  /** Stops the membership and closes the NATS connection and the registry. */
  close(): Promise<void>;
}

/**
 * Connects to NATS and PostgreSQL and joins the cluster: the one call an agent makes. Rejects
 * (and leaves nothing open) if NATS refuses the credentials or PostgreSQL is unreachable.
 */
export async function joinCluster(options: JoinClusterOptions): Promise<Cluster> {
  const nats = await connectNats({ name: options.host.name, ...options.nats });
  let registry: HostRegistry | undefined;
  try {
    registry = await openHostRegistry(options.postgresUrl, options);
    const events = await ClusterEvents.open(nats, options);
    const membership = await Membership.start({ ...options, nats, registry, events });
    const opened = registry;
    return {
      membership,
      registry: opened,
      events,
      nats,
      async close() {
        await membership.stop();
        await nats.close();
        await opened.close();
      },
    };
  } catch (error) {
    await nats.close().catch(() => undefined);
    await registry?.close().catch(() => undefined);
    throw error;
  }
}
