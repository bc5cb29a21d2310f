/**
 * Cluster events over NATS JetStream: a typed publish/subscribe on one durable stream per
 * cluster, which an agent resumes from the last sequence number it handled.
 */
import {
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ReplacementPolicy, WorkloadKey } from './host-registry.js';

/** A replacement intent as events carry it. */
export interface ReplacementIntent extends WorkloadKey {
  id: number;
  policy: ReplacementPolicy;
  /** ISO time before which an at-most-once replacement must not start. */
  notBefore: string;
}

/** The events agents exchange about the cluster. `at` is the publisher's ISO wall-clock time. */
export type ClusterEvent =
  | { type: 'host-joined'; host: string; epoch: number; address: string; at: string }
  | {
      /** A host declared lost came back and re-registered with a new epoch. */
      type: 'host-returned';
      host: string;
      epoch: number;
      previousEpoch: number;
      address: string;
      /** The workloads replaced while it was away, which it stops. */
      replaced: WorkloadKey[];
      at: string;
    }
  | {
      /** `epoch` is the host's new epoch; `lostEpoch` the one its workloads were fenced at. */
      type: 'host-lost';
      host: string;
      epoch: number;
      lostEpoch: number;
      /** The agent whose transaction declared it. */
      declaredBy: string;
      replacements: ReplacementIntent[];
      at: string;
    }
  | { type: 'host-draining'; host: string; epoch: number; at: string }
  | { type: 'host-undrained'; host: string; epoch: number; at: string }
  | {
      /** A replacement was placed: `host` now owns the workload, at `epoch`. */
      type: 'workload-replaced';
      host: string;
      epoch: number;
      service: string;
      workload: string;
      replacement: number;
      at: string;
    };

/** The type names of cluster events. */
export type ClusterEventType = ClusterEvent['type'];

/** Where a subscription starts: new events only, all kept events, or after a sequence number. */
export type SubscribeFrom = 'new' | 'all' | { afterSequence: number };

/** A running subscription. */
export interface ClusterEventSubscription {
  /** Stops delivering events. */
  stop(): Promise<void>;
}

/** Options for {@link ClusterEvents.open}. */
export interface ClusterEventsOptions {
  /** The cluster's name, part of the subjects and the stream name (default `default`). */
  cluster?: string;
  /** How long the stream keeps events (default 7 days). */
  maxAgeMs?: number;
}

/** The subject prefix of a cluster's subjects: `khutulun.<cluster>`. */
export function clusterSubject(cluster: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(cluster)) {
    throw new Error(`a cluster name is letters, digits, '-' and '_': ${JSON.stringify(cluster)}`);
  }
  return `khutulun.${cluster}`;
}

/**
 * The cluster's event stream. Publishing is idempotent by event id: JetStream drops a second
 * message with the same id within its duplicate window (2 minutes), so several agents may
 * publish the same decision (e.g. every agent that tried to declare a host lost) and it is
 * stored once.
 */
export class ClusterEvents {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subjects: string;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, stream: string, subjects: string) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#stream = stream;
    this.#subjects = subjects;
  }

  /** Opens (creating if needed) the event stream of `options.cluster` on the connection. */
  static async open(
    nc: NatsConnection,
    options: ClusterEventsOptions = {},
  ): Promise<ClusterEvents> {
    const cluster = options.cluster ?? 'default';
    const subjects = `${clusterSubject(cluster)}.events`;
    const stream = `KHUTULUN_${cluster.replace(/-/g, '_').toUpperCase()}_EVENTS`;
    const jsm = await jetstreamManager(nc);
    const config = {
      name: stream,
      subjects: [`${subjects}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: (options.maxAgeMs ?? 7 * 24 * 3600_000) * 1_000_000,
      duplicate_window: 120_000 * 1_000_000,
    };
    try {
      await jsm.streams.info(stream);
    } catch {
      try {
        await jsm.streams.add(config);
      } catch (error) {
        // Another agent created it meanwhile.
        await jsm.streams.info(stream).catch(() => {
          throw error;
        });
      }
    }
    return new ClusterEvents(nc, jsm, stream, subjects);
  }

  /**
   * Publishes `event` with the id `id` (the same decision always gets the same id) and
   * resolves with its sequence number in the stream, once JetStream has stored it.
   */
  async publish(
    event: ClusterEvent,
    id: string,
  ): Promise<{ sequence: number; duplicate: boolean }> {
    const ack = await this.#js.publish(
      `${this.#subjects}.${event.type}.${event.host}`,
      JSON.stringify(event),
      { msgID: id },
    );
    return { sequence: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Delivers events in stream order to `handler`, starting where `from` says, each once.
   * Resumes after the last sequence it delivered whenever the connection comes back (a
   * reconnect, a server restart, a healed partition): the stream is the durable part, the
   * consumer reading it is recreated (an ordered consumer). `handler` is awaited before the
   * next event. The consumer exists when this resolves: a later `publish` is delivered.
   */
  async subscribe(
    handler: (event: ClusterEvent, sequence: number) => void | Promise<void>,
    from: SubscribeFrom = 'new',
  ): Promise<ClusterEventSubscription> {
    let last: number;
    if (from === 'all') last = 0;
    else if (from === 'new') last = (await this.#jsm.streams.info(this.#stream)).state.last_seq;
    else last = from.afterSequence;
    let stopped = false;
    let current: ConsumerMessages | undefined;

    const open = async () => {
      const consumer = await this.#js.consumers.get(this.#stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: last + 1,
      });
      const messages = await consumer.consume();
      current = messages;
      return messages;
    };
    const deliver = async (messages: ConsumerMessages) => {
      for await (const message of messages) {
        if (message.seq <= last) continue;
        last = message.seq;
        let event: ClusterEvent;
        try {
          event = message.json<ClusterEvent>();
        } catch {
          continue;
        }
        try {
          await handler(event, message.seq);
        } catch {
          // A failing handler must not stop the stream for the others.
        }
      }
    };
    const first = await open();
    const done = (async () => {
      let messages: ConsumerMessages | undefined = first;
      while (!stopped) {
        try {
          messages ??= await open();
          await deliver(messages);
        } catch {
          if (!stopped) await new Promise((resolve) => setTimeout(resolve, 250));
        }
        messages = undefined;
      }
    })();
    // After a reconnect, what the old consumer had in flight may be lost: start a new one
    // after the last sequence delivered.
    const statuses = this.#nc.status();
    void (async () => {
      for await (const status of statuses) {
        if (stopped) break;
        if (status.type === 'reconnect') current?.stop();
      }
    })();
    return {
      async stop() {
        stopped = true;
        current?.stop();
        await done;
      },
    };
  }
}
