import { type PostgresServer, startPostgresServer } from '@khutulun/store-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isClusterError } from './cluster-error.js';
import { checkFence, type HostRegistry, openHostRegistry } from './host-registry.js';
import { type RestartedPostgres, restartPostgres } from './testing/postgres-restart.js';

let server: PostgresServer;
let databases = 0;
/** The server started again by the restart case: stopped before the original's `stop()`. */
let restarted: RestartedPostgres | undefined;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
});
afterAll(async () => {
  await restarted?.stop();
  await server?.stop();
});

/** A registry on a fresh database of its own. */
async function freshRegistry(options: Parameters<typeof openHostRegistry>[1] = {}) {
  const url = await server.createDatabase(`cluster_${process.pid}_${++databases}`);
  return { url, registry: await openHostRegistry(url, options) };
}

async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

describe('host registry (PostgreSQL)', () => {
  it('joins hosts and lists them with their labels, kinds, capacity, epoch and state', async () => {
    const { registry } = await freshRegistry();
    const a = await registry.join({
      name: 'a',
      address: '10.0.0.11',
      labels: { zone: 'z1' },
      kinds: ['process', 'podman'],
      execKinds: ['process', 'podman'],
      capacity: { cpuMillicores: 2000, memoryBytes: 4 * 2 ** 30 },
    });
    expect(a.previous).toBeUndefined();
    expect(a.host).toMatchObject({ name: 'a', epoch: 1, state: 'up' });
    await registry.join({ name: 'b', address: '10.0.0.12' });
    const hosts = await registry.hosts();
    expect(hosts.map((h) => [h.name, h.epoch, h.state])).toEqual([
      ['a', 1, 'up'],
      ['b', 1, 'up'],
    ]);
    expect(hosts[0]).toMatchObject({
      address: '10.0.0.11',
      labels: { zone: 'z1' },
      kinds: ['process', 'podman'],
      execKinds: ['process', 'podman'],
      capacity: { cpuMillicores: 2000, memoryBytes: 4 * 2 ** 30 },
      workloads: 0,
    });
    // A host that did not say which kinds exec (an older agent): unknown, not none.
    expect(hosts[1]).not.toHaveProperty('execKinds');
    // Re-registering (an agent restart) gives a NEW epoch and keeps the running workloads,
    // now at the new epoch.
    await registry.assignWorkload({ service: 's', workload: 'w' }, { host: 'a', epoch: 1 });
    const again = await registry.join({ name: 'a', address: '10.0.0.21' });
    expect(again.previous).toEqual({ epoch: 1, state: 'up' });
    expect(again.host).toMatchObject({ epoch: 2, address: '10.0.0.21', workloads: 1 });
    expect(again.owned).toEqual([
      {
        service: 's',
        workload: 'w',
        owner: 'a',
        ownerEpoch: 2,
        state: 'running',
        policy: 'at-least-once',
      },
    ]);
    expect(again.replaced).toEqual([]);
    // Creating the schema again (another agent starting) changes nothing.
    await registry.createSchema();
    expect((await registry.hosts()).length).toBe(2);
    await registry.close();
  });

  it('declares a host lost once per epoch when many agents race to (a conditional update)', async () => {
    const { url, registry } = await freshRegistry();
    await registry.join({ name: 'victim', address: '10.0.0.13' });
    const agents: HostRegistry[] = [];
    for (let i = 0; i < 6; i++) agents.push(await openHostRegistry(url));
    const results = await Promise.all(agents.map((agent) => agent.declareLost('victim', 1)));
    expect(results.filter((r) => r.declared)).toHaveLength(1);
    for (const result of results) expect(result.host).toMatchObject({ epoch: 2, state: 'lost' });
    // A late detector that saw the old epoch changes nothing either.
    expect(await registry.declareLost('victim', 1)).toMatchObject({ declared: false });
    expect(await registry.host('victim')).toMatchObject({ epoch: 2, state: 'lost' });
    for (const agent of agents) await agent.close();
    await registry.close();
  });

  it('marks a lost host`s workloads lost and records their replacements; at-most-once waits the fencing delay', async () => {
    const { registry } = await freshRegistry({ fencingDelayMs: 400 });
    const a = (await registry.join({ name: 'a', address: '10.0.0.11' })).host;
    const b = (await registry.join({ name: 'b', address: '10.0.0.12' })).host;
    const tokenA = { host: 'a', epoch: a.epoch };
    await registry.assignWorkload({ service: 'web', workload: 'w1' }, tokenA);
    await registry.assignWorkload({ service: 'db', workload: 'w1' }, tokenA, {
      policy: 'at-most-once',
    });
    await registry.assignWorkload(
      { service: 'web', workload: 'w2' },
      { host: 'b', epoch: b.epoch },
    );

    const decided = await registry.declareLost('a', a.epoch);
    if (!decided.declared) throw new Error('not declared');
    expect(decided.host).toMatchObject({ epoch: a.epoch + 1, state: 'lost' });
    const byService = Object.fromEntries(decided.replacements.map((r) => [r.service, r]));
    expect(byService['web']).toMatchObject({
      workload: 'w1',
      lostHost: 'a',
      lostEpoch: 1,
      policy: 'at-least-once',
    });
    expect(byService['db']).toMatchObject({ workload: 'w1', policy: 'at-most-once' });
    expect(byService['web']!.notBefore.getTime()).toBe(byService['web']!.recordedAt.getTime());
    expect(byService['db']!.notBefore.getTime() - byService['db']!.recordedAt.getTime()).toBe(400);
    expect((await registry.workloadsOf('a')).map((w) => w.state)).toEqual(['lost', 'lost']);
    expect((await registry.workloadsOf('b')).map((w) => w.state)).toEqual(['running']);
    expect(await registry.pendingReplacements()).toHaveLength(2);
    expect(await registry.replacementsOf('a', 1)).toHaveLength(2);

    // The at-least-once replacement is placed at once; the at-most-once one is refused until
    // its fencing delay has passed.
    const tokenB = { host: 'b', epoch: b.epoch };
    await registry.assignWorkload({ service: 'web', workload: 'w1' }, tokenB, {
      replacement: byService['web']!.id,
    });
    const early = await refusal(
      registry.assignWorkload({ service: 'db', workload: 'w1' }, tokenB, {
        replacement: byService['db']!.id,
      }),
    );
    expect(isClusterError(early) && early.code).toBe('too-early');
    await new Promise((resolve) => setTimeout(resolve, 450));
    const placed = await registry.assignWorkload({ service: 'db', workload: 'w1' }, tokenB, {
      replacement: byService['db']!.id,
    });
    expect(placed).toMatchObject({
      owner: 'b',
      ownerEpoch: b.epoch,
      state: 'running',
      policy: 'at-most-once',
    });
    // A replacement is placed once.
    const twice = await refusal(
      registry.assignWorkload({ service: 'db', workload: 'w1' }, tokenB, {
        replacement: byService['db']!.id,
      }),
    );
    expect(isClusterError(twice) && twice.code).toBe('stale-epoch');
    expect(await registry.pendingReplacements()).toEqual([]);
    expect((await registry.host('b'))?.workloads).toBe(3);
    await registry.close();
  });

  it('moves a placed replacement to another host once, and gives it back unplaced when no host can run it', async () => {
    const { registry } = await freshRegistry();
    const a = (await registry.join({ name: 'a', address: '10.0.0.11' })).host;
    const b = (await registry.join({ name: 'b', address: '10.0.0.12' })).host;
    const c = (await registry.join({ name: 'c', address: '10.0.0.13' })).host;
    const key = { service: 'web', workload: 'w1' };
    await registry.assignWorkload(key, { host: 'a', epoch: a.epoch });
    const decided = await registry.declareLost('a', a.epoch);
    if (!decided.declared) throw new Error('not declared');
    const intent = decided.replacements[0]!;
    const onB = { host: 'b', epoch: b.epoch };
    await registry.assignWorkload(key, onB, { replacement: intent.id });
    // b failed to start it: it moves to c, owner record and intent together.
    await registry.moveReplacement(key, intent.id, onB, { host: 'c', epoch: c.epoch });
    expect((await registry.workloadsOf('c')).map((w) => [w.workload, w.state])).toEqual([
      ['w1', 'running'],
    ]);
    expect(await registry.workloadsOf('b')).toEqual([]);
    // b no longer holds it: a second move from b is refused (placed once, never twice).
    const again = await refusal(
      registry.moveReplacement(key, intent.id, onB, { host: 'c', epoch: c.epoch }),
    );
    expect(isClusterError(again) && again.code).toBe('stale-epoch');
    // A target that changed since placement (re-joined at a new epoch) is refused too.
    const onC = { host: 'c', epoch: c.epoch };
    const stale = await refusal(
      registry.moveReplacement(key, intent.id, onC, { host: 'b', epoch: b.epoch + 7 }),
    );
    expect(isClusterError(stale) && stale.code).toBe('stale-epoch');
    // No host left: back to unplaced, the owner record lost on a as the loss left it.
    await registry.unplaceReplacement(key, intent.id, onC);
    expect((await registry.pendingReplacements()).map((r) => r.id)).toEqual([intent.id]);
    expect((await registry.workloadsOf('a')).map((w) => [w.workload, w.state])).toEqual([
      ['w1', 'lost'],
    ]);
    await registry.close();
  });

  it('lets agents open while others join: a current schema takes no lock (they deadlocked on its DDL)', async () => {
    const { url, registry } = await freshRegistry();
    await registry.join({ name: 'first', address: '10.0.0.1' });
    // Agents starting at once, each opening (schema check) and joining, again and again.
    for (let round = 0; round < 5; round++) {
      const opened = await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          const agent = await openHostRegistry(url);
          await agent.join({ name: `h${i}`, address: `10.0.1.${i}`, kinds: ['process'] });
          return agent;
        }),
      );
      await Promise.all(opened.map((agent) => agent.close()));
    }
    expect((await registry.hosts()).map((h) => h.name)).toEqual(['first', 'h0', 'h1', 'h2', 'h3']);
    // The schema is current: opening runs no DDL, so a join in progress (its tables locked as
    // a write locks them) does not hold it up. DDL would wait for that transaction's end.
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    await writer.query('BEGIN');
    await writer.query(
      'LOCK TABLE cluster_hosts, cluster_workload_owners, cluster_replacements IN ROW EXCLUSIVE MODE',
    );
    const opening = openHostRegistry(url);
    const outcome = await Promise.race([
      opening.then(() => 'opened'),
      new Promise((resolve) => setTimeout(() => resolve('blocked'), 3_000)),
    ]);
    await writer.query('COMMIT');
    await writer.end();
    await (await opening).close();
    expect(outcome).toBe('opened');
    await registry.close();
  });

  it('refuses a write that carries a stale epoch (the fencing token), with a branded error', async () => {
    const { registry } = await freshRegistry();
    const a = (await registry.join({ name: 'a', address: '10.0.0.11' })).host;
    const key = { service: 'web', workload: 'w1' };
    const token = { host: 'a', epoch: a.epoch };
    await registry.assignWorkload(key, token);
    // Current epoch: the write runs, in the same transaction as the check.
    const written = await registry.fencedWrite(key, token, async (client) => {
      const result = await client.query<{ n: number }>('SELECT 1 AS n');
      return result.rows[0]!.n;
    });
    expect(written).toBe(1);

    await registry.declareLost('a', a.epoch);
    let ran = false;
    const refused = await refusal(
      registry.fencedWrite(key, token, async () => {
        ran = true;
      }),
    );
    expect(ran).toBe(false);
    expect(isClusterError(refused)).toBe(true);
    expect(refused).toMatchObject({
      name: 'ClusterError',
      code: 'stale-epoch',
      host: 'a',
      epoch: 1,
      currentEpoch: 2,
      workload: key,
    });
    // Recognised by its brand, also as plain data that crossed a process boundary.
    expect(
      isClusterError(JSON.parse(JSON.stringify({ ...(refused as object), name: 'ClusterError' }))),
    ).toBe(true);
    // Assigning with the stale token is refused too.
    const assign = await refusal(
      registry.assignWorkload({ service: 'web', workload: 'w9' }, token),
    );
    expect(isClusterError(assign) && assign.code).toBe('stale-epoch');

    // After re-joining, the old epoch stays refused; the workload (lost) is no longer its own.
    const back = await registry.join({ name: 'a', address: '10.0.0.11' });
    expect(back.host.epoch).toBe(3);
    const old = await refusal(registry.fencedWrite(key, token, async () => undefined));
    expect(isClusterError(old) && old.code).toBe('stale-epoch');
    const lostOne = await refusal(
      registry.fencedWrite(key, { host: 'a', epoch: 3 }, async () => undefined),
    );
    expect(isClusterError(lostOne) && lostOne.code).toBe('stale-epoch');
    const unknown = await refusal(
      registry.fencedWrite(key, { host: 'nobody', epoch: 1 }, async () => undefined),
    );
    expect(isClusterError(unknown) && unknown.code).toBe('unknown-host');
    await registry.close();
  });

  it('checks the fence inside a transaction of its own (the graph store`s), holding the host row until it ends', async () => {
    const { url, registry } = await freshRegistry();
    const a = (await registry.join({ name: 'a', address: '10.0.0.11' })).host;
    const key = { service: 'web', workload: 'w1' };
    const token = { host: 'a', epoch: a.epoch };
    await registry.assignWorkload(key, token);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('BEGIN');
    await checkFence(client, key, token);
    // A declaration racing the write waits for it (the host row is held FOR SHARE) ...
    let declared = false;
    const declaring = registry.declareLost('a', a.epoch).then((result) => {
      declared = result.declared;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(declared).toBe(false);
    await client.query('COMMIT');
    await declaring;
    expect(declared).toBe(true);
    // ... and a write after it is refused.
    await client.query('BEGIN');
    await expect(checkFence(client, key, token)).rejects.toMatchObject({ code: 'stale-epoch' });
    await client.query('ROLLBACK');
    await client.end();
    await registry.close();
  });

  it('tells a returning host which of its workloads were replaced while it was away, once', async () => {
    const { registry } = await freshRegistry();
    const a = (await registry.join({ name: 'a', address: '10.0.0.11' })).host;
    const b = (await registry.join({ name: 'b', address: '10.0.0.12' })).host;
    await registry.assignWorkload(
      { service: 'web', workload: 'w1' },
      { host: 'a', epoch: a.epoch },
    );
    await registry.assignWorkload(
      { service: 'web', workload: 'w2' },
      { host: 'a', epoch: a.epoch },
    );
    const decided = await registry.declareLost('a', a.epoch);
    if (!decided.declared) throw new Error('not declared');
    const [first] = decided.replacements;
    await registry.assignWorkload(
      { service: first!.service, workload: first!.workload },
      { host: 'b', epoch: b.epoch },
      {
        replacement: first!.id,
      },
    );

    const back = await registry.join({ name: 'a', address: '10.0.0.11' });
    expect(back.previous).toEqual({ epoch: 2, state: 'lost' });
    expect(back.host).toMatchObject({ epoch: 3, state: 'up', workloads: 0 });
    expect(back.replaced.map((r) => [r.workload, r.placedOn ?? null])).toEqual([
      ['w1', 'b'],
      ['w2', null],
    ]);
    expect(back.owned).toEqual([]);
    // Reported once: a later restart of the same agent is not told again.
    expect((await registry.join({ name: 'a', address: '10.0.0.11' })).replaced).toEqual([]);
    await registry.close();
  });

  it('drains and undrains a host; a draining host stays draining when it re-joins', async () => {
    const { registry } = await freshRegistry();
    await registry.join({ name: 'a', address: '10.0.0.11' });
    expect(await registry.drain('a')).toMatchObject({ state: 'draining', epoch: 1 });
    expect((await registry.join({ name: 'a', address: '10.0.0.11' })).host).toMatchObject({
      state: 'draining',
      epoch: 2,
    });
    expect(await registry.undrain('a')).toMatchObject({ state: 'up', epoch: 2 });
    const unknown = await refusal(registry.drain('nobody'));
    expect(isClusterError(unknown) && unknown.code).toBe('unknown-host');
    await registry.close();
  });

  it('rides out a PostgreSQL restart: operations retry until the server is back', async () => {
    const { registry } = await freshRegistry({ retryForMs: 30_000 });
    const a = (await registry.join({ name: 'a', address: '10.0.0.11' })).host;
    // Down for 1.5 s: the operations started meanwhile wait and complete once it is back.
    const restarting = restartPostgres(server, 1_500);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = Promise.all([
      registry.declareLost('a', a.epoch),
      registry.join({ name: 'b', address: '10.0.0.12' }),
    ]);
    restarted = await restarting;
    const [lost, b] = await during;
    expect(lost).toMatchObject({ declared: true, host: { epoch: 2, state: 'lost' } });
    expect(b.host).toMatchObject({ name: 'b', epoch: 1 });
    expect((await registry.hosts()).map((h) => [h.name, h.state])).toEqual([
      ['a', 'lost'],
      ['b', 'up'],
    ]);
    await registry.close();
  });
});
