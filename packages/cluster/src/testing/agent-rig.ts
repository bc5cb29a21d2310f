/**
 * A cluster of real agents on one machine, for end-to-end tests and benchmarks: network
 * namespaces on a bridge, a nats-server with credentials listening on the bridge, a database
 * on a given PostgreSQL (reached over its Unix socket, a file every namespace sees), and one
 * agent process per namespace (`ip netns exec NS COMMAND --state-dir DIR --store ... --bus
 * ... --cluster ... --host-name N --address A --label zone=zN`). Its API is the Unix socket in
 * its state directory, reachable from the root namespace.
 *
 * The agent's command is the caller's (`command`): this package knows how an agent joins
 * (the documented flags), not where the agent is built.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { type ClusterEvent, ClusterEvents } from '../cluster-events.js';
import { type HostRecord, type HostRegistry, openHostRegistry } from '../host-registry.js';
import { connectNats } from '../nats-connection.js';
import { type NatsServer, startNatsServer } from './nats-server.js';
import { createNamespaces, type Namespace, type NamespaceNetwork } from './network-namespaces.js';

/** The PostgreSQL server a rig makes its database on (`startPostgresServer`'s result fits). */
export interface RigPostgres {
  /** Creates a database and resolves with its URL. */
  createDatabase(name: string): Promise<string>;
}

/** Options for {@link startAgentRig}. */
export interface AgentRigOptions {
  /** The agent's command line before its options, e.g. `[node, '.../khutulun.js', 'agent']`. */
  command: string[];
  postgres: RigPostgres;
  /** Host names, one agent (and namespace) each (default `a`, `b`, `c`). */
  hosts?: string[];
  /** Labels of the host at `index` (default `{ zone: 'z<index + 1>' }`). */
  labels?: (name: string, index: number) => Record<string, string>;
  /** More options for every agent (e.g. `--port-range`). */
  args?: string[];
  /** Environment of every agent, over this process's (e.g. `KHUTULUN_KINDS: 'process'`). */
  env?: Record<string, string>;
  /** How long an agent may take to start serving (default 60 s). */
  startTimeoutMs?: number;
}

/** A cluster event as the rig's follower received it; `at` is `Date.now()` on receipt. */
export interface RigEvent {
  event: ClusterEvent;
  sequence: number;
  at: number;
}

/** A response of an agent's API: the status, and the body parsed as JSON when it is JSON. */
export interface RigResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the shape they expect.
  body: any;
}

/** A live process found in /proc. */
export interface RigProcess {
  pid: number;
  cwd: string;
  cmdline: string;
}

/** One agent of the rig, in its namespace, with its own state directory. */
export interface RigAgent {
  /** Its host name. */
  name: string;
  namespace: Namespace;
  stateDir: string;
  /** The API's Unix socket (`<stateDir>/api.sock`). */
  socketPath: string;
  /** The PID of the running agent, or undefined when it is not running. */
  pid(): number | undefined;
  /** Everything the current (or last) run printed. */
  output(): string;
  /**
   * Starts the agent (again, on the same state directory) and resolves once it serves its
   * API, having joined. Extra options and environment for this run only.
   */
  start(options?: { args?: string[]; env?: Record<string, string> }): Promise<void>;
  /** SIGKILL (a crash); resolves once it has exited. Its workloads keep running. */
  kill(): Promise<void>;
  /** SIGTERM; resolves with the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  /** One request to its API over the Unix socket. */
  api(method: string, path: string, body?: unknown): Promise<RigResponse>;
  /**
   * What it runs: live processes under its `workloads` directory (the process kind's shims)
   * or its `data` directory (their programs' working directories), by cwd or command line.
   */
  workloadProcesses(): RigProcess[];
  /**
   * The workloads it runs, as `SERVICE/WORKLOAD` with their live PIDs: read from the working
   * directories of {@link workloadProcesses} (`<stateDir>/workloads|data/SERVICE/WORKLOAD`,
   * the process kind's layout), so from what really runs, not from records.
   */
  runningWorkloads(): Map<string, number[]>;
}

