#!/usr/bin/env node
// Loads 100,000 vertexes and 200,000 edges into each store backend (memory, SQLite,
// PostgreSQL on a private server started here), then times neighbour queries, depth-3
// traversals and class queries. The floor, in the same run: the same entity and class
// membership rows inserted with plain SQL (prepared INSERTs for SQLite, multi-row unnest
// INSERTs for PostgreSQL, same batches, same schema), without the store's existence reads,
// change events and bookkeeping. Prints a table, then one JSON object as the last line.
//
// Usage: npm run bench -- store [VERTEXES [BACKENDS]] (default 100000, edges twice as many;
// BACKENDS a comma-separated subset of memory,sqlite,postgres).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { entityRow } from '@khutulun/store-core';
import { openMemoryStore } from '@khutulun/store-memory';
import { openPostgresStore, startPostgresServer } from '@khutulun/store-postgres';
import { openSqliteStore } from '@khutulun/store-sqlite';
import Database from 'better-sqlite3';
import pg from 'pg';

const VERTEXES = Number(process.argv[2] ?? 100_000);
const EDGES = VERTEXES * 2;
const BATCH = 5_000;
const SAMPLES = 500;
const BACKENDS = (process.argv[3] ?? 'memory,sqlite,postgres').split(',');

// A seeded generator, so every backend gets the same graph and the same samples.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cls = (name) => ({ kind: 'class', directory: ['bench', 'classes'], name });
const vid = (i) => ({ kind: 'vertex', directory: ['bench', `d${i % 100}`], name: `v${i}` });

// 13 vertex classes in a tree (node <- tier0..2 <- tier0-0..tier2-2), 2 edge classes.
function classes() {
  const result = [{ id: cls('node'), metadata: {}, classes: [], parents: [] }];
  for (let t = 0; t < 3; t++) {
    result.push({ id: cls(`tier${t}`), metadata: {}, classes: [], parents: [cls('node')] });
    for (let s = 0; s < 3; s++) {
      result.push({
        id: cls(`tier${t}-${s}`),
        metadata: {},
        classes: [],
        parents: [cls(`tier${t}`)],
      });
    }
  }
  result.push({ id: cls('link'), metadata: {}, classes: [], parents: [] });
  result.push({ id: cls('depends-on'), metadata: {}, classes: [], parents: [cls('link')] });
  return result;
}

function* graph() {
  const next = random(42);
  for (let i = 0; i < VERTEXES; i++) {
    yield {
      id: vid(i),
      metadata: { index: String(i) },
      classes: [cls(`tier${i % 3}-${Math.floor(i / 3) % 3}`)],
      properties: { port: { value: 8000 + (i % 1000) }, name: { value: `service-${i}` } },
    };
  }
  for (let e = 0; e < EDGES; e++) {
    const source = e % VERTEXES;
    const target = Math.floor(next() * VERTEXES);
    yield {
      id: { kind: 'edge', directory: ['bench', 'edges'], name: `e${e}` },
      metadata: {},
      classes: [cls(e % 2 ? 'link' : 'depends-on')],
      source: vid(source),
      target: vid(target),
      properties: { weight: { value: e % 10 } },
    };
  }
}

