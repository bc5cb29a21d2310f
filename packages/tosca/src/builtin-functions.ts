/**
 * The TOSCA 2.0 built-in functions that compute from their argument values alone (boolean,
 * comparison, string, list, set and arithmetic functions), shared by compile-time evaluation
 * and the run-time `tosca` plugin so both give the same answers.
 */
import type { Value } from '@khutulun/floria';

/** Functions that need the graph (evaluated by the run-time plugin, or statically when possible). */
export const GRAPH_FUNCTIONS = new Set([
  'get_input',
  'get_property',
  'get_attribute',
  'get_artifact',
  'value',
  'node_index',
  'relationship_index',
  'available_allocation',
]);

/** The argument count each pure function accepts: [min, max] (max -1 = any). */
export const PURE_FUNCTIONS: Record<string, [number, number]> = {
  and: [0, -1],
  or: [0, -1],
  not: [1, 1],
  xor: [2, 2],
  equal: [2, 2],
  greater_than: [2, 2],
  greater_or_equal: [2, 2],
  less_than: [2, 2],
  less_or_equal: [2, 2],
  valid_values: [2, 2],
  in_range: [2, 2],
  matches: [2, 2],
  has_suffix: [2, 2],
  has_prefix: [2, 2],
  contains: [2, 2],
  has_entry: [2, 2],
  has_key: [2, 2],
  has_all_entries: [2, 2],
  has_all_keys: [2, 2],
  has_any_entry: [2, 2],
  has_any_key: [2, 2],
  length: [1, 1],
  concat: [1, -1],
  join: [1, 2],
  token: [3, 3],
  union: [1, -1],
  intersection: [1, -1],
  sum: [1, -1],
  difference: [2, 2],
  product: [1, -1],
  quotient: [2, 2],
  remainder: [2, 2],
  round: [1, 1],
  floor: [1, 1],
  ceil: [1, 1],
};

/** A built-in function given arguments it cannot work with. Identified by its `code`. */
export class FunctionError extends Error {
  readonly code = 'TOSCA_BAD_ARGUMENTS';
  constructor(
    readonly fn: string,
    message: string,
  ) {
    super(`$${fn}: ${message}`);
  }
}

/** Whether an error is a `FunctionError` (by its brand, which survives any boundary). */
export function isFunctionError(e: unknown): e is FunctionError {
  return (e as { code?: unknown } | null)?.code === 'TOSCA_BAD_ARGUMENTS';
}

function equalValues(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null) return false;
  if (Array.isArray(a))
    return (
      Array.isArray(b) && a.length === b.length && a.every((x, i) => equalValues(x, b[i] as Value))
    );
  if (typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => k in b && equalValues(a[k] as Value, b[k] as Value))
    );
  }
  return false;
}

/**
 * An RFC 3339 date-time (the TOSCA timestamp, 9.1.2.1) as milliseconds since the epoch, UTC;
 * a string that is not one gives a reason instead. `T` and `Z` may be lower case and a space
 * may separate date and time (RFC 3339 5.6, notes); a leap second (`:60`, RFC 3339 5.7) is
 * allowed at minute 59 and counts as the next minute's start; the unknown offset `-00:00` is
 * UTC, as TOSCA reads it.
 */
export function timestampMillis(s: string): number | { reason: string } {
  const m =
    /^(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|([+-])(\d\d):(\d\d)))?$/.exec(
      s,
    );
  if (!m) return { reason: 'not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))' };
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (m[4] === undefined)
    return {
      reason:
        'a date alone is the YAML !!timestamp form; a TOSCA timestamp is an RFC 3339 date-time, with a time and an offset',
    };
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (days === undefined || day < 1 || day > days) return { reason: 'no such date' };
  if (hour > 23 || minute > 59 || second > 60 || (second === 60 && minute !== 59))
    return { reason: 'no such time (a leap second :60 ends a minute 59)' };
  const offHours = Number(m[10] ?? 0);
  const offMinutes = Number(m[11] ?? 0);
  if (offHours > 23 || offMinutes > 59) return { reason: 'no such offset' };
  const offset = (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes);
  const frac = m[7] ? Number(`0${m[7]}`) * 1000 : 0;
  return Date.UTC(year, month - 1, day, hour, minute, second) + frac - offset * 60_000;
}

