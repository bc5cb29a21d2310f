import type { EventListener, FloriaEvent } from '@khutulun/floria';

interface Subscription {
  cursor: number;
  listener: EventListener;
  pumping: boolean;
  again: boolean;
  closed: boolean;
}

const PAGE = 1000;

/**
 * Fans committed events out to subscribers, each in order from its own cursor, with no gaps
 * or duplicates: a subscriber that is behind (its backlog, or commits it has not seen yet)
 * reads the event log from its cursor; one that is exactly up to date gets a local commit's
 * events directly, without a read.
 */
export class SubscriptionHub {
  readonly #read: (since: number, limit: number) => Promise<FloriaEvent[]>;
  readonly #subscriptions = new Set<Subscription>();

  constructor(read: (since: number, limit: number) => Promise<FloriaEvent[]>) {
    this.#read = read;
  }

  /** Starts delivering events with `seq > since` to `listener`; returns the stop function. */
  subscribe(since: number, listener: EventListener): () => void {
    const subscription: Subscription = {
      cursor: since,
      listener,
      pumping: false,
      again: false,
      closed: false,
    };
    this.#subscriptions.add(subscription);
    void this.#pump(subscription);
    return () => {
      subscription.closed = true;
      this.#subscriptions.delete(subscription);
    };
  }

  /** Events this process just committed, in order. */
  committed(events: readonly FloriaEvent[]): void {
    const first = events[0];
    if (first === undefined) return;
    for (const subscription of this.#subscriptions) {
      if (!subscription.pumping && subscription.cursor === first.seq - 1) {
        for (const event of events) this.#deliver(subscription, event);
      } else {
        void this.#pump(subscription);
      }
    }
  }

  /** Something was committed elsewhere: every subscriber catches up from the log. */
  poke(): void {
    for (const subscription of this.#subscriptions) void this.#pump(subscription);
  }

  /** Stops every subscription. */
  close(): void {
    for (const subscription of this.#subscriptions) subscription.closed = true;
    this.#subscriptions.clear();
  }

  #deliver(subscription: Subscription, event: FloriaEvent): void {
    if (subscription.closed || event.seq <= subscription.cursor) return;
    subscription.cursor = event.seq;
    try {
      subscription.listener(event);
    } catch {
      // A failing listener must not stop delivery to itself or to the others.
    }
  }

  async #pump(subscription: Subscription): Promise<void> {
    if (subscription.pumping) {
      subscription.again = true;
      return;
    }
    subscription.pumping = true;
    try {
      do {
        subscription.again = false;
        let page: FloriaEvent[];
        do {
          if (subscription.closed) return;
          page = await this.#read(subscription.cursor, PAGE);
          for (const event of page) this.#deliver(subscription, event);
        } while (page.length === PAGE);
      } while (subscription.again && !subscription.closed);
    } catch {
      // The log could not be read (e.g. the store is closing); the next commit or poke retries.
    } finally {
      subscription.pumping = false;
    }
  }
}