function* batches() {
  let batch = classes();
  for (const entity of graph()) {
    batch.push(entity);
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

const TOTAL = VERTEXES + EDGES + classes().length;

async function timed(work) {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function latencies(run) {
  global.gc?.();
  const next = random(7);
  const times = [];
  let results = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const start = performance.now();
    results += await run(next);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), avgResults: results / SAMPLES };
}

async function measureStore(store) {
  global.gc?.();
  const insertSeconds = await timed(async () => {
    for (const batch of batches()) await store.transaction((tx) => tx.putMany(batch));
  });
  const pick = (next) => vid(Math.floor(next() * VERTEXES));
  const neighbours = await latencies(async (next) => {
    const v = pick(next);
    return (await store.edgesOut(v)).length + (await store.edgesIn(v)).length;
  });
  const traverse3 = await latencies(
    async (next) => (await store.traverse({ from: pick(next), depth: 3 })).length,
  );
  const traverse3Filtered = await latencies(
    async (next) =>
      (
        await store.traverse({
          from: pick(next),
          depth: 3,
          direction: 'both',
          edgeClass: cls('depends-on'),
          vertexClass: cls('tier0'),
        })
      ).length,
  );
  const classQuery = await latencies(
    async (next) =>
      (
        await store.query({
          class: cls(`tier${Math.floor(next() * 3)}`),
          directory: ['bench', `d${Math.floor(next() * 100)}`],
        })
      ).length,
  );
  const count = (
    await store.query({ directory: ['bench'], recursive: true, kind: 'vertex', limit: 1 })
  ).length;
  if (count !== 1 || (await store.lastSeq()) < TOTAL) throw new Error('the load did not land');
  return {
    insert_per_s: Math.round(TOTAL / insertSeconds),
    neighbours_p50_ms: neighbours.p50,
    neighbours_p99_ms: neighbours.p99,
    traverse3_p50_ms: traverse3.p50,
    traverse3_p99_ms: traverse3.p99,
    traverse3_avg_vertexes: traverse3.avgResults,
    traverse3_filtered_p50_ms: traverse3Filtered.p50,
    traverse3_filtered_p99_ms: traverse3Filtered.p99,
    class_query_p50_ms: classQuery.p50,
    class_query_p99_ms: classQuery.p99,
    class_query_avg_results: classQuery.avgResults,
  };
}

async function rawSqlite(file) {
  // The store creates the schema; the floor then inserts through a plain connection.
  await (await openSqliteStore(file)).close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(
    'INSERT INTO entities (key, kind, directory, name, parent, source, target, template, body) VALUES (@key, @kind, @directory, @name, @parent, @source, @target, @template, @body)',
  );
  const member = db.prepare('INSERT INTO memberships (entity_key, class_key) VALUES (?, ?)');
  const parent = db.prepare('INSERT INTO class_parents (class_key, parent_key) VALUES (?, ?)');
  const load = db.transaction((batch) => {
    for (const entity of batch) {
      const { classes, parents, ...row } = entityRow(entity, 'sqlite');
      insert.run(row);
      for (const c of classes) member.run(row.key, c);
      for (const p of parents) parent.run(row.key, p);
    }
  });
  const seconds = await timed(async () => {
    for (const batch of batches()) load(batch);
  });
  db.close();
  return Math.round(TOTAL / seconds);
}

async function rawPostgres(url) {
  await (await openPostgresStore(url)).close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const seconds = await timed(async () => {
    for (const batch of batches()) {
      const rows = batch.map((e) => entityRow(e, 'postgres'));
      const column = (f) => rows.map(f);
      await client.query('BEGIN');
      await client.query(
        'INSERT INTO entities (key, kind, directory, name, parent, source, target, template, body) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])',
        [
          column((r) => r.key),
          column((r) => r.kind),
          column((r) => r.directory),
          column((r) => r.name),
          column((r) => r.parent),
          column((r) => r.source),
          column((r) => r.target),
          column((r) => r.template),
          column((r) => r.body),
        ],
      );
      const pairs = (list) => {
        const left = [];
        const right = [];
        for (const r of rows) {
          for (const x of list(r)) {
            left.push(r.key);
            right.push(x);
          }
        }
        return [left, right];
      };
      await client.query(
        'INSERT INTO memberships SELECT * FROM unnest($1::text[], $2::text[])',
        pairs((r) => r.classes),
      );
      await client.query(
        'INSERT INTO class_parents SELECT * FROM unnest($1::text[], $2::text[])',
        pairs((r) => r.parents),
      );
      await client.query('COMMIT');
    }
  });
  await client.end();
  return Math.round(TOTAL / seconds);
}

const results = {};
const dir = mkdtempSync(join(tmpdir(), 'khutulun-bench-store-'));
let server;
try {
  console.error(
    `loading ${VERTEXES} vertexes and ${EDGES} edges (+${classes().length} classes) into each backend...`,
  );

  if (BACKENDS.includes('sqlite')) {
    // The floor goes first, so whatever the first load leaves behind (a warmer cache, a
    // pending checkpoint) can only favour the floor.
    const rawPerS = await rawSqlite(join(dir, 'raw.db'));
    const sqlite = await openSqliteStore(join(dir, 'store.db'));
    results.sqlite = { ...(await measureStore(sqlite)), raw_insert_per_s: rawPerS };
    await sqlite.close();
    console.error('sqlite', JSON.stringify(results.sqlite));
  }
  if (BACKENDS.includes('postgres')) {
    server = await startPostgresServer();
    const storeUrl = await server.createDatabase('bench_store');
    const rawUrl = await server.createDatabase('bench_raw');
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CHECKPOINT');
    const rawPerS = await rawPostgres(rawUrl);
    await admin.query('CHECKPOINT');
    const postgres = await openPostgresStore(storeUrl);
    results.postgres = { ...(await measureStore(postgres)), raw_insert_per_s: rawPerS };
    await postgres.close();
    await admin.end();
    console.error('postgres', JSON.stringify(results.postgres));
  }
  // Last: its 300,000 entities on this process's heap would slow the others' queries (GC).
  if (BACKENDS.includes('memory')) {
    const memory = openMemoryStore();
    results.memory = await measureStore(memory);
    await memory.close();
    console.error('memory', JSON.stringify(results.memory));
  }
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}

// Printed in a fixed order, whatever order they ran in.
for (const name of ['memory', 'sqlite', 'postgres']) {
  const r = results[name];
  if (r === undefined) continue;
  delete results[name];
  results[name] = r;
}
for (const r of Object.values(results)) {
  if (r.raw_insert_per_s)
    r.raw_over_store_ratio = Number((r.raw_insert_per_s / r.insert_per_s).toFixed(2));
}

const ms = (x) => (x === undefined ? '' : x.toFixed(2));
const rows = [
  [
    'backend',
    'insert/s',
    'raw SQL/s',
    'raw÷store',
    'nbr p50',
    'nbr p99',
    'trav3 p50',
    'trav3 p99',
    'trav3f p50',
    'trav3f p99',
    'class p50',
    'class p99',
  ],
  ...Object.entries(results).map(([name, r]) => [
    name,
    String(r.insert_per_s),
    r.raw_insert_per_s ? String(r.raw_insert_per_s) : '-',
    r.raw_over_store_ratio ? `${r.raw_over_store_ratio}x` : '-',
    ms(r.neighbours_p50_ms),
    ms(r.neighbours_p99_ms),
    ms(r.traverse3_p50_ms),
    ms(r.traverse3_p99_ms),
    ms(r.traverse3_filtered_p50_ms),
    ms(r.traverse3_filtered_p99_ms),
    ms(r.class_query_p50_ms),
    ms(r.class_query_p99_ms),
  ]),
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(
  `store benchmark: ${VERTEXES} vertexes, ${EDGES} edges, ${SAMPLES} samples per query (times in ms; nbr = edges out + in; trav3f = depth 3 both ways with edge and vertex class filters)`,
);
for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  '));
const round = (o) =>
  Object.fromEntries(
    Object.entries(o).map(([k, v]) => [
      k,
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v,
    ]),
  );
// Tail latencies on a shared machine are mostly other processes' CPU time: say how busy it was.
const load = loadavg().map((x) => Number(x.toFixed(2)));
console.log(`load average at the end (1, 5, 15 min): ${load.join(', ')}`);
console.log(
  JSON.stringify({
    benchmark: 'store',
    vertexes: VERTEXES,
    edges: EDGES,
    load_average: load,
    ...Object.fromEntries(Object.entries(results).map(([k, v]) => [k, round(v)])),
  }),
);
