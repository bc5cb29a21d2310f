// Placement rules, through the real khutulun.wasm in the plugin host (`place`, `place_many`).
import type { HostFunctions, Value } from '@khutulun/floria';
import { createPluginHost, isPluginError } from '@khutulun/plugins';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dispatchedPolicies,
  type PlacementHost,
  type PlacementRequest,
  type PlacementResult,
} from './host-policies.js';

const plugins = createPluginHost({ builtins: true });
const policies = dispatchedPolicies(plugins, {} as HostFunctions);
afterAll(() => plugins.close());

const GiB = 1024 ** 3;
const site = { entity: { kind: 'plugin' as const, directory: ['khutulun'], name: 'khutulun' } };
const raw = (fn: string, argument: Value) =>
  plugins.dispatch(
    { plugin: 'khutulun', function: fn, arguments: [argument], site },
    {} as HostFunctions,
  );

/** Three hosts, one per zone, 4 cores and 8 GiB each. */
function zones(extra: Partial<PlacementHost> = {}): PlacementHost[] {
  return ['a', 'b', 'c'].map((zone, i) => ({
    name: `h${i + 1}`,
    state: 'up',
    labels: { zone, tier: i === 2 ? 'gpu' : 'general' },
    kinds: i === 1 ? ['process'] : ['process', 'podman'],
    capacity: { cpu: 4, memory: 8 * GiB },
    ...extra,
  }));
}

const web = (more: Partial<PlacementRequest> = {}): PlacementRequest => ({
  service: 'shop',
  node: 'web',
  kind: 'process',
  resources: { cpu: 1, memory: GiB },
  ...more,
});

const hostsOf = (results: PlacementResult[]) => results.map((r) => r.host);

