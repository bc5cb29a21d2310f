#!/usr/bin/env node
// `npm run bench -- dashboard [--workloads N] [--events N] [--loads N] [--kills N] [--no-agent]`:
// the web dashboard in Chromium with a service of 1,000 workloads.
//
// The agent here is synthetic: a small loopback server that answers the API's routes with the
// shapes of @khutulun/api (1,000 workloads on 4 hosts, 990 ConnectsTo edges, vertexes as large
// as a real agent's: 3.3 MB of graph JSON) and serves the
// real built dashboard (packages/dashboard-web/dist). That isolates the dashboard's own cost
// (the API's is measured by bench/deploy.mjs) and lets the benchmark send events at known
// instants.
//
// - first_render_ms: from navigation start to the graph laid out and painted (the page's
//   `khutulun:graph-ready` mark), median of fresh page loads; includes loading the bundle and
//   the data.
// - event_latency_p99_ms: from the server writing a `property-changed` (state) event on the
//   SSE stream to the frame that shows it painted: the workload's row has the new state (a
//   DOM mutation, also printed alone as "event to DOM") and the graph node has it, across
//   paced events. Browser and server clocks are the same machine's; their offset is measured
//   and printed.
//
// A second phase (skipped with `--no-agent`) runs the same page against a REAL agent: its own
// process (`khutulun agent --kinds process` on a temporary state directory) with a service of
// 1,000 bare processes (`sleep`, `restart: never`, each app depending on one of 10 "db"
// processes), the dashboard served through the real `khutulun dashboard` loopback bridge
// (one-time token, session cookie).
//
// - agent_first_render_ms: as first_render_ms, on the real agent's service (the agent's graph,
//   workloads and events, relayed by the bridge), median of fresh page loads.
// - agent_kill_to_dom_p99_ms: from SIGKILL of a workload's process (PIDs from GET
//   /v1/workloads; paced kills) to its row showing the new state (failed/exited) in the DOM:
//   the driver noticing the exit, the agent recording it and sending the event, the bridge,
//   and the page. Observed as in the first phase, with the clock offset measured again.
//
// Everything the phase started is removed afterwards: the service (and with it every
// process), the bridge, the agent, its state directory; any process still running from that
// directory is killed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { processesUnder } from '@khutulun/cluster/testing';
import { chromium } from 'playwright-core';
import { startAgentProcess } from './deploy.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'packages/dashboard-web/dist');
const { values } = parseArgs({
  options: {
    workloads: { type: 'string', default: '1000' },
    events: { type: 'string', default: '300' },
    loads: { type: 'string', default: '5' },
    interval: { type: 'string', default: '25' },
    screenshot: { type: 'string' },
    // A CPU profile (.cpuprofile, for Chromium's DevTools) of the last page load.
    profile: { type: 'string' },
    // The second phase, against a real agent: off with --no-agent.
    agent: { type: 'boolean', default: true },
    kills: { type: 'string', default: '30' },
    'kill-interval': { type: 'string', default: '300' },
  },
  allowNegative: true,
});
const WORKLOADS = Number(values.workloads);
const EVENTS = Number(values.events);
const LOADS = Number(values.loads);
const INTERVAL_MS = Number(values.interval);
const KILLS = Number(values.kills);
const KILL_INTERVAL_MS = Number(values['kill-interval']);
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!existsSync(join(dist, 'index.html'))) {
  console.error(
    'the dashboard is not built: npm run build (or npm run build:extra -w @khutulun/dashboard-web)',
  );
  process.exit(1);
}
if (!CHROMIUM) {
  console.error('chromium is not installed (apt-get install chromium)');
  process.exit(1);
}

