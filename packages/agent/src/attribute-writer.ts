import type { Entity, Id, Store, StoreTransaction, Value } from '@khutulun/floria';

/** A custom event to record with a write. */
export interface WriteEvent {
  type: string;
  data?: Value;
}

interface Pending {
  id: Id;
  values: Record<string, Value | undefined>;
  events: WriteEvent[];
  /** Written only while the entity's `host` is this host (or it has none). */
  owner?: string;
  /** With whether it was written (false: refused for another owner). */
  resolve: (written: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Writes attribute values (and the custom events that go with them) back into the graph.
 * Writes of one turn of the event loop (e.g. the exits or PIDs of many workloads that one
 * poll delivered) and those that arrive while a transaction is committing are coalesced into
 * one transaction, so 200 workloads becoming ready cost a few durable commits, not 200; a
 * lone write commits within the same turn. Each write resolves when its transaction has
 * committed.
 */
export class AttributeWriter {
  #pending: Pending[] = [];
  #running = false;

  constructor(private readonly store: Store) {}

  /** Sets `values` (undefined clears) on the entity, then records `events` about it. */
  async write(
    id: Id,
    values: Record<string, Value | undefined>,
    ...events: WriteEvent[]
  ): Promise<void> {
    await this.#enqueue({ id, values, events });
  }

  /**
   * Like {@link write}, fenced by ownership: in the write's transaction, an entity whose
   * `host` names another host (its workload was replaced or moved elsewhere) is left as it
   * is, and its events unrecorded. Resolves false when the write was refused.
   */
  writeAsOwner(
    owner: string,
    id: Id,
    values: Record<string, Value | undefined>,
    ...events: WriteEvent[]
  ): Promise<boolean> {
    return this.#enqueue({ id, values, events, owner });
  }

  /** Sets values on many entities in one transaction. */
  writeMany(values: Map<Id, Record<string, Value | undefined>>): Promise<void> {
    return Promise.all([...values].map(([id, v]) => this.write(id, v))).then(() => undefined);
  }

  #enqueue(write: Omit<Pending, 'resolve' | 'reject'>): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ ...write, resolve, reject });
      if (this.#running) return;
      this.#running = true;
      // After the other callbacks of this turn: a SQLite commit completes within the turn, so
      // writes those callbacks make could not join it otherwise.
      setImmediate(() => void this.#drain());
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length) {
      const batch = this.#pending.splice(0);
      try {
        const refused = new Set<Pending>();
        await this.store.transaction(async (tx) => {
          refused.clear(); // a retried transaction decides again
          for (const p of batch) {
            if (p.owner !== undefined) {
              const entity = await tx.get(p.id);
              const host =
                entity && 'properties' in entity ? entity.properties.host?.value : undefined;
              if (typeof host === 'string' && host !== p.owner) {
                refused.add(p);
                continue;
              }
            }
            await putValues(tx, p.id, p.values);
            for (const e of p.events) {
              await tx.emit({
                type: e.type,
                id: p.id,
                ...(e.data === undefined ? {} : { data: e.data }),
              });
            }
          }
        });
        for (const p of batch) p.resolve(!refused.has(p));
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    this.#running = false;
  }
}

/** Sets property values of an entity inside a transaction; unchanged values are not rewritten. */
export async function putValues(
  tx: StoreTransaction,
  id: Id,
  values: Record<string, Value | undefined>,
): Promise<void> {
  const entity = await tx.get(id);
  if (!entity || !('properties' in entity)) return;
  const properties = { ...entity.properties };
  let changed = false;
  for (const [name, value] of Object.entries(values)) {
    const old = properties[name];
    const next = value === undefined ? null : value;
    if (old === undefined && next === null) continue;
    if (old && JSON.stringify(old.value ?? null) === JSON.stringify(next)) continue;
    properties[name] = { ...(old ?? {}), value: next };
    changed = true;
  }
  if (changed) await tx.put({ ...entity, properties } as Entity);
}
