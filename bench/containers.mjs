#!/usr/bin/env node
// Deploys 50 Podman containers (busybox `httpd`, each on its own published port, from one
// local image built from files) through a real agent (its own process: a TOSCA service of 50
// ContainerServers, deployed over its API until every one is ready) and times it. The floor,
// in the same run: the same 50 started with `podman run -d` directly and waited for until
// they accept TCP. Then restart latency (a container killed with `podman kill` is running
// again, as the agent's `workload-restarted` event says, measured from spawning the kill) and
// the idle CPU of the agent process with the 50 containers running.
//
// Everything runs on a podman service of its own (temporary store and socket, handed to the
// agent as CONTAINER_HOST), stopped by its PID at the end. Options: --idle-seconds N
// (default 60), --samples N (default 50), --through agent|driver (default agent: `driver`
// deploys through the podman driver in this process instead, with the benchmark playing the
// agent's part: the exit event, then restart).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { archiveReference, fileDigest } from '@khutulun/driver-container';
import { busyboxRootfs, freePort, waitForTcp } from '@khutulun/driver-container/testing';
import { PodmanDriver } from '@khutulun/driver-podman';
import { startPodmanFixture } from '@khutulun/driver-podman/testing';
import { api } from './deploy.mjs';

const CONTAINERS = 50;
const { values } = parseArgs({
  options: {
    'idle-seconds': { type: 'string', default: '60' },
    samples: { type: 'string', default: '50' },
    through: { type: 'string', default: 'agent' },
  },
});
const THROUGH = values.through;
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

const ROOT = join(import.meta.dirname, '..');
const KHUTULUN = join(ROOT, 'packages/cli/bin/khutulun.js');

/** Follows the agent's events (its SSE stream) from `since`; returns the function that stops. */
function followEvents(socketPath, since, onEvent) {
  const req = request({
    socketPath,
    path: `/v1/events/stream?since=${since}`,
    headers: { accept: 'text/event-stream' },
  });
  req.on('response', (res) => {
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        buffer = buffer.slice(end + 2);
        if (!data) continue;
        try {
          onEvent(JSON.parse(data));
        } catch {
          // Not an event.
        }
      }
    });
  });
  req.on('error', () => {});
  req.end();
  return () => req.destroy();
}

/** CPU time a process has used, in seconds (user + system, from /proc). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Deploys through a real agent: `khutulun agent --kinds podman` on a state directory of its
 * own, reaching the benchmark's podman service through CONTAINER_HOST, with a TOSCA service
 * of one ContainerServer per container (restart: always).
 */