// ---- the synthetic service -------------------------------------------------------------
const SERVICE = 'bench';
const HOSTS = ['host-1', 'host-2', 'host-3', 'host-4'];
const DATABASES = 10;
const now = new Date().toISOString();
const names = Array.from({ length: WORKLOADS }, (_, i) =>
  i < DATABASES ? `db-${i + 1}` : `app-${i + 1}`,
);
const workloads = names.map((name, i) => ({
  service: SERVICE,
  name,
  host: HOSTS[i % HOSTS.length],
  kind: 'process',
  state: 'running',
  restarts: 0,
  pid: 10000 + i,
  ports: {},
  startedAt: now,
}));
const id = (kind, name) => ({ kind, directory: ['services', SERVICE], name });
// Each node vertex carries properties of the size a real agent sends (~5 KB: command,
// environment, interfaces, artifacts), plus a nested capability vertex, as in
// `GET /v1/graph/services/NAME` of a real service.
const attribute = (value) => ({
  metadata: { 'tosca.kind': 'attribute', 'tosca.type': 'string' },
  value,
});
const nodeProperties = (name, i) => ({
  command: attribute('node'),
  arguments: attribute([
    '-e',
    `// ${name}\n${'require("node:http").createServer((q, r) => r.end("ok")).listen(process.env.PORT);\n'.repeat(12)}`,
  ]),
  environment: attribute({ PORT: String(20000 + i), GREETING: 'hello', LOG_LEVEL: 'info' }),
  restart: attribute('always'),
  state: attribute('running'),
  pid: attribute(10000 + i),
  restarts: attribute(0),
  host: attribute(HOSTS[i % HOSTS.length]),
  started_at: attribute(now),
  directory: attribute(`/var/lib/khutulun/workloads/${SERVICE}/${name}`),
  'tosca:interfaces': {
    value: {
      events: {
        type: 'io.khutulun.core/Events',
        inputs: {},
        operations: { handle: { inputs: {} } },
        notifications: Object.fromEntries(
          ['started', 'ready', 'exited', 'restarting', 'stopped'].map((n) => [n, { inputs: {} }]),
        ),
      },
    },
  },
  'tosca:artifacts': { value: {} },
  'tosca:metadata': { value: {} },
});
const vertexes = names.flatMap((name, i) => [
  {
    id: id('vertex', name),
    metadata: { 'tosca.entity': 'node', 'tosca.type': 'io.khutulun.core/Process' },
    classes: [
      { kind: 'class', directory: ['services', SERVICE], name: 'node:io.khutulun.core/Process' },
    ],
    template: {
      kind: 'vertex-template',
      directory: ['services', SERVICE],
      name: name.replace(/-\d+$/, ''),
    },
    properties: nodeProperties(name, i),
  },
  {
    id: id('vertex', `${name.replace(/-\d+$/, '')}/capabilities/feature-${i + 1}`),
    metadata: { 'tosca.entity': 'capability', 'tosca.name': 'feature' },
    classes: [],
    parent: id('vertex', name),
    properties: {},
  },
]);
const edges = names.slice(DATABASES).map((name, i) => ({
  id: id('edge', `${name}/requirements/0/connection-1`),
  metadata: { 'tosca.entity': 'relationship' },
  classes: [
    {
      kind: 'class',
      directory: ['services', SERVICE],
      name: 'relationship:io.khutulun.core/ConnectsTo',
    },
  ],
  source: id('vertex', name),
  target: id('vertex', names[i % DATABASES]),
  properties: {},
}));
const graphJson = JSON.stringify({ vertexes, edges });
let seq = 1;
const streams = new Set();
const json = (res, body) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://bench');
  const path = url.pathname;
  if (path.startsWith('/dashboard/')) {
    const file = normalize(join(dist, path.slice('/dashboard/'.length) || 'index.html'));
    if (!file.startsWith(dist) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    return res.end(readFileSync(file));
  }
  if (path === '/v1/health') {
    return json(res, {
      ok: true,
      version: 'bench',
      host: 'bench',
      pid: process.pid,
      stateDir: '/',
      store: 'synthetic',
      lastSeq: seq,
      memory: { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 },
    });
  }
  if (path === '/v1/services') {
    const ready = workloads.filter((w) => w.state === 'running').length;
    return json(res, [
      {
        name: SERVICE,
        state: ready === WORKLOADS ? 'running' : 'degraded',
        workloads: WORKLOADS,
        ready,
        createdAt: now,
        source: '/bench.yaml',
      },
    ]);
  }
  if (path === `/v1/services/${SERVICE}/outputs`) return json(res, {});
  if (path === '/v1/workloads') return json(res, workloads);
  if (path === '/v1/hosts') {
    return json(
      res,
      HOSTS.map((name) => ({
        name,
        state: 'up',
        self: name === 'host-1',
        address: '127.0.0.1',
        workloads: WORKLOADS / HOSTS.length,
        kinds: ['process'],
      })),
    );
  }
  if (path === '/v1/events') return json(res, []);
  if (path === `/v1/graph/services/${SERVICE}`) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(graphJson);
  }
  if (path === '/v1/events/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    streams.add(res);
    req.on('close', () => streams.delete(res));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: 'not-found', message: 'no such route' } }));
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const origin = `http://127.0.0.1:${server.address().port}`;

