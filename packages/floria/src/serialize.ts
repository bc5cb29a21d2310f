/**
 * Serialization of entities and values as JSON, YAML, CBOR and MessagePack, round-trip exact
 * (Floria values do not tell -0 from 0: it is written as 0).
 */
import { Encoder as CborEncoder } from 'cbor-x';
import { Packr } from 'msgpackr';
import YAML from 'yaml';
import { SerializationError } from './errors.js';

/** The formats `serialize` and `deserialize` speak. */
export type SerializationFormat = 'json' | 'yaml' | 'cbor' | 'messagepack';

/** All serialization formats, text ones first. */
export const SERIALIZATION_FORMATS: readonly SerializationFormat[] = [
  'json',
  'yaml',
  'cbor',
  'messagepack',
];

// Maps decode as `Map`s and are turned into objects here: the libraries' own object decoding
// renames a `__proto__` key. 64-bit integers decode as BigInts, so that `fromDecoded` can take
// the safe ones exactly and refuse the others instead of rounding them. `variableMapSize`
// writes each map's length in its smallest form.
const cbor = new CborEncoder({ useRecords: false, mapsAsObjects: false, variableMapSize: true });
const messagepack = new Packr({
  useRecords: false,
  mapsAsObjects: false,
  variableMapSize: true,
  int64AsType: 'bigint',
});

/**
 * Serializes plain data (entities, values, lists and maps of them): `json` and `yaml` give a
 * string, `cbor` and `messagepack` bytes. Fields that are `undefined` are left out; non-finite
 * numbers, functions, class instances and cycles are refused with `SerializationError`.
 */
export function serialize(data: unknown, format: 'json' | 'yaml'): string;
export function serialize(data: unknown, format: 'cbor' | 'messagepack'): Uint8Array;
export function serialize(data: unknown, format: SerializationFormat): string | Uint8Array;
export function serialize(data: unknown, format: SerializationFormat): string | Uint8Array {
  const plain = toPlain(data, format, new Set(), '$');
  try {
    switch (format) {
      case 'json':
        return JSON.stringify(plain);
      case 'yaml':
        return writeYaml(plain);
      // Copies: the libraries return views into a buffer they keep writing to.
      case 'cbor':
        return new Uint8Array(cbor.encode(plain));
      case 'messagepack':
        return new Uint8Array(messagepack.pack(plain));
      default:
        throw new Error(`unknown format ${JSON.stringify(format)}`);
    }
  } catch (error) {
    throw new SerializationError(messageOf(error), format, { cause: error });
  }
}

/**
 * Parses what `serialize` (or any conforming writer) produced. Rejects with
 * `SerializationError` on malformed input or on data Floria cannot hold (non-string map
 * keys, binary strings, tags it does not know).
 */
