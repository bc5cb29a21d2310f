/**
 * The bare-process workload driver. Each workload gets a directory under
 * `<state>/workloads/<service>/<name>/` and a tiny `/bin/sh` supervisor (the shim, see
 * `shim-script.ts`) that outlives the agent; the driver learns of starts and exits through
 * inotify on that directory, never by polling, also for workloads it adopts after a restart.
 */
import {
  type FSWatcher,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  watch,
} from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import {
  DriverError,
  diffSpecs,
  type ExecOptions,
  type ExecSession,
  type LogChunk,
  type LogOptions,
  type Problem,
  quote,
  quoteCommand,
  type StopOptions,
  type WorkloadDescription,
  type WorkloadDiff,
  type WorkloadDriver,
  type WorkloadEvents,
  type WorkloadExit,
  type WorkloadFile,
  type WorkloadKey,
  type WorkloadListener,
  type WorkloadRef,
  type WorkloadSpec,
  type WorkloadState,
  type WorkloadStatus,
  type WorkloadUsage,
} from '@khutulun/driver';
import {
  applyLimits,
  type CgroupHost,
  cgroupUsage,
  createCgroup,
  limitFiles,
  probeCgroups,
  removeCgroup,
} from './cgroups.js';
import { readLogFiles } from './log-files.js';
import { isAlive, type ProcEntry, readStat, scanProcesses, treeUsage } from './proc-table.js';
import { execInWorkload } from './process-exec.js';
import { DEFAULT_PATH, type ProcessPlan, planProcess } from './process-plan.js';
import { ShimLauncher } from './shim-launcher.js';
import { renderEnvironment, renderShim, SHIM_SHELL, workloadCommand } from './shim-script.js';

/** Options of a `ProcessDriver`. */
export interface ProcessDriverOptions {
  /** The agent's state directory; workloads live in `<stateDirectory>/workloads`. */
  stateDirectory: string;
  /**
   * How long `create`/`restart` wait for the shim to report the workload's PID (default 60 s:
   * the wait is event-driven, and a loaded host may take seconds to start hundreds).
   */
  startTimeoutMs?: number;
  /**
   * What the host allows for cgroups (default: probed on the first workload with limits); for
   * tests and hosts that delegate a particular cgroup.
   */
  cgroups?: CgroupHost;
  /** Where the driver reports what it cannot do (e.g. apply resource limits); default: nowhere. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

/** A graph value, as attributes hold them. */
type Value = WorkloadStatus['attributes'][string];

const KIND = 'process';
const DEFAULT_GRACE_MS = 10_000;
/** How long to wait for the exit status once SIGKILL was sent. */
const KILL_WAIT_MS = 10_000;

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name]),
);

interface ExitRecord {
  time: string;
  exitCode?: number;
  signal?: string;
  lost?: boolean;
}

/** What the driver keeps per workload. */
interface Workload {
  ref: WorkloadRef;
  directory: string;
  spec: WorkloadSpec;
  state: WorkloadState;
  watcher?: FSWatcher;
  /** The shim this driver launched for the current run (absent for adopted workloads). */
  shimPid?: number;
  pid?: number;
  startedAt?: string;
  exit?: ExitRecord;
  stopRequested: boolean;
  /** Bumped on each run, so that a late event of an earlier run is ignored. */
  generation: number;
  /** Woken on every change of this workload (PID known, exit). */
  waiters: Set<() => void>;
  /** Its cgroup of its own (when it has limits and the host allows one). */
  cgroup?: string;
  /** What the driver could not do for it (e.g. limits the host does not allow). */
  warnings: string[];
}

/** `limits.json`: the workload's cgroup and the warnings about its limits. */
interface LimitsRecord {
  cgroup?: string;
  warnings: string[];
}

