#!/usr/bin/env node
// Deploys 50 Podman containers (busybox `httpd`, each on its own published port, from one
// local image built from files) through the podman workload driver until all accept TCP on
// their published ports. The floor, in the same run: the same 50 started with `podman run -d`
// directly and waited for the same way. Then restart latency (a container killed with
// `podman kill` is running again: the `exit` event plus the driver's `restart`, which is what
// the agent does) and the idle CPU of this process, which holds the driver and its event
// stream, with the 50 containers running.
//
// Everything runs on a podman service of its own (temporary store and socket), stopped by
// its PID at the end. Options: --idle-seconds N (default 60), --samples N (default 50).
//
// The deploy goes through a `target` (deploy / killAndRestart / teardown): today the driver
// in this process, with the benchmark playing the agent's part (exit event, then restart);
// an agent target (its API, the workload-restarted event) can stand in for it without
// touching the rest. The idle figure is this process's CPU: with an agent target, measure
// the agent's process instead (as bench/idle.mjs does).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { archiveReference, fileDigest } from '@khutulun/driver-container';
import { busyboxRootfs, freePort, waitForTcp } from '@khutulun/driver-container/testing';
import { PodmanDriver } from '@khutulun/driver-podman';
import { startPodmanFixture } from '@khutulun/driver-podman/testing';

const CONTAINERS = 50;
const { values } = parseArgs({
  options: {
    'idle-seconds': { type: 'string', default: '60' },
    samples: { type: 'string', default: '50' },
  },
});
const IDLE_SECONDS = Number(values['idle-seconds']);
const SAMPLES = Number(values.samples);
const TARGET_PORT = 8080;
const COMMAND = ['httpd', '-f', '-p', String(TARGET_PORT), '-h', '/var/www'];

