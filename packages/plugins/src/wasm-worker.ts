/**
 * The worker thread that runs one instance of a Wasm plugin with Extism.
 *
 * Calls and host-function requests travel as messages on a `MessagePort`, read synchronously
 * with `receiveMessageOnPort`; a shared `Int32Array` flag says whose turn it is, so the
 * worker can block in `Atomics.wait` (while Wasm waits on an async host function, or between
 * calls) and the host can cut the worker off on timeout. Not part of the public API.
 */

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import createPlugin, { type CallContext } from '@extism/extism';
import {
  CALL,
  DONE,
  HOST,
  type WasmCallMessage,
  type WasmReplyMessage,
  type WasmWorkerData,
} from './wasm-channel.js';

async function main(data: WasmWorkerData): Promise<void> {
  const flag = new Int32Array(data.flag);
  const port = data.port;
  const waitWhile = (state: number): void => {
    while (Atomics.load(flag, 0) === state) Atomics.wait(flag, 0, state);
  };
  const hostCall = (context: CallContext, offset: bigint): bigint => {
    const request = context.read(offset)?.text() ?? '{}';
    port.postMessage(request);
    Atomics.store(flag, 0, HOST);
    Atomics.notify(flag, 0);
    waitWhile(HOST);
    const response = receiveMessageOnPort(port)?.message as string | undefined;
    return context.store(response ?? '{"error":{"code":"PROTOCOL","message":"no response"}}');
  };
  const plugin = await createPlugin(
    { wasm: [{ module: data.module }] },
    {
      useWasi: false,
      logLevel: 'silent',
      memory: { maxPages: data.maxPages },
      functions: { 'extism:host/user': { khutulun_call: hostCall } },
    },
  );
  const instance = await plugin.getInstance();
  const memory = instance.exports['memory'] as WebAssembly.Memory | undefined;
  parentPort?.postMessage('ready');
  for (;;) {
    // Sleep on the value just seen: loading it again for `wait` could read CALL and sleep
    // through the very call it waits for.
    for (let seen = Atomics.load(flag, 0); seen !== CALL; seen = Atomics.load(flag, 0)) {
      Atomics.wait(flag, 0, seen);
    }
    const call = receiveMessageOnPort(port)?.message as WasmCallMessage;
    let reply: WasmReplyMessage;
    try {
      const output = await plugin.call(call.function, call.input);
      reply = { ok: true, output: output?.text() ?? 'null' };
    } catch (error) {
      reply = await failure(error, call.function);
    }
    port.postMessage(reply);
    Atomics.store(flag, 0, DONE);
    Atomics.notify(flag, 0);
  }

  async function failure(error: unknown, fn: string): Promise<WasmReplyMessage> {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof WebAssembly.RuntimeError) {
      // A module that traps with more than half its allowed memory in use was growing
      // (allocators double) and was refused: report that, not the bare trap.
      const pages = memory ? memory.buffer.byteLength / 65536 : 0;
      const oom = pages * 2 > data.maxPages;
      return { ok: false, code: oom ? 'OUT_OF_MEMORY' : 'TRAP', message };
    }
    if (!(await plugin.functionExists(fn))) {
      return { ok: false, code: 'NOT_FOUND', message: `the module exports no function '${fn}'` };
    }
    if (/memory limit exceeded/.test(message)) {
      return { ok: false, code: 'OUT_OF_MEMORY', message };
    }
    return {
      ok: false,
      code: 'FAILED',
      message: message.replace(/^Plugin-originated error: /, ''),
    };
  }
}

await main(workerData as WasmWorkerData);
