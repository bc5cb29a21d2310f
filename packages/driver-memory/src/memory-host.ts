/**
 * The simulated host of the in-memory driver: the workloads "running" on it, which outlive
 * any one driver instance (pass the same host to a second `MemoryDriver` to simulate an agent
 * restart), and the controls a test uses to script what happens to them.
 */
import {
  DriverError,
  type LogChunk,
  type WorkloadKey,
  type WorkloadRef,
  type WorkloadSpec,
  type WorkloadState,
  type WorkloadUsage,
} from '@khutulun/driver';

/** One run's end, as the host records it. */
export interface MemoryExit {
  time: string;
  exitCode?: number;
  signal?: string;
  /** True when `stop` or `delete` asked for it. */
  requested: boolean;
}

/** A workload on the simulated host. */
export interface MemoryWorkload {
  ref: WorkloadRef;
  spec: WorkloadSpec;
  state: WorkloadState;
  /** How many runs it has had (1 after `create`). */
  runs: number;
  startedAt?: string;
  exit?: MemoryExit;
  /** Everything it wrote, in order, across runs (as `logs` reads it). */
  output: LogChunk[];
  /** What `usage` reports while it runs (a test sets it; default 0 s of CPU and 1 MiB). */
  usage?: WorkloadUsage;
}

/** One call the drivers made on the host, in order: what agent tests assert sequences on. */
export interface MemoryOperation {
  op: 'create' | 'update' | 'restart' | 'stop' | 'delete' | 'exec';
  key: WorkloadKey;
  kind: string;
}

/** A command run by `exec`, as an exec handler sees it. */
export interface MemoryExecRequest {
  ref: WorkloadRef;
  spec: WorkloadSpec;
  command: string[];
  environment: Record<string, string>;
  /** Everything written to stdin (empty without `stdin: true`). */
  stdin: string;
  tty: boolean;
}

/** A scripted answer to an `exec`. */
export interface MemoryExecAnswer {
  stdout?: string;
  stderr?: string;
  /** The exit code (default 0). */
  code?: number;
}

/**
 * Answers an `exec`; `undefined` passes it on to the next handler (the last is the built-in
 * one, see `builtinExec`).
 */
export type MemoryExecHandler = (
  request: MemoryExecRequest,
) => MemoryExecAnswer | undefined | Promise<MemoryExecAnswer | undefined>;

/** What an attached driver hears from the host. */
export interface MemoryHostListener {
  /** A run of a workload ended (on its own, by a control, or on request). */
  ended(workload: MemoryWorkload): void;
  /** A workload wrote output. */
  wrote(workload: MemoryWorkload, chunk: LogChunk): void;
  /** A workload was removed. */
  removed(workload: MemoryWorkload): void;
}

/** The operations a test can make fail once, by key. */
export type MemoryFailure = 'create' | 'restart' | 'stop' | 'update' | 'delete';

function keyId(key: WorkloadKey): string {
  return `${key.service}/${key.name}`;
}

/**
 * The built-in `exec` commands, so that a test needs no handler for simple ones:
 * `true`, `false`, `echo WORDS...`, `cat` (stdin to stdout), `emit OUT ERR CODE` (a line to
 * each stream and that exit code), `exit CODE`. Anything else: 127, as a shell says it.
 */
export function builtinExec(request: MemoryExecRequest): MemoryExecAnswer {
  const [program, ...args] = request.command;
  switch (program) {
    case 'true':
      return { code: 0 };
    case 'false':
      return { code: 1 };
    case 'echo':
      return { stdout: `${args.join(' ')}\n` };
    case 'cat':
      return { stdout: request.stdin };
    case 'emit':
      return { stdout: `${args[0] ?? ''}\n`, stderr: `${args[1] ?? ''}\n`, code: Number(args[2]) };
    case 'exit':
      return { code: Number(args[0] ?? 0) };
    default:
      return { stderr: `memory: ${program}: command not found\n`, code: 127 };
  }
}

