/**
 * The in-memory reference `WorkloadDriver`: it passes the workload-driver conformance suite and
 * runs nothing. Workloads live on a `MemoryHost` (which outlives driver instances), every
 * operation completes in the same turn or the next, and tests script crashes, output, exec
 * answers and failures through the host. For fast, deterministic tests of agent logic
 * (restart policy, back-off, ordering, rollback, adoption).
 */
import { PassThrough } from 'node:stream';
import {
  DriverError,
  diffSpecs,
  type ExecOptions,
  type ExecSession,
  type LogChunk,
  type LogOptions,
  type Problem,
  type StopOptions,
  type WorkloadDescription,
  type WorkloadDiff,
  type WorkloadDriver,
  type WorkloadEvents,
  type WorkloadExit,
  type WorkloadKey,
  type WorkloadListener,
  type WorkloadRef,
  type WorkloadSpec,
  type WorkloadStatus,
  type WorkloadUsage,
} from '@khutulun/driver';
import { MemoryHost, type MemoryWorkload } from './memory-host.js';

/** Options of a `MemoryDriver`. */
export interface MemoryDriverOptions {
  /** The kind it reports and puts in its refs (default `memory`). */
  kind?: string;
  /**
   * The simulated host (default: a new one). Pass the same host to a second instance to
   * simulate an agent restart: it `adopt`s what the first left.
   */
  host?: MemoryHost;
  /**
   * The paths `diff` marks as applicable in place by `update` (exact, or a prefix ending in
   * `.`; default `['limits.']`). Everything else replaces.
   */
  inPlace?: readonly string[];
  /** Extra validation on top of the driver's own (e.g. what a real kind would refuse). */
  check?(spec: WorkloadSpec): Problem[];
}

/** A spec property value. */
type Value = WorkloadSpec['properties'][string];

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A follower of a workload's logs. */
interface Follower {
  id: string;
  push(chunk: LogChunk): void;
  end(): void;
}

/**
 * The driver's own spec properties; any other property is accepted and kept as is (so a
 * kind mapping `Process` nodes to it needs no translation):
 * - `exit_code` (integer 0-255): each run ends on its own with it, just after it started, or
 *   `exit_after_ms` later (a timer, only when asked for);
 * - `stdout`, `stderr` (string): written to the logs at each start;
 * - `ignore_sigterm` (boolean): `stop` waits its grace period, then ends the run by SIGKILL
 *   (a timer, only when asked for);
 * - `stop_exit_code` (integer): a stopped run exits with it instead of by SIGTERM.
 */
function propertyProblems(spec: WorkloadSpec): Problem[] {
  const problems: Problem[] = [];
  const p = spec.properties;
  for (const part of ['service', 'name'] as const) {
    if (typeof spec.key?.[part] !== 'string' || !SEGMENT.test(spec.key[part]))
      problems.push({ path: ['key', part], message: 'must be 1 to 128 letters, digits, . _ -' });
  }
  const integer = (name: string, value: Value | undefined) => {
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0))
      problems.push({ path: [name], message: 'must be a non-negative integer' });
  };
  integer('exit_code', p['exit_code']);
  if (typeof p['exit_code'] === 'number' && p['exit_code'] > 255)
    problems.push({ path: ['exit_code'], message: 'must be at most 255' });
  integer('exit_after_ms', p['exit_after_ms']);
  integer('stop_exit_code', p['stop_exit_code']);
  for (const name of ['stdout', 'stderr'])
    if (p[name] !== undefined && typeof p[name] !== 'string')
      problems.push({ path: [name], message: 'must be a string' });
  if (p['ignore_sigterm'] !== undefined && typeof p['ignore_sigterm'] !== 'boolean')
    problems.push({ path: ['ignore_sigterm'], message: 'must be a boolean' });
  return problems;
}

/** The in-memory reference driver; see the module comment and the package README. */
export class MemoryDriver implements WorkloadDriver {
  readonly kind: string;
  /** The simulated host: its test controls (`crash`, `write`, `failNext`, `onExec`, ...). */
  readonly host: MemoryHost;
  readonly #inPlace: readonly string[];
  readonly #extraCheck: ((spec: WorkloadSpec) => Problem[]) | undefined;
  /** The workloads this instance has (created or adopted), by ref id. */
  readonly #known = new Map<string, WorkloadRef>();
  readonly #listeners = new Set<WorkloadListener<'exit'>>();
  readonly #followers = new Set<Follower>();
  readonly #detach: () => void;
  #closed = false;

