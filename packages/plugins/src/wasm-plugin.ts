/**
 * Wasm plugins: each instance is an Extism plugin in a worker thread of its own, so a call
 * can be cut off at its time limit (the worker is terminated) and the module's memory is
 * capped. Instances are pooled per plugin and reused across calls.
 */

import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import type { FunctionCall, Value } from '@khutulun/floria';
import type { CallContext, LoadedPlugin } from './loaded-plugin.js';
import { PluginError, type PluginErrorCode } from './plugin-error.js';
import { envelopeOf, type HostRequest, serveHostRequest } from './protocol.js';
import {
  CALL,
  DONE,
  HOST,
  HOST_DONE,
  IDLE,
  type WasmCallMessage,
  type WasmReplyMessage,
  type WasmWorkerData,
} from './wasm-channel.js';
import { limitWasmMemory } from './wasm-memory-limit.js';

// Resolves to lib/ from both src/ (tests) and lib/ (built): the worker always runs built JS.
const WORKER_URL = new URL('../lib/wasm-worker.js', import.meta.url);

/**
 * How long (ms) the host busy-waits for a reply before yielding to the event loop. A small
 * call answers within tens of microseconds, sooner than an `Atomics.waitAsync` wake-up adds
 * (~50 µs); the spin is bounded so a slow call costs the event loop at most this much.
 */
const SPIN_MS = 0.1;

/** Limits for Wasm plugins. */
export interface WasmLimits {
  /** Memory limit in 64 KiB pages (the module's own memory and Extism's kernel blocks). */
  maxPages: number;
  /** How many instances (workers) a plugin may run at once for calls that are not nested. */
  maxInstances: number;
}

/** Compiles a module (with its memory capped) into a pooled, callable plugin. */
export async function loadWasmPlugin(
  name: string,
  bytes: Uint8Array,
  limits: WasmLimits,
): Promise<LoadedPlugin> {
  let module: WebAssembly.Module;
  // V8's background compilation is no event-loop handle: without this, a lone top-level call
  // could see the loop end (exit code 13) while the module compiles.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    module = await WebAssembly.compile(limitWasmMemory(bytes, limits.maxPages));
  } catch (cause) {
    throw new PluginError(`cannot load the Wasm module: ${(cause as Error).message}`, {
      code: 'LOAD_FAILED',
      plugin: name,
      cause,
    });
  } finally {
    clearInterval(keepAlive);
  }
  return new WasmPlugin(name, module, limits);
}

class WasmPlugin implements LoadedPlugin {
  readonly #idle: WasmInstance[] = [];
  readonly #all = new Set<WasmInstance>();
  readonly #waiting: Array<() => void> = [];
  readonly #terminating = new Set<Promise<void>>();
  #closed = false;

  constructor(
    readonly name: string,
    readonly module: WebAssembly.Module,
    readonly limits: WasmLimits,
  ) {}

