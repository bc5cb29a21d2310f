import { input_load_u8, input_load_u64 } from '@khutulun/plugin-sdk/assembly/kernel';

// A pull reader of JSON over UTF-8 bytes, for inputs too large to build a `Value` tree of
// (a placement snapshot of 10,000 hosts and 100,000 workloads): the caller walks the
// document and keeps only what it needs, so nothing but the wanted strings is allocated.
// It trusts its input to be JSON (the host serializes it with JSON.stringify): malformed
// input sets `failed` and ends every loop, it never traps or loops forever.

const POWERS_OF_TEN: StaticArray<f64> = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
  1e18, 1e19, 1e20, 1e21, 1e22,
];

/** How much of the input the reader holds at once (bytes). */
const WINDOW: i32 = 256 * 1024;

/**
 * Reads one JSON document: the call's input, `length` bytes held by the Extism kernel. Only a
 * window of it is copied into linear memory at a time, so a large snapshot costs its parsed
 * form, not its text too; moving back (`pos = earlier`) refills the window.
 */
export class JsonReader {
  pos: i32 = 0;
  failed: bool = false;
  /** The current map key, as a byte range (set by `nextKey`). */
  keyStart: i32 = 0;
  keyEnd: i32 = 0;
  /** The last raw string read by `rawString`, as a byte range. */
  valueStart: i32 = 0;
  valueEnd: i32 = 0;
  valueEscaped: bool = false;
  private window: ArrayBuffer = new ArrayBuffer(WINDOW);
  private base: usize = 0;
  private windowStart: i32 = 0;
  private windowEnd: i32 = 0;

  constructor(public length: i32) {
    this.base = changetype<usize>(this.window);
  }

  /** The byte at input offset `i` (within the input). */
  @inline
  private at(i: i32): u32 {
    if (i < this.windowStart || i >= this.windowEnd) this.fill(i, 1);
    return <u32>load<u8>(this.base + <usize>(i - this.windowStart));
  }

  /** Linear-memory address of input bytes [start, end), all held in the window. */
  private address(start: i32, end: i32): usize {
    if (start < this.windowStart || end > this.windowEnd) this.fill(start, end - start);
    return this.base + <usize>(start - this.windowStart);
  }

  /** Copies a window of the input starting at (or just before) `from` into linear memory. */
  private fill(from: i32, atLeast: i32): void {
    const start = from & ~7;
    let size = atLeast + (from - start);
    if (size < WINDOW) size = WINDOW;
    if (size > this.window.byteLength) {
      this.window = new ArrayBuffer(size);
      this.base = changetype<usize>(this.window);
    }
    const end = start + size < this.length ? start + size : this.length;
    const base = this.base;
    let i = start;
    for (; i + 8 <= end; i += 8) store<u64>(base + <usize>(i - start), input_load_u64(<u64>i));
    for (; i < end; i++) store<u8>(base + <usize>(i - start), input_load_u8(<u64>i));
    this.windowStart = start;
    this.windowEnd = end;
  }

