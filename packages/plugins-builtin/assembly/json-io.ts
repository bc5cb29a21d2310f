// The call's input read as JSON bytes and its output written as JSON bytes, straight through
// the Extism kernel: a large placement neither decodes its input into a UTF-16 string nor
// builds its answer as one (see `JsonReader`).
import {
  alloc,
  input_length,
  output_set,
  store_u8,
  store_u64,
} from '@khutulun/plugin-sdk/assembly/kernel';
import { JsonReader } from './json-reader';

/** A reader of the call's input (the JSON call envelope). */
export function readInput(): JsonReader {
  return new JsonReader(<i32>input_length());
}

/**
 * Moves `reader` to the first call argument in the envelope (`arguments[0]`); false if the
 * envelope has none.
 */
export function seekFirstArgument(reader: JsonReader): bool {
  if (!reader.beginMap()) return false;
  while (reader.nextKey()) {
    if (reader.keyIs('arguments')) {
      if (!reader.beginList()) return false;
      return reader.nextItem();
    }
    reader.skip();
  }
  return false;
}

/** Builds JSON text as UTF-8 bytes in a growing buffer. */
export class JsonWriter {
  private buffer: ArrayBuffer = new ArrayBuffer(1024);
  size: i32 = 0;

  private reserve(extra: i32): void {
    const needed = this.size + extra;
    if (needed <= this.buffer.byteLength) return;
    let capacity = this.buffer.byteLength * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new ArrayBuffer(capacity);
    memory.copy(changetype<usize>(grown), changetype<usize>(this.buffer), <usize>this.size);
    this.buffer = grown;
  }

  /** Appends ASCII text as it is (punctuation, keys known to need no escaping). */
  raw(text: string): JsonWriter {
    const n = text.length;
    this.reserve(n);
    const base = changetype<usize>(this.buffer) + <usize>this.size;
    for (let i = 0; i < n; i++) store<u8>(base + <usize>i, <u8>text.charCodeAt(i));
    this.size += n;
    return this;
  }

  /** Appends a JSON string literal. */
  string(text: string): JsonWriter {
    let plain = true;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22 || c === 0x5c || c < 0x20 || c > 0x7e) {
        plain = false;
        break;
      }
    }
    if (plain) return this.raw('"').raw(text).raw('"');
    let out = '"';
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else if (c < 0x20) out += '\\u00' + (c < 0x10 ? '0' : '') + c.toString(16);
      else out += String.fromCharCode(c);
    }
    out += '"';
    const bytes = String.UTF8.encode(out);
    const n = bytes.byteLength;
    this.reserve(n);
    memory.copy(
      changetype<usize>(this.buffer) + <usize>this.size,
      changetype<usize>(bytes),
      <usize>n,
    );
    this.size += n;
    return this;
  }

  /** Appends a copy of bytes [start, end) already written. */
  copy(start: i32, end: i32): JsonWriter {
    const n = end - start;
    this.reserve(n);
    const base = changetype<usize>(this.buffer);
    memory.copy(base + <usize>this.size, base + <usize>start, <usize>n);
    this.size += n;
    return this;
  }

  /** Appends a number (integers without a fraction; non-finite numbers as null). */
  number(n: f64): JsonWriter {
    if (!Number.isFinite(n)) return this.raw('null');
    if (n === Math.floor(n) && Math.abs(n) < 9007199254740992) return this.raw((<i64>n).toString());
    return this.raw(n.toString());
  }

  /** Makes the bytes written the call's output. */
  output(): void {
    const n = this.size;
    const offset = alloc(<u64>n);
    const base = changetype<usize>(this.buffer);
    let i = 0;
    for (; i + 8 <= n; i += 8) store_u64(offset + <u64>i, load<u64>(base + <usize>i));
    for (; i < n; i++) store_u8(offset + <u64>i, load<u8>(base + <usize>i));
    output_set(offset, <u64>n);
  }
}