  async call(call: FunctionCall, context: CallContext): Promise<Value> {
    const instance = await this.#acquire(call, context.nested);
    let healthy = false;
    try {
      const value = await instance.call(call, context);
      healthy = true;
      return value;
    } catch (error) {
      healthy =
        (error as PluginError).code === 'FAILED' || (error as PluginError).code === 'NOT_FOUND';
      throw error;
    } finally {
      if (healthy) this.#release(instance);
      else this.#discard(instance);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    for (const wake of this.#waiting.splice(0)) wake();
    await Promise.all([...all.map((i) => i.terminate()), ...this.#terminating]);
  }

  async #acquire(call: FunctionCall, nested: boolean): Promise<WasmInstance> {
    for (;;) {
      if (this.#closed) {
        throw new PluginError('the plugin host is closed', {
          code: 'CLOSED',
          plugin: this.name,
          function: call.function,
          site: call.site,
        });
      }
      const idle = this.#idle.pop();
      if (idle) return idle;
      // A nested call (the plugin waits on a host function that called it again) gets an
      // instance of its own even past the limit: queueing it would deadlock.
      if (nested || this.#all.size < this.limits.maxInstances) return this.#spawn(call);
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  async #spawn(call: FunctionCall): Promise<WasmInstance> {
    const instance = new WasmInstance(this);
    this.#all.add(instance);
    try {
      await instance.ready;
      return instance;
    } catch (cause) {
      this.#discard(instance);
      throw new PluginError(`cannot start the Wasm module: ${(cause as Error).message}`, {
        code: 'LOAD_FAILED',
        plugin: this.name,
        function: call.function,
        site: call.site,
        cause,
      });
    }
  }

  #release(instance: WasmInstance): void {
    // Instances made past the limit for nested calls are not kept once the burst is over.
    if (this.#all.size > this.limits.maxInstances && this.#waiting.length === 0) {
      this.#discard(instance);
      return;
    }
    this.#idle.push(instance);
    this.#waiting.shift()?.();
  }

  #discard(instance: WasmInstance): void {
    this.#all.delete(instance);
    const terminated = instance.terminate().finally(() => this.#terminating.delete(terminated));
    this.#terminating.add(terminated);
    this.#waiting.shift()?.();
  }
}

/** One worker running one Extism instance of the module. */
class WasmInstance {
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #flag: Int32Array;
  #exit: { code: PluginErrorCode; message: string } | undefined;

  constructor(readonly plugin: WasmPlugin) {
    const shared = new SharedArrayBuffer(4);
    this.#flag = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const data: WasmWorkerData = {
      module: plugin.module,
      port: port2,
      flag: shared,
      maxPages: plugin.limits.maxPages,
    };
    this.#worker = new Worker(WORKER_URL, {
      workerData: data,
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
      // Extism loads node:wasi, whose experimental warning would reach the host's stderr.
      execArgv: ['--disable-warning=ExperimentalWarning'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.#worker.once('message', () => {
        // Idle instances must not keep the process alive (a call in flight holds its timer);
        // a starting one must, or a lone top-level call could see the event loop end.
        this.#worker.unref();
        resolve();
      });
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
    });
    this.#worker.on('error', (error: Error & { code?: string }) => {
      this.#exit =
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { code: 'OUT_OF_MEMORY', message: error.message }
          : { code: 'TRAP', message: error.message };
    });
    this.#worker.on('exit', () => {
      this.#exit ??= { code: 'CRASHED', message: 'the Wasm worker exited' };
      Atomics.notify(this.#flag, 0);
    });
  }

  async call(call: FunctionCall, context: CallContext): Promise<Value> {
    const flag = this.#flag;
    const fail = (code: PluginErrorCode, message: string, cause?: unknown): PluginError =>
      new PluginError(message, {
        code,
        plugin: call.plugin,
        function: call.function,
        site: call.site,
        cause,
      });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      Atomics.notify(flag, 0);
    }, context.timeoutMs);
    try {
      const message: WasmCallMessage = {
        function: call.function,
        input: JSON.stringify(envelopeOf(call)),
      };
      this.#port.postMessage(message);
      Atomics.store(flag, 0, CALL);
      Atomics.notify(flag, 0);
      for (;;) {
        let state = Atomics.load(flag, 0);
        const spinUntil = performance.now() + SPIN_MS;
        while ((state === CALL || state === HOST_DONE) && performance.now() < spinUntil) {
          for (let i = 0; i < 64 && (state === CALL || state === HOST_DONE); i++) {
            state = Atomics.load(flag, 0);
          }
        }
        if (state === CALL || state === HOST_DONE) {
          const wait = Atomics.waitAsync(flag, 0, state);
          if (wait.async) await wait.value;
          state = Atomics.load(flag, 0);
        }
        if (timedOut) {
          throw fail('TIMEOUT', `the call did not finish within ${context.timeoutMs} ms`);
        }
        if (this.#exit) throw fail(this.#exit.code, this.#exit.message);
        if (state === HOST) {
          const request = JSON.parse(receiveMessageOnPort(this.#port)?.message as string);
          const response = await serveHostRequest(request as HostRequest, context.host, call.site);
          if (timedOut) {
            throw fail('TIMEOUT', `the call did not finish within ${context.timeoutMs} ms`);
          }
          this.#port.postMessage(JSON.stringify(response));
          Atomics.store(flag, 0, HOST_DONE);
          Atomics.notify(flag, 0);
        } else if (state === DONE) {
          const reply = receiveMessageOnPort(this.#port)?.message as WasmReplyMessage;
          Atomics.store(flag, 0, IDLE);
          if (!reply.ok) throw fail(reply.code, reply.message);
          try {
            return JSON.parse(reply.output) as Value;
          } catch (cause) {
            throw fail('PROTOCOL', 'the function returned output that is not JSON', cause);
          }
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async terminate(): Promise<void> {
    this.#port.close();
    // Hold the event loop until the worker is gone (an idle one is unref'd).
    this.#worker.ref();
    await this.#worker.terminate();
  }
}