/** Sends a state change of one workload on every open stream; returns when it was written. */
function emit(index, state) {
  const w = workloads[index];
  const old = w.state;
  w.state = state;
  const event = {
    seq: ++seq,
    type: 'property-changed',
    id: id('vertex', w.name),
    time: new Date().toISOString(),
    data: { property: 'state', old, new: state },
  };
  const text = `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  const sentAt = performance.timeOrigin + performance.now();
  for (const res of streams) res.write(text);
  return sentAt;
}

// ---- the browser --------------------------------------------------------------------------
const profile = mkdtempSync(join(tmpdir(), 'khutulun-bench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1366, height: 820 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
/**
 * Clock offset between a page and this process (same machine): of several round trips, the
 * shortest (on a loaded machine one can take tens of milliseconds).
 */
async function clockOffset(page) {
  let offset = 0;
  let error = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 15; i++) {
    const before = performance.timeOrigin + performance.now();
    const pageNow = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = performance.timeOrigin + performance.now();
    if ((after - before) / 2 < error) {
      error = (after - before) / 2;
      offset = pageNow - (before + after) / 2;
    }
  }
  return { offset, error };
}

/**
 * Records, in the page, every change of a workload row's state (`window.__seen`): when the DOM
 * changed, when that frame was painted and whether the graph node had the state by then.
 */
async function observeRows(page) {
  await page.evaluate(() => {
    window.__seen = [];
    const rows = document.querySelector('[data-testid=workload-rows]');
    new MutationObserver((records) => {
      const at = performance.timeOrigin + performance.now();
      const changed = [];
      for (const r of records) {
        if (r.type === 'attributes' && r.attributeName === 'data-state') changed.push(r.target);
      }
      if (!changed.length) return;
      // The page renders live changes in an animation frame, and a frame paints right after
      // its callbacks: a task posted now runs once this frame is painted.
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        const painted = performance.timeOrigin + performance.now();
        const cy = window.__khutulunGraph;
        for (const row of changed) {
          const name = row.getAttribute('data-name');
          const state = row.getAttribute('data-state');
          const inGraph = cy.getElementById(`w:${name}`).data('state') === state;
          window.__seen.push({ name, state, at, painted, inGraph });
        }
      };
      channel.port2.postMessage(null);
    }).observe(rows, { attributes: true, subtree: true, attributeFilter: ['data-state'] });
  });
}

/**
 * The marks of a page load that has drawn its graph (logged), checked: every workload in the
 * graph, each on a spot of its own. Resolves with navigation to `khutulun:graph-ready`.
 */
async function readRender(page, load) {
  const marks = await page.evaluate(() =>
    Object.fromEntries(
      [
        'script-start',
        'live-loaded',
        'graph-fetched',
        'graph-create',
        'graph-created',
        'graph-ready',
      ].map((m) => [
        m,
        Math.round(performance.getEntriesByName(`khutulun:${m}`)[0]?.startTime ?? -1),
      ]),
    ),
  );
  const ms = marks['graph-ready'];
  console.log(
    `  load ${load + 1}: ${Object.entries(marks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} ms`,
  );
  const { nodes, spots } = await page.evaluate(() => {
    const workloads = window.__khutulunGraph.nodes('.workload');
    const spots = new Set(workloads.map((n) => `${n.position('x')},${n.position('y')}`));
    return { nodes: workloads.length, spots: spots.size };
  });
  if (nodes !== WORKLOADS) throw new Error(`the graph shows ${nodes} workloads, not ${WORKLOADS}`);
  // A graph drawn with every node on one spot is fast and wrong.
  if (spots !== WORKLOADS)
    throw new Error(`the graph's ${WORKLOADS} workloads sit on ${spots} distinct spots`);
  return ms;
}

// ---- the real agent ----------------------------------------------------------------------
const KHUTULUN = join(root, 'packages/cli/bin/khutulun.js');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The real service: `count` bare processes that sleep, never restarted (a kill leaves them
 * failed); the first 10 are "db" processes each app depends on one of (DependsOn edges).
 */
function agentServiceYaml(count) {
  const lines = [
    'tosca_definitions_version: tosca_2_0',
    'imports:',
    '  - profile: io.khutulun.core',
    '    namespace: k',
    'service_template:',
    '  node_templates:',
  ];
  for (let i = 1; i <= count; i++) {
    const db = i <= DATABASES;
    lines.push(
      `    ${db ? 'db' : 'app'}${i}:`,
      '      type: k:Process',
      '      properties:',
      '        command: /usr/bin/sleep',
      '        arguments: ["100000"]',
      '        restart: never',
    );
    if (!db)
      lines.push('      requirements:', `        - dependency: db${((i - 1) % DATABASES) + 1}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Resolves once the child has exited; SIGKILL after `ms` if it has not. */
async function stopChild(child, signal, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

/**
 * The second phase: a real agent with WORKLOADS bare processes, the dashboard through the real
 * `khutulun dashboard` bridge. Resolves with the median first render and the p99 of kill to
 * DOM; removes everything it started.
 */
async function realAgentPhase() {
  // A real agent (deploy.mjs's: the process kind only) on a fresh state directory.
  const agent = await startAgentProcess();
  const { stateDir } = agent;
  const call = agent.api;
  let bridge;
  let deployed = false;
  const pages = [];
  try {
    const file = join(stateDir, 'bench-dashboard.yaml');
    writeFileSync(file, agentServiceYaml(WORKLOADS));
    const t0 = performance.now();
    deployed = true;
    await call('POST', '/v1/services', {
      name: SERVICE,
      source: { path: file },
      wait: true,
    });
    let running = 0;
    for (const deadline = Date.now() + 180_000; ; await sleep(500)) {
      const list = await call('GET', `/v1/workloads?service=${SERVICE}`);
      running = list.filter((w) => w.state === 'running').length;
      if (running === WORKLOADS) break;
      if (Date.now() > deadline) throw new Error(`${running} of ${WORKLOADS} workloads running`);
    }
    console.log(
      `real agent: ${WORKLOADS} bare processes (${WORKLOADS - DATABASES} DependsOn edges) deployed and running in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    bridge = spawn(
      process.execPath,
      [KHUTULUN, '--state-dir', stateDir, 'dashboard', '--no-open'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let bridgeOut = '';
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no dashboard URL: ${bridgeOut}`)), 30_000);
      const onData = (chunk) => {
        bridgeOut += chunk;
        const match = /http:\/\/127\.0\.0\.1:\d+\/dashboard\/\?token=\S+/.exec(bridgeOut);
        if (match) {
          clearTimeout(timer);
          resolve(match[0]);
        }
      };
      bridge.stdout.on('data', onData);
      bridge.stderr.on('data', onData);
      bridge.on('exit', (code) =>
        reject(new Error(`khutulun dashboard exited (${code}): ${bridgeOut}`)),
      );
    });
    const bridgeOrigin = new URL(url).origin;
    // The one-time token, traded for the session cookie the fresh loads then carry.
    const first = await context.newPage();
    await first.goto(url);
    await first.close();

    const renders = [];
    let page;
    for (let load = 0; load < LOADS; load++) {
      await page?.close();
      page = await context.newPage();
      pages.push(page);
      await page.goto(`${bridgeOrigin}/dashboard/#/services/${SERVICE}`);
      await page.waitForSelector('#graph[data-ready=true]', { timeout: 120_000 });
      renders.push(await readRender(page, load));
    }
    renders.sort((a, b) => a - b);
    const firstRender = renders[Math.floor(renders.length / 2)];
    console.log(
      `real agent: first render (navigation to painted graph), ${LOADS} fresh loads: median ${round(firstRender)} ms, min ${round(renders[0])}, max ${round(renders.at(-1))}`,
    );

    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=workload-row]').length === n,
      WORKLOADS,
      { timeout: 30_000 },
    );
    const { offset, error } = await clockOffset(page);
    console.log(
      `real agent: clock offset page - bench: ${round(offset)} ms (± ${round(error)} ms)`,
    );
    await observeRows(page);

    const list = await call('GET', `/v1/workloads?service=${SERVICE}`);
    const targets = [];
    for (let i = 0; targets.length < Math.min(KILLS, list.length); i++) {
      const w = list[(i * 7919) % list.length];
      if (w.state === 'running' && w.pid && !targets.includes(w)) targets.push(w);
    }
    const kills = [];
    for (const w of targets) {
      const at = performance.timeOrigin + performance.now();
      process.kill(w.pid, 'SIGKILL');
      kills.push({ name: w.name, at });
      await sleep(KILL_INTERVAL_MS);
    }
    const done = (seen) =>
      kills.every((k) => seen.some((x) => x.name === k.name && x.state !== 'running'));
    let seen = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(200)) {
      seen = await page.evaluate(() => window.__seen);
      if (done(seen)) break;
    }
    const dom = [];
    const painted = [];
    const states = new Set();
    let missing = 0;
    for (const k of kills) {
      const match = seen.find(
        (x) => x.name === k.name && x.state !== 'running' && x.at - offset >= k.at - 5,
      );
      if (!match) {
        missing++;
        continue;
      }
      states.add(match.state);
      dom.push(match.at - offset - k.at);
      painted.push(match.painted - offset - k.at);
    }
    dom.sort((a, b) => a - b);
    painted.sort((a, b) => a - b);
    const after = await call('GET', `/v1/workloads?service=${SERVICE}`);
    const stillRunning = kills.filter(
      (k) => after.find((w) => w.name === k.name)?.state === 'running',
    ).length;
    console.log(
      `real agent: ${kills.length} SIGKILLs, one every ${KILL_INTERVAL_MS} ms; ${missing} not seen in the DOM; rows turned ${[...states].join('/') || '-'}; ${stillRunning} still running per the API`,
    );
    if (missing) throw new Error(`${missing} kills never reached the page`);
    console.log(
      `real agent: kill to DOM: p50 ${round(percentile(dom, 50))} ms, p99 ${round(percentile(dom, 99))} ms, max ${round(dom.at(-1))} ms`,
    );
    console.log(
      `real agent: kill to painted frame: p50 ${round(percentile(painted, 50))} ms, p99 ${round(percentile(painted, 99))} ms`,
    );
    return { firstRender, killToDomP99: percentile(dom, 99) };
  } finally {
    for (const p of pages) await p.close().catch(() => undefined);
    if (bridge) await stopChild(bridge, 'SIGINT', 5_000);
    if (deployed) {
      await call('DELETE', `/v1/services/${SERVICE}?wait=true`).catch((error) =>
        console.error(`deleting the service: ${error.message}`),
      );
    }
    // Anything the agent started that is still there (a failed delete): killed, group first.
    const left = processesUnder(stateDir).filter((p) => p.pid !== agent.pid);
    for (const { pid } of left) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
    if (left.length) console.error(`killed ${left.length} processes left from ${stateDir}`);
    await agent.stop();
  }
}

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const round = (n) => Math.round(n * 10) / 10;