function compare(fn: string, a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') {
    const ta = timestampMillis(a);
    const tb = timestampMillis(b);
    if (typeof ta === 'number' && typeof tb === 'number') return ta - tb;
    const va = versionParts(a);
    const vb = versionParts(b);
    if (va && vb) {
      for (let i = 0; i < 3; i++) if (va[i] !== vb[i]) return (va[i] ?? 0) - (vb[i] ?? 0);
      return 0;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  throw new FunctionError(fn, `cannot compare ${JSON.stringify(a)} with ${JSON.stringify(b)}`);
}

function versionParts(s: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(s);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function numbers(fn: string, args: Value[]): number[] {
  return args.map((a) => {
    if (typeof a !== 'number')
      throw new FunctionError(fn, `expects numbers, got ${JSON.stringify(a)}`);
    return a;
  });
}

function bool(fn: string, v: Value): boolean {
  if (typeof v !== 'boolean')
    throw new FunctionError(fn, `expects booleans, got ${JSON.stringify(v)}`);
  return v;
}

function str(fn: string, v: Value): string {
  if (typeof v !== 'string')
    throw new FunctionError(fn, `expects a string, got ${JSON.stringify(v)}`);
  return v;
}

function isScalarValue(v: Value): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function isMapValue(v: Value): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Evaluates a pure built-in function over argument values. Throws `FunctionError` on bad arguments. */
export function evaluatePure(fn: string, args: Value[]): Value {
  const a0 = args[0] as Value;
  const a1 = args[1] as Value;
  switch (fn) {
    case 'and':
      return args.every((a) => bool(fn, a));
    case 'or':
      return args.some((a) => bool(fn, a));
    case 'not':
      return !bool(fn, a0);
    case 'xor':
      return bool(fn, a0) !== bool(fn, a1);
    case 'equal':
      return equalValues(a0, a1);
    case 'greater_than':
      return compare(fn, a0, a1) > 0;
    case 'greater_or_equal':
      return compare(fn, a0, a1) >= 0;
    case 'less_than':
      return compare(fn, a0, a1) < 0;
    case 'less_or_equal':
      return compare(fn, a0, a1) <= 0;
    case 'valid_values':
      if (!Array.isArray(a1)) throw new FunctionError(fn, 'expects a list of valid values');
      return a1.some((v) => equalValues(a0, v));
    case 'matches':
      try {
        return new RegExp(`^(?:${str(fn, a1)})$`, 'u').test(str(fn, a0));
      } catch (e) {
        if (isFunctionError(e)) throw e;
        throw new FunctionError(fn, `invalid regular expression ${JSON.stringify(a1)}`);
      }
    case 'has_suffix':
      return Array.isArray(a0) && Array.isArray(a1)
        ? a1.length <= a0.length &&
            a1.every((v, i) => equalValues(a0[a0.length - a1.length + i] as Value, v))
        : str(fn, a0).endsWith(str(fn, a1));
    case 'has_prefix':
      return Array.isArray(a0) && Array.isArray(a1)
        ? a1.length <= a0.length && a1.every((v, i) => equalValues(a0[i] as Value, v))
        : str(fn, a0).startsWith(str(fn, a1));
    case 'contains':
      if (Array.isArray(a0) && Array.isArray(a1)) {
        for (let i = 0; i + a1.length <= a0.length; i++)
          if (a1.every((v, j) => equalValues(a0[i + j] as Value, v))) return true;
        return false;
      }
      return str(fn, a0).includes(str(fn, a1));
    case 'has_entry':
      if (Array.isArray(a0)) return a0.some((v) => equalValues(v, a1));
      if (isMapValue(a0)) return Object.values(a0).some((v) => equalValues(v, a1));
      throw new FunctionError(fn, 'expects a list or map');
    case 'has_key':
      if (!isMapValue(a0)) throw new FunctionError(fn, 'expects a map');
      return typeof a1 === 'string' && a1 in a0;
    case 'has_all_entries':
    case 'has_any_entry': {
      if (!Array.isArray(a1)) throw new FunctionError(fn, 'expects a list of entries');
      const entries = Array.isArray(a0) ? a0 : isMapValue(a0) ? Object.values(a0) : undefined;
      if (!entries) throw new FunctionError(fn, 'expects a list or map');
      const has = (v: Value) => entries.some((e) => equalValues(e, v));
      return fn === 'has_all_entries' ? a1.every(has) : a1.some(has);
    }
    case 'has_all_keys':
    case 'has_any_key': {
      if (!isMapValue(a0) || !Array.isArray(a1))
        throw new FunctionError(fn, 'expects a map and a list of keys');
      const has = (k: Value) => typeof k === 'string' && k in a0;
      return fn === 'has_all_keys' ? a1.every(has) : a1.some(has);
    }
    case 'length':
      if (typeof a0 === 'string') return [...a0].length;
      if (Array.isArray(a0)) return a0.length;
      if (isMapValue(a0)) return Object.keys(a0).length;
      throw new FunctionError(fn, 'expects a string, list or map');
    case 'concat':
      // Numbers and booleans join strings as their text, as Puccini reads them (and the
      // specification's own example concatenates a port attribute into a URL).
      if (args.every(isScalarValue)) return args.map(String).join('');
      if (args.every((a) => Array.isArray(a))) return (args as Value[][]).flat(1);
      throw new FunctionError(fn, 'expects all strings (numbers, booleans) or all lists');
    case 'join': {
      if (!Array.isArray(a0) || !a0.every(isScalarValue))
        throw new FunctionError(fn, 'expects a list of strings (numbers, booleans)');
      const sep = args.length > 1 ? str(fn, a1) : '';
      return a0.map(String).join(sep);
    }
    case 'in_range': {
      // Used by the specification's own examples (8.8, 9.1.1.2) but not defined among its
      // functions: [ value, [ lower, upper ] ], bounds included, UNBOUNDED for no upper bound.
      if (!Array.isArray(a1) || a1.length !== 2)
        throw new FunctionError(fn, 'expects a value and a range [ lower, upper ]');
      const [lo, hi] = a1 as [Value, Value];
      return compare(fn, lo, a0) <= 0 && (hi === 'UNBOUNDED' || compare(fn, a0, hi) <= 0);
    }
    case 'token': {
      const parts = str(fn, a0).split(new RegExp(`[${escapeClass(str(fn, a1))}]`, 'u'));
      const i = args[2];
      if (typeof i !== 'number' || !Number.isInteger(i))
        throw new FunctionError(fn, 'expects an integer index');
      const part = parts[i];
      if (part === undefined) throw new FunctionError(fn, `no token at index ${i}`);
      return part;
    }
    case 'union':
    case 'intersection': {
      if (!args.every((a) => Array.isArray(a))) throw new FunctionError(fn, 'expects lists');
      const lists = args as Value[][];
      const dedupe = (l: Value[]) =>
        l.filter((v, i) => l.findIndex((w) => equalValues(v, w)) === i);
      if (fn === 'union') return dedupe(lists.flat(1));
      return dedupe(lists[0] ?? []).filter((v) =>
        lists.every((l) => l.some((w) => equalValues(v, w))),
      );
    }
    case 'sum':
      return numbers(fn, args).reduce((x, y) => x + y, 0);
    case 'product':
      return numbers(fn, args).reduce((x, y) => x * y, 1);
    case 'difference': {
      const [x = 0, y = 0] = numbers(fn, args);
      return x - y;
    }
    case 'quotient': {
      const [x = 0, y = 0] = numbers(fn, args);
      if (y === 0) throw new FunctionError(fn, 'division by zero');
      return x / y;
    }
    case 'remainder': {
      const [x = 0, y = 0] = numbers(fn, args);
      if (!Number.isInteger(x) || !Number.isInteger(y) || y === 0)
        throw new FunctionError(fn, 'expects integers, divisor not zero');
      return x % y;
    }
    case 'round':
      return Math.round(numbers(fn, args)[0] ?? 0);
    case 'floor':
      return Math.floor(numbers(fn, args)[0] ?? 0);
    case 'ceil':
      return Math.ceil(numbers(fn, args)[0] ?? 0);
    default:
      throw new FunctionError(fn, 'unknown function');
  }
}

function escapeClass(chars: string): string {
  return chars.replace(/[\\\]^-]/g, '\\$&');
}
