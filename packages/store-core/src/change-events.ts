import type { Entity, Id, Properties, Value } from '@khutulun/floria';
import type { PendingEvent } from './store-driver.js';

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : v,
  );
}

/** Whether two JSON values are equal regardless of object key order. */
function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** A copy of an id (ids are small: cheaper than a generic deep copy). */
export function copyId(id: Id): Id {
  return { kind: id.kind, directory: [...id.directory], name: id.name };
}

function propertiesOf(entity: Entity): Properties {
  return (entity as { properties?: Properties }).properties ?? {};
}

/**
 * The events a `put` records: `added` for a new entity; for a changed one `updated` and a
 * `property-changed` (`{ property, old, new }`, a side left out when the property or its
 * value is absent) per property whose value changed; nothing when nothing changed.
 */
export function changeEvents(old: Entity | undefined, next: Entity, time: string): PendingEvent[] {
  // Events are serialized only at commit: copy what they take from the caller's objects, so
  // that changing those objects afterwards cannot rewrite history.
  const id = copyId(next.id);
  if (old === undefined) return [{ type: 'added', id, time }];
  if (sameValue(old, next)) return [];
  const events: PendingEvent[] = [{ type: 'updated', id, time }];
  const before = propertiesOf(old);
  const after = propertiesOf(next);
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  for (const property of names) {
    const was = before[property]?.value;
    const now = after[property]?.value;
    if (was === undefined && now === undefined) continue;
    if (was !== undefined && now !== undefined && sameValue(was, now)) continue;
    const data: { [key: string]: Value } = { property };
    if (was !== undefined) data['old'] = structuredClone(was);
    if (now !== undefined) data['new'] = structuredClone(now);
    events.push({ type: 'property-changed', id, time, data });
  }
  return events;
}
