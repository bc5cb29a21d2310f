// `npm run bench -- placement [--batch N]`: placement throughput of the built-in Wasm plugin.
//
// 1,000 and then 10,000 simulated hosts (host records, no agents: zones, racks, tiers, kinds,
// capacities, 1 % draining) take 100,000 workloads: 2,000 services of 50, each with a `web`
// spread evenly across zones, an `api` spread by shares (50/30/20), a `cache` colocated with
// `web`, a `db` on storage hosts with 128 GiB or more, on distinct hosts, and a podman
// `worker` bin-packed. They go
// through the real khutulun.wasm in the plugin host (`place_many`, as `placeMany` in
// @khutulun/agent's host-policies.ts calls it), a batch of whole services per call. Every call
// carries the whole snapshot: every host and every workload placed so far, serialized as
// JSON each time, as an agent would send it. The timing covers all of it: building the
// argument, JSON both ways, the worker round trip and the Wasm placement. The placements are
// then checked against every constraint (capacity, filters, distinct hosts, colocation).
// Then the same, one call per service (a deploy at a time) in a placement session, where the
// plugin keeps the snapshot between calls and only the workloads travel.
// Prints the figures per size, then one JSON line (the stateless batches at 10,000 hosts).
// Goal: > 5,000 placements/s at 10,000 hosts (Nomad's C1M: ~3,750/s).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createPluginHost } from '@khutulun/plugins';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { dispatchedPolicies } = await import(
  pathToFileURL(join(root, 'packages', 'agent', 'lib', 'host-policies.js')).href
);

const WORKLOADS = 100_000;
const PER_SERVICE = 50;
const batchArg = process.argv.indexOf('--batch');
const BATCH = batchArg > 0 ? Number(process.argv[batchArg + 1]) : 10_000;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A small deterministic generator (so every run places the same cluster). */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function makeHosts(count) {
  const next = random(count);
  const hosts = [];
  for (let i = 0; i < count; i++) {
    const roll = next();
    const tier = roll < 0.1 ? 'storage' : roll < 0.15 ? 'gpu' : 'general';
    const kinds = ['process'];
    if (next() < 0.7) kinds.push('podman');
    if (next() < 0.3) kinds.push('docker');
    const size = 1 + Math.floor(next() * 3);
    hosts.push({
      name: `host-${String(i).padStart(5, '0')}`,
      state: next() < 0.01 ? 'draining' : 'up',
      labels: { zone: `zone-${i % 4}`, rack: `rack-${Math.floor(i / 20)}`, tier },
      kinds,
      capacity: { cpu: 32 * size, memory: 64 * size * GiB },
      workloads: [],
    });
  }
  return hosts;
}

/** The 50 workloads of one service, in the order they are placed. */
function serviceWorkloads(index, next) {
  const service = `svc-${String(index).padStart(4, '0')}`;
  const small = { cpu: 0.25, memory: 256 * MiB };
  const medium = { cpu: 0.25 + Math.floor(next() * 3) * 0.25, memory: 512 * MiB };
  const list = [];
  // One entry per node template, with its instance count (as a deploy asks for them).
  const add = (node, count, spec) => list.push({ service, node, count, kind: 'process', ...spec });
  add('web', 20, {
    resources: medium,
    filter: { labels: { tier: { in: ['general', 'gpu'] } } },
    policies: [{ type: 'spread', label: 'zone' }],
  });
  add('api', 10, {
    resources: medium,
    filter: { labels: { tier: 'general' } },
    policies: [
      { type: 'spread', label: 'zone', shares: { 'zone-0': 50, 'zone-1': 30, 'zone-2': 20 } },
    ],
  });
  add('cache', 10, { resources: small, policies: [{ type: 'colocate', with: 'web' }] });
  add('db', 2, {
    resources: { cpu: 0.5, memory: GiB },
    filter: { labels: { tier: 'storage' }, capacity: { memory: 128 * GiB } },
    policies: [{ type: 'distinct-hosts' }, { type: 'spread', label: 'zone' }],
  });
  add('worker', 8, {
    kind: 'podman',
    resources: small,
    policies: [{ type: 'scoring', mode: 'binpack' }],
  });
  return list;
}