/** True when a spec asks for any limit. */
function hasLimits(spec: WorkloadSpec): boolean {
  return Object.values(spec.limits ?? {}).some((limit) => limit !== undefined);
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** A file the shim writes with one `echo`: its text once complete (newline-terminated). */
function readRecord(file: string): string | undefined {
  const text = readText(file);
  return text?.endsWith('\n') ? text : undefined;
}

function mtime(file: string): string {
  try {
    return statSync(file).mtime.toISOString();
  } catch {
    return new Date().toISOString();
  }
}

/** Sends a signal to a process group; false when the group no longer exists. */
function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if (errno(error) === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Signals a workload: its whole process group, or, in the instant between the shim's fork and
 * `setsid` when the group does not exist yet, the process itself. False when it is gone.
 */
function signalWorkload(pid: number, signal: NodeJS.Signals): boolean {
  if (killGroup(pid, signal)) return true;
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if (errno(error) === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Waits until an unsupervised process is gone. Only for a workload whose shim was killed:
 * nothing else can report its end, so this checks the process table every 50 ms, bounded by
 * `timeoutMs`, and only while `stop` waits.
 */
async function gone(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (pid !== undefined && isAlive(pid)) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * Runs workloads as bare processes: detached, in a session of their own, surviving the agent,
 * with logs, environment, working directory and user; exits reported through inotify.
 */
export class ProcessDriver implements WorkloadDriver {
  readonly kind = KIND;
  /** `<stateDirectory>/workloads`. */
  readonly root: string;
  readonly #startTimeoutMs: number;
  readonly #workloads = new Map<string, Workload>();
  readonly #listeners = new Set<WorkloadListener<'exit'>>();
  readonly #launcher = new ShimLauncher({ PATH: DEFAULT_PATH });
  readonly #log: NonNullable<ProcessDriverOptions['log']>;
  readonly #cgroupProbe: CgroupHost | undefined;
  #cgroups: Promise<CgroupHost> | undefined;
  #closed = false;

  constructor(options: ProcessDriverOptions) {
    this.root = join(options.stateDirectory, 'workloads');
    this.#startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.#log = options.log ?? (() => {});
    this.#cgroupProbe = options.cgroups;
  }

  /** What the host allows for limits, probed once, on the first workload with limits. */
  #cgroupHost(): Promise<CgroupHost> {
    this.#cgroups ??= this.#cgroupProbe ? Promise.resolve(this.#cgroupProbe) : probeCgroups();
    return this.#cgroups;
  }

  /** The directory of a workload: `<state>/workloads/<service>/<name>`. */
  directoryOf(key: WorkloadKey): string {
    return join(this.root, key.service, key.name);
  }

  async check(spec: WorkloadSpec): Promise<Problem[]> {
    return planProcess(spec, this.directoryOf(spec.key)).problems;
  }

  async create(spec: WorkloadSpec): Promise<WorkloadStatus> {
    const directory = this.directoryOf(spec.key);
    const plan = validPlan(spec, directory);
    const ref = refOf(spec.key);
    let workload = this.#workloads.get(ref.id);
    if (!workload && readText(join(directory, 'spec.json')) !== undefined) {
      workload = this.#adoptOne(spec.key, scanProcesses());
    }
    if (workload?.state === 'running') {
      throw new DriverError(`workload ${ref.id} is already running`, {
        code: 'already-exists',
        driver: KIND,
        workload: spec.key,
      });
    }
    workload?.watcher?.close();
    // Claimed before the first await: a concurrent create of the key finds it running.
    const fresh: Workload = {
      ref,
      directory,
      spec,
      state: 'running',
      stopRequested: false,
      generation: workload?.generation ?? 0,
      waiters: new Set(),
      warnings: [],
    };
    this.#workloads.set(ref.id, fresh);
    if (hasLimits(spec)) {
      const outcome = await createCgroup(await this.#cgroupHost(), spec.key, spec.limits ?? {});
      if (outcome.path) fresh.cgroup = outcome.path;
      fresh.warnings = outcome.warnings;
      for (const warning of outcome.warnings) this.#log('warn', `workload ${ref.id}: ${warning}`);
    } else if (workload?.cgroup) {
      await removeCgroup(workload.cgroup);
    }
    try {
      // Off the main thread, and the files in parallel: 200 creates at once are I/O bound.
      await rm(directory, { recursive: true, force: true });
      await mkdir(join(directory, 'logs'), { recursive: true });
      await Promise.all([
        writeFile(join(directory, 'env'), renderEnvironment(plan.environment), { mode: 0o600 }),
        writeFile(join(directory, 'cmdline'), `${quoteCommand(plan.argv)}\n`),
        writeFile(join(directory, 'run'), renderShim(spec.key, directory, plan, fresh.cgroup), {
          mode: 0o755,
        }),
        writeLimits(fresh),
      ]);
      // spec.json last: a directory without it is an interrupted create, which adopt removes.
      await writeFile(join(directory, 'spec.json'), `${JSON.stringify(spec, null, 2)}\n`);
    } catch (cause) {
      if (this.#workloads.get(ref.id) === fresh) this.#workloads.delete(ref.id);
      if (fresh.cgroup) await removeCgroup(fresh.cgroup);
      throw new DriverError(`cannot write the directory of ${ref.id}`, {
        code: 'io-failed',
        driver: KIND,
        workload: spec.key,
        cause,
      });
    }
    this.#watch(fresh);
    return this.#launch(fresh);
  }

  async read(ref: WorkloadRef): Promise<WorkloadStatus | undefined> {
    const workload = this.#workloads.get(ref.id);
    return workload && statusOf(workload);
  }

  /**
   * A process cannot change its command, environment, ports or mounts in place: those
   * replace. Labels (which a process does not carry) change in place, and so do limits when
   * the workload was created with limits (its cgroup exists; a new one cannot be joined by a
   * running process tree without moving it, which the driver never does).
   */
  async diff(from: WorkloadSpec, to: WorkloadSpec): Promise<WorkloadDiff> {
    return diffSpecs(from, to, inPlaceOf(from));
  }

  /**
   * Applies a spec whose `diff` has no replacements: new limits written into the workload's
   * cgroup (or warned about), the stored spec replaced. Rejects `invalid-spec` for a change
   * that needs a replacement or a spec that fails `check`.
   */
  async update(ref: WorkloadRef, spec: WorkloadSpec): Promise<WorkloadStatus> {
    const workload = this.#get(ref);
    validPlan(spec, workload.directory);
    const { replaces } = diffSpecs(workload.spec, spec, inPlaceOf(workload.spec));
    if (replaces.length > 0) {
      throw new DriverError(`cannot update ${ref.id} in place: ${replaces.join(', ')} changed`, {
        code: 'invalid-spec',
        driver: KIND,
        workload: ref.key,
        problems: replaces.map((path) => ({
          path: path.split('.'),
          message: 'cannot change in place',
        })),
      });
    }
    const limits = spec.limits ?? {};
    if (workload.cgroup) {
      workload.warnings = await applyLimits(await this.#cgroupHost(), workload.cgroup, limits);
    } else {
      workload.warnings = (Object.keys(limits) as (keyof typeof limits)[])
        .filter((name) => limits[name] !== undefined)
        .map((name) => `limits.${name} is not applied: the workload has no cgroup of its own`);
    }
    for (const warning of workload.warnings) this.#log('warn', `workload ${ref.id}: ${warning}`);
    workload.spec = spec;
    try {
      await writeLimits(workload);
      await writeFile(join(workload.directory, 'spec.json'), `${JSON.stringify(spec, null, 2)}\n`);
    } catch (cause) {
      throw new DriverError(`cannot write the directory of ${ref.id}`, {
        code: 'io-failed',
        driver: KIND,
        workload: ref.key,
        cause,
      });
    }
    return statusOf(workload);
  }

  /**
   * The workload's output from `logs/stdout.log` and `logs/stderr.log` (see `readLogFiles`):
   * it survives restarts (the shim appends) and ends with `delete`. Following uses inotify.
   */
  async *logs(ref: WorkloadRef, options: LogOptions = {}): AsyncGenerator<LogChunk> {
    const workload = this.#get(ref);
    yield* readLogFiles(join(workload.directory, 'logs'), options);
  }

  /**
   * Runs a command beside the running workload: its environment (plus `environment`), working
   * directory and user. No TTY: `tty: true` is refused with `invalid-spec` (processes have no
   * terminal). A program that cannot be started rejects `start-failed` (as the workload's user,
   * `setpriv` reports it instead: exit code 127 and a message on stderr).
   */
  async exec(ref: WorkloadRef, options: ExecOptions): Promise<ExecSession> {
    const workload = this.#get(ref);
    if (workload.state !== 'running') {
      throw new DriverError(`workload ${ref.id} is not running`, {
        code: 'exited',
        driver: KIND,
        workload: ref.key,
      });
    }
    return execInWorkload(
      ref.key,
      validPlan(workload.spec, workload.directory),
      options,
      workload.cgroup && join(workload.cgroup, 'cgroup.procs'),
    );
  }

  /**
   * The workload's process and every process under it (/proc: CPU time, resident memory);
   * with a cgroup of its own, the cgroup's figures (everything it started, forked or not).
   */
  async usage(ref: WorkloadRef): Promise<WorkloadUsage | undefined> {
    const workload = this.#get(ref);
    if (workload.state !== 'running' || workload.pid === undefined) return undefined;
    if (workload.cgroup) {
      const fromCgroup = await cgroupUsage(workload.cgroup);
      if (fromCgroup) return fromCgroup;
    }
    return treeUsage(workload.pid);
  }

  async restart(ref: WorkloadRef): Promise<WorkloadStatus> {
    const workload = this.#get(ref);
    if (workload.state === 'running') return statusOf(workload);
    // Synchronously, before the run counts as started: a late event of the last run then
    // finds no `exit` to misread as this run's.
    for (const file of ['pid', 'exit', 'stopped'])
      rmSync(join(workload.directory, file), { force: true });
    return this.#launch(workload);
  }

  async stop(ref: WorkloadRef, options: StopOptions = {}): Promise<WorkloadStatus> {
    const workload = this.#get(ref);
    if (workload.state !== 'running') return statusOf(workload);
    workload.stopRequested = true;
    // The marker tells a restarted agent that this exit was asked for.
    await writeFile(join(workload.directory, 'stopped'), `${new Date().toISOString()}\n`);
    const running = () => workload.state === 'running';
    if (workload.pid === undefined) {
      await this.#waitFor(workload, () => workload.pid !== undefined, this.#startTimeoutMs);
    }
    const pid = workload.pid;
    // Without a shim (killed by someone), no exit status will be written and no event come.
    const supervised = this.#findShim(workload) !== undefined;
    const ended = (ms: number) =>
      supervised ? this.#waitFor(workload, () => !running(), ms) : gone(pid, ms);
    if (pid !== undefined && signalWorkload(pid, 'SIGTERM')) {
      await ended(options.graceMs ?? DEFAULT_GRACE_MS);
      if (running() && (supervised || (pid !== undefined && isAlive(pid)))) {
        signalWorkload(pid, 'SIGKILL');
      }
    }
    if (running()) this.#exitWritten(workload);
    if (running() && !supervised && (await gone(pid, KILL_WAIT_MS))) {
      this.#ended(workload, { time: new Date().toISOString(), lost: true }, true);
    }
    await this.#waitFor(workload, () => !running(), KILL_WAIT_MS);
    if (running()) {
      throw new DriverError(`workload ${ref.id} survived SIGKILL`, {
        code: 'stop-failed',
        driver: KIND,
        workload: ref.key,
      });
    }
    return statusOf(workload);
  }

  async delete(ref: WorkloadRef, options: StopOptions = {}): Promise<boolean> {
    let workload = this.#workloads.get(ref.id);
    const directory = this.directoryOf(ref.key);
    if (!workload && readText(join(directory, 'spec.json')) !== undefined) {
      workload = this.#adoptOne(ref.key, scanProcesses());
    }
    if (workload?.state === 'running') await this.stop(ref, options);
    workload?.watcher?.close();
    this.#workloads.delete(ref.id);
    if (workload?.cgroup) await removeCgroup(workload.cgroup);
    let existed = workload !== undefined;
    try {
      statSync(directory);
      existed = true;
    } catch {}
    await rm(directory, { recursive: true, force: true });
    // Synchronous, so that it cannot interleave with a create's mkdir of the same service.
    try {
      rmdirSync(join(this.root, ref.key.service));
    } catch {}
    return existed;
  }

  async adopt(): Promise<WorkloadStatus[]> {
    let services: string[];
    try {
      services = readdirSync(this.root);
    } catch (error) {
      if (errno(error) === 'ENOENT') return [];
      throw error;
    }
    const processes = scanProcesses();
    for (const service of services) {
      let names: string[];
      try {
        names = readdirSync(join(this.root, service));
      } catch {
        continue;
      }
      for (const name of names) {
        const key = { service, name };
        if (!this.#workloads.has(refOf(key).id)) this.#adoptOne(key, processes);
      }
    }
    return this.list();
  }

  async list(): Promise<WorkloadStatus[]> {
    return [...this.#workloads.values()].map(statusOf);
  }

  async describe(ref: WorkloadRef): Promise<WorkloadDescription | undefined> {
    const workload = this.#workloads.get(ref.id);
    if (!workload) return undefined;
    const dir = workload.directory;
    const plan = planProcess(workload.spec, dir).plan;
    const commands = [quoteCommand([SHIM_SHELL, join(dir, 'run')])];
    commands.push(
      plan
        ? `cd ${quote(plan.workingDirectory)} && ${quoteCommand(workloadCommand(plan))}`
        : (readText(join(dir, 'cmdline'))?.trim() ?? ''),
    );
    const candidates: WorkloadFile[] = [
      { path: join(dir, 'run'), purpose: 'the shim: starts, waits for and records the workload' },
      { path: join(dir, 'cmdline'), purpose: 'the command line, shell-quoted' },
      { path: join(dir, 'env'), purpose: 'the environment, sourced by the shim' },
      { path: join(dir, 'spec.json'), purpose: 'the spec it was created from' },
      { path: join(dir, 'limits.json'), purpose: 'its cgroup, and the limits not applied' },
      { path: join(dir, 'pid'), purpose: 'the PID of the current run' },
      { path: join(dir, 'exit'), purpose: 'the exit status of the last run (128+N: signal N)' },
      { path: join(dir, 'stopped'), purpose: 'present when the last run was stopped on request' },
      { path: join(dir, 'logs', 'stdout.log'), purpose: 'standard output' },
      { path: join(dir, 'logs', 'stderr.log'), purpose: 'standard error' },
    ];
    const files = candidates.filter((file) => {
      try {
        statSync(file.path);
        return true;
      } catch {
        return false;
      }
    });
    const details: Record<string, Value> = { directory: dir };
    if (plan) {
      details['working_directory'] = plan.workingDirectory;
      details['argv'] = plan.argv;
      if (plan.user) details['user'] = plan.user.name;
    }
    if (workload.cgroup) {
      details['cgroup'] = workload.cgroup;
      for (const [file, text] of Object.entries(limitFiles(workload.spec.limits ?? {})))
        commands.push(`echo ${quote(text)} >${quote(join(workload.cgroup, file))}`);
    }
    if (workload.warnings.length) details['warnings'] = workload.warnings;
    const shim = this.#findShim(workload);
    if (shim !== undefined) details['shim_pid'] = shim;
    return { ref: workload.ref, commands, files, details };
  }

  on<E extends keyof WorkloadEvents>(event: E, listener: WorkloadListener<E>): () => void {
    if (event !== 'exit') return () => {};
    const exitListener = listener as WorkloadListener<'exit'>;
    this.#listeners.add(exitListener);
    return () => this.#listeners.delete(exitListener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#launcher.close();
    for (const workload of this.#workloads.values()) {
      workload.watcher?.close();
      for (const wake of workload.waiters) wake();
    }
    this.#workloads.clear();
  }

  #get(ref: WorkloadRef): Workload {
    const workload = this.#workloads.get(ref.id);
    if (!workload) {
      throw new DriverError(`no process workload ${ref.id}`, {
        code: 'not-found',
        driver: KIND,
        workload: ref.key,
      });
    }
    return workload;
  }

  /** Starts a run of the workload's shim and waits until it reports the workload's PID. */
  async #launch(workload: Workload): Promise<WorkloadStatus> {
    const dir = workload.directory;
    workload.generation += 1;
    const generation = workload.generation;
    workload.state = 'running';
    workload.stopRequested = false;
    delete workload.pid;
    delete workload.exit;
    delete workload.startedAt;
    delete workload.shimPid;
    let shimPid: number | undefined;
    for (let attempt = 1; shimPid === undefined; attempt++) {
      try {
        shimPid = await this.#launcher.launch(
          { file: SHIM_SHELL, args: [join(dir, 'run')], cwd: dir, env: { PATH: DEFAULT_PATH } },
          () => this.#shimExited(workload, generation),
        );
        break;
      } catch (cause) {
        // A launcher that died after taking the request may have started the shim: no orphans.
        const stray = this.#findShim(workload);
        if (stray !== undefined) killGroup(stray, 'SIGKILL');
        if (workload.pid !== undefined) killGroup(workload.pid, 'SIGKILL');
        // It started nothing (e.g. it had just died when asked): a new launcher may, once.
        const clean = stray === undefined && workload.pid === undefined;
        if (attempt === 1 && clean && workload.generation === generation) continue;
        this.#launchFailed(workload, generation, cause);
      }
    }
    if (workload.generation === generation) workload.shimPid = shimPid;
    const started = await this.#waitFor(
      workload,
      () => workload.pid !== undefined || workload.state !== 'running',
      this.#startTimeoutMs,
    );
    if (!started || workload.pid === undefined) {
      if (workload.state === 'running') {
        // The shim's session: the shim, and a workload that had not reported itself yet.
        killGroup(shimPid, 'SIGKILL');
        workload.state = 'exited';
        workload.exit = { time: new Date().toISOString(), lost: true };
      }
      throw new DriverError(`workload ${workload.ref.id} did not start`, {
        code: 'start-failed',
        driver: KIND,
        workload: workload.ref.key,
      });
    }
    return statusOf(workload);
  }

  /** A run could not be started: it ends as lost, and `create`/`restart` reject. */
  #launchFailed(workload: Workload, generation: number, cause: unknown): never {
    if (workload.generation === generation && workload.state === 'running') {
      workload.state = 'exited';
      workload.exit = { time: new Date().toISOString(), lost: true };
      this.#notify(workload);
    }
    throw new DriverError(`cannot start the shim of ${workload.ref.id}`, {
      code: 'start-failed',
      driver: KIND,
      workload: workload.ref.key,
      cause,
    });
  }

  #watch(workload: Workload): void {
    // Both events matter: 'rename' when the shim creates the file, 'change' once it wrote it.
    const watcher = watch(workload.directory, { persistent: true }, (_event, filename) => {
      if (filename === 'pid') this.#pidWritten(workload);
      else if (filename === 'exit') this.#exitWritten(workload);
    });
    // The directory vanished (delete): nothing more to report for it.
    watcher.on('error', () => watcher.close());
    workload.watcher = watcher;
  }

  #notify(workload: Workload): void {
    for (const wake of [...workload.waiters]) wake();
  }

  /** Resolves true once `done()` holds, false after `timeoutMs`. Event-driven: no polling. */
  #waitFor(workload: Workload, done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (result: boolean) => {
        clearTimeout(timer);
        workload.waiters.delete(check);
        resolve(result);
      };
      const check = () => {
        if (done()) finish(true);
        else if (this.#closed) finish(false);
      };
      const timer = setTimeout(() => finish(done()), timeoutMs);
      workload.waiters.add(check);
    });
  }

  #pidWritten(workload: Workload): void {
    if (workload.pid !== undefined || workload.state !== 'running') return;
    const file = join(workload.directory, 'pid');
    const pid = Number.parseInt(readRecord(file) ?? '', 10);
    if (!Number.isInteger(pid) || pid <= 0) return;
    workload.pid = pid;
    workload.startedAt = mtime(file);
    this.#notify(workload);
  }

  #exitWritten(workload: Workload): void {
    if (workload.state !== 'running') return;
    const file = join(workload.directory, 'exit');
    const text = readRecord(file);
    if (text === undefined) return;
    this.#pidWritten(workload);
    // Leftovers of the workload's process group go with it, as systemd does for a service.
    if (workload.pid !== undefined) killGroup(workload.pid, 'SIGKILL');
    this.#ended(workload, { time: mtime(file), ...decodeStatus(text) }, true);
  }

  /** The shim this driver spawned ended: normally after writing `exit`, else the run is lost. */
  #shimExited(workload: Workload, generation: number): void {
    if (this.#closed || workload.generation !== generation || workload.state !== 'running') return;
    this.#exitWritten(workload);
    if (workload.state !== 'running') return;
    if (workload.pid !== undefined) killGroup(workload.pid, 'SIGKILL');
    this.#ended(workload, { time: new Date().toISOString(), lost: true }, true);
  }

  #ended(workload: Workload, exit: ExitRecord, emit: boolean): void {
    workload.state = workload.stopRequested ? 'stopped' : 'exited';
    workload.exit = exit;
    this.#notify(workload);
    if (!emit || this.#closed) return;
    const event: WorkloadExit = {
      ref: workload.ref,
      ...(workload.pid !== undefined ? { pid: workload.pid } : {}),
      ...(exit.exitCode !== undefined ? { exitCode: exit.exitCode } : {}),
      ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
      time: exit.time,
      requested: workload.stopRequested,
      ...(exit.lost ? { lost: true } : {}),
    };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(`a process driver exit listener threw: ${String(error)}`);
      }
    }
  }

  /** The live shim of a workload, by its command line `/bin/sh <dir>/run`. */
  #findShim(workload: Workload, processes?: ProcEntry[]): number | undefined {
    const pid = workload.shimPid;
    if (pid !== undefined && this.#launcher.watches(pid) && isAlive(pid)) return pid;
    const run = join(workload.directory, 'run');
    return (processes ?? scanProcesses()).find((p) => p.argv[0] === SHIM_SHELL && p.argv[1] === run)
      ?.pid;
  }

  /**
   * Re-attaches to a workload found on disk. Exits that happened while no driver watched are
   * recorded without an event; a workload whose shim is gone cannot be watched, so it is
   * killed and reported as lost (no orphans).
   */
  #adoptOne(key: WorkloadKey, processes: ProcEntry[]): Workload | undefined {
    const ref = refOf(key);
    const directory = this.directoryOf(key);
    let spec: WorkloadSpec;
    try {
      spec = JSON.parse(readText(join(directory, 'spec.json')) ?? '') as WorkloadSpec;
    } catch {
      // An interrupted create: nothing was started without a spec, so nothing is lost.
      rmSync(directory, { recursive: true, force: true });
      return undefined;
    }
    const workload: Workload = {
      ref,
      directory,
      spec,
      state: 'running',
      stopRequested: readText(join(directory, 'stopped')) !== undefined,
      generation: 1,
      waiters: new Set(),
      ...readLimits(directory),
    };
    this.#workloads.set(ref.id, workload);
    // Watch first, then read: an exit written in between still arrives as an event.
    this.#watch(workload);
    const pidFile = join(directory, 'pid');
    const pid = Number.parseInt(readRecord(pidFile) ?? '', 10);
    if (Number.isInteger(pid) && pid > 0) {
      workload.pid = pid;
      workload.startedAt = mtime(pidFile);
    }
    const exitFile = join(directory, 'exit');
    const status = readRecord(exitFile);
    const shim = this.#findShim(workload, processes);
    if (status !== undefined) {
      if (workload.pid !== undefined) {
        for (const p of processes) if (p.session === workload.pid) killGroup(p.pgrp, 'SIGKILL');
      }
      this.#ended(workload, { time: mtime(exitFile), ...decodeStatus(status) }, false);
    } else if (shim === undefined) {
      const stat = workload.pid === undefined ? undefined : readStat(workload.pid);
      if (stat && stat.session === workload.pid && isAlive(workload.pid))
        killGroup(workload.pid, 'SIGKILL');
      this.#ended(workload, { time: new Date().toISOString(), lost: true }, false);
    }
    return workload;
  }
}

