/**
 * Starts shims from a small helper process instead of the agent itself. A fork copies the
 * forking process's page tables, so its cost grows with its memory: ~10 ms from an agent of
 * 130 MB on a loaded host, under 1 ms from a bare Node process of 45 MB. The helper is one
 * such bare Node process (its whole program is `HELPER` below), started on first need: it
 * spawns each shim exactly as the driver did (detached: a session of its own; no stdio; the
 * given environment and directory) and reports each shim's PID and, later, its end, over an
 * IPC channel. It exits when the channel closes (the driver closed, or the agent died): the
 * shims, in sessions of their own, keep running, as they always outlived the agent.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** What to start: a program, its arguments, directory and whole environment. */
export interface LaunchRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

type HelperMessage =
  | { id: number; pid: number }
  | { id: number; exit: true }
  | { id: number; error: { code?: string; message: string } };

/** A launch in flight, then a watched shim until its end is reported. */
interface Launch {
  request: LaunchRequest;
  resolve: (pid: number) => void;
  reject: (error: Error) => void;
  onExit: () => void;
  /** The helper that was asked; unset while the request is not yet written to it. */
  helper?: ChildProcess;
  pid?: number;
}

/**
 * The helper's program (CommonJS, run with `node -e`). It ignores the terminal's SIGINT and
 * SIGHUP, which reach the agent's whole process group, so that an agent shutting down on
 * Ctrl-C still hears of its shims until it closes the channel.
 */
const HELPER = `
const { spawn } = require('node:child_process');
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.on('disconnect', () => process.exit(0));
// With a callback, a send racing the channel's close fails quietly instead of crashing.
const send = (message) => { if (process.connected) process.send(message, () => {}); };
const failure = (id, error) => send({ id, error: { code: error.code, message: error.message } });
process.on('message', ({ id, file, args, cwd, env }) => {
  let child;
  try {
    child = spawn(file, args, { cwd, env, detached: true, stdio: 'ignore' });
  } catch (error) {
    failure(id, error);
    return;
  }
  let spawned = false;
  child.once('spawn', () => {
    spawned = true;
    send({ id, pid: child.pid });
  });
  child.once('error', (error) => (spawned ? send({ id, exit: true }) : failure(id, error)));
  child.once('exit', () => spawned && send({ id, exit: true }));
});
`;

/** Launches shims through the helper; see the module comment. */
export class ShimLauncher {
  #helper: ChildProcess | undefined;
  readonly #launches = new Map<number, Launch>();
  #nextId = 1;

  constructor(private readonly helperEnv: Record<string, string>) {}

  /**
   * Starts `request` detached and resolves with its PID; `onExit` runs once when it ends.
   * Rejects when it cannot be started (or the helper cannot be).
   */
  launch(request: LaunchRequest, onExit: () => void): Promise<number> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#launches.set(id, { request, resolve, reject, onExit });
      this.#send(id, true);
    });
  }

  #send(id: number, retry: boolean): void {
    const launch = this.#launches.get(id);
    if (!launch) return;
    let helper: ChildProcess;
    try {
      helper = this.#start();
    } catch (error) {
      this.#fail(id, error as Error);
      return;
    }
    helper.send({ id, ...launch.request }, (error) => {
      if (!error && this.#helper === helper) {
        launch.helper = helper;
      } else if (!error) {
        // Written, but that helper has ended since: whether it started the shim is unknown.
        this.#fail(id, new Error('the shim launcher ended'));
      } else {
        // Not written: that helper is gone (its exit may not be seen yet) and never saw the
        // request, so a new helper may take it.
        this.#gone(helper);
        if (retry) this.#send(id, false);
        else this.#fail(id, error);
      }
    });
  }

  /** True while the helper watches the shim of this PID (it has not reported its end). */
  watches(pid: number): boolean {
    for (const launch of this.#launches.values()) if (launch.pid === pid) return true;
    return false;
  }

  /** Lets the helper go; the shims it started keep running, unwatched. */
  close(): void {
    const helper = this.#helper;
    if (!helper) return;
    this.#gone(helper);
    if (helper.connected) helper.disconnect();
  }

  #start(): ChildProcess {
    if (this.#helper) return this.#helper;
    const helper = spawn(process.execPath, ['-e', HELPER], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: this.helperEnv,
    });
    helper.on('message', (message: HelperMessage) => this.#message(message));
    helper.on('error', () => this.#gone(helper));
    helper.once('exit', () => this.#gone(helper));
    // The driver's own watches keep the agent alive while it has workloads; the helper does not.
    helper.unref();
    helper.channel?.unref();
    this.#helper = helper;
    return helper;
  }

  /**
   * A helper failed to start or died: the next launch starts a new one. Its shims are no
   * longer watched; a request it received but did not answer fails (whether the shim started
   * is unknown); one not yet written to it is left to its send callback.
   */
  #gone(helper: ChildProcess): void {
    if (this.#helper === helper) this.#helper = undefined;
    for (const [id, launch] of this.#launches) {
      if (launch.helper !== helper) continue;
      this.#launches.delete(id);
      if (launch.pid === undefined) launch.reject(new Error('the shim launcher ended'));
    }
  }

  #message(message: HelperMessage): void {
    const launch = this.#launches.get(message.id);
    if (!launch) return;
    if ('pid' in message) {
      launch.pid = message.pid;
      launch.resolve(message.pid);
    } else if ('exit' in message) {
      this.#launches.delete(message.id);
      if (launch.pid === undefined) launch.reject(new Error('the shim ended before it started'));
      else launch.onExit();
    } else {
      this.#fail(message.id, Object.assign(new Error(message.error.message), message.error));
    }
  }

  /** A launch fails; a shim it already started is no longer watched. */
  #fail(id: number, error: Error): void {
    const launch = this.#launches.get(id);
    if (!launch) return;
    this.#launches.delete(id);
    if (launch.pid === undefined) launch.reject(error);
  }
}
