import { type PostgresServer, startPostgresServer } from '@khutulun/store-postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from './cluster-events.js';
import { type HostRegistry, openHostRegistry } from './host-registry.js';
import {
  type MemberProcess,
  type MemberReport,
  startMemberProcess,
} from './testing/member-process.js';
import { type NatsServer, startNatsServer } from './testing/nats-server.js';
import {
  canCreateNamespaces,
  createNamespaces,
  type NamespaceNetwork,
} from './testing/network-namespaces.js';

// Three member processes, each in a network namespace of its own on a bridge; nats-server
// listens on the bridge, PostgreSQL on a Unix socket (a file: reachable from every
// namespace, so a cut link partitions a member from NATS only, the harder case: it could
// still write to PostgreSQL, and must not declare the others lost).
const namespaces = canCreateNamespaces();

let postgres: PostgresServer;
let nats: NatsServer;
let network: NamespaceNetwork;
let databases = 0;
const members: MemberProcess[] = [];
const registries: HostRegistry[] = [];

beforeAll(async () => {
  if (!namespaces) return;
  network = createNamespaces(3);
  [postgres, nats] = await Promise.all([
    startPostgresServer({ fast: true }),
    startNatsServer({ host: network.gateway }),
  ]);
});
afterEach(async () => {
  await Promise.all(members.splice(0).map((member) => member.stop('SIGKILL')));
  await Promise.all(registries.splice(0).map((registry) => registry.close()));
  for (const namespace of network?.namespaces ?? []) network.heal(namespace);
});
afterAll(async () => {
  await nats?.stop();
  await postgres?.stop();
  network?.remove();
});

/** Starts members a, b, c (one per namespace) in a new cluster, and a registry on its database. */
async function startCluster() {
  const id = `${process.pid}_${++databases}`;
  const postgresUrl = await postgres.createDatabase(`netns_${id}`);
  const started = await Promise.all(
    network.namespaces.map((namespace, i) =>
      startMemberProcess(
        {
          postgresUrl,
          nats: {
            servers: `nats://${network.gateway}:${nats.port}`,
            user: nats.user,
            password: nats.password,
          },
          cluster: `n${id}`,
          host: { name: 'abc'[i]!, address: namespace.address },
          // Short, so that the at-most-once case below waits it out quickly.
          fencingDelayMs: 1_000,
        },
        namespace.name,
      ),
    ),
  );
  members.push(...started);
  const registry = await openHostRegistry(postgresUrl);
  registries.push(registry);
  const [a, b, c] = started as [MemberProcess, MemberProcess, MemberProcess];
  // Everyone has heard everyone join before a fault is injected.
  for (const member of started) {
    await member.waitFor(() => joinedSeen(member) === 3);
  }
  return { a, b, c, registry };
}

function joinedSeen(member: MemberProcess): number {
  return member.reports.filter((r) => r.kind === 'event' && r.event.type === 'host-joined').length;
}

const isLost = (host: string) => (r: MemberReport) =>
  r.kind === 'event' && r.event.type === 'host-lost' && r.event.host === host;

function lostReports(member: MemberProcess, host: string) {
  return member.reports.filter(isLost(host)) as Extract<MemberReport, { kind: 'event' }>[];
}

