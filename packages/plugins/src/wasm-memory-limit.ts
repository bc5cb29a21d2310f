/**
 * Caps a Wasm module's linear memory by rewriting the maximum of its memory section, so the
 * engine itself refuses `memory.grow` past the limit (the module traps or reports failure
 * instead of taking the host's memory). Extism's own `maxPages` only bounds the host-side
 * kernel blocks, not the module's memory.
 */

/**
 * A copy of the module `bytes` whose memories can grow to at most `maxPages` 64 KiB pages.
 * Throws a plain Error for a malformed module or one that needs more than that at start.
 */
export function limitWasmMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73) {
    throw new Error('not a WebAssembly module');
  }
  const out: number[] = Array.from(bytes.subarray(0, 8));
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const [size, sizeLen] = readLeb(bytes, pos + 1);
    const start = pos + 1 + sizeLen;
    const end = start + size;
    if (end > bytes.length) throw new Error('truncated section');
    if (id === 2) assertNoImportedMemory(bytes.subarray(start, end));
    if (id === 5) {
      const body = rewriteMemories(bytes.subarray(start, end), maxPages);
      out.push(5, ...writeLeb(body.length), ...body);
    } else {
      for (let i = pos; i < end; i++) out.push(bytes[i]!);
    }
    pos = end;
  }
  return Uint8Array.from(out);
}

function rewriteMemories(body: Uint8Array, maxPages: number): number[] {
  const [count, countLen] = readLeb(body, 0);
  const out = [...writeLeb(count)];
  let pos = countLen;
  for (let i = 0; i < count; i++) {
    const flags = body[pos++]!;
    if (flags & ~0x03) throw new Error('64-bit or custom-page memories are not supported');
    const [min, minLen] = readLeb(body, pos);
    pos += minLen;
    let max = maxPages;
    if (flags & 0x01) {
      const [declared, maxLen] = readLeb(body, pos);
      pos += maxLen;
      max = Math.min(declared, maxPages);
    }
    if (min > max) {
      throw new Error(`the module needs ${min} memory pages at start; the limit is ${maxPages}`);
    }
    out.push((flags & 0x02) | 0x01, ...writeLeb(min), ...writeLeb(max));
  }
  return out;
}

/** Imported memory would escape the rewrite; Extism modules define their own. */
function assertNoImportedMemory(body: Uint8Array): void {
  const [count, countLen] = readLeb(body, 0);
  let pos = countLen;
  const skipName = (): void => {
    const [len, lenLen] = readLeb(body, pos);
    pos += lenLen + len;
  };
  const skipLimits = (): void => {
    const flags = body[pos++]!;
    pos += readLeb(body, pos)[1];
    if (flags & 0x01) pos += readLeb(body, pos)[1];
  };
  for (let i = 0; i < count; i++) {
    skipName();
    skipName();
    const kind = body[pos++]!;
    if (kind === 0x00) pos += readLeb(body, pos)[1];
    else if (kind === 0x01) {
      pos++;
      skipLimits();
    } else if (kind === 0x02) throw new Error('modules that import their memory are not supported');
    else if (kind === 0x03) pos += 2;
    else if (kind === 0x04) pos += 1 + readLeb(body, pos + 1)[1];
    else throw new Error(`unknown import kind ${kind}`);
  }
}

function readLeb(bytes: Uint8Array, at: number): [number, number] {
  let result = 0;
  let shift = 0;
  let pos = at;
  for (;;) {
    const byte = bytes[pos++];
    if (byte === undefined) throw new Error('truncated LEB128');
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [result, pos - at];
  }
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return out;
}
