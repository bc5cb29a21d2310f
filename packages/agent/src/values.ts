/** Reading graph values: the agent's one copy of these small helpers. */
import type { WorkloadRef } from '@khutulun/driver';
import type { Entity, Value } from '@khutulun/floria';

/** Whether a value is a map (a JSON object). */
export function isMap(v: Value | undefined): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value of a property of an entity that has properties. */
export function propertyValue(entity: Entity, property: string): Value | undefined {
  return 'properties' in entity ? entity.properties[property]?.value : undefined;
}

/** `NAME` in upper case with every character other than A-Z and 0-9 as `_`. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** A stored `ref` attribute read back (undefined when absent or malformed). */
export function workloadRefOf(v: Value | undefined): WorkloadRef | undefined {
  if (!isMap(v) || typeof v.kind !== 'string' || typeof v.id !== 'string' || !isMap(v.key))
    return undefined;
  const { service, name } = v.key;
  if (typeof service !== 'string' || typeof name !== 'string') return undefined;
  return { kind: v.kind, id: v.id, key: { service, name } };
}
