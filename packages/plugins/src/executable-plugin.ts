/**
 * Executable plugins: one long-lived process per plugin speaking line-delimited JSON over
 * stdin/stdout (PROTOCOL.md). Calls are multiplexed by id; the process may call host
 * functions back through the same channel. A process that dies is restarted at the next
 * call; one that overruns a call's time limit is killed (and so restarted).
 */

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { FunctionCall, Value } from '@khutulun/floria';
import type { CallContext, LoadedPlugin } from './loaded-plugin.js';
import { PluginError, type PluginErrorCode } from './plugin-error.js';
import { envelopeOf, type HostRequest, serveHostRequest } from './protocol.js';

interface Pending {
  call: FunctionCall;
  context: CallContext;
  resolve: (value: Value) => void;
  reject: (error: PluginError) => void;
  timer: NodeJS.Timeout;
}

/** A message from the plugin process. */
type PluginMessage =
  | { type: 'result'; id: number; value: Value }
  | { type: 'error'; id: number; error: { message?: string; code?: string } }
  | ({ type: 'host'; id: number; seq: number } & HostRequest);

const STDERR_KEPT = 4096;

/** Variables an executable plugin inherits from the host; the rest (tokens, URLs) stay. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

function pluginEnv(name: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { KHUTULUN_PLUGIN: name };
  for (const key of INHERITED_ENV) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

/** Runs `command` as a long-lived plugin process (started at the first call). */
export function executablePlugin(name: string, command: string): LoadedPlugin {
  return new ExecutablePlugin(name, command);
}

/** One run of the plugin process and the calls in flight on it. */
interface Session {
  child: ChildProcessWithoutNullStreams;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  /** Set once the process broke the protocol: nothing more it says is believed. */
  broken: boolean;
}

class ExecutablePlugin implements LoadedPlugin {
  #session: Session | undefined;
  /** Every process not yet reaped, including ones killed after a timeout. */
  readonly #live = new Set<Session>();
  #nextId = 1;
  #closed = false;

  constructor(
    readonly name: string,
    readonly command: string,
  ) {}

  call(call: FunctionCall, context: CallContext): Promise<Value> {
    if (this.#closed) {
      return Promise.reject(this.#error(call, 'CLOSED', 'the plugin host is closed'));
    }
    const id = this.#nextId++;
    let line: string;
    try {
      line = `${JSON.stringify({ type: 'call', id, call: envelopeOf(call) })}\n`;
    } catch (cause) {
      return Promise.reject(this.#error(call, 'PROTOCOL', `the call is not JSON: ${cause}`));
    }
    const session = this.#session ?? this.#start();
    return new Promise<Value>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.pending.delete(id);
        reject(
          this.#error(call, 'TIMEOUT', `the call did not finish within ${context.timeoutMs} ms`),
        );
        // The process may be stuck anywhere: kill it (calls still in flight on it fail as
        // CRASHED) and start afresh at the next call.
        if (this.#session === session) this.#session = undefined;
        session.child.kill('SIGKILL');
      }, context.timeoutMs);
      session.pending.set(id, { call, context, resolve, reject, timer });
      session.child.stdin.write(line);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#live];
    for (const session of sessions) {
      // Wait for the reaping with the event loop held: the process and pipes are unref'd.
      session.child.ref();
      for (const pipe of [session.child.stdout, session.child.stderr]) {
        (pipe as unknown as { ref?: () => void }).ref?.();
      }
      session.child.kill('SIGKILL');
    }
    await Promise.all(sessions.map((session) => session.exited));
  }

  #start(): Session {
    const child = spawn(this.command, [], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: pluginEnv(this.name),
    });
    const session: Session = {
      child,
      pending: new Map(),
      exited: Promise.resolve(),
      broken: false,
    };
    this.#session = session;
    this.#live.add(session);
    // An idle plugin process must not keep the host alive (a call in flight holds its timer).
    child.unref();
    for (const pipe of [child.stdin, child.stdout, child.stderr]) {
      (pipe as unknown as { unref?: () => void }).unref?.();
    }
    let buffered = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() && !session.broken) this.#receive(session, line);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEPT);
    });
    // A write to a process that just died fails with EPIPE; the exit handler reports it.
    child.stdin.on('error', () => {});
    session.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        if (this.#session === session) this.#session = undefined;
        this.#live.delete(session);
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const tail = stderr.trim()
          ? `; stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')}`
          : '';
        for (const [id, pending] of session.pending) {
          session.pending.delete(id);
          clearTimeout(pending.timer);
          pending.reject(this.#error(pending.call, 'CRASHED', `the plugin process ${how}${tail}`));
        }
        resolve();
      });
      child.once('error', (error) => {
        stderr += `\n${error.message}`;
      });
    });
    return session;
  }

  #receive(session: Session, line: string): void {
    const { child, pending: inFlight } = session;
    let message: PluginMessage;
    try {
      message = JSON.parse(line) as PluginMessage;
    } catch {
      // Not the protocol: stdout is reserved for it, so the process cannot be trusted further.
      session.broken = true;
      if (this.#session === session) this.#session = undefined;
      for (const [id, pending] of inFlight) {
        inFlight.delete(id);
        clearTimeout(pending.timer);
        pending.reject(
          this.#error(
            pending.call,
            'PROTOCOL',
            `the plugin wrote a line that is not JSON: ${line.slice(0, 200)}`,
          ),
        );
      }
      child.kill('SIGKILL');
      return;
    }
    const pending = inFlight.get(message.id);
    if (!pending) return;
    if (message.type === 'host') {
      void serveHostRequest(message, pending.context.host, pending.call.site).then((response) => {
        if (inFlight.has(message.id)) {
          child.stdin.write(
            `${JSON.stringify({ type: 'host-result', id: message.id, seq: message.seq, ...response })}\n`,
          );
        }
      });
      return;
    }
    inFlight.delete(message.id);
    clearTimeout(pending.timer);
    if (message.type === 'result') pending.resolve(message.value ?? null);
    else if (message.type === 'error') {
      const code = message.error?.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'FAILED';
      pending.reject(this.#error(pending.call, code, message.error?.message ?? 'failed'));
    } else {
      pending.reject(this.#error(pending.call, 'PROTOCOL', `unknown message type in: ${line}`));
    }
  }

  #error(call: FunctionCall, code: PluginErrorCode, message: string): PluginError {
    return new PluginError(message, {
      code,
      plugin: this.name,
      function: call.function,
      site: call.site,
    });
  }
}