describe('placement (khutulun.wasm)', () => {
  it('keeps the agent call of today: a lone host is the answer', async () => {
    expect(await policies.place({ service: 's', workload: 'w', hosts: ['here'] })).toBe('here');
  });

  it.each([
    ['no filter: the emptiest, ties by name', {}, 'h1'],
    ['label equal', { filter: { labels: { zone: 'b' } } }, 'h2'],
    ['label in', { filter: { labels: { zone: { in: ['x', 'c'] } } } }, 'h3'],
    ['label { equal }', { filter: { labels: { tier: { equal: 'gpu' } } } }, 'h3'],
    ['kind offered', { kind: 'podman', filter: { labels: { zone: ['b', 'c'] } } }, 'h3'],
    ['filter kinds', { filter: { kinds: ['podman'], labels: { zone: { in: ['b', 'c'] } } } }, 'h3'],
    ['capacity at least', { filter: { capacity: { memory: 16 * GiB } } }, null],
    ['pinned', { host: 'h2' }, 'h2'],
  ] as const)('filter: %s', async (_, more, expected) => {
    const result = await policies.placeOne({
      hosts: zones(),
      workload: web(more as Partial<PlacementRequest>),
    });
    expect(result.host).toBe(expected);
  });

  it('failure: says for each host why it was rejected, and counts the reasons', async () => {
    const hosts = zones();
    hosts[0] = { ...hosts[0], state: 'draining' } as PlacementHost;
    hosts.push({ name: 'h4', available: false });
    hosts.push({ name: 'h5', capacity: { cpu: 8, memory: 2 * GiB }, labels: { zone: 'a' } });
    const result = await policies.placeOne({
      hosts,
      workload: web({
        kind: 'podman',
        resources: { cpu: 1, memory: 4 * GiB },
        filter: { labels: { zone: { in: ['a', 'b'] } } },
      }),
    });
    expect(result).toEqual({
      host: null,
      reasons: {
        h1: 'state: draining',
        h2: 'kind not offered: podman',
        h3: 'label mismatch: zone',
        h4: 'unavailable',
        h5: 'resources exhausted: memory',
      },
      summary: {
        'state: draining': 1,
        'kind not offered: podman': 1,
        'label mismatch: zone': 1,
        unavailable: 1,
        'resources exhausted: memory': 1,
      },
    });
    const capped = await policies.placeOne({
      hosts,
      workload: web({ filter: { capacity: { cpu: 16 } } }),
      options: { maxReasons: 2 },
    });
    expect(capped).toMatchObject({ host: null, summary: { 'capacity below: cpu': 3 } });
    expect(Object.keys((capped as { reasons: object }).reasons)).toEqual(['h1', 'h2']);
  });

  it('capacity: requests count against capacity, running workloads included', async () => {
    const hosts: PlacementHost[] = [
      {
        name: 'h1',
        capacity: { cpu: 4, memory: 4 * GiB },
        workloads: [{ service: 'other', node: 'db', resources: { cpu: 1, memory: 3 * GiB } }],
      },
      { name: 'h2', capacity: { cpu: 2, memory: 2 * GiB } },
    ];
    const results = await policies.placeMany({
      hosts,
      workloads: Array.from({ length: 4 }, () => web()),
    });
    expect(hostsOf(results)).toEqual(['h2', 'h1', 'h2', null]);
    expect(results[3]).toMatchObject({
      reasons: { h1: 'resources exhausted: memory', h2: 'resources exhausted: cpu, memory' },
    });
  });

  it('distinct hosts: never two of the targets on one host, running ones included', async () => {
    const hosts = zones();
    hosts[2] = { ...hosts[2], workloads: [{ service: 'shop', node: 'api' }] } as PlacementHost;
    const distinct = { type: 'distinct-hosts', targets: ['web', 'api'] } as const;
    const results = await policies.placeMany({
      hosts,
      workloads: [1, 2, 3].map(() =>
        web({ policies: [distinct, { type: 'scoring', mode: 'binpack' }] }),
      ),
    });
    expect(hostsOf(results)).toEqual(['h1', 'h2', null]);
    expect(results[2]).toMatchObject({
      reasons: {
        h1: 'distinct hosts: web already on host',
        h2: 'distinct hosts: web already on host',
        h3: 'distinct hosts: api already on host',
      },
    });
    // Another service's `web` is no clash.
    const other = await policies.placeMany({
      hosts: zones({ workloads: [{ service: 'blog', node: 'web' }] }),
      workloads: [web({ policies: [{ type: 'distinct-hosts' }] })],
    });
    expect(hostsOf(other)).toEqual(['h1']);
  });

  it('colocation: only where the other node runs, placed earlier in the batch or before', async () => {
    const colocate = { type: 'colocate', with: 'db' } as const;
    const results = await policies.placeMany({
      hosts: zones(),
      workloads: [
        web({ node: 'cache', policies: [colocate] }),
        web({ node: 'db', filter: { labels: { zone: 'b' } } }),
        web({ node: 'cache', policies: [colocate] }),
      ],
    });
    expect(results[0]).toMatchObject({
      host: null,
      summary: { 'colocation: db not on host': 3 },
    });
    expect(hostsOf(results).slice(1)).toEqual(['h2', 'h2']);
    const running = await policies.placeOne({
      hosts: zones({ workloads: [] }).map((h) =>
        h.name === 'h3' ? { ...h, workloads: [{ service: 'shop', node: 'db' }] } : h,
      ),
      workload: web({ node: 'cache', policies: [colocate] }),
    });
    expect(running.host).toBe('h3');
  });

  it('spread across a label: even by default, or by target shares', async () => {
    const hosts: PlacementHost[] = [];
    for (const zone of ['a', 'b', 'c']) {
      for (let i = 1; i <= 3; i++) hosts.push({ name: `${zone}${i}`, labels: { zone } });
    }
    const zoneOf = (results: PlacementResult[]) =>
      results
        .map((r) => r.host?.[0])
        .reduce<Record<string, number>>((count, zone) => {
          count[zone ?? '-'] = (count[zone ?? '-'] ?? 0) + 1;
          return count;
        }, {});
    const even = await policies.placeMany({
      hosts,
      workloads: Array.from({ length: 6 }, () =>
        web({ resources: {}, policies: [{ type: 'spread', label: 'zone' }] }),
      ),
    });
    expect(zoneOf(even)).toEqual({ a: 2, b: 2, c: 2 });
    const shares = { type: 'spread', label: 'zone', shares: { a: 50, b: 25, c: 25 } } as const;
    const weighted = await policies.placeMany({
      hosts,
      workloads: Array.from({ length: 8 }, () => web({ resources: {}, policies: [shares] })),
    });
    expect(zoneOf(weighted)).toEqual({ a: 4, b: 2, c: 2 });
    // Workloads already running count toward the shares.
    const running = hosts.map((h) =>
      h.name === 'a1'
        ? { ...h, workloads: Array.from({ length: 4 }, () => ({ service: 'shop', node: 'web' })) }
        : h,
    );
    const topUp = await policies.placeMany({
      hosts: running,
      workloads: Array.from({ length: 4 }, () => web({ resources: {}, policies: [shares] })),
    });
    expect(zoneOf(topUp)).toEqual({ b: 2, c: 2 });
  });

  it('bin-pack fills the fullest host that fits; spread takes the emptiest', async () => {
    const scoring = (mode: 'binpack' | 'spread') =>
      Array.from({ length: 5 }, () => web({ policies: [{ type: 'scoring', mode }] }));
    const packed = await policies.placeMany({ hosts: zones(), workloads: scoring('binpack') });
    expect(hostsOf(packed)).toEqual(['h1', 'h1', 'h1', 'h1', 'h2']);
    const spread = await policies.placeMany({ hosts: zones(), workloads: scoring('spread') });
    expect(hostsOf(spread)).toEqual(['h1', 'h2', 'h3', 'h1', 'h2']);
    // Bin-pack prefers a host already partly used.
    const used = zones().map((h) =>
      h.name === 'h3'
        ? { ...h, workloads: [{ service: 'x', node: 'y', resources: { cpu: 2 } }] }
        : h,
    );
    const fill = await policies.placeMany({ hosts: used, workloads: scoring('binpack') });
    expect(hostsOf(fill)).toEqual(['h3', 'h3', 'h1', 'h1', 'h1']);
  });

  it('count: places alike instances in turn; after a failure the rest carry the summary', async () => {
    const hosts = zones({
      workloads: [{ service: 'shop', node: 'web', count: 2, resources: { cpu: 1 } }],
    });
    const results = await policies.placeMany({
      hosts,
      workloads: [web({ count: 5, resources: { cpu: 1 } })],
    });
    expect(hostsOf(results)).toEqual(['h1', 'h2', 'h3', 'h1', 'h2']);
    const full = await policies.placeMany({
      hosts,
      workloads: [web({ count: 8, resources: { cpu: 1 } }), web({ count: 0 }), web({ node: 'x' })],
    });
    expect(hostsOf(full)).toEqual(['h1', 'h2', 'h3', 'h1', 'h2', 'h3', null, null, null]);
    const summary = { 'resources exhausted: cpu': 3 };
    expect(full[6]).toMatchObject({ reasons: { h1: 'resources exhausted: cpu' }, summary });
    expect(full[7]).toEqual({ host: null, reasons: {}, summary });
  });

  it('is deterministic: the same answer for the same snapshot, whatever the host order', async () => {
    const hosts: PlacementHost[] = Array.from({ length: 40 }, (_, i) => ({
      name: `host-${String(i).padStart(2, '0')}`,
      labels: { zone: `z${i % 4}` },
      capacity: { cpu: 4 + (i % 3), memory: 8 * GiB },
    }));
    const workloads = Array.from({ length: 60 }, (_, i) =>
      web({
        node: `n${i % 5}`,
        resources: { cpu: 0.5 + (i % 3) * 0.5, memory: GiB },
        policies: [
          { type: 'spread', label: 'zone' },
          { type: 'scoring', mode: i % 2 ? 'binpack' : 'spread' },
        ],
      }),
    );
    const first = await policies.placeMany({ hosts, workloads });
    const again = await policies.placeMany({ hosts, workloads });
    const reversed = await policies.placeMany({ hosts: [...hosts].reverse(), workloads });
    expect(again).toEqual(first);
    expect(reversed).toEqual(first);
    expect(first.every((r) => r.host !== null)).toBe(true);
  });

  it('place_many scores a window of candidates; place and placeOne score every host', async () => {
    const hosts: PlacementHost[] = Array.from({ length: 100 }, (_, i) => ({
      name: `h${String(i).padStart(3, '0')}`,
      capacity: { cpu: 8 },
      workloads: i === 99 ? [] : [{ service: 'x', node: 'y', resources: { cpu: 1 } }],
    }));
    const windowed = await policies.placeMany({ hosts, workloads: [web()] });
    expect(hostsOf(windowed)).toEqual(['h000']);
    const all = await policies.placeMany({
      hosts,
      workloads: [web()],
      options: { candidates: 0 },
    });
    expect(hostsOf(all)).toEqual(['h099']);
    expect((await policies.placeOne({ hosts, workload: web() })).host).toBe('h099');
    const legacy = hosts.map((h, i) => ({ name: h.name, workloads: i === 99 ? 0 : 1 }));
    expect(await raw('place', { workload: {}, hosts: legacy })).toBe('h099');
    const narrow = await policies.placeOne({ hosts, workload: web(), options: { candidates: 4 } });
    expect(narrow.host).toBe('h000');
  });

  it('reads the parts of the argument in any order, and refuses a malformed one', async () => {
    const hosts: Value = [{ name: 'b' }, { name: 'a', labels: { zone: 'x' } }];
    const workload: Value = {
      service: 's',
      node: 'n',
      count: 2,
      filter: { labels: { zone: 'x' } },
    };
    const workloads: Value = [workload];
    expect(await raw('place_many', { workloads, options: { candidates: 0 }, hosts })).toEqual({
      placements: [{ host: 'a' }, { host: 'a' }],
    });
    expect(await raw('place', { workload, hosts })).toBe('a');
    for (const [fn, argument, message] of [
      ['place_many', { workloads }, 'hosts must be a list'],
      ['place_many', { hosts }, 'workloads must be a list'],
      ['place', { hosts, workload: [] }, 'workload must be a map'],
      ['place', [1], 'the argument must be a map'],
    ] as const) {
      const error = await raw(fn, argument as Value).catch((e: unknown) => e);
      expect(isPluginError(error) && error.code).toBe('FAILED');
      expect((error as Error).message).toContain(message);
    }
  });

  it('session: sends the snapshot once, then only workloads; again when stale or invalidated', async () => {
    const session = policies.placementSession();
    let reads = 0;
    const hosts = () => {
      reads++;
      return zones();
    };
    const apart = web({ count: 2, policies: [{ type: 'distinct-hosts' }] });
    const first = await session.placeMany({ workloads: [apart], hosts });
    const second = await session.placeMany({ workloads: [apart], hosts });
    expect(hostsOf(first)).toEqual(['h1', 'h2']);
    // The plugin kept the first call's placements: one host is left for a distinct web.
    expect(hostsOf(second)).toEqual(['h3', null]);
    expect(reads).toBe(1);
    // A call with hosts of its own replaces the snapshot the plugin holds: the session sees
    // it is stale and sends the snapshot again (without the placements it made: a fresh one).
    await policies.placeMany({ hosts: zones(), workloads: [web()] });
    expect(hostsOf(await session.placeMany({ workloads: [web()], hosts }))).toEqual(['h1']);
    expect(reads).toBe(2);
    session.invalidate();
    await session.placeMany({ workloads: [web()], hosts });
    expect(reads).toBe(3);
    // Calls of a session run in order (h1 already runs a web: the emptier hosts go first).
    const together = await Promise.all(
      [1, 2, 3].map(() =>
        session.placeMany({
          workloads: [web({ node: 'solo', policies: [{ type: 'distinct-hosts' }] })],
          hosts,
        }),
      ),
    );
    expect(together.map(hostsOf)).toEqual([['h2'], ['h3'], ['h1']]);
  });
});
