/** Reading graph values: the agent's one copy of these small helpers. */
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