  /** The next significant byte (after white space), or -1 at the end. */
  peek(): i32 {
    let p = this.pos;
    // Fast path: JSON.stringify writes no white space, so the next byte is usually it.
    if (p >= this.windowStart && p < this.windowEnd) {
      const c = <u32>load<u8>(this.base + <usize>(p - this.windowStart));
      if (c > 0x20) return <i32>c;
    }
    const n = this.length;
    while (p < n) {
      const c = this.at(p);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        this.pos = p;
        return <i32>c;
      }
      p++;
    }
    this.pos = p;
    return -1;
  }

  /** Enters a map if one is next (true); otherwise skips the value (false). */
  beginMap(): bool {
    if (this.peek() === 0x7b) {
      this.pos++;
      return true;
    }
    this.skip();
    return false;
  }

  /** Enters a list if one is next (true); otherwise skips the value (false). */
  beginList(): bool {
    if (this.peek() === 0x5b) {
      this.pos++;
      return true;
    }
    this.skip();
    return false;
  }

  /**
   * Moves to the next key of the map being read (true, the key in `keyStart`/`keyEnd`, the
   * reader before its value), or past the map's end (false).
   */
  nextKey(): bool {
    let c = this.peek();
    if (c === 0x2c) {
      this.pos++;
      c = this.peek();
    }
    if (c === 0x7d) {
      this.pos++;
      return false;
    }
    if (c !== 0x22) return this.fail();
    this.pos++;
    const start = this.pos;
    let p = start;
    const n = this.length;
    while (p < n) {
      const b = this.at(p);
      if (b === 0x22) break;
      if (b === 0x5c) p++;
      p++;
    }
    if (p >= n) return this.fail();
    this.keyStart = start;
    this.keyEnd = p;
    this.pos = p + 1;
    if (this.peek() !== 0x3a) return this.fail();
    this.pos++;
    return true;
  }

  /** Moves to the next item of the list being read (true), or past its end (false). */
  nextItem(): bool {
    let c = this.peek();
    if (c === 0x2c) {
      this.pos++;
      c = this.peek();
    }
    if (c === 0x5d) {
      this.pos++;
      return false;
    }
    if (c < 0) return this.fail();
    return true;
  }

  /** Whether the current key is `name` (ASCII). */
  keyIs(name: string): bool {
    const n = name.length;
    if (this.keyEnd - this.keyStart !== n) return false;
    const bytes = this.address(this.keyStart, this.keyEnd);
    const chars = changetype<usize>(name);
    for (let i = 0; i < n; i++) {
      if (<u32>load<u8>(bytes + <usize>i) !== <u32>load<u16>(chars + ((<usize>i) << 1)))
        return false;
    }
    return true;
  }

  /** The current key as a string. */
  key(): string {
    return this.decodeRange(this.keyStart, this.keyEnd);
  }

  /** Whether a string is next (without reading it). */
  isString(): bool {
    return this.peek() === 0x22;
  }

  /** Whether a number is next. */
  isNumber(): bool {
    const c = this.peek();
    return (c >= 0x30 && c <= 0x39) || c === 0x2d;
  }

  /** Reads a string; any other value is skipped and reads as `fallback`. */
  string(fallback: string = ''): string {
    if (this.peek() !== 0x22) {
      this.skip();
      return fallback;
    }
    const start = this.pos + 1;
    let p = start;
    const n = this.length;
    while (p < n) {
      const b = this.at(p);
      if (b === 0x22) break;
      if (b === 0x5c) p++;
      p++;
    }
    if (p >= n) {
      this.fail();
      return fallback;
    }
    this.pos = p + 1;
    return this.decodeRange(start, p);
  }

  /**
   * Reads a string without decoding it: true with its body's bytes in `valueStart` /
   * `valueEnd` (and `valueEscaped` if it holds escapes: decode with `decodeRange`); any other
   * value is skipped (false).
   */
  rawString(): bool {
    if (this.peek() !== 0x22) {
      this.skip();
      return false;
    }
    const start = this.pos + 1;
    let p = start;
    const n = this.length;
    let plain = true;
    while (p < n) {
      const b = this.at(p);
      if (b === 0x22) break;
      if (b === 0x5c) {
        plain = false;
        p++;
      }
      p++;
    }
    if (p >= n) {
      this.fail();
      return false;
    }
    this.pos = p + 1;
    this.valueStart = start;
    this.valueEnd = p;
    this.valueEscaped = !plain;
    return true;
  }

  /** Decodes two byte ranges joined by one separator character (ASCII) as one string. */
  join(aStart: i32, aEnd: i32, separator: u8, bStart: i32, bEnd: i32): string {
    const a = aEnd - aStart;
    const b = bEnd - bStart;
    const scratch = heap.alloc(<usize>(a + b + 1));
    memory.copy(scratch, this.address(aStart, aEnd), <usize>a);
    store<u8>(scratch + <usize>a, separator);
    memory.copy(scratch + <usize>a + 1, this.address(bStart, bEnd), <usize>b);
    const text = String.UTF8.decodeUnsafe(scratch, <usize>(a + b + 1));
    heap.free(scratch);
    return text;
  }

  /** Reads a scalar as text (a label value may be a string, number or boolean). */
  text(): string {
    const c = this.peek();
    if (c === 0x22) return this.string();
    if (c === 0x7b || c === 0x5b || c < 0) {
      this.skip();
      return '';
    }
    const start = this.pos;
    this.skipScalar();
    return this.decodeRange(start, this.pos);
  }

  /** Reads a number; any other value is skipped and reads as `fallback`. */
  number(fallback: f64 = NaN): f64 {
    let c = this.peek();
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2d)) {
      this.skip();
      return fallback;
    }
    const start = this.pos;
    let p = start;
    const n = this.length;
    let negative = false;
    if (c === 0x2d) {
      negative = true;
      p++;
    }
    // Clinger's fast path: up to 15 significant digits and a power of ten up to 22 are
    // exact in a double, so one multiplication or division rounds correctly.
    let mantissa: f64 = 0;
    let digits = 0;
    let scale = 0;
    while (p < n) {
      c = <i32>this.at(p);
      if (c < 0x30 || c > 0x39) break;
      mantissa = mantissa * 10 + <f64>(c - 0x30);
      digits++;
      p++;
    }
    c = p < n ? <i32>this.at(p) : 0;
    if (c === 0x2e) {
      p++;
      while (p < n) {
        c = <i32>this.at(p);
        if (c < 0x30 || c > 0x39) break;
        mantissa = mantissa * 10 + <f64>(c - 0x30);
        digits++;
        scale--;
        p++;
      }
      c = p < n ? <i32>this.at(p) : 0;
    }
    if (c === 0x65 || c === 0x45 || digits > 15 || scale < -22) {
      this.pos = start;
      this.skipScalar();
      return parseFloat(this.decodeRange(start, this.pos));
    }
    this.pos = p;
    const value = scale === 0 ? mantissa : mantissa / POWERS_OF_TEN[-scale];
    return negative ? -value : value;
  }

  /**
   * Reads a whole number for a count or a limit, clamped to [min, 1e9] (a float is cut, a
   * number out of range never traps); any other value reads as `fallback`.
   */
  count(fallback: i32, min: i32): i32 {
    const n = this.number(NaN);
    // biome-ignore lint/suspicious/noGlobalIsNan: AssemblyScript's typed built-in, not the JS global
    if (isNaN<f64>(n)) return fallback;
    if (n < <f64>min) return min;
    if (n > 1e9) return 1000000000;
    return <i32>n;
  }

  /** Reads a boolean; any other value is skipped and reads as `fallback`. */
  bool(fallback: bool): bool {
    const c = this.peek();
    if (c === 0x74) {
      this.pos += 4;
      return true;
    }
    if (c === 0x66) {
      this.pos += 5;
      return false;
    }
    this.skip();
    return fallback;
  }

  /** Skips the next value, whatever it is. */
  skip(): void {
    const c = this.peek();
    if (c < 0) {
      this.fail();
      return;
    }
    if (c === 0x22) {
      this.string();
      return;
    }
    if (c === 0x7b || c === 0x5b) {
      // Count brackets, stepping over strings (which may hold brackets).
      let depth = 0;
      let p = this.pos;
      const n = this.length;
      while (p < n) {
        const b = this.at(p);
        if (b === 0x22) {
          p++;
          while (p < n) {
            const s = this.at(p);
            if (s === 0x22) break;
            if (s === 0x5c) p++;
            p++;
          }
        } else if (b === 0x7b || b === 0x5b) {
          depth++;
        } else if (b === 0x7d || b === 0x5d) {
          depth--;
          if (depth === 0) {
            this.pos = p + 1;
            return;
          }
        }
        p++;
      }
      this.pos = n;
      this.fail();
      return;
    }
    this.skipScalar();
  }

  private skipScalar(): void {
    let p = this.pos;
    const n = this.length;
    while (p < n) {
      const b = this.at(p);
      if (b === 0x2c || b === 0x7d || b === 0x5d || b === 0x20 || b === 0x0a || b === 0x0d) break;
      p++;
    }
    if (p === this.pos) {
      this.pos = n;
      this.fail();
      return;
    }
    this.pos = p;
  }

  private fail(): bool {
    this.failed = true;
    this.pos = this.length;
    return false;
  }

  /** Decodes bytes [start, end) as a JSON string body (escapes resolved). */
  decodeRange(start: i32, end: i32): string {
    let escaped = false;
    for (let p = start; p < end; p++) {
      if (this.at(p) === 0x5c) {
        escaped = true;
        break;
      }
    }
    const base = this.address(start, end) - <usize>start;
    if (!escaped) return String.UTF8.decodeUnsafe(base + <usize>start, <usize>(end - start));
    let out = '';
    let from = start;
    let p = start;
    while (p < end) {
      if (this.at(p) !== 0x5c) {
        p++;
        continue;
      }
      out += String.UTF8.decodeUnsafe(base + <usize>from, <usize>(p - from));
      const e = this.at(p + 1);
      p += 2;
      if (e === 0x6e) out += '\n';
      else if (e === 0x74) out += '\t';
      else if (e === 0x72) out += '\r';
      else if (e === 0x62) out += '\b';
      else if (e === 0x66) out += '\f';
      else if (e === 0x75) {
        let code: i32 = 0;
        for (let i = 0; i < 4 && p < end; i++, p++) {
          const h = <i32>this.at(p);
          code = code * 16 + (h >= 0x61 ? h - 0x61 + 10 : h >= 0x41 ? h - 0x41 + 10 : h - 0x30);
        }
        out += String.fromCharCode(code);
      } else out += String.fromCharCode(<i32>e);
      from = p;
    }
    return out + String.UTF8.decodeUnsafe(base + <usize>from, <usize>(end - from));
  }
}