describe.skipIf(!namespaces)(
  'cluster members in network namespaces (needs root and ip netns)',
  () => {
    it('declares a SIGKILLed member lost within 3 s, exactly once, seen by both others, epoch bumped', async () => {
      const { a, b, c, registry } = await startCluster();
      const killedAt = Date.now();
      await c.stop('SIGKILL');
      const [seenByA, seenByB] = await Promise.all([
        a.waitFor(isLost('c'), 10_000),
        b.waitFor(isLost('c'), 10_000),
      ]);
      expect(seenByA.at - killedAt).toBeLessThan(3_000);
      expect(seenByB.at - killedAt).toBeLessThan(3_000);
      // Both may have tried to declare it: PostgreSQL decided once, and the event is stored once.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(lostReports(a, 'c')).toHaveLength(1);
      expect(lostReports(b, 'c')).toHaveLength(1);
      expect(lostReports(a, 'c')[0]!.event).toMatchObject({ epoch: 2, lostEpoch: 1 });
      expect((await registry.hosts()).map((h) => [h.name, h.state, h.epoch])).toEqual([
        ['a', 'up', 1],
        ['b', 'up', 1],
        ['c', 'lost', 2],
      ]);
    });

    it('fences a partitioned member before the others declare it lost; healed, it returns with a new epoch and learns what was replaced', async () => {
      const { a, b, c, registry } = await startCluster();
      await registry.assignWorkload({ service: 'web', workload: 'w1' }, { host: 'c', epoch: 1 });
      await registry.assignWorkload(
        { service: 'db', workload: 'w1' },
        { host: 'c', epoch: 1 },
        { policy: 'at-most-once' },
      );
      const cutAt = Date.now();
      network.cut(network.namespaces[2]!);
      const fenced = await c.waitFor((r) => r.kind === 'fenced', 10_000);
      const [lostAtA, lostAtB] = await Promise.all([
        a.waitFor(isLost('c'), 10_000),
        b.waitFor(isLost('c'), 10_000),
      ]);
      // The guarantee's premise: the member stopped (was told to stop) its workloads before
      // anyone could have declared it lost and started replacements.
      expect(fenced).toMatchObject({ reason: { reason: 'no-renewal' } });
      expect(fenced.at).toBeLessThan(Math.min(lostAtA.at, lostAtB.at));
      expect(lostAtA.at - cutAt).toBeLessThan(3_000);
      const lost = (lostAtA as Extract<MemberReport, { kind: 'event' }>).event as Extract<
        ClusterEvent,
        { type: 'host-lost' }
      >;
      expect(lost.replacements.map((r) => `${r.service}/${r.workload} ${r.policy}`).sort()).toEqual(
        ['db/w1 at-most-once', 'web/w1 at-least-once'],
      );
      // What a's host-lost handler will do: place the replacements on a. The at-least-once one
      // starts at once; the at-most-once one is refused until the fencing delay has passed,
      // and c had been told to stop its copy before that (the guarantee).
      const tokenA = { host: 'a', epoch: 1 };
      const [db, web] = [...lost.replacements].sort((x, y) => x.service.localeCompare(y.service));
      await registry.assignWorkload({ service: 'web', workload: 'w1' }, tokenA, {
        replacement: web!.id,
      });
      await expect(
        registry.assignWorkload({ service: 'db', workload: 'w1' }, tokenA, { replacement: db!.id }),
      ).rejects.toMatchObject({ code: 'too-early' });
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, Date.parse(db!.notBefore) - Date.now()) + 100),
      );
      await registry.assignWorkload({ service: 'db', workload: 'w1' }, tokenA, {
        replacement: db!.id,
      });
      expect(fenced.at).toBeLessThan(Date.parse(db!.notBefore));
      expect(await registry.workloadsOf('a')).toMatchObject([
        { service: 'db', workload: 'w1', state: 'running', policy: 'at-most-once' },
        { service: 'web', workload: 'w1', state: 'running', policy: 'at-least-once' },
      ]);
      // Cut off from NATS, c must not have declared a or b lost (though it reaches PostgreSQL).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect((await registry.hosts()).map((h) => [h.name, h.state])).toEqual([
        ['a', 'up'],
        ['b', 'up'],
        ['c', 'lost'],
      ]);

      network.heal(network.namespaces[2]!);
      const rejoined = await c.waitFor((r) => r.kind === 'rejoined', 20_000);
      expect(rejoined).toMatchObject({
        result: {
          previous: { epoch: 2, state: 'lost' },
          host: { epoch: 3, state: 'up' },
          owned: [],
        },
      });
      const replaced = (rejoined as Extract<MemberReport, { kind: 'rejoined' }>).result.replaced;
      expect(replaced.map((r) => `${r.service}/${r.workload}`).sort()).toEqual(['db/w1', 'web/w1']);
      // Everyone hears of the return, c too: its event stream resumed after the partition.
      for (const member of [a, b, c]) {
        await member.waitFor(
          (r) => r.kind === 'event' && r.event.type === 'host-returned' && r.event.host === 'c',
          10_000,
        );
      }
      // Its old epoch is refused; it was declared lost exactly once.
      await expect(
        registry.fencedWrite(
          { service: 'web', workload: 'w1' },
          { host: 'c', epoch: 1 },
          async () => 0,
        ),
      ).rejects.toMatchObject({ code: 'stale-epoch' });
      expect(lostReports(a, 'c')).toHaveLength(1);
      expect(lostReports(b, 'c')).toHaveLength(1);
      expect(a.reports.filter((r) => r.kind === 'fenced')).toEqual([]);
      expect(b.reports.filter((r) => r.kind === 'fenced')).toEqual([]);
    });
  },
);
