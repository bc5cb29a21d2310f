/**
 * The fence watchdog: a small process of its own per host (per state directory) that stops
 * the host's workloads when the agent's lease on it expires, so that a host fences even when
 * its agent cannot (SIGKILLed, crashed, stuck).
 *
 * The agent starts it detached (its own session and process group, so it outlives the agent)
 * when it joins a cluster, and holds a lease on it over a Unix socket
 * (`<state>/cluster/fence-watchdog.sock`): one `renew` line each time one of the agent's own
 * heartbeats comes back (`Membership.onRenewed`). Each renewal re-arms one timer; nothing
 * polls. When no renewal came for `leaseMs`, the watchdog opens the host's workload kinds
 * (the same drivers the agent uses), stops every running workload (stop, never delete),
 * and adds what it stopped to `<state>/cluster/fenced-workloads.json` for the next agent.
 *
 * Then it waits while an agent is connected (its renewals re-arm the lease: that agent handles
 * the restart), and exits once none is. A clean shutdown of the agent says `bye`: the watchdog
 * exits without fencing. A new agent on the same state directory connects to the running
 * watchdog instead of starting another.
 *
 * Protocol, one line each way at a time: the agent sends `hello {config}` (the host, the kinds,
 * the bounds; the latest agent's hold), then `renew` lines, and `bye` on a clean shutdown; the
 * watchdog answers a hello with `ready {"pid":…,"fences":…}`, after any fence in progress has
 * finished (so the agent never recovers while the watchdog is still stopping workloads).
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { WorkloadKind, WorkloadRef } from '@khutulun/driver';
import {
  addToFenceRecord,
  type FenceRecord,
  type FenceWatchdogPaths,
  fenceWatchdogPaths,
} from './fence-watchdog-record.js';
import { WorkloadKinds } from './workload-kinds.js';

/** How the watchdog of a host runs: sent by the agent at start and with every hello. */
export interface FenceWatchdogConfig {
  /** The agent's state directory (the drivers' files, the watchdog's own under `cluster/`). */
  stateDir: string;
  /** This host's name, as the drivers label what they make. */
  host: string;
  /** The workload kinds the agent offers, by name. */
  kinds: string[];
  /** How long without a renewal before the watchdog fences ({@link fenceLeaseMs}). */
  leaseMs: number;
  /** How long each workload is given between SIGTERM and SIGKILL when fenced. */
  graceMs: number;
}

/** How the watchdog's workload kinds are loaded, by name (its composition root decides). */
export type KindLoader = (names: readonly string[]) => Promise<WorkloadKind[]>;

/** What a kind needs done after the watchdog closed its driver (e.g. stop a service it started). */
export interface KindCleanup {
  /** Called before the kinds are opened; returns what to do after they are closed. */
  before(config: FenceWatchdogConfig): () => Promise<void>;
}

/** What the watchdog writes to its log. */
export type WatchdogLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

/** How long a hello waits at most for a fence in progress before the watchdog answers. */
const ANSWER_AFTER_FENCE_MS = 60_000;

type WatchdogState = 'armed' | 'fencing' | 'fenced' | 'exiting';

/**
 * The watchdog of one state directory. {@link FenceWatchdog.listen} binds its socket, arms the
 * lease and resolves once it serves; the process exits through `exit` when it is done.
 */
export class FenceWatchdog {
  readonly #paths: FenceWatchdogPaths;
  #config: FenceWatchdogConfig;
  readonly #loadKinds: KindLoader;
  readonly #cleanups: KindCleanup[];
  readonly #log: WatchdogLog;
  readonly #exit: (code: number) => void;
  readonly #connections = new Set<Socket>();
  #server?: Server;
  #state: WatchdogState = 'armed';
  #timer?: NodeJS.Timeout;
  /** Monotonic time of the last renewal (or of the start). */
  #renewedAt = performance.now();
  #renewedWhileFencing = false;
  #fences = 0;
  #fencing?: Promise<void>;

  constructor(options: {
    config: FenceWatchdogConfig;
    loadKinds: KindLoader;
    cleanups?: KindCleanup[];
    log: WatchdogLog;
    exit: (code: number) => void;
  }) {
    this.#config = options.config;
    this.#paths = fenceWatchdogPaths(options.config.stateDir);
    this.#loadKinds = options.loadKinds;
    this.#cleanups = options.cleanups ?? [];
    this.#log = options.log;
    this.#exit = options.exit;
  }

