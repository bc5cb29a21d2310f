/**
 * CBOR and MessagePack writers for plain data (what `serialize` has checked). The libraries
 * read both formats; writing is done here because their writers store `-0` as the integer 0,
 * and a round trip must be exact. Integers within the safe range are written as integers,
 * every other number as a 64-bit float (which is how `-0` survives).
 */

class ByteWriter {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #length = 0;

  #room(size: number): void {
    if (this.#length + size <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < this.#length + size) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }

  byte(value: number): void {
    this.#room(1);
    this.#bytes[this.#length++] = value;
  }

  uint(value: number, size: 1 | 2 | 4 | 8): void {
    this.#room(size);
    if (size === 1) this.#view.setUint8(this.#length, value);
    else if (size === 2) this.#view.setUint16(this.#length, value);
    else if (size === 4) this.#view.setUint32(this.#length, value);
    else this.#view.setBigUint64(this.#length, BigInt(value));
    this.#length += size;
  }

  int(value: number, size: 1 | 2 | 4 | 8): void {
    this.#room(size);
    if (size === 1) this.#view.setInt8(this.#length, value);
    else if (size === 2) this.#view.setInt16(this.#length, value);
    else if (size === 4) this.#view.setInt32(this.#length, value);
    else this.#view.setBigInt64(this.#length, BigInt(value));
    this.#length += size;
  }

  /** A type byte followed by an unsigned integer of `size` bytes. */
  headed(code: number, value: number, size: 1 | 2 | 4 | 8): void {
    this.byte(code);
    this.uint(value, size);
  }

  /** A type byte followed by a signed integer of `size` bytes. */
  headedInt(code: number, value: number, size: 1 | 2 | 4 | 8): void {
    this.byte(code);
    this.int(value, size);
  }

  /** A type byte followed by a big-endian 64-bit float. */
  headedFloat64(code: number, value: number): void {
    this.byte(code);
    this.float64(value);
  }

  float64(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.#length, value);
    this.#length += 8;
  }

  bytes(value: Uint8Array): void {
    this.#room(value.length);
    this.#bytes.set(value, this.#length);
    this.#length += value.length;
  }

  result(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

const utf8 = new TextEncoder();

function isSafeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && !Object.is(value, -0);
}

/** CBOR (RFC 8949) of plain data, definite lengths. */
export function writeCbor(data: unknown): Uint8Array {
  const out = new ByteWriter();
  const head = (major: number, length: number) => {
    const type = major << 5;
    if (length < 24) out.byte(type | length);
    else if (length < 0x100) out.headed(type | 24, length, 1);
    else if (length < 0x10000) out.headed(type | 25, length, 2);
    else if (length < 0x100000000) out.headed(type | 26, length, 4);
    else out.headed(type | 27, length, 8);
  };
  const write = (value: unknown): void => {
    if (value === null) out.byte(0xf6);
    else if (value === true) out.byte(0xf5);
    else if (value === false) out.byte(0xf4);
    else if (typeof value === 'number') {
      if (!isSafeInteger(value)) out.headedFloat64(0xfb, value);
      else if (value >= 0) head(0, value);
      else head(1, -1 - value);
    } else if (typeof value === 'string') {
      const encoded = utf8.encode(value);
      head(3, encoded.length);
      out.bytes(encoded);
    } else if (Array.isArray(value)) {
      head(4, value.length);
      for (const item of value) write(item);
    } else {
      const entries = Object.entries(value as Record<string, unknown>);
      head(5, entries.length);
      for (const [key, item] of entries) {
        write(key);
        write(item);
      }
    }
  };
  write(data);
  return out.result();
}

/** MessagePack of plain data, in the smallest encodings. */
export function writeMessagePack(data: unknown): Uint8Array {
  const out = new ByteWriter();
  const sized = (
    length: number,
    fix: number,
    fixLimit: number,
    codes: [number, number, number],
  ) => {
    if (length < fixLimit) out.byte(fix | length);
    else if (codes[0] !== 0 && length < 0x100) out.headed(codes[0], length, 1);
    else if (length < 0x10000) out.headed(codes[1], length, 2);
    else out.headed(codes[2], length, 4);
  };
  const integer = (value: number) => {
    if (value >= 0) {
      if (value < 0x80) out.byte(value);
      else if (value < 0x100) out.headed(0xcc, value, 1);
      else if (value < 0x10000) out.headed(0xcd, value, 2);
      else if (value < 0x100000000) out.headed(0xce, value, 4);
      else out.headed(0xcf, value, 8);
    } else if (value >= -32) out.byte(0xe0 | (value + 32));
    else if (value >= -0x80) out.headedInt(0xd0, value, 1);
    else if (value >= -0x8000) out.headedInt(0xd1, value, 2);
    else if (value >= -0x80000000) out.headedInt(0xd2, value, 4);
    else out.headedInt(0xd3, value, 8);
  };
  const write = (value: unknown): void => {
    if (value === null) out.byte(0xc0);
    else if (value === true) out.byte(0xc3);
    else if (value === false) out.byte(0xc2);
    else if (typeof value === 'number') {
      if (isSafeInteger(value)) integer(value);
      else out.headedFloat64(0xcb, value);
    } else if (typeof value === 'string') {
      const encoded = utf8.encode(value);
      sized(encoded.length, 0xa0, 32, [0xd9, 0xda, 0xdb]);
      out.bytes(encoded);
    } else if (Array.isArray(value)) {
      sized(value.length, 0x90, 16, [0, 0xdc, 0xdd]);
      for (const item of value) write(item);
    } else {
      const entries = Object.entries(value as Record<string, unknown>);
      sized(entries.length, 0x80, 16, [0, 0xde, 0xdf]);
      for (const [key, item] of entries) {
        write(key);
        write(item);
      }
    }
  };
  write(data);
  return out.result();
}