function refOf(key: WorkloadKey): WorkloadRef {
  return {
    kind: KIND,
    key: { service: key.service, name: key.name },
    id: `${key.service}/${key.name}`,
  };
}

/** The spec's plan, or an `invalid-spec` error listing its problems. */
function validPlan(spec: WorkloadSpec, directory: string): ProcessPlan {
  const { problems, plan } = planProcess(spec, directory);
  if (plan) return plan;
  const listed = problems.map((p) => `${p.path.join('.') || 'spec'}: ${p.message}`).join('; ');
  throw new DriverError(`invalid process spec: ${listed}`, {
    code: 'invalid-spec',
    driver: KIND,
    workload: spec.key,
    problems,
  });
}

/** Decodes the shim's `$?`: 128+N means killed by signal N (as the shell reports it). */
function decodeStatus(text: string): { exitCode?: number; signal?: string; lost?: boolean } {
  const code = Number.parseInt(text, 10);
  if (!Number.isInteger(code)) return { lost: true };
  const signal = code > 128 ? SIGNAL_NAMES.get(code - 128) : undefined;
  return signal ? { signal } : { exitCode: code };
}

/** The paths `diff` marks in place: labels always, limits when the workload has them (a cgroup). */
function inPlaceOf(from: WorkloadSpec): string[] {
  return hasLimits(from) ? ['labels', 'limits.'] : ['labels'];
}