/** The services' requests, and every instance they stand for (in placement order). */
function makeWorkloads() {
  const next = random(7);
  const requests = [];
  const instances = [];
  for (let s = 0; instances.length < WORKLOADS; s++) {
    for (const request of serviceWorkloads(s, next)) {
      requests.push(request);
      for (let i = 0; i < request.count; i++) instances.push(request);
    }
  }
  return { requests, instances };
}

/** Constraint violations in the final placement (must be 0). */
function violations(hosts, workloads, placed) {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const used = new Map();
  const nodesOn = new Map();
  let bad = 0;
  workloads.forEach((w, i) => {
    const name = placed[i];
    if (!name) return;
    const host = byName.get(name);
    const u = used.get(name) ?? { cpu: 0, memory: 0 };
    u.cpu += w.resources?.cpu ?? 0;
    u.memory += w.resources?.memory ?? 0;
    used.set(name, u);
    const key = `${w.service}/${w.node}`;
    const on = nodesOn.get(name) ?? new Map();
    if (w.policies?.some((p) => p.type === 'distinct-hosts') && on.get(key)) bad++;
    for (const p of w.policies ?? []) {
      if (p.type === 'colocate' && !on.get(`${w.service}/${p.with}`)) bad++;
    }
    on.set(key, (on.get(key) ?? 0) + 1);
    nodesOn.set(name, on);
    if (host.state !== 'up' || !host.kinds.includes(w.kind)) bad++;
    for (const [label, match] of Object.entries(w.filter?.labels ?? {})) {
      const allowed = typeof match === 'string' ? [match] : match.in;
      if (!allowed.includes(host.labels[label])) bad++;
    }
    if (host.capacity.memory < (w.filter?.capacity?.memory ?? 0)) bad++;
  });
  for (const [name, u] of used) {
    const c = byName.get(name).capacity;
    if (u.cpu > c.cpu + 1e-9 || u.memory > c.memory) bad++;
  }
  return bad;
}

/**
 * Places every request, BATCH instances per call: statelessly (the whole snapshot in every
 * call) or, with `session`, in a placement session (the snapshot sent once).
 */
