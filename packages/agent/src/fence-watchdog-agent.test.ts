/**
 * The fence watchdog with real agents in a cluster (a real PostgreSQL and nats-server): a
 * SIGKILLed agent's host still fences, and the agent started again takes it from there.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive as alive } from '@khutulun/cluster/testing';
import { ProcessDriver } from '@khutulun/driver-process';
import { describe, expect, it } from 'vitest';
import { fenceWatchdogPaths, readFenceRecord } from './fence-watchdog-record.js';
import type { AgentProcess } from './testing/agent-process.js';
import { type TestCluster, useClusterFixture } from './testing/cluster-fixture.js';

/** The agent's bound: fenceAfterMs (1.5 s) + the stop grace (3 s). */
const LEASE_MS = 4_500;

const fx = useClusterFixture();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-fence-agent-'));
  fx.cleanup(async () => {
    // Whatever this test left running on the directory goes first: its watchdog, workloads.
    const pid = watchdogPid(dir);
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    const sweeper = new ProcessDriver({ stateDirectory: dir });
    for (const status of await sweeper.adopt()) await sweeper.delete(status.ref, { graceMs: 0 });
    await sweeper.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const newCluster = () => fx.newCluster('fence');

/** An agent of `cluster` on `dir`, offering the process kind only. */
const member = (cluster: TestCluster, host: string, dir: string): Promise<AgentProcess> =>
  fx.member(cluster, host, dir, ['--kinds', 'process']);

/** The watchdog processes running for a state directory (by their command lines). */
function watchdogsOf(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (
        argv.some((a) => a.endsWith('fence-watchdog-main.js')) &&
        argv.some((a) => a.includes(`"stateDir":${JSON.stringify(dir)}`))
      )
        found.push(Number(entry));
    } catch {}
  }
  return found;
}

function watchdogPid(dir: string): number | undefined {
  try {
    return Number.parseInt(readFileSync(fenceWatchdogPaths(dir).pid, 'utf8'), 10) || undefined;
  } catch {
    return undefined;
  }
}