/** Writes `limits.json` (the cgroup, for delete and adoption; the warnings, for status). */
function writeLimits(workload: Workload): Promise<void> {
  const record: LimitsRecord = {
    ...(workload.cgroup ? { cgroup: workload.cgroup } : {}),
    warnings: workload.warnings,
  };
  return writeFile(join(workload.directory, 'limits.json'), `${JSON.stringify(record)}\n`);
}

/** Reads `limits.json` of an adopted workload (none: no cgroup, no warnings). */
function readLimits(directory: string): { cgroup?: string; warnings: string[] } {
  try {
    const record = JSON.parse(readText(join(directory, 'limits.json')) ?? '') as LimitsRecord;
    return {
      ...(typeof record.cgroup === 'string' ? { cgroup: record.cgroup } : {}),
      warnings: Array.isArray(record.warnings) ? record.warnings.map(String) : [],
    };
  } catch {
    return { warnings: [] };
  }
}

function statusOf(workload: Workload): WorkloadStatus {
  const attributes: Record<string, Value> = {
    state: workload.state,
    directory: workload.directory,
    stdout_log: join(workload.directory, 'logs', 'stdout.log'),
    stderr_log: join(workload.directory, 'logs', 'stderr.log'),
    ports: Object.fromEntries(workload.spec.ports.map((p) => [p.name, p.port])),
  };
  if (workload.cgroup) attributes['cgroup'] = workload.cgroup;
  if (workload.warnings.length) attributes['warnings'] = [...workload.warnings];
  const status: WorkloadStatus = { ref: workload.ref, state: workload.state, attributes };
  if (workload.pid !== undefined) {
    status.pid = workload.pid;
    attributes['pid'] = workload.pid;
  }
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