/** A running rig: servers, namespaces, agents, and a follower of the cluster's events. */
export interface AgentRig {
  network: NamespaceNetwork;
  nats: NatsServer;
  /** The cluster's database URL (every agent's `--store`). */
  storeUrl: string;
  /** `nats://USER:PASSWORD@GATEWAY:PORT` (every agent's `--bus`). */
  busUrl: string;
  /** The cluster's name (`--cluster`): its NATS subjects and event stream. */
  cluster: string;
  agents: RigAgent[];
  agent(name: string): RigAgent;
  /** The registry (PostgreSQL) read directly, as the agents share it. */
  registry: HostRegistry;
  hosts(): Promise<HostRecord[]>;
  /** Takes the agent's link down: its namespace reaches neither NATS nor the others. */
  cut(agent: RigAgent): void;
  heal(agent: RigAgent): void;
  /**
   * Which hosts really run each workload (`SERVICE/WORKLOAD` to host names), from every
   * agent's {@link RigAgent.runningWorkloads}: more than one host is a duplicate.
   */
  copies(): Map<string, string[]>;
  /** Every cluster event received so far, in stream order. */
  events: RigEvent[];
  /** The first event (received already or to come) matching, or a rejection after `timeoutMs`. */
  waitForEvent(match: (event: ClusterEvent) => boolean, timeoutMs?: number): Promise<RigEvent>;
  /**
   * Waits until the registry shows every agent's host `up`, and the event follower has heard
   * each host's latest join or return (the epoch the registry shows).
   */
  settled(timeoutMs?: number): Promise<HostRecord[]>;
  /**
   * Runs the agent's command with `args` (no others are added) in the namespace of
   * `agents[0]`, expecting it to exit; resolves with its exit code and output.
   */
  runToExit(
    args: string[],
    options?: { env?: Record<string, string>; timeoutMs?: number },
  ): Promise<{ code: number | null; output: string }>;
  /**
   * Stops everything the rig started, whatever state it is in: the agents (SIGKILL), every
   * process still working in or naming a state directory (workloads, an agent's helpers:
   * SIGKILL), the event follower, nats-server, the namespaces and the state directories.
   * The PostgreSQL server is the caller's.
   */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Live (non-zombie) processes whose working directory is in one of `dirs`, or whose command
 * line mentions one of them.
 */
export function processesUnder(dirs: string | readonly string[]): RigProcess[] {
  const list = typeof dirs === 'string' ? [dirs] : dirs;
  const found: RigProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // Gone, or not ours to read.
      }
      if (list.some((dir) => cwd === dir || cwd.startsWith(`${dir}/`) || cmdline.includes(dir))) {
        found.push({ pid, cwd, cmdline });
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Whether a process runs (a zombie, exited but not yet reaped, does not). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** One JSON request over a Unix socket; a non-JSON answer (logs) is kept as text. */
export function socketRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<RigResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // Not JSON: keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Starts a rig: namespaces, nats-server on their bridge, a new database, the event follower,
 * then every agent (at once), and waits until every host is `up`. On any failure, whatever
 * was started is stopped before the rejection.
 */
export async function startAgentRig(options: AgentRigOptions): Promise<AgentRig> {
  const names = options.hosts ?? ['a', 'b', 'c'];
  const id = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const cluster = `rig${id}`;
  const cleanups: Array<() => unknown> = [];
  const closeAll = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Keep cleaning up.
      }
    }
  };
  try {
    const network = createNamespaces(names.length);
    cleanups.push(() => network.remove());
    const nats = await startNatsServer({ host: network.gateway });
    cleanups.push(() => nats.stop());
    const storeUrl = await options.postgres.createDatabase(`rig_${id}`);
    const registry = await openHostRegistry(storeUrl);
    cleanups.push(() => registry.close());
    const busUrl = `nats://${nats.user}:${encodeURIComponent(nats.password)}@${network.gateway}:${nats.port}`;

    // The follower: in the root namespace, on the bridge like everyone, from the first event.
    const events: RigEvent[] = [];
    const waiters = new Set<{ match: (e: ClusterEvent) => boolean; done: (e: RigEvent) => void }>();
    const nc: NatsConnection = await connectNats({
      servers: `nats://${network.gateway}:${nats.port}`,
      user: nats.user,
      password: nats.password,
      name: 'rig-follower',
    });
    cleanups.push(() => nc.close());
    const stream = await ClusterEvents.open(nc, { cluster });
    const subscription = await stream.subscribe((event, sequence) => {
      const received = { event, sequence, at: Date.now() };
      events.push(received);
      for (const waiter of waiters) {
        if (waiter.match(event)) {
          waiters.delete(waiter);
          waiter.done(received);
        }
      }
    }, 'all');
    cleanups.push(() => subscription.stop());
    const waitForEvent = (match: (e: ClusterEvent) => boolean, timeoutMs = 15_000) => {
      const found = events.find((e) => match(e.event));
      if (found) return Promise.resolve(found);
      return new Promise<RigEvent>((resolve, reject) => {
        const waiter = {
          match,
          done: (e: RigEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `no matching cluster event in ${timeoutMs} ms; got ${events
                .map((e) => `${e.event.type}:${e.event.host}`)
                .join(', ')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    };

    const agents = names.map((name, index) =>
      rigAgent({
        name,
        index,
        namespace: network.namespaces[index]!,
        args: [
          '--store',
          storeUrl,
          '--bus',
          busUrl,
          '--cluster',
          cluster,
          '--host-name',
          name,
          '--address',
          network.namespaces[index]!.address,
          ...Object.entries(options.labels?.(name, index) ?? { zone: `z${index + 1}` }).flatMap(
            ([k, v]) => ['--label', `${k}=${v}`],
          ),
          ...(options.args ?? []),
        ],
        options,
      }),
    );
    cleanups.push(() => {
      for (const agent of agents) rmSync(agent.stateDir, { recursive: true, force: true });
    });
    cleanups.push(async () => {
      await Promise.all(agents.map((agent) => agent.kill()));
      // Workloads outlive their agent by design, and so may helpers the agent started (a
      // fence watchdog): stop everything that still names or works in a state directory.
      for (const agent of agents) {
        for (const p of processesUnder(agent.stateDir)) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // Gone meanwhile.
          }
        }
      }
    });

    const hosts = () => registry.hosts();
    const rig: AgentRig = {
      network,
      nats,
      storeUrl,
      busUrl,
      cluster,
      agents,
      agent(name) {
        const found = agents.find((a) => a.name === name);
        if (!found) throw new Error(`no agent ${name} in this rig`);
        return found;
      },
      registry,
      hosts,
      cut: (agent) => network.cut(agent.namespace),
      heal: (agent) => network.heal(agent.namespace),
      copies() {
        const copies = new Map<string, string[]>();
        for (const agent of agents) {
          for (const key of agent.runningWorkloads().keys()) {
            copies.set(key, [...(copies.get(key) ?? []), agent.name]);
          }
        }
        return copies;
      },
      events,
      waitForEvent,
      async settled(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const list = await hosts().catch(() => [] as HostRecord[]);
          const up = names.every((n) => list.some((h) => h.name === n && h.state === 'up'));
          // The follower heard the latest join or return of each (the epoch the registry shows).
          const heard = list.every((h) =>
            events.some(
              (e) =>
                (e.event.type === 'host-joined' || e.event.type === 'host-returned') &&
                e.event.host === h.name &&
                e.event.epoch === h.epoch,
            ),
          );
          if (up && heard) return list;
          if (Date.now() > deadline) {
            throw new Error(
              `the cluster did not settle in ${timeoutMs} ms: ${JSON.stringify(list.map((h) => [h.name, h.state, h.epoch]))}`,
            );
          }
          await sleep(100);
        }
      },
      async runToExit(args, { env, timeoutMs = 60_000 } = {}) {
        const [program, ...rest] = options.command;
        const child = spawn(
          'ip',
          ['netns', 'exec', network.namespaces[0]!.name, program!, ...rest, ...args],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...options.env, ...env },
          },
        );
        let output = '';
        child.stdout.on('data', (d) => {
          output += d;
        });
        child.stderr.on('data', (d) => {
          output += d;
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const code = await new Promise<number | null>((resolve) =>
          child.on('exit', (c) => resolve(c)),
        );
        clearTimeout(timer);
        return { code, output };
      },
      close: closeAll,
    };
    await Promise.all(agents.map((agent) => agent.start()));
    await rig.settled(60_000);
    return rig;
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function rigAgent(setup: {
  name: string;
  index: number;
  namespace: Namespace;
  args: string[];
  options: AgentRigOptions;
}): RigAgent {
  const { name, namespace, options } = setup;
  const stateDir = mkdtempSync(join(tmpdir(), `khutulun-rig-${name}-`));
  const socketPath = join(stateDir, 'api.sock');
  const dirs = [join(stateDir, 'workloads'), join(stateDir, 'data')];
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let out = '';
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const agent: RigAgent = {
    name,
    namespace,
    stateDir,
    socketPath,
    pid: () => (running() ? child!.pid : undefined),
    output: () => out,
    async start(extra = {}) {
      if (running()) throw new Error(`agent ${name} is running already`);
      const [program, ...rest] = options.command;
      out = '';
      const started = spawn(
        'ip',
        [
          'netns',
          'exec',
          namespace.name,
          program!,
          ...rest,
          '--state-dir',
          stateDir,
          ...setup.args,
          ...(extra.args ?? []),
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, ...options.env, ...extra.env },
        },
      );
      child = started;
      exited = new Promise((resolve) => started.on('exit', (code) => resolve(code)));
      started.stdout!.on('data', (d) => {
        out += d;
      });
      started.stderr!.on('data', (d) => {
        out += d;
      });
      // The agent prints its API line once it has joined and serves.
      const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
      while (!out.includes('API ')) {
        if (!running()) throw new Error(`agent ${name} exited while starting: ${out}`);
        if (Date.now() > deadline) throw new Error(`agent ${name} did not start: ${out}`);
        await sleep(50);
      }
    },
    async kill() {
      if (!running()) return;
      child!.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 15_000) {
      if (!running()) return child?.exitCode ?? null;
      child!.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    api: (method, path, body) => socketRequest(socketPath, method, path, body),
    workloadProcesses: () => processesUnder(dirs),
    runningWorkloads() {
      const running = new Map<string, number[]>();
      for (const p of processesUnder(dirs)) {
        const dir = dirs.find((d) => p.cwd.startsWith(`${d}/`));
        const [service, workload] = dir ? p.cwd.slice(dir.length + 1).split('/') : [];
        if (!service || !workload) continue;
        const key = `${service}/${workload}`;
        running.set(key, [...(running.get(key) ?? []), p.pid]);
      }
      return running;
    },
  };
  return agent;
}