  /**
   * Serves on `<state>/cluster/fence-watchdog.sock` and arms the lease (a watchdog whose agent
   * dies before its first renewal still fences). Resolves `false` without serving when another
   * watchdog already answers on the socket.
   */
  async listen(): Promise<boolean> {
    mkdirSync(this.#paths.directory, { recursive: true, mode: 0o700 });
    if (await answers(this.#paths.socket)) return false;
    rmSync(this.#paths.socket, { force: true });
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#paths.socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.#paths.socket, 0o600);
    this.#server = server;
    writeFileSync(this.#paths.pid, `${process.pid}\n`);
    this.#renewedAt = performance.now();
    this.#timer = setTimeout(() => this.#expired(), this.#config.leaseMs);
    this.#log(
      'info',
      `watching host ${this.#config.host} (kinds ${this.#config.kinds.join(', ') || 'none'}): ` +
        `fences after ${this.#config.leaseMs} ms without a renewal`,
    );
    return true;
  }

  #accept(socket: Socket): void {
    this.#connections.add(socket);
    socket.setEncoding('utf8');
    let buffer = '';
    let greeted = false;
    let said = false;
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line === 'renew') this.#renew();
        else if (line === 'bye') {
          said = true;
          this.#bye();
        } else if (line.startsWith('hello ')) {
          greeted = true;
          this.#hello(socket, line.slice(6));
        }
      }
    });
    socket.on('error', () => {
      // The agent went away: 'close' follows.
    });
    socket.on('close', () => {
      this.#connections.delete(socket);
      if (said || this.#state === 'exiting') return;
      // No goodbye: the agent died (or lost the socket). The lease runs on: a new agent that
      // renews in time keeps the workloads; otherwise the watchdog fences.
      if (greeted) this.#log('warn', 'the agent went away without a goodbye; the lease runs on');
      if (this.#state === 'fenced' && this.#connections.size === 0) this.#quit('fenced, no agent');
    });
  }

  /** The one thing done per heartbeat: re-arm the timer (no allocation beyond the line). */
  #renew(): void {
    this.#renewedAt = performance.now();
    if (this.#state === 'armed') this.#timer?.refresh();
    else if (this.#state === 'fenced') {
      this.#log('info', 'renewed after the fence: armed again');
      this.#state = 'armed';
      this.#timer = setTimeout(() => this.#expired(), this.#config.leaseMs);
    } else if (this.#state === 'fencing') this.#renewedWhileFencing = true;
  }

  #hello(socket: Socket, text: string): void {
    try {
      const config = JSON.parse(text) as Partial<FenceWatchdogConfig>;
      // The state directory is the watchdog's identity; the rest follows the latest agent.
      this.#config = {
        ...this.#config,
        ...(config.host ? { host: config.host } : {}),
        ...(Array.isArray(config.kinds) ? { kinds: config.kinds } : {}),
        ...(config.leaseMs && config.leaseMs > 0 ? { leaseMs: config.leaseMs } : {}),
        ...(config.graceMs && config.graceMs >= 0 ? { graceMs: config.graceMs } : {}),
      };
    } catch {
      this.#log('warn', 'a hello that is no JSON; keeping the configuration');
    }
    if (this.#state === 'armed') {
      // A timer keeps the duration it was made with (refresh() reuses it): a new bound needs a
      // new timer. The lease itself still counts from the last renewal.
      clearTimeout(this.#timer);
      const left = this.#config.leaseMs - (performance.now() - this.#renewedAt);
      this.#timer = setTimeout(() => this.#expired(), Math.max(0, left));
    }
    const answer = () => {
      if (!socket.destroyed)
        socket.write(`ready ${JSON.stringify({ pid: process.pid, fences: this.#fences })}\n`);
    };
    if (this.#fencing) {
      const timeout = new Promise((resolve) => setTimeout(resolve, ANSWER_AFTER_FENCE_MS).unref());
      void Promise.race([this.#fencing, timeout]).then(answer);
    } else answer();
  }

  #bye(): void {
    if (this.#state === 'fencing') {
      // A fence has begun: it finishes (and is recorded) before the watchdog goes.
      void this.#fencing?.then(() => this.#quit('the agent left cleanly'));
      return;
    }
    this.#quit('the agent left cleanly; nothing stopped');
  }

  #expired(): void {
    if (this.#state !== 'armed') return;
    const since = performance.now() - this.#renewedAt;
    // A late or early timer re-checks rather than trusting its own firing.
    if (since < this.#config.leaseMs) {
      // (A renewal's refresh() then reuses this shorter duration: it fires early and lands
      // here again, which re-checks. Correct either way; a timer never fences by itself.)
      this.#timer = setTimeout(() => this.#expired(), this.#config.leaseMs - since);
      return;
    }
    this.#fencing = this.#fence(Math.round(since)).finally(() => {
      this.#fencing = undefined;
    });
  }

