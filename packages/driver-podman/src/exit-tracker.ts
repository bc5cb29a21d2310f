/**
 * What the driver knows of each container's current run, so that every exit is reported
 * once: from its `died` event, or, when the event stream was down, from the resync that
 * follows the reconnect. Pure bookkeeping: the driver feeds it events and listings.
 */
import type { WorkloadExit, WorkloadKey, WorkloadRef } from '@khutulun/driver';
import { signalOf } from './libpod-bodies.js';
import type { LibpodEvent } from './libpod-types.js';

/** One container's current run (for a pod: its infra container's). */
interface Run {
  ref: WorkloadRef;
  running: boolean;
  pid?: number;
  /** Nanoseconds since the epoch: a `died` event older than this belongs to an earlier run. */
  startedAt?: bigint;
  /** The exit of this run was reported. */
  reported: boolean;
  /** The listing sequence when it was expected: a listing begun before knows nothing of it. */
  since: number;
}

/** A container as a listing shows it. */
export interface ListedContainer {
  containerId: string;
  ref: WorkloadRef;
  running: boolean;
  pid?: number;
  /** Unix seconds, as libpod's listing has them. */
  startedAt?: number;
  exitedAt?: number;
  exitCode?: number;
}

const keyId = (key: WorkloadKey) => `${key.service}/${key.name}`;

/** Nanoseconds since the epoch of an RFC 3339 time with up to nine fractional digits. */
export function nanos(time: string | undefined): bigint | undefined {
  if (!time) return undefined;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9));
}

/** The runs of one driver's containers, and the exits they end with. */
export class ExitTracker {
  /** By container ID. */
  readonly #runs = new Map<string, Run>();
  /** Workloads whose next exit was asked for (`stop`, `delete`), by `service/name`. */
  readonly #stopping = new Set<string>();
  readonly #emit: (exit: WorkloadExit) => void;
  #sequence = 0;
  /** Events that arrive while a listing is on its way, replayed once it is applied. */
  #held: LibpodEvent[] | undefined;

  constructor(emit: (exit: WorkloadExit) => void) {
    this.#emit = emit;
  }

  /** Marks a workload's coming exit as requested (until it runs again, whoever starts it). */
  stopping(key: WorkloadKey): void {
    this.#stopping.add(keyId(key));
  }

  isStopping(key: WorkloadKey): boolean {
    return this.#stopping.has(keyId(key));
  }

  /** The workload of a container it knows, if any. */
  refOf(containerId: string): WorkloadRef | undefined {
    return this.#runs.get(containerId)?.ref;
  }

  /** Whether it knows the container's run as ended (its exit reported or learnt). */
  ended(containerId: string): boolean {
    const run = this.#runs.get(containerId);
    return run !== undefined && !run.running;
  }

  /**
   * Expects a new run, before the engine is asked to start it: its exit is reported however
   * soon it comes; a `died` event from before now belongs to an earlier run. Clears the
   * workload's requested stop.
   */
  expectRun(ref: WorkloadRef, containerId: string): void {
    this.#stopping.delete(keyId(ref.key));
    this.#runs.set(containerId, {
      ref,
      running: true,
      reported: false,
      startedAt: BigInt(Date.now()) * 1_000_000n,
      since: ++this.#sequence,
    });
  }

  /** Adds what the engine said of a run just started (its PID and exact start time). */
  learn(containerId: string, pid: number | undefined, startedAt: string | undefined): void {
    const run = this.#runs.get(containerId);
    if (!run?.running) return;
    if (pid) run.pid = pid;
    const started = nanos(startedAt);
    if (started !== undefined) run.startedAt = started;
  }

  /** Forgets a container (removed, or its create failed). */
  forget(containerId: string): void {
    this.#runs.delete(containerId);
  }

  /** Handles one libpod container event: `start` begins a run, `died` ends it. */
  event(event: LibpodEvent): void {
    if (this.#held && !this.#runs.has(event.Actor?.ID)) {
      // Maybe about a container the listing will bring: after it.
      this.#held.push(event);
      return;
    }
    const run = this.#runs.get(event.Actor?.ID);
    if (!run) return;
    const at =
      event.timeNano !== undefined ? BigInt(event.timeNano) : BigInt(event.time) * 1_000_000_000n;
    if (event.Action === 'start') {
      // Started by someone else (the driver's own starts are expected already): a pod's
      // member by its pod's start, or a sysadmin's `podman start`. A stop asked for before
      // was of the run before: this one's exit is not requested.
      if (!run.running && (run.startedAt === undefined || at >= run.startedAt)) {
        this.#stopping.delete(keyId(run.ref.key));
        run.running = true;
        run.reported = false;
        run.startedAt = at;
        delete run.pid;
      }
      return;
    }
    if (event.Action !== 'died') return;
    if (run.reported || (run.startedAt !== undefined && at < run.startedAt)) return;
    const code = Number(event.Actor.Attributes?.containerExitCode);
    this.#report(run, {
      ...(Number.isFinite(code) ? { exitCode: code } : {}),
      time: new Date(Number(at / 1_000_000n)).toISOString(),
    });
  }

  /**
   * Compares a fresh listing with what it knew: a run known as running that has ended is
   * reported (its event was missed while the stream was down); a known run gone from the
   * listing was removed meanwhile (reported as lost); containers not known before are learnt
   * without an event. Runs expected after the listing began are left alone.
   */
  async resync(list: () => Promise<ListedContainer[]>): Promise<void> {
    const mark = this.#sequence;
    const held: LibpodEvent[] = [];
    this.#held = held;
    let listed: ListedContainer[];
    try {
      listed = await list();
    } finally {
      if (this.#held === held) this.#held = undefined;
    }
    const seen = new Set<string>();
    for (const c of listed) {
      seen.add(c.containerId);
      const run = this.#runs.get(c.containerId);
      if (!run) {
        this.#runs.set(c.containerId, {
          ref: c.ref,
          running: c.running,
          reported: !c.running,
          ...(c.pid ? { pid: c.pid } : {}),
          ...(c.startedAt ? { startedAt: BigInt(c.startedAt) * 1_000_000_000n } : {}),
          since: mark,
        });
        continue;
      }
      if (run.since > mark) continue;
      if (run.running && !c.running && !run.reported) {
        this.#report(run, {
          ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
          time: new Date(c.exitedAt ? c.exitedAt * 1000 : Date.now()).toISOString(),
        });
      } else if (!run.running && c.running) {
        run.running = true;
        run.reported = false;
        if (c.pid) run.pid = c.pid;
      }
    }
    for (const [id, run] of this.#runs) {
      if (seen.has(id) || run.since > mark) continue;
      this.#runs.delete(id);
      if (run.running && !run.reported)
        this.#report(run, { time: new Date().toISOString(), lost: true });
    }
    for (const event of held) this.event(event);
  }

  #report(run: Run, exit: { exitCode?: number; time: string; lost?: boolean }): void {
    run.running = false;
    run.reported = true;
    const event: WorkloadExit = {
      ref: run.ref,
      time: exit.time,
      requested: this.#stopping.has(keyId(run.ref.key)),
    };
    if (run.pid) event.pid = run.pid;
    if (exit.exitCode !== undefined) {
      event.exitCode = exit.exitCode;
      const signal = signalOf(exit.exitCode);
      if (signal) event.signal = signal;
    }
    if (exit.lost) event.lost = true;
    this.#emit(event);
  }
}
