/** Routing store events to the event handlers declared on entities and their templates. */
import type { Dispatcher, HostFunctions } from './dispatch.js';
import { evaluate, messageOf } from './expression.js';
import { hostFunctions, overlayReader } from './host-functions.js';
import { idKey } from './id.js';
import type { Entity, EventHandler, FloriaEvent, Id, Value } from './model.js';
import type { Store, StoreTransaction } from './store.js';

/** The custom event type the router emits on an entity when one of its handlers fails. */
export const HANDLER_FAILED = 'handler-failed';

/** What an `EventRouter` needs. */
export interface EventRouterOptions {
  store: Store;
  dispatcher: Dispatcher;
  /** Handle events with `seq > since` (default 0: all of them). */
  since?: number;
  /** Called (and awaited) after each event is handled, in order: persist the resume point. */
  onHandled?: (seq: number) => void | Promise<void>;
  /** Told about handler failures and anything else that went wrong; the router keeps going. */
  onError?: (error: unknown, event: FloriaEvent) => void;
  /** Overrides of the host functions handlers get. */
  host?: Partial<HostFunctions>;
  /**
   * Which entities' events this router handles (default: all). In a cluster every agent runs
   * a router and handles the events of what it hosts, e.g. by the entity's placement metadata.
   */
  accepts?: (entity: Entity, event: FloriaEvent) => boolean;
}

type GraphChange =
  | { op: 'put'; entity: Entity }
  | { op: 'delete'; id: Id }
  | { op: 'emit'; event: { type: string; id: Id; data?: Value } };

/**
 * Calls the `eventHandlers` declared on the entity an event is about (and on its template)
 * for every event of the store's change feed, one event at a time in sequence order. Driven
 * by `store.subscribe`, never by polling. A failing handler never stops it: the failure is
 * emitted as a `handler-failed` event on the entity and passed to `onError`. Each handler's
 * graph changes are committed in one transaction when it returns, or not at all.
 */
export class EventRouter {
  readonly #options: EventRouterOptions;
  readonly #queue: FloriaEvent[] = [];
  #lastHandled: number;
  #unsubscribe: (() => void) | undefined;
  #pumping = false;
  #seqWaiters: Array<{ seq: number; resolve: () => void }> = [];

  constructor(options: EventRouterOptions) {
    this.#options = options;
    this.#lastHandled = options.since ?? 0;
  }

  /** The sequence number of the last event handled (or `since`). */
  get lastHandled(): number {
    return this.#lastHandled;
  }

