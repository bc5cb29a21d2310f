// `npm run bench -- plugins`: dispatch latency and throughput through each plugin kind.
//
// A trivial function (`add`) and a realistic one (`entity_name`: reads the call site's entity
// through the get-entity host function and returns a property) are called sequentially
// through the PluginHost for each kind (Wasm, executable, in-process), against the floor of a
// direct in-process JavaScript call. Prints a table, then one JSON line.
// Goals: Wasm p50 < 50 µs for the trivial call; executable p50 < 500 µs.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentDigest, createPluginHost } from '@khutulun/plugins';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'plugins');
const fixtures = {
  wasm: join(root, 'build', 'fixtures', 'conformance.wasm'),
  executable: join(root, 'fixtures', 'conformance-executable.mjs'),
  typescript: join(root, 'fixtures', 'conformance-module.mjs'),
};

const vertexId = { kind: 'vertex', directory: ['services', 'hello'], name: 'web' };
const vertex = {
  id: vertexId,
  metadata: {},
  classes: [],
  properties: { name: { value: 'web-1' } },
};
const site = { entity: vertexId, path: ['port'] };
const hostFunctions = {
  log() {},
  getEntity: async () => vertex,
  evaluate: async () => null,
  query: async () => [],
  traverse: async () => [],
  put: async () => {},
  delete: async () => false,
  emit: async () => {},
};

const host = createPluginHost({ timeoutMs: 10_000 });
for (const [kind, location] of Object.entries(fixtures)) {
  host.register({
    id: { kind: 'plugin', directory: ['bench'], name: kind },
    metadata: {},
    classes: [],
    pluginKind: kind,
    digest: contentDigest(readFileSync(location)),
    location,
    grants: ['get-entity'],
  });
}

async function measure(call, count) {
  const warmup = Math.min(2000, count);
  for (let i = 0; i < warmup; i++) await call(i);
  const samples = new Float64Array(count);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    await call(i);
    samples[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  samples.sort();
  const at = (q) => Math.round(samples[Math.min(count - 1, Math.floor(q * count))] * 10) / 10;
  return { p50_us: at(0.5), p99_us: at(0.99), calls_per_s: Math.round(count / total) };
}

// The floor: the same work as a direct call of an in-process JavaScript function.
const direct = {
  add: async (a, b) => a + b,
  entity_name: async () => (await hostFunctions.getEntity(vertexId)).properties.name.value,
};
const results = {
  floor: await measure((i) => direct.add(i, 1), 50_000),
};
results.floor.realistic = await measure(() => direct.entity_name(), 50_000);

const counts = { wasm: 20_000, executable: 5_000, typescript: 50_000 };
for (const kind of Object.keys(fixtures)) {
  const dispatch = (fn, args) =>
    host.dispatch({ plugin: kind, function: fn, arguments: args, site }, hostFunctions);
  if ((await dispatch('add', [2, 3])) !== 5) throw new Error(`${kind}: add is wrong`);
  if ((await dispatch('entity_name', [])) !== 'web-1')
    throw new Error(`${kind}: entity_name is wrong`);
  results[kind] = await measure((i) => dispatch('add', [i, 1]), counts[kind]);
  results[kind].realistic = await measure(() => dispatch('entity_name', []), counts[kind]);
  results[kind].p50_vs_floor = Math.round((results[kind].p50_us / results.floor.p50_us) * 10) / 10;
}
await host.close();

const rows = [];
for (const [kind, r] of Object.entries(results)) {
  rows.push([kind, 'trivial', r.p50_us, r.p99_us, r.calls_per_s]);
  rows.push([kind, 'realistic', r.realistic.p50_us, r.realistic.p99_us, r.realistic.calls_per_s]);
}
const header = ['kind', 'function', 'p50 µs', 'p99 µs', 'calls/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  `Wasm trivial p50 ${results.wasm.p50_us} µs (goal < 50): ${results.wasm.p50_vs_floor}x the floor; ` +
    `executable trivial p50 ${results.executable.p50_us} µs (goal < 500)`,
);
results.goals = {
  wasm_p50_under_50us: results.wasm.p50_us < 50,
  executable_p50_under_500us: results.executable.p50_us < 500,
};
console.log(JSON.stringify(results));
