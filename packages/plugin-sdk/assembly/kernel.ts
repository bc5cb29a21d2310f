// The Extism kernel imports the SDK needs (the Extism "env" ABI), plus the one Khutulun host
// function. Memory offsets are Extism kernel addresses, not Wasm linear-memory pointers.

@external("extism:host/env", "input_length")
export declare function input_length(): u64;
@external("extism:host/env", "input_load_u8")
export declare function input_load_u8(offset: u64): u8;
@external("extism:host/env", "input_load_u64")
export declare function input_load_u64(offset: u64): u64;
@external("extism:host/env", "length")
export declare function length(offset: u64): u64;
@external("extism:host/env", "alloc")
export declare function alloc(size: u64): u64;
@external("extism:host/env", "free")
export declare function free(offset: u64): void;
@external("extism:host/env", "output_set")
export declare function output_set(offset: u64, size: u64): void;
@external("extism:host/env", "error_set")
export declare function error_set(offset: u64): void;
@external("extism:host/env", "store_u8")
export declare function store_u8(offset: u64, value: u8): void;
@external("extism:host/env", "load_u8")
export declare function load_u8(offset: u64): u8;
@external("extism:host/env", "store_u64")
export declare function store_u64(offset: u64, value: u64): void;
@external("extism:host/env", "load_u64")
export declare function load_u64(offset: u64): u64;

/** Khutulun's host-function gateway: a JSON request in, a JSON response out (see PROTOCOL.md). */
@external("extism:host/user", "khutulun_call")
export declare function khutulun_call(request: u64): u64;

/** The call's input (the JSON call envelope) as a string. */
export function readInput(): string {
  const size = <i32>input_length();
  const bytes = new Uint8Array(size);
  let i = 0;
  for (; i + 8 <= size; i += 8) store<u64>(bytes.dataStart + <usize>i, input_load_u64(<u64>i));
  for (; i < size; i++) bytes[i] = input_load_u8(<u64>i);
  return String.UTF8.decode(bytes.buffer);
}

/** Copies a string into a fresh kernel block (UTF-8) and returns its address. */
export function storeString(text: string): u64 {
  const buffer = String.UTF8.encode(text);
  const size = buffer.byteLength;
  const offset = alloc(<u64>size);
  const base = changetype<usize>(buffer);
  let i = 0;
  for (; i + 8 <= size; i += 8) store_u64(offset + <u64>i, load<u64>(base + <usize>i));
  for (; i < size; i++) store_u8(offset + <u64>i, load<u8>(base + <usize>i));
  return offset;
}

/** Reads a kernel block as a UTF-8 string. */
export function loadString(offset: u64): string {
  const size = <i32>length(offset);
  const bytes = new Uint8Array(size);
  let i = 0;
  for (; i + 8 <= size; i += 8) store<u64>(bytes.dataStart + <usize>i, load_u64(offset + <u64>i));
  for (; i < size; i++) bytes[i] = load_u8(offset + <u64>i);
  return String.UTF8.decode(bytes.buffer);
}

/** Sets the call's output to `text`. */
export function setOutput(text: string): void {
  const offset = storeString(text);
  output_set(offset, length(offset));
}

/** Sets the call's error message (the host reports the call as failed). */
export function setError(message: string): void {
  error_set(storeString(message));
}
