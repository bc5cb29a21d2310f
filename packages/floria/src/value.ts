/** Checks and helpers for Floria values (JSON-compatible data). */
import type { Value } from './model.js';

/**
 * Whether `value` is a Floria value: null, a boolean, a finite number, a string, or lists
 * and plain maps of those (no `undefined`, functions, class instances or cycles).
 */
export function isValue(value: unknown): value is Value {
  return checkValue(value, new Set());
}

function checkValue(value: unknown, seen: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (seen.has(value)) return false;
      seen.add(value);
      let ok: boolean;
      if (Array.isArray(value)) {
        ok = value.every((item) => checkValue(item, seen));
      } else {
        const prototype = Object.getPrototypeOf(value);
        ok =
          (prototype === Object.prototype || prototype === null) &&
          Object.values(value).every((item) => checkValue(item, seen));
      }
      seen.delete(value);
      return ok;
    }
    default:
      return false;
  }
}

/** Deep equality of two values (map key order does not matter; `-0` equals `0`). */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => valuesEqual(item, b[index] as Value));
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every(
    (key) => Object.hasOwn(b, key) && valuesEqual(a[key] as Value, b[key] as Value),
  );
}
