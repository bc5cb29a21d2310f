/**
 * The fence watchdog as a real process (built, `lib/fence-watchdog-main.js`) with real
 * process workloads (driver-process), held by this test process or by a child it SIGKILLs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkloadStatus } from '@khutulun/driver';
import { ProcessDriver } from '@khutulun/driver-process';
import { afterEach, describe, expect, it } from 'vitest';
import { WORKLOAD_KINDS } from './agent-runtime.js';
import { type FenceLease, holdFenceLease } from './fence-watchdog-lease.js';
import { podmanServiceCleanup, WATCHDOG_KINDS } from './fence-watchdog-main.js';
import { fenceWatchdogPaths, readFenceRecord } from './fence-watchdog-record.js';

const LEASE_LIB = fileURLToPath(new URL('../lib/fence-watchdog-lease.js', import.meta.url));
/** Short bounds, so that the cases take seconds; the agent uses 4.5 s and 3 s. */
const LEASE_MS = 1_000;
const GRACE_MS = 1_000;

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a process runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await sleep(20);
  }
  return performance.now() - started;
}

/** A state directory with `count` running `sleep` workloads, as an agent would have made them. */
async function host(count: number): Promise<{ stateDir: string; workloads: WorkloadStatus[] }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'khutulun-watchdog-'));
  const driver = new ProcessDriver({ stateDirectory: stateDir });
  const workloads: WorkloadStatus[] = [];
  for (let i = 1; i <= count; i++) {
    workloads.push(
      await driver.create({
        key: { service: 'svc', name: `w${i}` },
        properties: { command: '/bin/sleep', arguments: ['300'], environment: {} },
        ports: [],
      }),
    );
  }
  await driver.close();
  cleanup.push(async () => {
    // Whatever still runs goes with the directory (a fresh driver adopts and deletes).
    const sweeper = new ProcessDriver({ stateDirectory: stateDir });
    for (const status of await sweeper.adopt()) await sweeper.delete(status.ref, { graceMs: 0 });
    await sweeper.close();
    const pid = watchdogPid(stateDir);
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });
  return { stateDir, workloads };
}

function watchdogPid(stateDir: string): number | undefined {
  try {
    return Number.parseInt(readFileSync(fenceWatchdogPaths(stateDir).pid, 'utf8'), 10);
  } catch {
    return undefined;
  }
}

function config(stateDir: string, leaseMs = LEASE_MS) {
  return { stateDir, host: 'h1', kinds: ['process'], leaseMs, graceMs: GRACE_MS };
}

async function lease(stateDir: string, leaseMs = LEASE_MS): Promise<FenceLease> {
  const held = await holdFenceLease({ ...config(stateDir, leaseMs), log: () => {} });
  cleanup.push(() => held.close());
  return held;
}

/** Renews every `everyMs` until the returned function is called. */
function renewing(held: FenceLease, everyMs = 200): () => void {
  held.renew();
  const timer = setInterval(() => held.renew(), everyMs);
  return () => clearInterval(timer);
}

