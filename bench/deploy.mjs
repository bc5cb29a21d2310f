#!/usr/bin/env node
// Deploys a service of 200 processes (each a small TCP listener that must become ready)
// through a real agent (its own process, Unix socket API) and times it to all-ready. The
// floor, in the same run: the same 200 processes spawned directly and waited for (TCP-ready).
// Also exports the helpers bench/restart.mjs and bench/idle.mjs share.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PROCESSES = 200;
// A range no test agent uses: agents on other state directories keep other ledgers, and a
// port two agents both found free can only be bound by one of them.
const PORT_RANGE = '10000-11999';
// A small TCP listener: the port comes from the environment (PORT, as the agent sets it).
export const LISTENER = [
  '/usr/bin/python3',
  '-c',
  'import os,socket,time\n' +
    's=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n' +
    's.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen(64)\n' +
    'while True: s.accept()[0].close()\n',
];

/** A TOSCA service of `count` Servers running LISTENER (restart policy `restart`). */
export function serviceYaml(count, restart = 'on-failure') {
  const lines = [
    'tosca_definitions_version: tosca_2_0',
    'imports:',
    '  - profile: io.khutulun.core',
    '    namespace: k',
    'service_template:',
    '  node_templates:',
  ];
  for (let i = 1; i <= count; i++) {
    lines.push(
      `    l${i}:`,
      '      type: k:Server',
      '      properties:',
      `        command: ${LISTENER[0]}`,
      `        arguments: [${LISTENER.slice(1)
        .map((a) => JSON.stringify(a))
        .join(', ')}]`,
      `        restart: ${restart}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Starts a real agent process on a fresh state directory; resolves once its API answers. */
export async function startAgentProcess() {
  const stateDir = mkdtempSync(join(tmpdir(), 'khutulun-bench-'));
  const script =
    "import('@khutulun/agent').then(async (m) => process.exit(await m.runAgentCommand(" +
    // Processes only: the benchmarks measure the process kind, and the podman kind would
    // start a podman service of its own for every agent.
    `['--state-dir', ${JSON.stringify(stateDir)}, '--port-range', '${PORT_RANGE}', '--kinds', 'process'], ` +
    '{ stdout: process.stdout, stderr: process.stderr })))';
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('.', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const socketPath = join(stateDir, 'api.sock');
  while (!out.includes('API')) {
    if (child.exitCode !== null) throw new Error(`the agent exited: ${out}`);
    await Promise.race([once(child.stdout, 'data'), once(child, 'exit')]);
  }
  return {
    pid: child.pid,
    stateDir,
    socketPath,
    api: (method, path, body) => api(socketPath, method, path, body),
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** One JSON request to the agent's API over its Unix socket. */
export function api(socketPath, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          const json = text ? JSON.parse(text) : null;
          if (res.statusCode >= 400)
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(json);
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Deploys the benchmark service through the agent; resolves with the seconds it took. */
export async function deployThroughAgent(agent, count, restart) {
  const file = join(agent.stateDir, 'bench-service.yaml');
  writeFileSync(file, serviceYaml(count, restart));
  const t0 = performance.now();
  await agent.api('POST', '/v1/services', { name: 'bench', source: { path: file }, wait: true });
  return (performance.now() - t0) / 1000;
}

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

/** Resolves once 127.0.0.1:port accepts a TCP connection (retrying, as readiness does). */
export async function tcpReady(port, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not ready`);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** The floor: the same processes spawned directly and waited for; seconds. */
export async function floor(count) {
  const ports = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const t0 = performance.now();
  const children = ports.map((port) =>
    spawn(LISTENER[0], LISTENER.slice(1), {
      stdio: 'ignore',
      detached: true,
      env: { PATH: process.env.PATH, PORT: String(port) },
    }),
  );
  await Promise.all(ports.map((p) => tcpReady(p)));
  const seconds = (performance.now() - t0) / 1000;
  for (const child of children) child.kill('SIGKILL');
  return seconds;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main() {
  // Rounds alternate the floor and the agent, so both see the same machine; medians are quoted.
  const rounds = Number(process.env.DEPLOY_ROUNDS ?? 3);
  const agent = await startAgentProcess();
  const floors = [];
  const deploys = [];
  try {
    for (let round = 0; round < rounds; round++) {
      floors.push(await floor(PROCESSES));
      deploys.push(await deployThroughAgent(agent, PROCESSES, 'on-failure'));
      const workloads = await agent.api('GET', '/v1/workloads?service=bench');
      const running = workloads.filter((w) => w.state === 'running').length;
      if (running !== PROCESSES) throw new Error(`${running} of ${PROCESSES} workloads running`);
      await agent.api('DELETE', '/v1/services/bench?wait=true');
    }
  } finally {
    await agent.stop();
  }
  const seconds = median(deploys);
  const floorSeconds = median(floors);
  const ratio = seconds / floorSeconds;
  console.log(`deploy: ${PROCESSES} TCP listeners, to all-ready (${rounds} rounds, medians)`);
  console.log(
    `  through the agent   ${seconds.toFixed(3)} s   rounds: ${deploys.map((d) => d.toFixed(2)).join(', ')}`,
  );
  console.log(
    `  floor (direct)      ${floorSeconds.toFixed(3)} s   rounds: ${floors.map((d) => d.toFixed(2)).join(', ')}`,
  );
  console.log(`  ratio               ${ratio.toFixed(2)}  (goal <= 2)`);
  console.log(
    JSON.stringify({
      processes: PROCESSES,
      seconds: Number(seconds.toFixed(3)),
      floor_seconds: Number(floorSeconds.toFixed(3)),
      ratio: Number(ratio.toFixed(2)),
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