async function run(
  hostCount,
  { requests, instances },
  { session = false, batch: size = BATCH } = {},
) {
  const plugins = createPluginHost({ builtins: true, timeoutMs: 60_000, maxInstances: 1 });
  const policies = dispatchedPolicies(plugins, {});
  const hosts = makeHosts(hostCount);
  const byName = new Map(hosts.map((h) => [h.name, h]));
  // What each host runs, by service and node template (the snapshot lists each once, with
  // its count: what an agent reads with one GROUP BY).
  const running = new Map(hosts.map((h) => [h.name, new Map()]));
  // Warm up: the worker and the compiled module (not timed).
  await policies.placeMany({
    hosts: hosts.slice(0, 10),
    workloads: requests.slice(0, 5).map((r) => ({ ...r, count: 1 })),
  });
  if (session) session = policies.placementSession();
  const placed = [];
  const calls = [];
  let failed = 0;
  const failures = new Map();
  let inputBytes = 0;
  const start = performance.now();
  for (let from = 0; from < requests.length; ) {
    // Whole services, about BATCH instances per call.
    let to = from;
    for (let n = 0; to < requests.length && n < size; to++) n += requests[to].count;
    const batch = requests.slice(from, to);
    from = to;
    const t0 = performance.now();
    const results = session
      ? await session.placeMany({ workloads: batch, hosts: () => hosts })
      : await policies.placeMany({ hosts, workloads: batch });
    calls.push(performance.now() - t0);
    if (process.env.PLACEMENT_TRACE) {
      inputBytes = JSON.stringify({ hosts, workloads: batch }).length;
      console.error(hostCount, placed.length, calls.at(-1).toFixed(0), 'ms', inputBytes);
    }
    let at = 0;
    for (const w of batch) {
      for (let i = 0; i < w.count; i++) {
        const result = results[at++];
        placed.push(result.host);
        if (result.host === null) {
          failed++;
          const key = `${w.node}: ${Object.keys(result.summary).join(', ')}`;
          failures.set(key, (failures.get(key) ?? 0) + 1);
          continue;
        }
        // The next call's snapshot holds this workload.
        const onHost = running.get(result.host);
        const key = `${w.service}/${w.node}`;
        let entry = onHost.get(key);
        if (!entry) {
          entry = { service: w.service, node: w.node, resources: w.resources, count: 0 };
          onHost.set(key, entry);
          byName.get(result.host).workloads.push(entry);
        }
        entry.count++;
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await plugins.close();
  const lastInputMb = JSON.stringify({ hosts }).length / 1e6;
  const perZone = new Map();
  instances.forEach((w, i) => {
    if (w.service !== 'svc-0000' || w.node !== 'api' || !placed[i]) return;
    const zone = byName.get(placed[i]).labels.zone;
    perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
  });
  return {
    hosts: hostCount,
    seconds,
    perSecond: Math.round(instances.length / seconds),
    calls,
    failed,
    failures: [...failures].map(([why, n]) => `${n} ${why}`).join('; '),
    violations: violations(hosts, instances, placed),
    lastInputMb,
    used: hosts.filter((h) => h.workloads.length > 0).length,
    apiZones: [...perZone]
      .sort()
      .map(([z, n]) => `${z}:${n}`)
      .join(' '),
  };
}

const workloads = makeWorkloads();
console.log(
  `placement: ${workloads.instances.length} workloads (${workloads.instances.length / PER_SERVICE} services), ` +
    `place_many in batches of ${BATCH}, the whole snapshot sent with every call`,
);
function print(r, session = false) {
  const sorted = [...r.calls].sort((a, b) => a - b);
  console.log(
    `    placements/s  ${r.perSecond}  (${r.seconds.toFixed(2)} s in ${r.calls.length} calls)`,
  );
  console.log(
    `    call ms       first ${r.calls[0].toFixed(1)}, median ${sorted[sorted.length >> 1].toFixed(1)}, last ${r.calls.at(-1).toFixed(1)} ${session ? '(the hosts sent once, with the first call)' : `(last snapshot ${r.lastInputMb.toFixed(1)} MB of JSON)`}`,
  );
  console.log(`    failed        ${r.failed}  (no host fits)${r.failed ? `: ${r.failures}` : ''}`);
  console.log(`    violations    ${r.violations}  (capacity, filters, distinct hosts, colocation)`);
  console.log(`    hosts used    ${r.used}`);
  console.log(`    svc-0000 api  ${r.apiZones}  (shares 50/30/20)`);
}

const results = [];
for (const hostCount of [1_000, 10_000]) {
  const r = await run(hostCount, workloads);
  results.push(r);
  console.log(`  ${r.hosts} hosts`);
  print(r);
}
// One deploy at a time: a call per service (50 instances), in a placement session.
console.log(
  `  one call per service (${PER_SERVICE} instances, 2,000 calls) in a placement session: the snapshot sent once`,
);
for (const hostCount of [1_000, 10_000]) {
  const r = await run(hostCount, workloads, { session: true, batch: PER_SERVICE });
  console.log(`  ${r.hosts} hosts, session`);
  print(r, true);
}
const big = results.at(-1);
console.log('  goal: > 5,000 placements/s at 10,000 hosts (Nomad C1M ~3,750/s)');
console.log(
  JSON.stringify({ hosts: big.hosts, workloads: WORKLOADS, placements_per_s: big.perSecond }),
);