/**
 * The simulated host. Drivers attach to it; tests reach its workloads by key and script them:
 * `crash`, `write`, `failNext`, `onExec`. Everything happens at once (no timers), except what
 * a spec or a control asks to happen later.
 */
export class MemoryHost {
  readonly #workloads = new Map<string, MemoryWorkload>();
  readonly #listeners = new Set<MemoryHostListener>();
  /** Scripted failures by `<op> <service>/<name>`; `undefined`: the default error. */
  readonly #failures = new Map<string, unknown>();
  readonly #execHandlers: MemoryExecHandler[] = [];
  /** Pending self-exits of runs (`exit_code`), cancelled when the run ends otherwise. */
  readonly #pending = new Map<string, () => void>();
  #nextId = 1;
  /** Every call the drivers made, in order (see `MemoryOperation`). */
  readonly operations: MemoryOperation[] = [];

  /** The workload of a key (any kind), or `undefined`. */
  get(key: WorkloadKey): MemoryWorkload | undefined {
    return this.#workloads.get(keyId(key));
  }

  /** The workload a ref names (the same id: a ref of a replaced workload names nothing). */
  byRef(ref: WorkloadRef): MemoryWorkload | undefined {
    const workload = this.#workloads.get(keyId(ref.key));
    return workload && workload.ref.id === ref.id && workload.ref.kind === ref.kind
      ? workload
      : undefined;
  }