export function deserialize<T = unknown>(
  input: string | Uint8Array,
  format: SerializationFormat,
): T {
  let decoded: unknown;
  try {
    switch (format) {
      case 'json':
        decoded = JSON.parse(asText(input));
        break;
      case 'yaml':
        decoded = YAML.parse(asText(input));
        break;
      case 'cbor':
        decoded = cbor.decode(asBytes(input));
        break;
      case 'messagepack':
        decoded = messagepack.unpack(asBytes(input));
        break;
      default:
        throw new Error(`unknown format ${JSON.stringify(format)}`);
    }
  } catch (error) {
    throw new SerializationError(messageOf(error), format, { cause: error });
  }
  return fromDecoded(decoded, format, '$') as T;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asText(input: string | Uint8Array): string {
  return typeof input === 'string'
    ? input
    : new TextDecoder('utf-8', { fatal: true }).decode(input);
}

function asBytes(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? new TextEncoder().encode(input) : input;
}

function setEntry(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty: a `__proto__` key is data, not the prototype.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * A checked copy with `undefined` fields dropped and `-0` as `0`. For the binary formats,
 * integers beyond 32 bits become BigInts: the libraries write those numbers as floats, BigInts
 * as 64-bit integers, and every reader should see an integer.
 */
function toPlain(
  data: unknown,
  format: SerializationFormat,
  seen: Set<object>,
  path: string,
): unknown {
  switch (typeof data) {
    case 'string':
    case 'boolean':
      return data;
    case 'number':
      if (!Number.isFinite(data))
        throw new SerializationError(`${path}: ${data} is not finite`, format);
      if (data === 0) return 0;
      if (
        (format === 'cbor' || format === 'messagepack') &&
        Number.isSafeInteger(data) &&
        (data > 0xffff_ffff || data < -0x8000_0000)
      ) {
        return BigInt(data);
      }
      return data;
    case 'object': {
      if (data === null) return null;
      if (seen.has(data)) throw new SerializationError(`${path}: cycle`, format);
      seen.add(data);
      let copy: unknown;
      if (Array.isArray(data)) {
        copy = data.map((item, index) => {
          if (item === undefined)
            throw new SerializationError(`${path}[${index}]: undefined`, format);
          return toPlain(item, format, seen, `${path}[${index}]`);
        });
      } else {
        const prototype = Object.getPrototypeOf(data);
        if (prototype !== Object.prototype && prototype !== null) {
          throw new SerializationError(`${path}: not a plain object`, format);
        }
        const object: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(data)) {
          if (value !== undefined)
            setEntry(object, key, toPlain(value, format, seen, `${path}.${key}`));
        }
        copy = object;
      }
      seen.delete(data);
      return copy;
    }
    default:
      throw new SerializationError(`${path}: cannot serialize a ${typeof data}`, format);
  }
}

/** Turns decoded `Map`s into objects and refuses what is not plain data. */
function fromDecoded(data: unknown, format: string, path: string): unknown {
  if (data === null || typeof data === 'string' || typeof data === 'boolean') return data;
  if (typeof data === 'number') return data;
  if (typeof data === 'bigint') {
    if (data >= BigInt(Number.MIN_SAFE_INTEGER) && data <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return Number(data);
    }
    throw new SerializationError(`${path}: integer ${data} is beyond the safe range`, format);
  }
  if (Array.isArray(data))
    return data.map((item, index) => fromDecoded(item, format, `${path}[${index}]`));
  if (data instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [key, value] of data) {
      if (typeof key !== 'string') {
        throw new SerializationError(`${path}: map key ${String(key)} is not a string`, format);
      }
      setEntry(object, key, fromDecoded(value, format, `${path}.${key}`));
    }
    return object;
  }
  if (typeof data === 'object' && Object.getPrototypeOf(data) === Object.prototype) {
    const object: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(data)) {
      setEntry(object, key, fromDecoded(value, format, `${path}.${key}`));
    }
    return object;
  }
  throw new SerializationError(`${path}: unsupported ${describeType(data)}`, format);
}

function describeType(data: unknown): string {
  if (data === undefined) return 'undefined';
  if (typeof data === 'object' && data !== null) return data.constructor?.name ?? 'object';
  return typeof data;
}

/**
 * YAML text that YAML 1.1 readers (PyYAML, Ansible, ...) read the same as 1.2 ones: the
 * library quotes what 1.2 would misread, and this also quotes what 1.1 would (`yes`, `on`,
 * `0o17` stays a string in both only when quoted).
 */
function writeYaml(data: unknown): string {
  const document = new YAML.Document(data, { aliasDuplicateObjects: false });
  YAML.visit(document, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && readsOtherwiseInYaml11(node.value)) {
        node.type = 'QUOTE_DOUBLE';
      }
    },
  });
  return document.toString({ lineWidth: 0 });
}

// Plain scalars that YAML 1.1 may resolve to something other than a string all start so.
const YAML_11_SUSPECT = /^[-+.~<0-9yYnNoOtTfF]/;

function readsOtherwiseInYaml11(text: string): boolean {
  // As a key, `<<` is YAML 1.1's merge key, though alone it reads as a string.
  if (text === '<<') return true;
  if (text.length > 64 || !YAML_11_SUSPECT.test(text)) return false;
  try {
    return YAML.parse(text, { version: '1.1' }) !== text;
  } catch {
    return true;
  }
}
