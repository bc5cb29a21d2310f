/**
 * The end-to-end harness: real agents in temporary state directories, driven through the
 * `khutulun` binary and the agent's HTTP API over its Unix socket. Every process a test
 * starts is stopped by PID at the end (agents, workloads, outsiders).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  processAlive as isAlive,
  type RigProcess as ProcessInfo,
  processesUnder,
} from '@khutulun/cluster/testing';
import { vi } from 'vitest';

// Real agents and processes on a loaded 2-core machine: each test waits for events with
// generous limits, so a test as a whole may take longer than the workspace's default.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The `khutulun` executable script. */
export const KHUTULUN = join(ROOT, 'packages/cli/bin/khutulun.js');

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A temporary state directory with the agent and processes a test started in it. */
export class TestHost {
  readonly stateDir: string;
  private agentProcess: ChildProcess | undefined;

  constructor(prefix = 'khutulun-e2e-') {
    this.stateDir = mkdtempSync(join(tmpdir(), prefix));
  }

  /**
   * `khutulun --state-dir DIR ARGS...` as a child process (`remote: true` leaves out
   * `--state-dir`, for `--agent URL`).
   */
  cli(
    args: string[],
    options: { timeoutMs?: number; cwd?: string; remote?: boolean } = {},
  ): Promise<CliResult> {
    return new Promise((resolvePromise) => {
      execFile(
        process.execPath,
        [KHUTULUN, ...(options.remote ? [] : ['--state-dir', this.stateDir]), ...args],
        {
          cwd: options.cwd ?? ROOT,
          timeout: options.timeoutMs ?? 120_000,
          env: { ...process.env, KHUTULUN_AGENT: '', KHUTULUN_STATE_DIR: '' },
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolvePromise({ code, stdout, stderr });
        },
      );
    });
  }