  async #fence(sinceMs: number): Promise<void> {
    if (!existsSync(this.#config.stateDir)) {
      // The state directory was removed (the host decommissioned, a test's cleanup): there is
      // nothing left to fence or to record, and no agent can come back to it.
      this.#quit('the state directory is gone');
      return;
    }
    this.#state = 'fencing';
    this.#renewedWhileFencing = false;
    const config = this.#config;
    const started = performance.now();
    this.#log(
      'warn',
      `no renewal for ${sinceMs} ms (lease ${config.leaseMs} ms): stopping every workload of host ${config.host}`,
    );
    const afterwards = this.#cleanups.map((cleanup) => cleanup.before(config));
    let kinds: WorkloadKinds | undefined;
    const stopped: WorkloadRef[] = [];
    const failed: FenceRecord['failed'] = [];
    try {
      const loaded = await this.#loadKinds(config.kinds);
      kinds = await WorkloadKinds.open(loaded, {
        stateDirectory: config.stateDir,
        host: config.host,
        log: this.#log,
      });
      const opened = kinds;
      const running = (await opened.adopt()).filter((status) => status.state === 'running');
      await Promise.all(
        running.map(async ({ ref }) => {
          try {
            await opened.driverOf(ref).stop(ref, { graceMs: config.graceMs });
            stopped.push(ref);
          } catch (error) {
            failed.push({ ref, message: (error as Error).message });
          }
        }),
      );
    } catch (error) {
      this.#log('error', `cannot open the workload kinds: ${(error as Error).message}`);
    } finally {
      await kinds?.close().catch(() => undefined);
      for (const after of afterwards) await after().catch(() => undefined);
    }
    this.#fences++;
    if (!existsSync(config.stateDir)) {
      this.#quit('the state directory is gone');
      return;
    }
    try {
      if (stopped.length || failed.length)
        addToFenceRecord(config.stateDir, {
          fencedAt: new Date().toISOString(),
          leaseMs: config.leaseMs,
          stopped,
          failed,
        });
    } catch (error) {
      this.#log('error', `cannot write the fence record: ${(error as Error).message}`);
    }
    this.#log(
      'warn',
      `fenced: stopped ${stopped.length} workloads in ${Math.round(performance.now() - started)} ms` +
        (stopped.length ? ` (${stopped.map((ref) => `${ref.kind} ${ref.id}`).join(', ')})` : '') +
        (failed.length
          ? `; failed to stop ${failed.map((f) => `${f.ref.id}: ${f.message}`).join('; ')}`
          : ''),
    );
    if (this.#state !== 'fencing') return;
    this.#state = 'fenced';
    if (this.#renewedWhileFencing) this.#renew();
    else if (this.#connections.size === 0) this.#quit('fenced, no agent');
  }

  /** Stops serving and exits: the socket's name goes first, so a new agent starts a new one. */
  #quit(why: string): void {
    if (this.#state === 'exiting') return;
    this.#state = 'exiting';
    clearTimeout(this.#timer);
    try {
      unlinkSync(this.#paths.socket);
    } catch {}
    try {
      if (readFileSync(this.#paths.pid, 'utf8').trim() === String(process.pid))
        unlinkSync(this.#paths.pid);
    } catch {}
    this.#server?.close();
    for (const socket of this.#connections) socket.destroy();
    this.#log('info', `exiting: ${why}`);
    this.#exit(0);
  }
}

/** The lease bound for an agent's fence delay and stop grace: see the README's "Fencing". */
export function fenceLeaseMs(timings: { fenceAfterMs: number }, graceMs: number): number {
  return timings.fenceAfterMs + graceMs;
}

/** Whether something answers (accepts a connection) on a Unix socket. */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