  /** Every workload of a kind. */
  all(kind: string): MemoryWorkload[] {
    return [...this.#workloads.values()].filter((w) => w.ref.kind === kind);
  }

  /**
   * Ends a running workload as a crash would: an `exit` event with `requested: false` and this
   * exit code (default 1) or signal. Throws when the workload is not running.
   */
  crash(target: WorkloadKey | WorkloadRef, end: number | { signal: string } = 1): void {
    const workload = this.#running(target);
    this.end(
      workload,
      typeof end === 'number'
        ? { exitCode: end, requested: false }
        : { signal: end.signal, requested: false },
    );
  }

  /** Writes output for a workload (followers of its `logs` receive it). */
  write(target: WorkloadKey | WorkloadRef, stream: LogChunk['stream'], text: string): void {
    const workload = this.#workloads.get(keyId(targetKey(target)));
    if (!workload) throw new Error(`memory host: no workload ${keyId(targetKey(target))}`);
    const chunk: LogChunk = { stream, data: new TextEncoder().encode(text) };
    workload.output.push(chunk);
    for (const listener of this.#listeners) listener.wrote(workload, chunk);
  }

  /**
   * Makes the next `operation` of a key fail with `error` (default: a `DriverError` of the
   * matching code: `start-failed` for `create`, `restart` and `update`, `stop-failed` for
   * `stop`, `io-failed` for `delete`). Once; the workload is left as it was.
   */
  failNext(operation: MemoryFailure, key: WorkloadKey, error?: unknown): void {
    this.#failures.set(`${operation} ${keyId(key)}`, error);
  }

  /** `failNext('create', key, error)`. */
  failNextCreate(key: WorkloadKey, error?: unknown): void {
    this.failNext('create', key, error);
  }

  /** Adds an exec handler (tried before earlier ones); returns its remover. */
  onExec(handler: MemoryExecHandler): () => void {
    this.#execHandlers.unshift(handler);
    return () => {
      const index = this.#execHandlers.indexOf(handler);
      if (index >= 0) this.#execHandlers.splice(index, 1);
    };
  }

  // The rest is for `MemoryDriver`.

  /** @internal Attaches a driver; returns its detacher. */
  attach(listener: MemoryHostListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @internal Records an operation and throws its scripted failure, if any. */
  enter(op: MemoryOperation['op'], key: WorkloadKey, kind: string): void {
    this.operations.push({ op, key: { service: key.service, name: key.name }, kind });
    const id = `${op} ${keyId(key)}`;
    if (!this.#failures.has(id)) return;
    const error = this.#failures.get(id);
    this.#failures.delete(id);
    throw error ?? defaultFailure(op, key, kind);
  }

  /** @internal Puts a new workload on the host (replacing an ended one of the key). */
  put(kind: string, spec: WorkloadSpec): MemoryWorkload {
    const previous = this.#workloads.get(keyId(spec.key));
    if (previous) this.remove(previous);
    const workload: MemoryWorkload = {
      ref: {
        kind,
        key: { service: spec.key.service, name: spec.key.name },
        id: `${kind}-${this.#nextId++}`,
      },
      spec,
      state: 'exited',
      runs: 0,
      output: [],
    };
    this.#workloads.set(keyId(spec.key), workload);
    return workload;
  }

  /** @internal Starts a run: its output at once, its own exit (`exit_code`) after a turn. */
  start(workload: MemoryWorkload): void {
    workload.state = 'running';
    workload.runs += 1;
    workload.startedAt = new Date().toISOString();
    delete workload.exit;
    const p = workload.spec.properties;
    if (typeof p['stdout'] === 'string') this.write(workload.ref, 'stdout', p['stdout']);
    if (typeof p['stderr'] === 'string') this.write(workload.ref, 'stderr', p['stderr']);
    const code = p['exit_code'];
    if (typeof code !== 'number') return;
    // After the caller has its status: a workload that "ends at once" still ends after create.
    const delay = p['exit_after_ms'];
    const run = workload.runs;
    const fire = () => {
      this.#pending.delete(workload.ref.id);
      if (workload.runs === run && workload.state === 'running')
        this.end(workload, { exitCode: code, requested: false });
    };
    if (typeof delay === 'number' && delay > 0) {
      const timer = setTimeout(fire, delay);
      this.#pending.set(workload.ref.id, () => clearTimeout(timer));
    } else {
      const immediate = setImmediate(fire);
      this.#pending.set(workload.ref.id, () => clearImmediate(immediate));
    }
  }

  /** @internal Ends the current run and tells every attached driver. */
  end(workload: MemoryWorkload, exit: Omit<MemoryExit, 'time'>): void {
    if (workload.state !== 'running') return;
    this.#pending.get(workload.ref.id)?.();
    this.#pending.delete(workload.ref.id);
    workload.state = exit.requested ? 'stopped' : 'exited';
    workload.exit = { time: new Date().toISOString(), ...exit };
    for (const listener of this.#listeners) listener.ended(workload);
  }

  /** @internal Removes a workload (its run must have ended). */
  remove(workload: MemoryWorkload): void {
    this.#pending.get(workload.ref.id)?.();
    this.#pending.delete(workload.ref.id);
    if (this.#workloads.get(keyId(workload.ref.key)) === workload)
      this.#workloads.delete(keyId(workload.ref.key));
    for (const listener of this.#listeners) listener.removed(workload);
  }

  /** @internal Answers an exec by the handlers, then the built-in commands. */
  async answer(request: MemoryExecRequest): Promise<MemoryExecAnswer> {
    for (const handler of [...this.#execHandlers]) {
      const answer = await handler(request);
      if (answer) return answer;
    }
    return builtinExec(request);
  }

  #running(target: WorkloadKey | WorkloadRef): MemoryWorkload {
    const workload = this.#workloads.get(keyId(targetKey(target)));
    if (workload?.state !== 'running')
      throw new Error(`memory host: ${keyId(targetKey(target))} is not running`);
    return workload;
  }
}

function targetKey(target: WorkloadKey | WorkloadRef): WorkloadKey {
  return 'key' in target ? target.key : target;
}

function defaultFailure(operation: string, key: WorkloadKey, kind: string): DriverError {
  const code =
    operation === 'stop' ? 'stop-failed' : operation === 'delete' ? 'io-failed' : 'start-failed';
  return new DriverError(`scripted failure of ${operation} for ${keyId(key)}`, {
    code,
    driver: kind,
    workload: key,
  });
}