async function agentTarget(podman, image) {
  const state = mkdtempSync(join(tmpdir(), 'khutulun-bench-containers-'));
  const socketPath = join(state, 'api.sock');
  const agent = spawn(
    process.execPath,
    [
      KHUTULUN,
      'agent',
      '--state-dir',
      state,
      '--kinds',
      'podman',
      '--host-name',
      'bench',
      '--port-range',
      '12000-12999',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONTAINER_HOST: `unix://${podman.socketPath}` },
    },
  );
  let output = '';
  agent.stdout.on('data', (d) => {
    output += d;
  });
  agent.stderr.on('data', (d) => {
    output += d;
  });
  for (let i = 0; i < 1200 && !output.includes('API '); i++) {
    if (agent.exitCode !== null) throw new Error(`the agent exited: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const lines = [
    'tosca_definitions_version: tosca_2_0',
    'imports:',
    '  - profile: io.khutulun.core',
    '    namespace: k',
    'service_template:',
    '  node_templates:',
  ];
  for (let i = 0; i < CONTAINERS; i++) {
    lines.push(
      `    web${i}:`,
      '      type: k:ContainerServer',
      '      properties:',
      `        command: [${COMMAND.map((c) => JSON.stringify(c)).join(', ')}]`,
      '        stop_grace_period: 1',
      '        restart: always',
      '      capabilities:',
      '        port:',
      '          properties:',
      `            target: ${TARGET_PORT}`,
      '      artifacts:',
      '        image:',
      '          type: k:RootfsArchive',
      `          file: ${image.file}`,
    );
  }
  const file = join(state, 'bench.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  let waiters;
  let stopEvents = () => {};
  return {
    agent,
    async deploy() {
      await api(socketPath, 'POST', '/v1/services', { source: { path: file }, wait: true });
      const items = await api(socketPath, 'GET', '/v1/workloads?service=bench');
      return items.map((w) => ({
        name: `khutulun-bench-${w.name}`,
        workload: w.name,
        port: w.ports.port,
      }));
    },
    async killAndRestart(workload, kill) {
      // One event stream, opened at the first kill, serves every sample.
      if (!waiters) {
        waiters = new Map();
        const since = (await api(socketPath, 'GET', '/v1/health')).lastSeq;
        stopEvents = followEvents(socketPath, since, (e) => {
          if (e.type === 'workload-restarted') waiters.get(e.id.name)?.();
        });
      }
      const restarted = new Promise((resolve) => waiters.set(workload.workload, resolve));
      await Promise.all([kill(), restarted]);
      waiters.delete(workload.workload);
      return { diedAt: undefined, notifiedAt: undefined, running: true };
    },
    async teardown() {
      stopEvents();
      await api(socketPath, 'DELETE', '/v1/services/bench?wait=true');
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
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
  const target =
    THROUGH === 'driver' ? driverTarget(podman, image) : await agentTarget(podman, image);
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
    // Through the agent the engine's time of death is not at hand: from spawning the kill.
    samples.push(diedAt === undefined ? performance.now() - start : Date.now() - diedAt);
    if (notifiedAt) toEvent.push(notifiedAt - diedAt);
    withCli.push(performance.now() - start);
    if (!running) throw new Error(`${w.name} is not running after its restart`);
  }
  await Promise.all(workloads.map((w) => waitForTcp(w.port, 60_000, 20)));

  figures.load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

  // Idle: the agent (or this process, holding the driver) with 50 containers, doing nothing.
  const idlePid = target.agent?.pid ?? process.pid;
  const cpu0 = cpuSeconds(idlePid);
  const wall0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idleCpuMs = (cpuSeconds(idlePid) - cpu0) * 1000;
  const idlePercent = (idleCpuMs / (performance.now() - wall0)) * 100;

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
    idleCpuMs,
  });
} finally {
  await podman.dispose();
}

const ratio = figures.seconds / figures.floorSeconds;
console.log(`containers: ${CONTAINERS} podman containers (busybox httpd), until all accept TCP`);
console.log(`  ${THROUGH.padEnd(10)} ${figures.seconds.toFixed(2)} s`);
console.log(`  floor      ${figures.floorSeconds.toFixed(2)} s  (podman run -d, all at once)`);
console.log(`  ratio      ${ratio.toFixed(2)}  (goal <= 1.2)`);
console.log(
  THROUGH === 'driver'
    ? `restart: killed (podman kill, time of death from the engine) -> exit event -> driver restart -> running (${SAMPLES} samples)`
    : `restart: podman kill spawned -> the agent's workload-restarted event (${SAMPLES} samples)`,
);
console.log(`  p50        ${figures.p50.toFixed(1)} ms`);
console.log(`  p90        ${figures.p90.toFixed(1)} ms`);
console.log(`  p99        ${figures.p99.toFixed(1)} ms  (goal < 1000 ms)`);
if (figures.eventP50 !== undefined)
  console.log(
    `  death -> exit event: p50 ${figures.eventP50?.toFixed(1)} ms, p99 ${figures.eventP99?.toFixed(1)} ms`,
  );
console.log(
  `  from spawning podman kill: p50 ${figures.cliP50.toFixed(1)} ms, p99 ${figures.cliP99.toFixed(1)} ms`,
);
console.log(`  load average after the restarts: ${figures.load}`);
console.log(
  `idle: ${THROUGH === 'driver' ? 'this process' : 'the agent'} with ${CONTAINERS} containers, ${IDLE_SECONDS} s`,
);
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