try {
  const renders = [];
  let page;
  for (let load = 0; load < LOADS; load++) {
    await page?.close();
    page = await context.newPage();
    const cdp =
      values.profile && load === LOADS - 1 ? await context.newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    await page.goto(`${origin}/dashboard/#/services/${SERVICE}`);
    await page.waitForSelector('#graph[data-ready=true]', { timeout: 60_000 });
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(values.profile, JSON.stringify(profile));
      await cdp.detach();
    }
    const ms = await readRender(page, load);
    renders.push(ms);
  }
  renders.sort((a, b) => a - b);
  const firstRender = renders[Math.floor(renders.length / 2)];
  console.log(
    `machine: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `graph of ${WORKLOADS} workloads on ${HOSTS.length} hosts, ${edges.length} edges (${vertexes.length} vertexes, ${(graphJson.length / 1048576).toFixed(1)} MB of JSON)`,
  );
  console.log(
    `first render (navigation to painted graph), ${LOADS} fresh loads: median ${round(firstRender)} ms, min ${round(renders[0])}, max ${round(renders.at(-1))}`,
  );

  if (values.screenshot) await page.screenshot({ path: values.screenshot });
  // Interactivity: a pan and zoom of the whole graph, measured in frames.
  const interaction = await page.evaluate(async () => {
    const cy = window.__khutulunGraph;
    const start = performance.now();
    let frames = 0;
    await new Promise((resolve) => {
      const step = () => {
        frames++;
        cy.panBy({ x: 5, y: 3 });
        cy.zoom({ level: cy.zoom() * 1.01, renderedPosition: { x: 400, y: 300 } });
        if (frames < 60) requestAnimationFrame(step);
        else resolve();
      };
      requestAnimationFrame(step);
    });
    return (performance.now() - start) / frames;
  });
  console.log(`pan and zoom: ${round(interaction)} ms per frame over 60 frames`);

  const { offset, error } = await clockOffset(page);
  console.log(`clock offset page - bench: ${round(offset)} ms (± ${round(error)} ms)`);
  await observeRows(page);

  const sent = [];
  for (let i = 0; i < EVENTS; i++) {
    const index = (i * 7919) % WORKLOADS;
    const state = workloads[index].state === 'running' ? 'failed' : 'running';
    sent.push({ name: workloads[index].name, state, at: emit(index, state) });
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const seen = await page.evaluate(() => window.__seen);
  const latencies = [];
  const dom = [];
  let missing = 0;
  let graphBehind = 0;
  for (const s of sent) {
    const match = seen.find(
      (x) => x.name === s.name && x.state === s.state && x.at - offset >= s.at - 5 && !x.used,
    );
    if (!match) {
      missing++;
      continue;
    }
    match.used = true;
    if (!match.inGraph) graphBehind++;
    latencies.push(match.painted - offset - s.at);
    dom.push(match.at - offset - s.at);
  }
  latencies.sort((a, b) => a - b);
  dom.sort((a, b) => a - b);
  console.log(
    `events: ${EVENTS} state changes, one every ${INTERVAL_MS} ms; ${missing} not seen; ${graphBehind} where the graph lagged the row`,
  );
  console.log(
    `event to DOM: p50 ${round(percentile(dom, 50))} ms, p99 ${round(percentile(dom, 99))} ms`,
  );
  console.log(
    `event to painted frame (row and graph): p50 ${round(percentile(latencies, 50))} ms, p95 ${round(percentile(latencies, 95))} ms, p99 ${round(percentile(latencies, 99))} ms, max ${round(latencies.at(-1))} ms`,
  );
  if (missing) throw new Error(`${missing} events never reached the page`);
  await page.close();

  const agentPhase = values.agent ? await realAgentPhase() : undefined;
  console.log(
    JSON.stringify({
      workloads: WORKLOADS,
      first_render_ms: Math.round(firstRender),
      event_latency_p99_ms: round(percentile(latencies, 99)),
      ...(agentPhase
        ? {
            agent_first_render_ms: Math.round(agentPhase.firstRender),
            agent_kill_to_dom_p99_ms: round(agentPhase.killToDomP99),
          }
        : {}),
    }),
  );
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  for (const res of streams) res.end();
  server.closeAllConnections();
  server.close();
}