  constructor(options: MemoryDriverOptions = {}) {
    this.kind = options.kind ?? 'memory';
    this.host = options.host ?? new MemoryHost();
    this.#inPlace = options.inPlace ?? ['limits.'];
    this.#extraCheck = options.check;
    this.#detach = this.host.attach({
      ended: (workload) => this.#ended(workload),
      wrote: (workload, chunk) => {
        for (const f of this.#followers) if (f.id === workload.ref.id) f.push(chunk);
      },
      removed: (workload) => {
        for (const f of this.#followers) if (f.id === workload.ref.id) f.end();
      },
    });
  }

  // Test controls, by key or ref, forwarded to the host for convenience.

  /** Ends a running workload as a crash would (see `MemoryHost.crash`). */
  crash(target: WorkloadKey | WorkloadRef, end: number | { signal: string } = 1): void {
    this.host.crash(target, end);
  }

  /** Makes the next `create` of a key fail (see `MemoryHost.failNext`). */
  failNextCreate(key: WorkloadKey, error?: unknown): void {
    this.host.failNextCreate(key, error);
  }

  async check(spec: WorkloadSpec): Promise<Problem[]> {
    return [...propertyProblems(spec), ...(this.#extraCheck?.(spec) ?? [])];
  }

  async create(spec: WorkloadSpec): Promise<WorkloadStatus> {
    const problems = await this.check(spec);
    if (problems.length > 0) {
      const listed = problems.map((p) => `${p.path.join('.') || 'spec'}: ${p.message}`);
      throw new DriverError(`invalid ${this.kind} spec: ${listed.join('; ')}`, {
        code: 'invalid-spec',
        driver: this.kind,
        workload: spec.key,
        problems,
      });
    }
    this.host.enter('create', spec.key, this.kind);
    if (this.host.get(spec.key)?.state === 'running') {
      throw new DriverError(`workload ${spec.key.service}/${spec.key.name} is already running`, {
        code: 'already-exists',
        driver: this.kind,
        workload: spec.key,
      });
    }
    // A copy: a test that changes its spec object afterwards does not change the workload.
    const workload = this.host.put(this.kind, structuredClone(spec));
    this.#known.set(workload.ref.id, workload.ref);
    this.host.start(workload);
    return this.#status(workload);
  }

  async read(ref: WorkloadRef): Promise<WorkloadStatus | undefined> {
    const workload = this.#known.has(ref.id) ? this.host.byRef(ref) : undefined;
    return workload && this.#status(workload);
  }

  async diff(from: WorkloadSpec, to: WorkloadSpec): Promise<WorkloadDiff> {
    return diffSpecs(from, to, this.#inPlace);
  }

  /** Applies a spec whose diff has no replacements (by default: only `limits` changed). */
  async update(ref: WorkloadRef, spec: WorkloadSpec): Promise<WorkloadStatus> {
    const workload = this.#get(ref);
    const { replaces } = await this.diff(workload.spec, spec);
    if (replaces.length > 0) {
      throw new DriverError(`cannot update ${ref.id} in place: ${replaces.join(', ')} changed`, {
        code: 'invalid-spec',
        driver: this.kind,
        workload: ref.key,
        problems: replaces.map((path) => ({
          path: path.split('.'),
          message: 'cannot change in place',
        })),
      });
    }
    this.host.enter('update', ref.key, this.kind);
    workload.spec = structuredClone(spec);
    return this.#status(workload);
  }

  async restart(ref: WorkloadRef): Promise<WorkloadStatus> {
    const workload = this.#get(ref);
    if (workload.state === 'running') return this.#status(workload);
    this.host.enter('restart', ref.key, this.kind);
    this.host.start(workload);
    return this.#status(workload);
  }

  async stop(ref: WorkloadRef, options: StopOptions = {}): Promise<WorkloadStatus> {
    const workload = this.#get(ref);
    if (workload.state !== 'running') return this.#status(workload);
    this.host.enter('stop', ref.key, this.kind);
    const p = workload.spec.properties;
    if (p['ignore_sigterm'] === true) {
      const run = workload.runs;
      await new Promise((resolve) => setTimeout(resolve, options.graceMs ?? 10_000));
      if (workload.runs === run) this.host.end(workload, { signal: 'SIGKILL', requested: true });
    } else if (typeof p['stop_exit_code'] === 'number') {
      this.host.end(workload, { exitCode: p['stop_exit_code'], requested: true });
    } else {
      this.host.end(workload, { signal: 'SIGTERM', requested: true });
    }
    return this.#status(workload);
  }

  async delete(ref: WorkloadRef, options: StopOptions = {}): Promise<boolean> {
    const workload = this.host.byRef(ref);
    if (!workload) {
      this.#known.delete(ref.id);
      return false;
    }
    this.host.enter('delete', ref.key, this.kind);
    // Known while it stops, also when not adopted: its exit reaches this driver's listeners.
    this.#known.set(ref.id, workload.ref);
    if (workload.state === 'running') await this.stop(ref, options);
    this.#known.delete(ref.id);
    this.host.remove(workload);
    return true;
  }

  async adopt(): Promise<WorkloadStatus[]> {
    for (const workload of this.host.all(this.kind)) this.#known.set(workload.ref.id, workload.ref);
    return this.list();
  }

  async list(): Promise<WorkloadStatus[]> {
    const statuses: WorkloadStatus[] = [];
    for (const ref of this.#known.values()) {
      const workload = this.host.byRef(ref);
      if (workload) statuses.push(this.#status(workload));
    }
    return statuses;
  }

  async describe(ref: WorkloadRef): Promise<WorkloadDescription | undefined> {
    const workload = this.#known.has(ref.id) ? this.host.byRef(ref) : undefined;
    if (!workload) return undefined;
    return {
      ref: workload.ref,
      // `:` is the shell's no-op: pasted, it does what this driver does, which is nothing.
      commands: [`: ${this.kind} workload ${workload.ref.id}, in memory: nothing runs`],
      files: [{ path: `memory:${workload.ref.id}/output`, purpose: 'its output, held in memory' }],
      details: { runs: workload.runs, properties: workload.spec.properties },
    };
  }

  /**
   * Its output: each stream's in the order written (`tail`: each stream's last lines, stdout
   * first); with `follow`, what is written later, until `signal` aborts or it is deleted.
   */
  async *logs(ref: WorkloadRef, options: LogOptions = {}): AsyncGenerator<LogChunk> {
    const workload = this.#get(ref);
    const which = options.stream ?? 'both';
    const wanted = (chunk: LogChunk) => which === 'both' || chunk.stream === which;
    const signal = options.signal;
    if (signal?.aborted) return;
    // Subscribed before the snapshot is read: nothing written in between is lost.
    const queue: LogChunk[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    const follower: Follower = {
      id: workload.ref.id,
      push(chunk) {
        if (!wanted(chunk)) return;
        queue.push(chunk);
        wake?.();
      },
      end() {
        ended = true;
        wake?.();
      },
    };
    const onAbort = () => follower.end();
    if (options.follow) {
      this.#followers.add(follower);
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    try {
      const existing = workload.output.filter(wanted);
      if (options.tail === undefined) yield* existing;
      else {
        for (const stream of ['stdout', 'stderr'] as const) {
          const text = concat(existing.filter((c) => c.stream === stream));
          const tail = lastLines(text, options.tail);
          if (tail.length > 0) yield { stream, data: tail };
        }
      }
      if (!options.follow) return;
      // What was written before a delete is still given; an abort stops at once.
      while (!signal?.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.#followers.delete(follower);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** What the host says the workload uses (`MemoryWorkload.usage`), while it runs. */
  async usage(ref: WorkloadRef): Promise<WorkloadUsage | undefined> {
    const workload = this.#get(ref);
    if (workload.state !== 'running') return undefined;
    return workload.usage ?? { cpuSeconds: 0, memoryBytes: 1 << 20 };
  }

  /**
   * Runs a command "inside" the workload: answered by the host's exec handlers, then its
   * built-in commands (see `builtinExec`). With `tty`, stderr is merged into stdout.
   */
  async exec(ref: WorkloadRef, options: ExecOptions): Promise<ExecSession> {
    const workload = this.#get(ref);
    if (workload.state !== 'running') {
      throw new DriverError(`workload ${ref.id} is not running`, {
        code: 'exited',
        driver: this.kind,
        workload: ref.key,
      });
    }
    if (!Array.isArray(options.command) || options.command.length === 0) {
      throw new DriverError(`cannot exec in ${ref.id}: command must be a non-empty list`, {
        code: 'invalid-spec',
        driver: this.kind,
        workload: ref.key,
        problems: [{ path: ['command'], message: 'must be a non-empty list of strings' }],
      });
    }
    this.host.enter('exec', ref.key, this.kind);
    const tty = options.tty === true;
    const stdin = options.stdin ? new PassThrough() : undefined;
    const stdout = new PassThrough();
    const stderr = tty ? undefined : new PassThrough();
    let finished = false;
    let settle: (result: { code: number }) => void = () => {};
    const exit = new Promise<{ code: number }>((resolve) => {
      settle = resolve;
    });
    const finish = (code: number, out = '', err = '') => {
      if (finished) return;
      finished = true;
      stdout.end(tty ? out + err : out);
      stderr?.end(err);
      settle({ code });
    };
    const input = stdin ? readText(stdin) : Promise.resolve('');
    void input
      .then((text) =>
        this.host.answer({
          ref: workload.ref,
          spec: workload.spec,
          command: [...options.command],
          environment: { ...options.environment },
          stdin: text,
          tty,
        }),
      )
      .then(
        (answer) => finish(answer.code ?? 0, answer.stdout, answer.stderr),
        (error: unknown) => finish(126, '', `memory: exec handler failed: ${String(error)}\n`),
      );
    return {
      stdin,
      stdout,
      stderr,
      exit,
      resize() {},
      kill: () => {
        stdin?.destroy();
        finish(137);
      },
    };
  }

  on<E extends keyof WorkloadEvents>(event: E, listener: WorkloadListener<E>): () => void {
    if (event !== 'exit') return () => {};
    const exitListener = listener as WorkloadListener<'exit'>;
    this.#listeners.add(exitListener);
    return () => this.#listeners.delete(exitListener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#detach();
    for (const follower of this.#followers) follower.end();
    this.#known.clear();
  }

  #get(ref: WorkloadRef): MemoryWorkload {
    const workload = this.#known.has(ref.id) ? this.host.byRef(ref) : undefined;
    if (!workload) {
      throw new DriverError(`no ${this.kind} workload ${ref.id}`, {
        code: 'not-found',
        driver: this.kind,
        workload: ref.key,
      });
    }
    return workload;
  }

  #ended(workload: MemoryWorkload): void {
    const exit = workload.exit;
    if (this.#closed || !exit || !this.#known.has(workload.ref.id)) return;
    const event: WorkloadExit = {
      ref: workload.ref,
      ...(exit.exitCode !== undefined ? { exitCode: exit.exitCode } : {}),
      ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
      time: exit.time,
      requested: exit.requested,
    };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(`a ${this.kind} driver exit listener threw: ${String(error)}`);
      }
    }
  }

  #status(workload: MemoryWorkload): WorkloadStatus {
    const attributes: WorkloadStatus['attributes'] = {
      state: workload.state,
      runs: workload.runs,
      ports: Object.fromEntries(workload.spec.ports.map((p) => [p.name, p.port])),
    };
    const status: WorkloadStatus = { ref: workload.ref, state: workload.state, attributes };
    if (workload.startedAt) {
      status.startedAt = workload.startedAt;
      attributes['started_at'] = workload.startedAt;
    }
    const exit = workload.exit;
    if (exit) {
      status.exitedAt = exit.time;
      attributes['exited_at'] = exit.time;
      if (exit.exitCode !== undefined) {
        status.exitCode = exit.exitCode;
        attributes['exit_code'] = exit.exitCode;
      }
      if (exit.signal !== undefined) {
        status.signal = exit.signal;
        attributes['signal'] = exit.signal;
      }
    }
    return status;
  }
}

function concat(chunks: LogChunk[]): Uint8Array {
  return Buffer.concat(chunks.map((c) => c.data));
}

/** The last `lines` lines of a text (a final line without a newline counts). */
function lastLines(data: Uint8Array, lines: number): Uint8Array {
  if (lines <= 0) return new Uint8Array();
  let found = 0;
  for (let i = data.length - 2; i >= 0; i--) {
    if (data[i] === 0x0a && ++found === lines) return data.subarray(i + 1);
  }
  return data;
}

function readText(stream: PassThrough): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (data: string) => {
      text += data;
    });
    stream.once('end', () => resolve(text));
    stream.once('close', () => resolve(text));
  });
}
