/**
 * What the host and a Wasm worker share: the turn flag's states and the messages they
 * exchange (see `wasm-worker.ts`). Not part of the public API.
 */
import type { MessagePort } from 'node:worker_threads';

/** The turn flag's states (index 0 of the shared `Int32Array`). */
export const IDLE = 0;
export const CALL = 1;
export const DONE = 2;
export const HOST = 3;
export const HOST_DONE = 4;

/** What the worker is started with. */
export interface WasmWorkerData {
  module: WebAssembly.Module;
  port: MessagePort;
  flag: SharedArrayBuffer;
  maxPages: number;
}

/** One call, host to worker. */
export interface WasmCallMessage {
  function: string;
  input: string;
}

/** The outcome of one call, worker to host. */
export type WasmReplyMessage =
  | { ok: true; output: string }
  | { ok: false; code: 'FAILED' | 'TRAP' | 'OUT_OF_MEMORY' | 'NOT_FOUND'; message: string };