  /** Starts delivery from the last handled event; does nothing if already started. */
  start(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#options.store.subscribe(this.#lastHandled, (event) => {
      this.#queue.push(event);
      void this.#pump();
    });
  }

  /**
   * Stops delivery. The event in flight finishes; queued ones are dropped and will be
   * delivered again by the next `start` (they are after `lastHandled`).
   */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#queue.length = 0;
  }

  /**
   * Resolves once the event with sequence number `seq` (and every one before it) has been
   * handled, e.g. `router.whenHandled(await store.lastSeq())` after a change.
   */
  whenHandled(seq: number): Promise<void> {
    if (this.#lastHandled >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#seqWaiters.push({ seq, resolve }));
  }

  #advance(seq: number): void {
    this.#lastHandled = seq;
    const ready = this.#seqWaiters.filter((waiter) => waiter.seq <= seq);
    if (ready.length === 0) return;
    this.#seqWaiters = this.#seqWaiters.filter((waiter) => waiter.seq > seq);
    for (const waiter of ready) waiter.resolve();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let event = this.#queue.shift(); event; event = this.#queue.shift()) {
        if (event.seq <= this.#lastHandled) continue;
        await this.#handle(event);
        try {
          await this.#options.onHandled?.(event.seq);
        } catch (error) {
          this.#report(error, event);
        }
        this.#advance(event.seq);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #report(error: unknown, event: FloriaEvent): void {
    try {
      this.#options.onError?.(error, event);
    } catch {
      // A failing error callback must not stop the router either.
    }
  }

  async #handle(event: FloriaEvent): Promise<void> {
    if (event.id.kind !== 'vertex' && event.id.kind !== 'edge') return;
    let handlers: EventHandler[];
    try {
      handlers = await this.#handlersFor(event);
    } catch (error) {
      this.#report(error, event);
      return;
    }
    for (const handler of handlers) {
      try {
        await this.#call(handler, event);
      } catch (error) {
        this.#report(error, event);
        if (event.type !== HANDLER_FAILED) await this.#recordFailure(handler, event, error);
      }
    }
  }

  /** The matching handlers of the entity and of its template, each once. */
  async #handlersFor(event: FloriaEvent): Promise<EventHandler[]> {
    const { store } = this.#options;
    // A removed entity is gone from the store (or replaced by a newer one of the same id).
    const entity = removedEntity(event) ?? (await store.get(event.id));
    if (!entity || (this.#options.accepts && !this.#options.accepts(entity, event))) return [];
    const declared = [...handlersOf(entity)];
    const template = 'template' in entity ? entity.template : undefined;
    if (template) {
      const templateEntity = await store.get(template);
      if (templateEntity) declared.push(...handlersOf(templateEntity));
    }
    const seen = new Set<string>();
    return declared.filter((handler) => {
      if (handler.events.length > 0 && !handler.events.includes(event.type)) return false;
      const key = JSON.stringify([handler.plugin, handler.function, handler.arguments ?? []]);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  async #call(handler: EventHandler, event: FloriaEvent): Promise<void> {
    const { store, dispatcher } = this.#options;
    const changes: GraphChange[] = [];
    const written = new Map<string, Entity | null>();
    const host = hostFunctions({
      reader: overlayReader(store, (id) => written.get(idKey(id))),
      dispatcher,
      writer: {
        put: async (entity) => {
          const copy = structuredClone(entity);
          changes.push({ op: 'put', entity: copy });
          written.set(idKey(entity.id), copy);
        },
        delete: async (id) => {
          const existed = written.has(idKey(id))
            ? written.get(idKey(id)) !== null
            : (await store.get(id)) !== undefined;
          changes.push({ op: 'delete', id });
          written.set(idKey(id), null);
          return existed;
        },
        emit: async (emitted) => {
          changes.push({ op: 'emit', event: structuredClone(emitted) });
        },
      },
      ...(this.#options.host ? { overrides: this.#options.host } : {}),
    });
    const site = { entity: event.id };
    const args: Value[] = [event as unknown as Value];
    for (const argument of handler.arguments ?? []) {
      args.push(await evaluate(argument, { site, dispatcher, host }));
    }
    await dispatcher.dispatch(
      { plugin: handler.plugin, function: handler.function, arguments: args, site, event },
      host,
    );
    if (changes.length > 0) await store.transaction((tx) => apply(tx, changes));
  }

  async #recordFailure(handler: EventHandler, event: FloriaEvent, error: unknown): Promise<void> {
    try {
      await this.#options.store.transaction((tx) =>
        tx.emit({
          type: HANDLER_FAILED,
          id: event.id,
          data: {
            event: { seq: event.seq, type: event.type },
            plugin: handler.plugin,
            function: handler.function,
            message: messageOf(error),
          },
        }),
      );
    } catch (recordError) {
      this.#report(recordError, event);
    }
  }
}

async function apply(tx: StoreTransaction, changes: GraphChange[]): Promise<void> {
  for (const change of changes) {
    if (change.op === 'put') await tx.put(change.entity);
    else if (change.op === 'delete') await tx.delete(change.id);
    else await tx.emit(change.event);
  }
}

function handlersOf(entity: Entity): EventHandler[] {
  return 'eventHandlers' in entity ? (entity.eventHandlers ?? []) : [];
}

/** The entity a `removed` event carries in `data.entity`. */
function removedEntity(event: FloriaEvent): Entity | undefined {
  if (event.type !== 'removed') return undefined;
  const data = event.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const entity = data['entity'];
  if (typeof entity !== 'object' || entity === null || Array.isArray(entity)) return undefined;
  return entity as unknown as Entity;
}