function cli(podman, args) {
  return new Promise((resolve, reject) => {
    execFile('podman', [...podman.flags, ...args], (error, stdout, stderr) =>
      error
        ? reject(new Error(`podman ${args.join(' ')}: ${stderr || error.message}`))
        : resolve(stdout),
    );
  });
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Distinct free loopback ports. */
async function ports(n) {
  const out = new Set();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

/** Deploys through the podman driver in this process (the agent's part, minus the agent). */
function driverTarget(podman, image) {
  const state = mkdtempSync(join(tmpdir(), 'khutulun-bench-containers-'));
  const driver = new PodmanDriver({
    client: podman.socketPath,
    stateDirectory: state,
    host: 'bench',
  });
  return {
    async deploy(hostPorts) {
      return Promise.all(
        hostPorts.map(async (port, i) => {
          const status = await driver.create({
            key: { service: 'bench', name: `web-${i}` },
            properties: {
              type: 'container',
              environment: {},
              image_archive: image,
              command: COMMAND,
            },
            ports: [
              {
                name: 'http',
                port,
                target: TARGET_PORT,
                protocol: 'tcp',
                hostAddress: '127.0.0.1',
              },
            ],
          });
          return { name: `khutulun-bench-web-${i}`, ref: status.ref, port };
        }),
      );
    },
    /**
     * Kills a workload with `kill()` and resolves once it runs again, with the time of its
     * death as the engine recorded it (ms since the epoch) and whether it runs: here the
     * agent's part (the exit event, then `restart`) is played by the benchmark.
     */
    async killAndRestart(workload, kill) {
      let off;
      const exited = new Promise((resolve) => {
        off = driver.on('exit', (exit) => {
          if (exit.ref.id === workload.ref.id) resolve({ exit, notifiedAt: Date.now() });
        });
      });
      const [, { exit, notifiedAt }] = await Promise.all([kill(), exited]);
      off();
      const status = await driver.restart(workload.ref);
      return { diedAt: Date.parse(exit.time), notifiedAt, running: status.state === 'running' };
    },
    async teardown(workloads) {
      await Promise.all(workloads.map((w) => driver.delete(w.ref, { graceMs: 1_000 })));
      await driver.close();
      rmSync(state, { recursive: true, force: true });
    },
  };
}

const podman = await startPodmanFixture();
const figures = {};
try {
  const rootfs = await busyboxRootfs();
  const image = { file: rootfs, format: 'rootfs' };
  const reference = archiveReference(await fileDigest(rootfs));
  // The image is in the store before either deploy starts (the driver finds it by digest).
  await cli(podman, ['import', rootfs, reference]);

  // Floor: podman run -d, all 50 at once, then wait for TCP the same way.
  const floorPorts = await ports(CONTAINERS);
  let t0 = performance.now();
  await Promise.all(
    floorPorts.map((port, i) =>
      cli(podman, [
        'run',
        '-d',
        '--name',
        `floor-${i}`,
        '--restart',
        'no',
        '-p',
        `127.0.0.1:${port}:${TARGET_PORT}/tcp`,
        reference,
        ...COMMAND,
      ]),
    ),
  );
  await Promise.all(floorPorts.map((port) => waitForTcp(port, 60_000, 20)));
  const floorSeconds = (performance.now() - t0) / 1000;
  await cli(podman, ['rm', '-f', '-t', '0', ...floorPorts.map((_, i) => `floor-${i}`)]);

  // Through the driver.
  const target = driverTarget(podman, image);
  const hostPorts = await ports(CONTAINERS);
  t0 = performance.now();
  const workloads = await target.deploy(hostPorts);
  await Promise.all(workloads.map((w) => waitForTcp(w.port, 60_000, 20)));
  const seconds = (performance.now() - t0) / 1000;

  // Restart: podman kill -> exit event -> restart -> running. One at a time, round robin.
  // Measured from the death as the engine records it (the `exit` event's time, on this
  // host's clock), so the podman CLI's own start-up before it sends the signal is not
  // counted; `withCli` counts from spawning `podman kill`, for comparison.
  const samples = [];
  const withCli = [];
  const toEvent = [];
  for (let i = 0; i < SAMPLES; i++) {
    const w = workloads[i % workloads.length];
    const start = performance.now();
    const { diedAt, notifiedAt, running } = await target.killAndRestart(w, () =>
      cli(podman, ['kill', w.name]),
    );
    samples.push(Date.now() - diedAt);
    if (notifiedAt) toEvent.push(notifiedAt - diedAt);
    withCli.push(performance.now() - start);
    if (!running) throw new Error(`${w.name} is not running after its restart`);
  }
  await Promise.all(workloads.map((w) => waitForTcp(w.port, 60_000, 20)));

  figures.load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

  // Idle: this process (driver, event stream) with 50 containers, doing nothing.
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const idlePercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100;

  await target.teardown(workloads);

  const sorted = [...samples].sort((a, b) => a - b);
  const sortedCli = [...withCli].sort((a, b) => a - b);
  const sortedEvent = [...toEvent].sort((a, b) => a - b);
  Object.assign(figures, {
    eventP50: quantile(sortedEvent, 0.5),
    eventP99: quantile(sortedEvent, 0.99),
    cliP50: quantile(sortedCli, 0.5),
    cliP99: quantile(sortedCli, 0.99),
    seconds,
    floorSeconds,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    idlePercent,
    idleCpuMs: (cpu.user + cpu.system) / 1000,
  });
} finally {
  await podman.dispose();
}

const ratio = figures.seconds / figures.floorSeconds;
console.log(`containers: ${CONTAINERS} podman containers (busybox httpd), until all accept TCP`);
console.log(`  driver     ${figures.seconds.toFixed(2)} s`);
console.log(`  floor      ${figures.floorSeconds.toFixed(2)} s  (podman run -d, all at once)`);
console.log(`  ratio      ${ratio.toFixed(2)}  (goal <= 1.2)`);
console.log(
  `restart: killed (podman kill, time of death from the engine) -> exit event -> driver restart -> running (${SAMPLES} samples)`,
);
console.log(`  p50        ${figures.p50.toFixed(1)} ms`);
console.log(`  p90        ${figures.p90.toFixed(1)} ms`);
console.log(`  p99        ${figures.p99.toFixed(1)} ms  (goal < 1000 ms)`);
console.log(
  `  death -> exit event: p50 ${figures.eventP50?.toFixed(1)} ms, p99 ${figures.eventP99?.toFixed(1)} ms`,
);
console.log(
  `  from spawning podman kill: p50 ${figures.cliP50.toFixed(1)} ms, p99 ${figures.cliP99.toFixed(1)} ms`,
);
console.log(`  load average after the restarts: ${figures.load}`);
console.log(`idle: this process with ${CONTAINERS} containers, ${IDLE_SECONDS} s`);
console.log(
  `  cpu        ${figures.idleCpuMs.toFixed(1)} ms = ${figures.idlePercent.toFixed(3)} %`,
);
console.log(
  JSON.stringify({
    containers: CONTAINERS,
    seconds: Number(figures.seconds.toFixed(2)),
    floor_seconds: Number(figures.floorSeconds.toFixed(2)),
    ratio: Number(ratio.toFixed(2)),
    restart_p50_ms: Number(figures.p50.toFixed(1)),
    restart_p99_ms: Number(figures.p99.toFixed(1)),
    idle_cpu_percent: Number(figures.idlePercent.toFixed(3)),
  }),
);
