/**
 * The cluster's end-to-end harness: a real PostgreSQL, a real nats-server with credentials on
 * a bridge, and real `khutulun agent` processes, each in a network namespace of its own
 * (`ip netns exec`), offering the process kind only. The rig itself (namespaces, servers,
 * agents, the event follower, what really runs) is `@khutulun/cluster/testing`'s
 * `startAgentRig`, which the cluster benchmark uses too; this adds the `khutulun` CLI, the
 * database server's restart and the service files the tests deploy.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AgentRig,
  canCreateNamespaces,
  type RestartedPostgres,
  type RigAgent,
  restartPostgres,
  startAgentRig,
} from '@khutulun/cluster/testing';
import { type PostgresServer, startPostgresServer } from '@khutulun/store-postgres';
import { type CliResult, KHUTULUN, ROOT, serviceFile } from './harness.js';

export type { AgentRig, RigAgent };
export { canCreateNamespaces };

/** A cluster of real agents in namespaces, with the PostgreSQL server it runs on. */
export interface TestCluster {
  rig: AgentRig;
  a: RigAgent;
  b: RigAgent;
  c: RigAgent;
  /** A directory for service files, removed by {@link TestCluster.close}. */
  dir: string;
  /** `khutulun --state-dir <agent's> ARGS...` from the root namespace (the API socket is a file). */
  cli(agent: RigAgent, args: string[], timeoutMs?: number): Promise<CliResult>;
  /**
   * Runs a following CLI command (`-f`) through `agent` until its stdout satisfies `until`,
   * then interrupts it (SIGTERM, as Ctrl-C would); rejects after `timeoutMs`.
   */
  follow(
    agent: RigAgent,
    args: string[],
    until: (stdout: string) => boolean,
    timeoutMs?: number,
  ): Promise<CliResult>;
  /** Restarts PostgreSQL in place (a fast shutdown, `downMs` of nothing, then up again). */
  restartPostgres(downMs?: number): Promise<void>;
  /** Brings every agent back: links healed, stopped agents started; waits until all are `up`. */
  restore(): Promise<void>;
  /** Stops everything, whatever state it is in. */
  close(): Promise<void>;
}

/** Starts PostgreSQL and a rig of three agents, `a`, `b` and `c`, in zones z1, z2, z3. */
export async function startTestCluster(): Promise<TestCluster> {
  const postgres: PostgresServer = await startPostgresServer({ fast: true });
  const restarted: RestartedPostgres[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-e2e-cluster-'));
  let rig: AgentRig;
  try {
    rig = await startAgentRig({
      command: [process.execPath, KHUTULUN, 'agent'],
      postgres,
      // Each agent is alone in its namespace: one range fits all (the ledgers are per host).
      args: ['--port-range', '24000-24999'],
      env: { KHUTULUN_KINDS: 'process', KHUTULUN_STATE_DIR: '', KHUTULUN_BUS: '' },
    });
  } catch (error) {
    await postgres.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const [a, b, c] = rig.agents as [RigAgent, RigAgent, RigAgent];
  return {
    rig,
    a,
    b,
    c,
    dir,
    cli: (agent, args, timeoutMs = 60_000) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [KHUTULUN, '--state-dir', agent.stateDir, ...args],
          {
            cwd: ROOT,
            timeout: timeoutMs,
            env: { ...process.env, KHUTULUN_AGENT: '', KHUTULUN_STATE_DIR: '' },
          },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      }),
    follow: (agent, args, until, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [KHUTULUN, '--state-dir', agent.stateDir, ...args], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, KHUTULUN_AGENT: '', KHUTULUN_STATE_DIR: '' },
        });
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(
            new Error(
              `khutulun ${args.join(' ')}: not satisfied in ${timeoutMs} ms: ${stdout}${stderr}`,
            ),
          );
        }, timeoutMs);
        child.stdout.on('data', (d) => {
          stdout += d;
          if (until(stdout)) child.kill('SIGTERM');
        });
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
        });
      }),
    async restartPostgres(downMs = 0) {
      // A server restarted earlier is stopped by the next restart (SIGINT by its PID file).
      restarted.push(await restartPostgres(postgres, downMs));
    },
    async restore() {
      for (const agent of rig.agents) rig.heal(agent);
      await Promise.all(rig.agents.filter((x) => !x.pid()).map((x) => x.start()));
      await rig.settled();
    },
    async close() {
      try {
        await rig.close();
      } finally {
        // The last server running is the last restart's, if any: stop it before the original's
        // stop() removes the directory.
        for (const server of restarted.splice(0).reverse()) await server.stop().catch(() => {});
        await postgres.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Writes a service of `count` process workloads `w1`..`wN` (each prints a line naming itself
 * and sleeps) and returns its path.
 */
export function sleepersFile(dir: string, name: string, count: number): string {
  let nodes = '';
  for (let i = 1; i <= count; i++) {
    nodes +=
      `    w${i}:\n      type: k:Process\n      properties:\n        command: /bin/sh\n` +
      `        arguments: ["-c", "echo ${name} w${i} says hello; exec sleep 600"]\n`;
  }
  return serviceFile(dir, `${name}.yaml`, nodes);
}

/** Waits until `read()` satisfies `ok` (checked every 100 ms); rejects with the last value. */
export async function until<T>(
  read: () => Promise<T> | T,
  ok: (value: T) => boolean,
  timeoutMs = 20_000,
  what = 'a condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