async function until<T>(
  read: () => Promise<T> | T,
  ok: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached: ${JSON.stringify(value)}`);
    await sleep(50);
  }
}

function sleeperSource(restart = 'never'): string {
  const source = join(stateDir(), 'sleeper.yaml');
  writeFileSync(
    source,
    'tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun.core\n    namespace: k\n' +
      'service_template:\n  node_templates:\n' +
      // `never`: only the re-join, not the restart policy, may start it again after a fence.
      '    one:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n' +
      `        arguments: ["300"]\n        restart: ${restart}\n`,
  );
  return source;
}

describe('the fence watchdog of a cluster agent (real PostgreSQL and nats-server)', () => {
  it('an agent SIGKILLed: its watchdog stops its workload within the bound; started again, the agent starts it again (still its own); a clean stop ends the watchdog without fencing', async () => {
    const cluster = await newCluster();
    const dir = stateDir();
    const a = await member(cluster, 'host-a', dir);
    const deployed = await a.api('POST', '/v1/services', {
      name: 'sleeper',
      source: { path: sleeperSource() },
    });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
    const workload = async (agent: AgentProcess) =>
      (await agent.api('GET', '/v1/workloads/sleeper/one')).body as {
        state: string;
        pid?: number;
      };
    const before = await workload(a);
    expect(before.state).toBe('running');
    const watchdog = watchdogPid(dir)!;
    expect(alive(watchdog)).toBe(true);
    expect(a.output()).toContain(`fence watchdog PID ${watchdog} holds the lease`);

    // No agent alive from here on: the watchdog alone stops the workload, once the lease
    // (renewed with the agent's last returning heartbeat, at most 500 ms before the kill)
    // has expired, within its 3 s grace (sleep goes at once on SIGTERM), plus slack for load.
    await a.kill();
    const killedAt = Date.now();
    await until(
      () => alive(before.pid!),
      (running) => !running,
    );
    const tookMs = Date.now() - killedAt;
    expect(tookMs).toBeGreaterThanOrEqual(LEASE_MS - 1_000);
    expect(tookMs).toBeLessThan(LEASE_MS + 3_000 + 3_000);
    // What it stopped is recorded for the next agent; with no agent to wait for, it is gone.
    await until(
      () => readFenceRecord(dir),
      (record) => record !== undefined,
    );
    expect(readFenceRecord(dir)!.stopped.map((ref) => ref.key)).toEqual([
      { service: 'sleeper', name: expect.stringMatching(/^one/) },
    ]);
    await until(
      () => alive(watchdog),
      (running) => !running,
      10_000,
    );
    expect(existsSync(fenceWatchdogPaths(dir).socket)).toBe(false);

    // The agent again, on the same state directory: nobody declared the host lost (no other
    // member), so it still owns the workload and starts it again; the record is handled.
    const again = await member(cluster, 'host-a', dir);
    const after = await until(
      () => workload(again),
      (w) => w.state === 'running' && w.pid !== undefined,
    );
    expect(after.pid).not.toBe(before.pid);
    expect(alive(after.pid!)).toBe(true);
    expect(readFenceRecord(dir)).toBeUndefined();
    const second = watchdogPid(dir)!;
    expect(second).not.toBe(watchdog);
    expect(alive(second)).toBe(true);

    // A clean stop: the watchdog goes without fencing; the workload keeps running.
    expect(await again.stop()).toBe(0);
    await until(
      () => alive(second),
      (running) => !running,
      10_000,
    );
    await sleep(LEASE_MS + 1_000);
    expect(alive(after.pid!)).toBe(true);
    expect(readFenceRecord(dir)).toBeUndefined();
  }, 90_000);

  it('an agent SIGKILLed whose workload was replaced elsewhere meanwhile: its watchdog stops its copy, and the agent started again leaves it stopped', async () => {
    const cluster = await newCluster();
    const dirs = { 'host-a': stateDir(), 'host-b': stateDir() };
    const agents = {
      'host-a': await member(cluster, 'host-a', dirs['host-a']),
      'host-b': await member(cluster, 'host-b', dirs['host-b']),
    };
    // on-failure (the default): the restart policy would start a copy stopped by SIGTERM.
    const deployed = await agents['host-a'].api('POST', '/v1/services', {
      name: 'sleeper',
      source: { path: sleeperSource('on-failure') },
    });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
    type Row = { name: string; host: string; state: string; pid?: number };
    const rows = async (agent: AgentProcess) =>
      (await agent.api('GET', '/v1/workloads')).body as Row[];
    const [placed] = await rows(agents['host-a']);
    expect(placed).toMatchObject({ state: 'running' });
    const victim = placed!.host as 'host-a' | 'host-b';
    const survivor = victim === 'host-a' ? 'host-b' : 'host-a';
    const dir = dirs[victim];

    await agents[victim].kill();
    const killedAt = Date.now();
    // The survivor declares the victim lost and replaces its workload; the victim's watchdog
    // stops the old copy once the lease has expired.
    await until(
      () => alive(placed!.pid!),
      (running) => !running,
    );
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 3_000 + 3_000);
    const record = await until(
      () => readFenceRecord(dir),
      (r) => r !== undefined,
    );
    const key = record!.stopped[0]!.key;
    const files = join(dir, 'workloads', key.service, key.name);
    const marks = () =>
      ['pid', 'stopped'].map((f) => {
        try {
          return readFileSync(join(files, f), 'utf8');
        } catch {
          return undefined;
        }
      });
    const stoppedMarks = marks();
    expect(stoppedMarks[1]).toBeDefined();
    const replacement = await until(
      () => rows(agents[survivor]),
      (list) => list.some((w) => w.host === survivor && w.state === 'running'),
    );
    const copy = replacement.find((w) => w.host === survivor)!;
    expect(alive(copy.pid!)).toBe(true);

    // The victim's agent again: the join says the workload was replaced, so its copy is never
    // started again (its run files are as the watchdog left them, or gone with the copy).
    const again = await member(cluster, victim, dir);
    await until(
      () => readFenceRecord(dir),
      (r) => r === undefined,
    );
    await sleep(2_000);
    const now = marks();
    if (now[0] !== undefined || now[1] !== undefined) expect(now).toEqual(stoppedMarks);
    expect(again.output()).not.toMatch(/workload sleeper\/\S+: .*restart/i);
    expect(alive(copy.pid!)).toBe(true);
  }, 90_000);

  it('an agent SIGKILLed and started again at once takes over the running watchdog: one watchdog, the workload kept (or, if the start outlasted the lease, fenced and started again)', async () => {
    const cluster = await newCluster();
    const dir = stateDir();
    const a = await member(cluster, 'host-a', dir);
    const deployed = await a.api('POST', '/v1/services', {
      name: 'sleeper',
      source: { path: sleeperSource() },
    });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
    const workload = async (agent: AgentProcess) =>
      (await agent.api('GET', '/v1/workloads/sleeper/one')).body as {
        state: string;
        pid?: number;
      };
    const before = await workload(a);
    const watchdog = watchdogPid(dir)!;

    await a.kill();
    const killedAt = Date.now();
    const again = await member(cluster, 'host-a', dir);
    const startedMs = Date.now() - killedAt;
    const tookOver = again.output().includes(`fence watchdog PID ${watchdog} holds the lease`);
    // Only ever one watchdog for the directory.
    expect(watchdogsOf(dir)).toHaveLength(1);
    const after = await until(
      () => workload(again),
      (w) => w.state === 'running' && w.pid !== undefined && alive(w.pid),
    );
    if (tookOver) {
      // In time (the usual case: an agent starts in about a second): nothing was stopped.
      expect(after.pid).toBe(before.pid);
      expect(readFenceRecord(dir)).toBeUndefined();
      await sleep(LEASE_MS + 1_000);
      expect(alive(before.pid!)).toBe(true);
      expect(watchdogPid(dir)).toBe(watchdog);
    } else {
      // The start outlasted the lease (a loaded machine): fenced, then started again.
      expect(startedMs).toBeGreaterThan(LEASE_MS - 1_000);
      expect(after.pid).not.toBe(before.pid);
    }
    expect(await again.stop()).toBe(0);
  }, 90_000);
});
