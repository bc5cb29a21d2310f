#!/usr/bin/env node
// The process driver on its own (no agent, no store, no API), to show what the driver itself
// costs:
// - start: 200 small TCP listeners created through ProcessDriver and waited for (a TCP connect,
//   as the floor waits: readiness is the agent's, not the driver's); the floor, in the same
//   run: the same 200 processes spawned directly and waited for.
// - restart: 50 times, SIGKILL a workload and time kill -> exit event -> restart() -> new PID.
// - idle: the 200 workloads watched for IDLE_SECONDS (after 20 s to settle); this process's
//   CPU and RSS (the floor: the RSS before any workload was created).
// Medians are quoted; the last stdout line is one JSON object.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { ProcessDriver } from '@khutulun/driver-process';
import { PortNetworkDriver } from '@khutulun/network-ports';

const PROCESSES = 200;
const SAMPLES = 50;
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 30);
const RUNS = 3;
const LISTENER = [
  '/usr/bin/python3',
  '-c',
  'import os,socket\n' +
    's=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n' +
    's.bind(("127.0.0.1", int(os.environ["PORT_HTTP"]))); s.listen(64)\n' +
    'while True: s.accept()[0].close()\n',
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

function tcpReady(port) {
  const deadline = Date.now() + 120_000;
  return new Promise((resolve, reject) => {
    const attempt = (delay) => {
      if (Date.now() > deadline) return reject(new Error(`port ${port} never accepted`));
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        setTimeout(() => attempt(Math.min(delay * 2, 500)), delay);
      });
    };
    attempt(10);
  });
}

async function floor(ports) {
  const t0 = performance.now();
  const children = ports.map((port) =>
    spawn(LISTENER[0], LISTENER.slice(1), {
      env: { PATH: process.env.PATH, PORT_HTTP: String(port) },
      stdio: 'ignore',
    }),
  );
  await Promise.all(ports.map(tcpReady));
  const seconds = (performance.now() - t0) / 1000;
  const exits = children.map((c) => new Promise((resolve) => c.once('exit', resolve)));
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(exits);
  return seconds;
}

const state = mkdtempSync(join(tmpdir(), 'khutulun-bench-driver-'));
const network = new PortNetworkDriver({ stateDirectory: state, range: { from: 24000, to: 24999 } });
const driver = new ProcessDriver({ stateDirectory: state });
const rssBefore = process.memoryUsage().rss;
const specs = [];
for (let i = 1; i <= PROCESSES; i++) {
  const owner = { service: 'bench', name: `l${i}` };
  const port = (await network.reserve({ owner, name: 'http', protocol: 'tcp' })).port;
  specs.push({
    key: owner,
    properties: { command: LISTENER[0], arguments: LISTENER.slice(1) },
    ports: [{ name: 'http', port, protocol: 'tcp' }],
  });
}
const ports = specs.map((s) => s.ports[0].port);

try {
  const starts = [];
  const floors = [];
  for (let run = 0; run < RUNS; run++) {
    // Alternate which goes first, so that neither always meets cold caches.
    if (run % 2 === 0) floors.push(await floor(ports));
    if (run > 0) {
      await Promise.all((await driver.list()).map((s) => driver.delete(s.ref, { graceMs: 5_000 })));
    }
    const t0 = performance.now();
    await Promise.all(
      specs.map(async (spec) => {
        await driver.create(spec);
        await tcpReady(spec.ports[0].port);
      }),
    );
    starts.push((performance.now() - t0) / 1000);
    if (run % 2 === 1) {
      // The floor needs the ports: stop the driver's listeners first, then restart them after.
      await Promise.all((await driver.list()).map((s) => driver.stop(s.ref, { graceMs: 5_000 })));
      floors.push(await floor(ports));
      await Promise.all((await driver.list()).map((s) => driver.restart(s.ref)));
      await Promise.all(ports.map(tcpReady));
    }
  }

  const restarts = [];
  const target = specs[0];
  for (let i = 0; i < SAMPLES; i++) {
    const status = await driver.read({ kind: 'process', key: target.key, id: 'bench/l1' });
    const exited = new Promise((resolve) => {
      const off = driver.on('exit', (e) => {
        if (e.ref.id === 'bench/l1') {
          off();
          resolve(e);
        }
      });
    });
    const t0 = performance.now();
    process.kill(status.pid, 'SIGKILL');
    const exit = await exited;
    const restarted = await driver.restart(exit.ref);
    restarts.push(performance.now() - t0);
    if (restarted.pid === status.pid) throw new Error('restart kept the old PID');
    await new Promise((r) => setTimeout(r, 50));
  }

  // Let V8 finish its after-work housekeeping (its memory reducer runs full GCs some seconds
  // after allocation stops) before measuring idle.
  await new Promise((r) => setTimeout(r, 20_000));
  // GC time during the window, to tell V8's housekeeping from the driver's own work.
  let gcMs = 0;
  let gcCount = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration;
      gcCount += 1;
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  gcObserver.disconnect();
  const wall = performance.now() - t0;
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  const rss = process.memoryUsage().rss;

  const result = {
    processes: PROCESSES,
    seconds: Number(median(starts).toFixed(3)),
    floor_seconds: Number(median(floors).toFixed(3)),
    ratio: Number((median(starts) / median(floors)).toFixed(2)),
    restart_samples: SAMPLES,
    restart_p50_ms: Number(quantile(restarts, 0.5).toFixed(1)),
    restart_p99_ms: Number(quantile(restarts, 0.99).toFixed(1)),
    idle_seconds: IDLE_SECONDS,
    idle_cpu_percent: Number(cpuPercent.toFixed(3)),
    idle_gc_count: gcCount,
    idle_gc_ms: Number(gcMs.toFixed(1)),
    rss_mb: Number((rss / 2 ** 20).toFixed(1)),
    rss_floor_mb: Number((rssBefore / 2 ** 20).toFixed(1)),
  };
  console.log(`process driver, ${PROCESSES} TCP listeners (python3), median of ${RUNS} runs`);
  console.log(
    `  start to all-ready   ${result.seconds.toFixed(3)} s   runs: ${starts.map((s) => s.toFixed(3)).join(' ')}`,
  );
  console.log(
    `  floor (direct spawn) ${result.floor_seconds.toFixed(3)} s   runs: ${floors.map((s) => s.toFixed(3)).join(' ')}`,
  );
  console.log(`  ratio                ${result.ratio}`);
  console.log(`  restart (kill -> exit event -> restart -> new PID), ${SAMPLES} samples`);
  console.log(`    p50 ${result.restart_p50_ms} ms   p99 ${result.restart_p99_ms} ms`);
  console.log(`  idle ${IDLE_SECONDS} s with ${PROCESSES} watched workloads`);
  console.log(
    `    cpu ${result.idle_cpu_percent} % of one core (GC: ${gcCount} runs, ${result.idle_gc_ms} ms)   rss ${result.rss_mb} MB (before: ${result.rss_floor_mb} MB)`,
  );
  console.log(JSON.stringify(result));
} finally {
  await Promise.all((await driver.list()).map((s) => driver.delete(s.ref, { graceMs: 5_000 })));
  await driver.close();
  rmSync(state, { recursive: true, force: true });
}
