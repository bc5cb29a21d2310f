import { type PostgresServer, startPostgresServer } from '@khutulun/store-postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from './cluster-events.js';
import type { JoinResult } from './host-registry.js';
import {
  type Cluster,
  type FenceReason,
  type JoinClusterOptions,
  joinCluster,
} from './membership.js';
import { connectNats } from './nats-connection.js';
import { type NatsServer, startNatsServer } from './testing/nats-server.js';
import { type RestartedPostgres, restartPostgres } from './testing/postgres-restart.js';

let postgres: PostgresServer;
let nats: NatsServer;
let databases = 0;
const open: Cluster[] = [];
/** PostgreSQL as started again by the restart case: stopped before the original's `stop()`. */
let restarted: RestartedPostgres | undefined;

beforeAll(async () => {
  [postgres, nats] = await Promise.all([startPostgresServer({ fast: true }), startNatsServer()]);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((cluster) => cluster.close()));
});
afterAll(async () => {
  await nats?.stop();
  await restarted?.stop();
  await postgres?.stop();
});

/** What one in-process member saw. */
interface Member {
  name: string;
  cluster: Cluster;
  events: ClusterEvent[];
  fenced: FenceReason[];
  rejoined: JoinResult[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Starts `names` as members of a new cluster (its own database and event stream). */
async function startCluster(
  names: string[],
  options: Partial<JoinClusterOptions> = {},
): Promise<Member[]> {
  const id = `${process.pid}_${++databases}`;
  const postgresUrl = await postgres.createDatabase(`membership_${id}`);
  const members: Member[] = [];
  for (const name of names) {
    const member: Member = { name, events: [], fenced: [], rejoined: [] } as unknown as Member;
    member.cluster = await joinCluster({
      postgresUrl,
      nats: { servers: nats.url, user: nats.user, password: nats.password },
      cluster: `t${id}`,
      host: { name, address: `10.0.0.${11 + members.length}`, kinds: ['process'] },
      eventsFrom: 'all',
      onEvent: (event) => member.events.push(event),
      onFenced: (reason) => {
        member.fenced.push(reason);
      },
      onRejoined: (result) => {
        member.rejoined.push(result);
      },
      ...options,
    });
    open.push(member.cluster);
    members.push(member);
  }
  return members;
}

const lostEvents = (member: Member, host?: string) =>
  member.events.filter((e) => e.type === 'host-lost' && (host === undefined || e.host === host));

describe('membership over NATS (in-process members)', () => {
  it('joins three hosts: each is listed, every member hears every join, and heartbeats keep them up', async () => {
    const members = await startCluster(['a', 'b', 'c']);
    for (const member of members) {
      await until(() => member.events.filter((e) => e.type === 'host-joined').length === 3);
      expect(member.events.map((e) => `${e.type} ${e.host}@${e.epoch}`)).toEqual([
        'host-joined a@1',
        'host-joined b@1',
        'host-joined c@1',
      ]);
    }
    const hosts = await members[0]!.cluster.registry.hosts();
    expect(hosts.map((h) => [h.name, h.state, h.epoch, h.kinds])).toEqual([
      ['a', 'up', 1, ['process']],
      ['b', 'up', 1, ['process']],
      ['c', 'up', 1, ['process']],
    ]);
    // Longer than the loss bound: nobody is declared lost, nobody fences.
    await sleep(2_500);
    for (const member of members) {
      expect(lostEvents(member)).toEqual([]);
      expect(member.fenced).toEqual([]);
      expect(member.cluster.membership.state).toBe('member');
    }
  });

  it('declares a silent member lost once, seen by every other member, with its epoch bumped', async () => {
    const members = await startCluster(['a', 'b', 'c']);
    const [a, b, c] = members as [Member, Member, Member];
    await until(() => a.events.length === 3 && b.events.length === 3);
    // In process, "crashing" is going silent: no more heartbeats, no goodbye.
    await c.cluster.membership.stop();
    const silentAt = Date.now();
    await until(() => lostEvents(a, 'c').length > 0 && lostEvents(b, 'c').length > 0, 5_000);
    expect(Date.now() - silentAt).toBeLessThan(3_000);
    await sleep(700);
    for (const member of [a, b]) {
      expect(lostEvents(member)).toHaveLength(1);
      expect(lostEvents(member)[0]).toMatchObject({ host: 'c', epoch: 2, lostEpoch: 1 });
    }
    expect(await a.cluster.registry.host('c')).toMatchObject({ state: 'lost', epoch: 2 });
  });

  it('refuses a connection without the cluster`s credentials: such an agent can neither join nor publish', async () => {
    const refused = async (options: Parameters<typeof connectNats>[0]) => {
      try {
        const nc = await connectNats(options);
        await nc.close();
        return 'connected';
      } catch (error) {
        return String((error as Error).message);
      }
    };
    expect(await refused({ servers: nats.url })).toMatch(/Authorization Violation/i);
    expect(await refused({ servers: nats.url, user: nats.user, password: 'wrong' })).toMatch(
      /Authorization Violation/i,
    );
    expect(await refused({ servers: nats.url, token: 'guess' })).toMatch(
      /Authorization Violation/i,
    );
    expect(await refused({ servers: nats.url, user: nats.user, password: nats.password })).toBe(
      'connected',
    );

    const [a] = await startCluster(['a']);
    const postgresUrl = await postgres.createDatabase(`intruder_${process.pid}_${++databases}`);
    await expect(
      joinCluster({
        postgresUrl,
        nats: { servers: nats.url, user: nats.user, password: 'wrong' },
        host: { name: 'intruder', address: '10.0.0.66' },
      }),
    ).rejects.toThrow(/Authorization Violation/i);
    // Nothing of it reached PostgreSQL or the cluster's stream.
    await sleep(300);
    expect(a!.events.map((e) => e.host)).toEqual(['a']);
  });

  it('rides out a NATS restart (under fenceAfterMs): members reconnect, nobody fences, nobody is declared lost', async () => {
    const members = await startCluster(['a', 'b', 'c']);
    await until(() => members.every((m) => m.events.length === 3));
    await nats.restart();
    // Past the loss bound after the restart: heartbeats resumed on the new connections.
    await sleep(3_000);
    for (const member of members) {
      expect(lostEvents(member)).toEqual([]);
      expect(member.fenced).toEqual([]);
      expect(member.cluster.membership.state).toBe('member');
    }
    // The event stream survived (file storage): a new event is delivered after the old ones.
    await members[0]!.cluster.membership.drain('a');
    for (const member of members) {
      await until(() => member.events.some((e) => e.type === 'host-draining'));
    }
  });

  it('on a NATS outage longer than fenceAfterMs every member fences itself, none is declared lost, and all re-join with new epochs', async () => {
    const members = await startCluster(['a', 'b', 'c']);
    await until(() => members.every((m) => m.events.length === 3));
    await nats.restart(2_500);
    for (const member of members) {
      await until(() => member.rejoined.length === 1, 10_000);
      expect(member.fenced).toEqual([{ reason: 'no-renewal', sinceRenewalMs: expect.any(Number) }]);
      expect(
        (member.fenced[0] as { sinceRenewalMs: number }).sinceRenewalMs,
      ).toBeGreaterThanOrEqual(1_500);
      expect(member.rejoined[0]).toMatchObject({
        previous: { epoch: 1, state: 'up' },
        host: { epoch: 2 },
      });
    }
    await sleep(2_500);
    for (const member of members) {
      expect(lostEvents(member)).toEqual([]);
      expect(member.cluster.membership).toMatchObject({ state: 'member', epoch: 2 });
    }
    expect((await members[0]!.cluster.registry.hosts()).map((h) => [h.state, h.epoch])).toEqual([
      ['up', 2],
      ['up', 2],
      ['up', 2],
    ]);
  });

  it('fences a member that learns it was declared lost, which then returns with a new epoch and learns what was replaced', async () => {
    const members = await startCluster(['a', 'b']);
    const [a, b] = members as [Member, Member];
    const registry = a.cluster.registry;
    await registry.assignWorkload({ service: 'web', workload: 'w1' }, b.cluster.membership.token);
    // As if b had been silent too long (e.g. its agent was paused): declared lost under it.
    const decided = await registry.declareLost('b', b.cluster.membership.epoch);
    expect(decided.declared).toBe(true);
    await a.cluster.events.publish(
      {
        type: 'host-lost',
        host: 'b',
        epoch: 2,
        lostEpoch: 1,
        declaredBy: 'test',
        replacements: [],
        at: new Date().toISOString(),
      },
      'host-lost:b:2',
    );
    await until(() => b.rejoined.length === 1);
    expect(b.fenced).toEqual([{ reason: 'declared-lost', epoch: 2 }]);
    expect(b.rejoined[0]).toMatchObject({
      previous: { epoch: 2, state: 'lost' },
      host: { epoch: 3, state: 'up' },
      replaced: [{ service: 'web', workload: 'w1', lostHost: 'b', lostEpoch: 1 }],
    });
    await until(() => a.events.some((e) => e.type === 'host-returned'));
    expect(a.events.find((e) => e.type === 'host-returned')).toMatchObject({
      host: 'b',
      epoch: 3,
      previousEpoch: 2,
      replaced: [{ service: 'web', workload: 'w1' }],
    });
    // Its old epoch is refused from now on.
    await expect(
      registry.fencedWrite(
        { service: 'web', workload: 'w1' },
        { host: 'b', epoch: 1 },
        async () => 0,
      ),
    ).rejects.toMatchObject({ code: 'stale-epoch' });
    expect(b.cluster.membership.token).toEqual({ host: 'b', epoch: 3 });
  });

  it('drains and undrains any host, and places a replacement on this host with a workload-replaced event', async () => {
    const members = await startCluster(['a', 'b', 'c'], { fencingDelayMs: 300 });
    const [a, b, c] = members as [Member, Member, Member];
    await until(() => members.every((m) => m.events.length === 3));
    expect(await a.cluster.membership.drain('b')).toMatchObject({ state: 'draining', epoch: 1 });
    expect(await c.cluster.membership.undrain('b')).toMatchObject({ state: 'up', epoch: 1 });
    for (const member of members) {
      await until(() => member.events.some((e) => e.type === 'host-undrained'));
      expect(member.events.slice(3).map((e) => `${e.type} ${e.host}`)).toEqual([
        'host-draining b',
        'host-undrained b',
      ]);
    }

    const registry = a.cluster.registry;
    await registry.assignWorkload({ service: 'db', workload: 'w1' }, c.cluster.membership.token, {
      policy: 'at-most-once',
    });
    await c.cluster.membership.stop();
    await until(() => lostEvents(a, 'c').length === 1 && lostEvents(b, 'c').length === 1, 5_000);
    const lost = lostEvents(a, 'c')[0] as Extract<ClusterEvent, { type: 'host-lost' }>;
    const [intent] = lost.replacements;
    expect(intent).toMatchObject({ service: 'db', workload: 'w1', policy: 'at-most-once' });
    // Both survivors' handlers race to place it after the fencing delay: exactly one wins.
    await sleep(Math.max(0, Date.parse(intent!.notBefore) - Date.now()) + 50);
    const placed = await Promise.allSettled([
      a.cluster.membership.placeReplacement(intent!),
      b.cluster.membership.placeReplacement(intent!),
    ]);
    expect(placed.filter((p) => p.status === 'fulfilled')).toHaveLength(1);
    expect(placed.find((p) => p.status === 'rejected')).toMatchObject({
      reason: { code: 'stale-epoch' },
    });
    await until(() => a.events.some((e) => e.type === 'workload-replaced'));
    const replaced = a.events.find((e) => e.type === 'workload-replaced');
    expect(replaced).toMatchObject({ service: 'db', workload: 'w1', replacement: intent!.id });
    expect((await registry.workloadsOf(replaced!.host)).map((w) => w.workload)).toEqual(['w1']);
  });

  it('fences at once when the agent reports a stale-epoch refusal, and re-joins', async () => {
    const [a] = (await startCluster(['a'])) as [Member];
    a.cluster.membership.reportStaleEpoch();
    expect(a.fenced).toEqual([{ reason: 'stale-epoch' }]);
    await until(() => a.rejoined.length === 1);
    expect(a.cluster.membership).toMatchObject({ state: 'member', epoch: 2 });
  });

  it('tells onRenewed listeners of each own heartbeat that comes back, only while a member', async () => {
    const [a] = (await startCluster(['a'])) as [Member];
    const membership = a.cluster.membership;
    const renewals: Array<{ at: number; state: string; rejoined: number }> = [];
    const off = membership.onRenewed(() =>
      renewals.push({
        at: performance.now(),
        state: membership.state,
        rejoined: a.rejoined.length,
      }),
    );
    await until(() => renewals.length >= 4);
    // One per heartbeat (every 500 ms), each while a member.
    const gaps = renewals.slice(1).map((r, i) => r.at - renewals[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThan(250);
    expect(renewals.every((r) => r.state === 'member')).toBe(true);

    // Fenced: no renewal is reported until the member has re-joined; the join itself is
    // reported, before onRejoined (which restarts workloads) runs.
    membership.reportStaleEpoch();
    const fencedAt = renewals.length;
    await until(() => a.rejoined.length === 1);
    expect(renewals.slice(fencedAt).every((r) => r.state === 'member')).toBe(true);
    expect(renewals[fencedAt]).toMatchObject({ rejoined: 0 });
    await until(() => renewals.length >= fencedAt + 2);

    // Unsubscribed: no more.
    off();
    const count = renewals.length;
    await sleep(1_200);
    expect(renewals.length).toBe(count);
  });

  it('rides out a PostgreSQL restart: membership goes on, and a member lost meanwhile is declared once the database is back', async () => {
    const members = await startCluster(['a', 'b', 'c']);
    const [a, b, c] = members as [Member, Member, Member];
    await until(() => members.every((m) => m.events.length === 3));
    const restarting = restartPostgres(postgres, 3_000);
    await sleep(200);
    await c.cluster.membership.stop();
    // a and b suspect c after 2 s, while PostgreSQL is still down: their declarations wait.
    restarted = await restarting;
    await until(() => lostEvents(a, 'c').length === 1 && lostEvents(b, 'c').length === 1, 15_000);
    await sleep(1_000);
    for (const member of [a, b]) {
      expect(lostEvents(member)).toHaveLength(1);
      expect(member.fenced).toEqual([]);
      expect(member.cluster.membership.state).toBe('member');
    }
    expect((await a.cluster.registry.hosts()).map((h) => [h.name, h.state, h.epoch])).toEqual([
      ['a', 'up', 1],
      ['b', 'up', 1],
      ['c', 'lost', 2],
    ]);
  });
});