  /**
   * Runs a following CLI command (`-f`) until its stdout satisfies `until`, then stops it
   * with SIGTERM (as a user's Ctrl-C would) and returns what it printed and its exit code.
   */
  follow(
    args: string[],
    until: (stdout: string) => boolean,
    timeoutMs = 60_000,
  ): Promise<CliResult> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [KHUTULUN, '--state-dir', this.stateDir, ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(
            `khutulun ${args.join(' ')}: not satisfied in ${timeoutMs} ms; got ${stdout}${stderr}`,
          ),
        );
      }, timeoutMs);
      child.stdout.on('data', (d) => {
        stdout += d;
        if (until(stdout)) child.kill('SIGTERM');
      });
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }

  /** Runs the CLI and parses its `-o json` output, failing with its stderr on a non-zero exit. */
  async json<T = unknown>(args: string[]): Promise<T> {
    const result = await this.cli([...args, '-o', 'json']);
    if (result.code !== 0)
      throw new Error(`khutulun ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  /** What the agent this test started printed so far. */
  agentOutput = '';

  /**
   * The ports the agents this test starts reserve from: a block of its own, because agents
   * on other state directories (other tests, in parallel) keep ledgers of their own, and two
   * fresh ledgers would hand out the same first ports at the same moment.
   */
  private portRange: { from: number; release: () => void } | undefined;

  /** This test's port block (claimed on first use), inclusive. */
  ports(): { from: number; to: number } {
    this.portRange ??= claimPortRange();
    return { from: this.portRange.from, to: this.portRange.from + PORT_BLOCK - 1 };
  }

  /**
   * Starts `khutulun agent --state-dir DIR [ARGS...]` as this test's child and waits for its
   * socket.
   */
  async startAgent(args: string[] = []): Promise<number> {
    const { from, to } = this.ports();
    const range = `${from}-${to}`;
    const child = spawn(
      process.execPath,
      [KHUTULUN, 'agent', '--state-dir', this.stateDir, '--port-range', range, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, KHUTULUN_STATE_DIR: '' },
      },
    );
    this.agentOutput = '';
    child.stdout?.on('data', (d) => (this.agentOutput += d));
    child.stderr?.on('data', (d) => (this.agentOutput += d));
    this.agentProcess = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(new Error(`agent exited (${signal ?? code}): ${this.agentOutput}`)),
      ),
    );
    await Promise.race([waitForSocket(this.socketPath), exited]);
    return child.pid ?? 0;
  }

  /** The PID of the agent answering on the socket (from `/v1/health`). */
  async agentPid(): Promise<number> {
    return ((await this.api<{ pid: number }>('GET', '/v1/health')) as { pid: number }).pid;
  }

  /** Kills the agent with `signal` (SIGKILL by default) and waits until it is gone. */
  async killAgent(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const pid = await this.agentPid().catch(() => this.agentProcess?.pid);
    if (pid === undefined) return;
    process.kill(pid, signal);
    await waitUntil(() => !isAlive(pid), 30_000, `agent ${pid} to exit`);
    this.agentProcess = undefined;
  }

  /** The API socket. */
  get socketPath(): string {
    return join(this.stateDir, 'api.sock');
  }

  /** A JSON request to the agent's API. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return apiRequest<T>(this.socketPath, method, path, body);
  }

  /** Processes whose working directory or command line is under this host's workloads. */
  workloadProcesses(): ProcessInfo[] {
    return processesUnder(join(this.stateDir, 'workloads'));
  }

  /**
   * Stops everything this test started: the agent (SIGTERM, then SIGKILL), then every
   * process still working in its state directory (SIGKILL), then removes the directory.
   */
  async cleanup(): Promise<void> {
    try {
      const pid = await this.agentPid().catch(() => undefined);
      for (const p of [pid, this.agentProcess?.pid]) {
        if (p && isAlive(p)) process.kill(p, 'SIGTERM');
      }
      for (const p of [pid, this.agentProcess?.pid]) {
        if (p)
          await waitUntil(() => !isAlive(p), 15_000, 'agent to stop').catch(() =>
            process.kill(p, 'SIGKILL'),
          );
      }
    } finally {
      // A podman service the agent started for the podman kind (kept for re-adoption).
      const servicePid = join(this.stateDir, 'podman', 'service.pid');
      if (existsSync(servicePid)) {
        const p = Number(readFileSync(servicePid, 'utf8'));
        if (p > 0 && isAlive(p)) process.kill(p, 'SIGTERM');
      }
      // Everything working in the state directory: the shims under workloads/, and the
      // workload processes themselves, which work in data/ (a SIGKILLed shim leaves its child).
      for (const p of processesUnder(this.stateDir)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      rmSync(this.stateDir, { recursive: true, force: true });
      this.portRange?.release();
    }
  }
}

/** Ports in a block of {@link TestHost.ports}; the blocks lie in 30000-32699. */
export const PORT_BLOCK = 100;

/** Claims a free block of ports by creating its lock file (taking over a dead owner's). */
function claimPortRange(): { from: number; release: () => void } {
  const start = Math.floor(Math.random() * 27);
  for (let i = 0; i < 27; i++) {
    const from = 30_000 + ((start + i) % 27) * PORT_BLOCK;
    const lock = join(tmpdir(), `khutulun-e2e-ports-${from}.lock`);
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
    } catch {
      const owner = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (isAlive(owner)) continue;
      writeFileSync(lock, `${process.pid}\n`);
    }
    return { from, release: () => rmSync(lock, { force: true }) };
  }
  throw new Error('every e2e port block is taken');
}

/** Processes found in /proc, and whether one lives: the cluster's test helpers, shared. */
export { isAlive, type ProcessInfo, processesUnder };

/**
 * Waits until `condition` holds, checking it again with a growing delay (tests only: the
 * product itself never polls). Fails with `what` after `timeoutMs`.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}

/** Resolves once a Unix socket answers HTTP. */
export async function waitForSocket(socketPath: string, timeoutMs = 60_000): Promise<void> {
  const dir = dirname(socketPath);
  const watcher = existsSync(dir) ? watch(dir, () => {}) : undefined;
  try {
    await waitUntil(
      () =>
        apiRequest(socketPath, 'GET', '/v1/health').then(
          () => true,
          () => false,
        ),
      timeoutMs,
      `${socketPath} to answer`,
    );
  } finally {
    watcher?.close();
  }
}

/** An HTTP error answer of the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body}`);
  }
}

/** A JSON request over a Unix socket. */
export function apiRequest<T = unknown>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        path,
        method,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          if ((res.statusCode ?? 500) >= 300)
            return reject(new ApiError(res.statusCode ?? 500, text));
          try {
            resolvePromise((text ? JSON.parse(text) : undefined) as T);
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A workload item of `workload list -o json`. */
export interface WorkloadItem {
  service: string;
  name: string;
  host: string;
  state: string;
  pid?: number;
  ports?: Record<string, number>;
  restarts?: number;
  [key: string]: unknown;
}

/** The examples' busybox image (`examples/images/build-busybox.sh` makes it). */
export const BUSYBOX_IMAGE = join(ROOT, 'examples/images/busybox-rootfs.tar');

/** A container node template's `artifacts:` entry with that image (at the properties' depth). */
export const BUSYBOX_ARTIFACT = `      artifacts:
        image:
          type: k:RootfsArchive
          file: ${BUSYBOX_IMAGE}
`;

/** The node template a workload was made from (instances are named TEMPLATE-N). */
export function templateOf(name: string): string {
  return name.replace(/-\d+$/, '');
}

/**
 * Writes `dir/name`, a service template importing the core profile as `k` with `nodes` (its
 * node_templates, indented four spaces), and returns its path.
 */
export function serviceFile(dir: string, name: string, nodes: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun.core
    namespace: k
service_template:
  node_templates:
${nodes}`,
  );
  return path;
}