/** Another process holding the lease and renewing it every 200 ms (to SIGKILL). */
async function holderProcess(stateDir: string): Promise<{ child: ChildProcess; watchdog: number }> {
  const script =
    `import(${JSON.stringify(LEASE_LIB)}).then(async (m) => {` +
    ` const lease = await m.holdFenceLease({ ...${JSON.stringify(config(stateDir))}, log: () => {} });` +
    ' setInterval(() => lease.renew(), 200); lease.renew();' +
    " process.stdout.write('holding ' + lease.pid + '\\n'); })";
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}): ${out}`)));
  });
  return { child, watchdog: Number(/holding (\d+)/.exec(line)![1]) };
}

async function sigkill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('the fence watchdog (a process of its own, real process workloads)', () => {
  it('loads the same workload kinds as the agent offers', () => {
    expect(Object.keys(WATCHDOG_KINDS).sort()).toEqual(WORKLOAD_KINDS.map((k) => k.kind).sort());
  });

  it('stops a podman service the podman kind started during the fence, and leaves one that ran before (a sleep stands in for the service)', async () => {
    const { stateDir } = await host(0);
    const file = join(stateDir, 'podman', 'service.pid');
    mkdirSync(join(stateDir, 'podman'));
    const stand = () => {
      const child = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
      cleanup.push(() => child.kill('SIGKILL'));
      return child;
    };
    const config = { stateDir, host: 'h1', kinds: ['podman'], leaseMs: LEASE_MS, graceMs: 0 };
    // A service from before the fence (the agent's, which outlives it): used, left running.
    const before = stand();
    writeFileSync(file, `${before.pid}\n`);
    await podmanServiceCleanup.before(config)();
    expect(alive(before.pid!)).toBe(true);
    // None before; the kind started one while the watchdog had it open: stopped by its PID.
    rmSync(file);
    const after = podmanServiceCleanup.before(config);
    const started = stand();
    writeFileSync(file, `${started.pid}\n`);
    await after();
    await until(() => !alive(started.pid!), 5_000);
    expect(existsSync(file)).toBe(false);
    expect(alive(before.pid!)).toBe(true);
  });

  it('keeps the workloads while renewed; stops them all within the bound once renewals stop, records them, re-arms on a renewal, and a clean close ends it without stopping anything', async () => {
    const { stateDir, workloads } = await host(2);
    const pids = workloads.map((w) => w.pid!);
    const held = await lease(stateDir);
    const watchdog = held.pid;
    expect(alive(watchdog)).toBe(true);
    expect(watchdogPid(stateDir)).toBe(watchdog);

    // Renewed for more than twice the lease: nothing stopped.
    const stopRenewing = renewing(held);
    await sleep(2.5 * LEASE_MS);
    expect(pids.map(alive)).toEqual([true, true]);
    expect(readFenceRecord(stateDir)).toBeUndefined();

    // No renewal from now: every workload is gone within lease + grace (slack for load).
    stopRenewing();
    const silentAt = performance.now();
    await until(() => pids.every((pid) => !alive(pid)));
    const tookMs = performance.now() - silentAt;
    expect(tookMs).toBeGreaterThanOrEqual(LEASE_MS - 250);
    expect(tookMs).toBeLessThan(LEASE_MS + GRACE_MS + 3_000);
    await until(() => readFenceRecord(stateDir) !== undefined);
    const record = readFenceRecord(stateDir)!;
    expect(record.stopped.map((ref) => ref.id).sort()).toEqual(['svc/w1', 'svc/w2']);
    expect(record.leaseMs).toBe(LEASE_MS);
    // Stopped, not deleted: the driver still has them, stopped on request.
    const driver = new ProcessDriver({ stateDirectory: stateDir });
    const after = await driver.adopt();
    expect(after.map((s) => [s.ref.id, s.state]).sort()).toEqual([
      ['svc/w1', 'stopped'],
      ['svc/w2', 'stopped'],
    ]);
    // The agent is still connected: the watchdog waits for it.
    expect(alive(watchdog)).toBe(true);

    // The agent starts one again and renews: armed again, nothing more is stopped.
    const restarted = await driver.restart(after.find((s) => s.ref.id === 'svc/w1')!.ref);
    await driver.close();
    const renewAgain = renewing(held);
    await sleep(2.5 * LEASE_MS);
    expect(alive(restarted.pid!)).toBe(true);
    renewAgain();

    // A clean close: the watchdog exits at once, without fencing.
    await held.close();
    await until(() => !alive(watchdog), 5_000);
    expect(alive(restarted.pid!)).toBe(true);
    expect(existsSync(fenceWatchdogPaths(stateDir).socket)).toBe(false);
    expect(readFenceRecord(stateDir)!.stopped).toHaveLength(2);
  });

  it('a renewing holder SIGKILLed and a new one connecting in time: the same watchdog, nothing stopped', async () => {
    const { stateDir, workloads } = await host(1);
    const holder = await holderProcess(stateDir);
    await sleep(LEASE_MS);
    await sigkill(holder.child);
    // The next agent: connects to the running watchdog (no second one), renews in time.
    const held = await lease(stateDir);
    expect(held.pid).toBe(holder.watchdog);
    const stopRenewing = renewing(held);
    await sleep(2.5 * LEASE_MS);
    stopRenewing();
    expect(alive(workloads[0]!.pid!)).toBe(true);
    expect(readFenceRecord(stateDir)).toBeUndefined();
    await held.close();
    await until(() => !alive(holder.watchdog), 5_000);
    expect(alive(workloads[0]!.pid!)).toBe(true);
  });

  it('a renewing holder SIGKILLed with no successor: the watchdog stops the workloads within the bound, then exits', async () => {
    const { stateDir, workloads } = await host(2);
    const holder = await holderProcess(stateDir);
    await sleep(LEASE_MS);
    expect(workloads.every((w) => alive(w.pid!))).toBe(true);
    await sigkill(holder.child);
    const killedAt = performance.now();
    await until(() => workloads.every((w) => !alive(w.pid!)));
    expect(performance.now() - killedAt).toBeLessThan(LEASE_MS + GRACE_MS + 3_000);
    // Done, and no agent to wait for: it is gone, and the next agent starts a new one.
    await until(() => !alive(holder.watchdog), 5_000);
    expect(
      readFenceRecord(stateDir)!
        .stopped.map((ref) => ref.id)
        .sort(),
    ).toEqual(['svc/w1', 'svc/w2']);
    const next = await lease(stateDir);
    expect(next.pid).not.toBe(holder.watchdog);
    expect(alive(next.pid)).toBe(true);
  });

  it('idles at about 0 % CPU: figures over 20 s, renewed every 500 ms and not renewed at all', async () => {
    const renewed = await host(0);
    const quiet = await host(0);
    const held = await lease(renewed.stateDir, 4_500);
    // Not renewed at all (a lease longer than the measurement): the bare process's cost.
    const still = await lease(quiet.stateDir, 60_000);
    const cpu = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
    };
    const stopRenewing = renewing(held, 500);
    await sleep(1_000);
    const before = [cpu(held.pid), cpu(still.pid)];
    const started = performance.now();
    await sleep(20_000);
    const after = [cpu(held.pid), cpu(still.pid)];
    const seconds = (performance.now() - started) / 1000;
    stopRenewing();
    // Clock ticks are 1/100 s on Linux (getconf CLK_TCK).
    const percent = after.map((ticks, i) => ((ticks - before[i]!) / 100 / seconds) * 100);
    process.stdout.write(
      `fence watchdog CPU over ${seconds.toFixed(1)} s: renewed every 500 ms ${percent[0]!.toFixed(3)} %, ` +
        `not renewed ${percent[1]!.toFixed(3)} % of a core\n`,
    );
    expect(alive(held.pid) && alive(still.pid)).toBe(true);
    for (const p of percent) expect(p).toBeLessThan(1);
  }, 40_000);
});
