/**
 * Replacements that the first chosen host cannot start are placed again elsewhere: agents of
 * one cluster (a real PostgreSQL and nats-server) in this process, each on a memory kind of
 * its own (`@khutulun/driver-memory`), so that a test scripts which host fails the start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHostRegistry } from '@khutulun/cluster';
import { type MemoryHost, memoryKind } from '@khutulun/driver-memory';
import { describe, expect, it } from 'vitest';
import { startAgent } from './start-agent.js';
import { type ApiResponse, apiCall } from './testing/agent-process.js';
import { type TestCluster, useClusterFixture } from './testing/cluster-fixture.js';
import { MEMORY_PROCESS_KIND, writeServiceFile } from './testing/memory-agent.js';

const fx = useClusterFixture();

/** An agent of the cluster in this process, whose `Process` nodes run on its memory host. */
interface MemoryMember {
  name: string;
  host: MemoryHost;
  api(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** Leaves the cluster (its heartbeats stop: the others declare it lost). */
  stop(): Promise<void>;
}

async function memoryMember(cluster: TestCluster, name: string): Promise<MemoryMember> {
  const stateDir = mkdtempSync(join(tmpdir(), 'khutulun-replace-retry-'));
  fx.cleanup(() => rmSync(stateDir, { recursive: true, force: true }));
  const kind = memoryKind({
    kind: MEMORY_PROCESS_KIND,
    nodeTypes: ['node:io.khutulun.core/Process'],
    // Unset values aside: the memory driver would read `exit_code: null` as its scripting.
    map: (node) => ({
      properties: Object.fromEntries(Object.entries(node.properties).filter(([, v]) => v !== null)),
      problems: [],
    }),
  });
  const from = 30_000 + Math.floor(Math.random() * 300) * 100;
  const agent = await startAgent({
    stateDir,
    host: name,
    kinds: [kind],
    portRange: { from, to: from + 99 },
    store: cluster.store,
    bus: cluster.bus,
    cluster: cluster.name,
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= agent.stop();
    return stopping;
  };
  fx.cleanup(stop);
  return {
    name,
    host: kind.host,
    api: (method, path, body) => apiCall(agent.socketPath, method, path, body),
    stop,
  };
}

type Event = { type: string; id: { name: string }; data: Record<string, unknown>; time: string };

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The events about one workload's loss and replacement, in order. */
async function eventsOf(agent: MemoryMember, workload: string): Promise<Event[]> {
  const all = (await agent.api('GET', '/v1/events?limit=1000')).body as Event[];
  return all.filter((e) => e.id.name === workload && /^workload-(lost|replace)/.test(e.type));
}

/**
 * Three hosts; the service `victim` (one workload, `one-1`) is deployed by host-a onto
 * host-b (the others drained meanwhile); then host-b leaves without a word.
 */
async function victimOnB(policy: 'at-least-once' | 'at-most-once') {
  const cluster = await fx.newCluster('retry');
  const [a, b, c] = await Promise.all(
    ['host-a', 'host-b', 'host-c'].map((name) => memoryMember(cluster, name)),
  );
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-replace-retry-src-'));
  fx.cleanup(() => rmSync(dir, { recursive: true, force: true }));
  const source = writeServiceFile(
    dir,
    'victim',
    '    one:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n' +
      '        arguments: ["300"]\n' +
      '  policies:\n    - once:\n        type: k:Replacement\n' +
      `        properties: { guarantee: ${policy} }\n        targets: [ one ]\n`,
  );
  for (const host of ['host-a', 'host-c'])
    expect((await a!.api('POST', `/v1/hosts/${host}/drain`)).status).toBe(200);
  const deployed = await a!.api('POST', '/v1/services', {
    name: 'victim',
    source: { path: source },
  });
  expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
  for (const host of ['host-a', 'host-c'])
    expect((await a!.api('POST', `/v1/hosts/${host}/undrain`)).status).toBe(200);
  expect(b!.host.get(key)?.state).toBe('running');
  const registry = await openHostRegistry(cluster.store);
  fx.cleanup(() => registry.close());
  return { a: a!, b: b!, c: c!, registry };
}

const key = { service: 'victim', name: 'one-1' };
const running = (host: MemoryHost) => host.get(key)?.state === 'running';

describe('replacing a lost host’s workload when the chosen host cannot start it', () => {
  it('places it again on another host, which runs it exactly once (at-most-once: after the fencing delay)', async () => {
    const before = process.env.KHUTULUN_FENCING_DELAY_MS;
    process.env.KHUTULUN_FENCING_DELAY_MS = '2500';
    fx.cleanup(() => {
      if (before === undefined) delete process.env.KHUTULUN_FENCING_DELAY_MS;
      else process.env.KHUTULUN_FENCING_DELAY_MS = before;
    });
    const { a, b, c, registry } = await victimOnB('at-most-once');
    // Placement takes host-a first (both empty: the first name); its start of it fails.
    a.host.failNextCreate(key, new Error('scripted: host-a cannot start one-1'));
    await b.stop();

    const events = await until(
      () => eventsOf(a, 'one-1'),
      (es) =>
        es.some((e) => e.type === 'workload-replaced' || e.type === 'workload-replace-failed'),
    );
    const types = events.map((e) => e.type);
    const from = types.indexOf('workload-lost');
    expect(types.slice(from)).toEqual([
      'workload-lost',
      'workload-replace-attempt-failed',
      'workload-replaced',
    ]);
    const attempt = events.find((e) => e.type === 'workload-replace-attempt-failed')!;
    expect(attempt.data).toEqual({
      host: 'host-a',
      code: 'deploy-failed',
      message: 'scripted: host-a cannot start one-1',
    });
    const replaced = events.find((e) => e.type === 'workload-replaced')!;
    expect(replaced.data).toMatchObject({ lostHost: 'host-b' });
    // Not before the fencing delay after the loss, even through a second host.
    const lostAt = Date.parse(events[from]!.time);
    expect(Date.parse(attempt.time) - lostAt).toBeGreaterThanOrEqual(2_400);

    // On host-c, once; nothing of it left on host-a (the failed create made nothing there).
    expect(running(c.host)).toBe(true);
    expect(
      c.host.operations.filter((o) => o.op === 'create' && o.key.name === 'one-1'),
    ).toHaveLength(1);
    expect(running(a.host)).toBe(false);
    const workloads = (await a.api('GET', '/v1/workloads')).body as Array<Record<string, unknown>>;
    expect(workloads.map((w) => [w.name, w.host, w.state])).toEqual([
      ['one-1', 'host-c', 'running'],
    ]);

    // The registry: one owner, host-c; the intent placed on host-c (moved, not placed twice).
    const owners = await Promise.all(['host-a', 'host-c'].map((h) => registry.workloadsOf(h)));
    expect(owners.map((o) => o.map((w) => [w.owner, w.workload, w.state]))).toEqual([
      [],
      [['host-c', 'one-1', 'running']],
    ]);
    const intents = await registry.replacementsOf('host-b', 1);
    expect(intents.map((r) => [r.workload, r.placedOn])).toEqual([['one-1', 'host-c']]);
    expect(await registry.pendingReplacements()).toEqual([]);
  });

  it('ends in workload-replace-failed with the reason of every host when each fails it', async () => {
    const { a, b, c, registry } = await victimOnB('at-least-once');
    a.host.failNextCreate(key, new Error('scripted: no room on host-a'));
    c.host.failNextCreate(key, new Error('scripted: no room on host-c'));
    await b.stop();

    const events = await until(
      () => eventsOf(a, 'one-1'),
      (es) =>
        es.some((e) => e.type === 'workload-replaced' || e.type === 'workload-replace-failed'),
    );
    const types = events.map((e) => e.type);
    expect(types.slice(types.indexOf('workload-lost'))).toEqual([
      'workload-lost',
      'workload-replace-attempt-failed',
      'workload-replace-attempt-failed',
      'workload-replace-failed',
    ]);
    const attempts = events.filter((e) => e.type === 'workload-replace-attempt-failed');
    expect(attempts.map((e) => e.data.host)).toEqual(['host-a', 'host-c']);
    const failed = events.find((e) => e.type === 'workload-replace-failed')!;
    const reasons = failed.data.reasons as Record<string, string>;
    expect(Object.keys(reasons).sort()).toEqual(['host-a', 'host-b', 'host-c']);
    expect(reasons['host-a']).toBe('deploy-failed: scripted: no room on host-a');
    expect(reasons['host-c']).toBe('deploy-failed: scripted: no room on host-c');
    expect(reasons['host-b']).toBeTruthy();
    for (const host of ['host-a', 'host-b', 'host-c'])
      expect(String(failed.data.message)).toContain(`${host}: `);

    // It runs nowhere; the graph says lost, and the registry is as the loss left it: the owner
    // host-b's, lost, and the intent not placed (the next agent that starts tries it again).
    expect(running(a.host) || running(c.host)).toBe(false);
    const workloads = (await a.api('GET', '/v1/workloads')).body as Array<Record<string, unknown>>;
    expect(workloads.map((w) => [w.name, w.state])).toEqual([['one-1', 'lost']]);
    expect((await registry.workloadsOf('host-b')).map((w) => [w.workload, w.state])).toEqual([
      ['one-1', 'lost'],
    ]);
    expect((await registry.pendingReplacements()).map((r) => r.workload)).toEqual(['one-1']);
    expect(await registry.workloadsOf('host-a')).toEqual([]);
    expect(await registry.workloadsOf('host-c')).toEqual([]);
  });
});
