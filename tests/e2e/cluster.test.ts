/**
 * The cluster, end to end: three real `khutulun agent` processes, each in a network namespace
 * of its own on a bridge, joined through a real PostgreSQL (a Unix socket, which every
 * namespace reaches) and a real nats-server with credentials (on the bridge). Faults are real:
 * SIGKILL, a link taken down, the servers restarted. What really runs is read from /proc
 * (each agent's workloads work in its state directory), never only from the records: a
 * duplicate is a workload whose processes are found under two hosts' state directories.
 *
 * The tests share one cluster and run in order; each leaves it whole again (`restore`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '@khutulun/cluster/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  canCreateNamespaces,
  type RigAgent,
  sleepersFile,
  startTestCluster,
  type TestCluster,
  until,
} from './cluster-harness.js';
import { processesUnder, serviceFile } from './harness.js';

const namespaces = canCreateNamespaces();

let cluster: TestCluster;

beforeAll(async () => {
  if (namespaces) cluster = await startTestCluster();
});
afterEach(async () => {
  if (!cluster) return;
  await cluster.restore();
  // What a failed test left goes too: the next one starts from empty hosts.
  const left = (await cluster.a.api('GET', '/v1/services')).body as Array<{ name: string }>;
  for (const service of left) await cluster.a.api('DELETE', `/v1/services/${service.name}`);
});
afterAll(async () => {
  await cluster?.close();
});

interface HostItem {
  name: string;
  state: string;
  self: boolean;
  address: string;
  labels: Record<string, string>;
  kinds: string[];
  capacity: { cpuMillicores: number; memoryBytes: number };
  epoch: number;
  workloads: number;
}

interface Workload {
  service: string;
  name: string;
  host: string;
  state: string;
  pid?: number;
}

async function deploy(agent: RigAgent, name: string, count: number) {
  return agent.api('POST', '/v1/services', {
    name,
    source: { path: sleepersFile(cluster.dir, name, count) },
  });
}

async function workloadsOf(agent: RigAgent, service: string): Promise<Workload[]> {
  const all = (await agent.api('GET', '/v1/workloads')).body as Workload[];
  return all.filter((w) => w.service === service);
}

async function hostsFrom(agent: RigAgent): Promise<HostItem[]> {
  const listed = await cluster.cli(agent, ['host', 'list', '-o', 'json']);
  expect(listed.code, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout) as HostItem[];
}

/** A service of one sleeping process workload whose Replacement policy is `guarantee`. */
function serviceWithPolicy(name: string, guarantee: string): string {
  return serviceFile(
    cluster.dir,
    `${name}.yaml`,
    `    w1:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["600"]\n` +
      `  policies:\n    - replacement:\n        type: k:Replacement\n        properties: { guarantee: ${guarantee} }\n`,
  );
}

/** Workloads that really run on more than one host, with those hosts. */
function duplicates(): string[] {
  return [...cluster.rig.copies()]
    .filter(([, hosts]) => hosts.length > 1)
    .map(([key, hosts]) => `${key} on ${hosts.join(', ')}`);
}

/** Events of one type about one host that arrived after index `from` of the follower's list. */
function eventsAfter(from: number, type: string, host?: string) {
  return cluster.rig.events
    .slice(from)
    .filter((e) => e.event.type === type && (host === undefined || e.event.host === host));
}

describe.skipIf(!namespaces)(
  namespaces
    ? 'a cluster of three real agents in network namespaces'
    : 'a cluster of three real agents in network namespaces (skipped: cannot make namespaces here, which needs root and ip netns)',
  () => {
    it('`host list` from any agent shows every host with its state, labels, kinds, capacity and workload count', async () => {
      const deployed = await deploy(cluster.a, 'listed', 2);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const owners = await workloadsOf(cluster.b, 'listed');
      expect(owners.map((w) => w.state)).toEqual(['running', 'running']);

      for (const agent of cluster.rig.agents) {
        const hosts = await hostsFrom(agent);
        expect(hosts.map((h) => h.name)).toEqual(['a', 'b', 'c']);
        for (const [i, host] of hosts.entries()) {
          expect(host).toMatchObject({
            state: 'up',
            self: host.name === agent.name,
            address: cluster.rig.agents[i]!.namespace.address,
            labels: { zone: `z${i + 1}` },
            kinds: ['process'],
          });
          expect(host.epoch).toBeGreaterThan(0);
          expect(host.capacity.cpuMillicores).toBeGreaterThanOrEqual(1000);
          expect(host.capacity.memoryBytes).toBeGreaterThan(0);
          // The count is the registry's: the workloads each host owns.
          expect(host.workloads).toBe(owners.filter((w) => w.host === host.name).length);
        }
      }
      // The table a user reads, through c.
      const table = await cluster.cli(cluster.c, ['host', 'list']);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/^NAME\s+STATE\s+SELF\s+ADDRESS\s+KINDS/);
      for (const name of ['a', 'b', 'c'])
        expect(table.stdout).toMatch(new RegExp(`^${name}\\s+up`, 'm'));
      expect((await cluster.a.api('DELETE', '/v1/services/listed')).status).toBe(200);
    });

    it('declares a SIGKILLed agent’s host lost within 3 s; restarted, it returns with a new epoch', async () => {
      const { rig, a, b } = cluster;
      const before = (await rig.hosts()).find((h) => h.name === 'b')!;
      const from = rig.events.length;
      const killedAt = Date.now();
      await b.kill();
      const lost = await rig.waitForEvent(
        (e) => e.type === 'host-lost' && e.host === 'b' && e.epoch > before.epoch,
        10_000,
      );
      // The bound is 3 s (lostAfterMs 2 s + one transaction); 1 s of slack for a loaded machine.
      expect(lost.at - killedAt).toBeLessThan(4_000);
      expect(lost.event).toMatchObject({ lostEpoch: before.epoch, epoch: before.epoch + 1 });
      expect(['a', 'c']).toContain((lost.event as { declaredBy: string }).declaredBy);
      const seenByA = await hostsFrom(a);
      expect(seenByA.find((h) => h.name === 'b')).toMatchObject({
        state: 'lost',
        epoch: before.epoch + 1,
      });
      expect(seenByA.filter((h) => h.state === 'up').map((h) => h.name)).toEqual(['a', 'c']);

      await b.start();
      const returned = await rig.waitForEvent(
        (e) => e.type === 'host-returned' && e.host === 'b',
        15_000,
      );
      expect(returned.event).toMatchObject({ previousEpoch: before.epoch + 1 });
      expect(returned.event.epoch).toBeGreaterThan(before.epoch + 1);
      expect((await hostsFrom(a)).find((h) => h.name === 'b')).toMatchObject({
        state: 'up',
        epoch: returned.event.epoch,
      });
      // Declared once, though both survivors watched.
      expect(eventsAfter(from, 'host-lost', 'b')).toHaveLength(1);
      // The agents' own event stream (the graph's, `khutulun events`) records each once.
      const aboutB = async () => {
        const recorded = (await cluster.c.api('GET', '/v1/events?limit=1000')).body as Array<{
          type: string;
          id: { directory: string[]; name: string };
        }>;
        return recorded
          .filter((e) => e.id.directory.join('/') === 'khutulun/hosts' && e.id.name === 'b')
          .map((e) => e.type);
      };
      await until(aboutB, (types) => types.includes('host-returned'), 5_000, 'host-returned of b');
      expect(await aboutB()).toEqual(['host-joined', 'host-lost', 'host-returned']);
    });

    it('a cut link: the cut host is declared lost and its agent fences (stops its workloads first); healed, it returns', async () => {
      const { rig, c } = cluster;
      // Three workloads on c: a and b drained meanwhile, so that placement puts them there.
      for (const name of ['a', 'b']) {
        expect((await c.api('POST', `/v1/hosts/${name}/drain`)).status).toBe(200);
      }
      const deployed = await deploy(c, 'cutoff', 3);
      for (const name of ['a', 'b']) {
        expect((await c.api('POST', `/v1/hosts/${name}/undrain`)).status).toBe(200);
      }
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const onC = (await workloadsOf(c, 'cutoff'))
        .filter((w) => w.host === 'c')
        .map((w) => w.name)
        .sort();
      expect(onC).toEqual(['w1-1', 'w2-1', 'w3-1']);
      const runningOnC = () =>
        [...c.runningWorkloads().keys()]
          .filter((k) => k.startsWith('cutoff/'))
          .map((k) => k.slice('cutoff/'.length))
          .sort();
      expect(runningOnC()).toEqual(onC);
      const before = (await rig.hosts()).find((h) => h.name === 'c')!;
      const from = rig.events.length;

      // Watch c's real processes from the cut on: when did the last one of them go?
      let stoppedAt: number | undefined;
      let watching = true;
      const watcher = (async () => {
        while (watching && stoppedAt === undefined) {
          if (runningOnC().length === 0) stoppedAt = Date.now();
          else await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      const cutAt = Date.now();
      rig.cut(c);
      const lost = await rig.waitForEvent(
        (e) => e.type === 'host-lost' && e.host === 'c' && e.epoch > before.epoch,
        10_000,
      );
      expect(lost.at - cutAt).toBeLessThan(4_000);
      expect(
        (lost.event as { replacements: Array<{ service: string; workload: string }> }).replacements
          .filter((r) => r.service === 'cutoff')
          .map((r) => r.workload)
          .sort(),
      ).toEqual(onC);
      await until(
        () => stoppedAt,
        (at) => at !== undefined,
        5_000,
        "c's workloads to stop",
      );
      watching = false;
      await watcher;
      // The cut agent fenced itself (it stopped hearing its own heartbeats after 1.5 s) and
      // stopped its workloads before the others could declare it lost (after 2 s of silence);
      // 250 ms of slack for the sampling and a loaded machine.
      expect(c.output()).toContain('cluster: this host is fenced (no-renewal)');
      expect(c.output()).toMatch(/cluster: fenced; stopped \d+ workloads/);
      expect(stoppedAt! - lost.at).toBeLessThan(250);

      rig.heal(c);
      const returned = await rig.waitForEvent(
        (e) => e.type === 'host-returned' && e.host === 'c',
        20_000,
      );
      expect(returned.event.epoch).toBeGreaterThan(lost.event.epoch);
      expect(
        (returned.event as { replaced: Array<{ service: string; workload: string }> }).replaced
          .filter((r) => r.service === 'cutoff')
          .map((r) => r.workload)
          .sort(),
      ).toEqual(onC);
      await rig.settled();
      // Replaced while it was away, they stay stopped on c, and nothing runs twice.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(runningOnC()).toEqual([]);
      expect(duplicates()).toEqual([]);
      expect(eventsAfter(from, 'host-lost')).toHaveLength(1);
      expect((await c.api('DELETE', '/v1/services/cutoff')).status).toBe(200);
    });

    it('PostgreSQL restarted while the agents run: they stay members, and a deploy afterwards works', async () => {
      const { rig, a, b } = cluster;
      const pids = rig.agents.map((x) => x.pid());
      const printed = rig.agents.map((x) => x.output().length);
      const epochs = (await rig.hosts()).map((h) => [h.name, h.epoch]);
      const from = rig.events.length;
      await cluster.restartPostgres(1_500);
      // Longer than a loss takes to be declared: nobody is.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(rig.agents.map((x) => x.pid())).toEqual(pids);
      expect(eventsAfter(from, 'host-lost')).toEqual([]);
      const hosts = await hostsFrom(b);
      expect(hosts.map((h) => [h.name, h.epoch])).toEqual(epochs);
      expect(hosts.every((h) => h.state === 'up')).toBe(true);
      for (const [i, agent] of rig.agents.entries()) {
        expect(agent.output().slice(printed[i])).not.toContain('fenced');
      }

      const deployed = await deploy(a, 'after-pg', 2);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const workloads = await workloadsOf(b, 'after-pg');
      expect(workloads.map((w) => w.state)).toEqual(['running', 'running']);
      expect((await a.api('DELETE', '/v1/services/after-pg')).status).toBe(200);
    });

    it('NATS restarted: the agents reconnect, no host stays lost, and a deploy afterwards works', async () => {
      const { rig, b, c } = cluster;
      const pids = rig.agents.map((x) => x.pid());
      const printed = rig.agents.map((x) => x.output().length);
      const from = rig.events.length;
      await rig.nats.restart();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(rig.agents.map((x) => x.pid())).toEqual(pids);
      // A restart is over in well under the fence bound (1.5 s): nobody fenced, nobody lost.
      expect(eventsAfter(from, 'host-lost')).toEqual([]);
      const hosts = await hostsFrom(c);
      expect(hosts.map((h) => h.state)).toEqual(['up', 'up', 'up']);
      for (const [i, agent] of rig.agents.entries()) {
        expect(agent.output().slice(printed[i])).not.toContain('fenced');
      }

      const deployed = await deploy(b, 'after-nats', 2);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      // Relayed requests ride the reconnected bus too: logs through another agent.
      const [first] = await workloadsOf(c, 'after-nats');
      const other = rig.agents.find((x) => x.name !== first!.host)!;
      const logs = await until(
        () => other.api('GET', `/v1/workloads/after-nats/${first!.name}/logs?stream=stdout`),
        (r) => r.status === 200 && String(r.body).includes('says hello'),
        10_000,
        'logs through another agent',
      );
      expect(String(logs.body)).toContain('after-nats w');
      expect((await b.api('DELETE', '/v1/services/after-nats')).status).toBe(200);
    });

    it('an agent without the cluster’s credentials cannot join: it exits 1 saying so, and is not listed', async () => {
      const { rig } = cluster;
      const url = new URL(rig.busUrl);
      const attempts = {
        'a wrong password': (() => {
          const wrong = new URL(url);
          wrong.password = 'guessed-password';
          return wrong.toString();
        })(),
        'no credentials': `nats://${url.host}`,
        'a guessed token': `nats://guessed-token@${url.host}`,
      };
      for (const [what, bus] of Object.entries(attempts)) {
        const dir = join(cluster.dir, `intruder-${what.replace(/ /g, '-')}`);
        const refused = await rig.runToExit([
          '--state-dir',
          dir,
          '--store',
          rig.storeUrl,
          '--bus',
          bus,
          '--cluster',
          rig.cluster,
          '--host-name',
          'intruder',
          '--address',
          rig.agents[0]!.namespace.address,
        ]);
        expect(refused.code, `${what}: ${refused.output}`).toBe(1);
        expect(refused.output, what).toContain('cannot join the cluster');
        expect(refused.output, what).toContain('(cluster-unreachable)');
        expect(refused.output, what).not.toContain('guessed');
      }
      expect((await rig.hosts()).map((h) => h.name)).toEqual(['a', 'b', 'c']);
      expect(rig.events.filter((e) => e.event.host === 'intruder')).toEqual([]);
    });

    it('`workload logs` (and `-f`) and `workload exec` of a workload on one host are answered through another host’s agent', async () => {
      const { a, c } = cluster;
      const deployed = await deploy(c, 'remote-logs', 1);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const [w] = await workloadsOf(a, 'remote-logs');
      expect(w).toMatchObject({ state: 'running' });
      const owner = cluster.rig.agent(w!.host);
      const asker = cluster.rig.agents.find((x) => x.name !== owner.name)!;

      const logs = await until(
        () => cluster.cli(asker, ['workload', 'logs', `remote-logs/${w!.name}`]),
        (r) => r.code === 0 && r.stdout.includes('remote-logs w1 says hello'),
        10_000,
        'logs through another agent',
      );
      expect(logs.stderr).toBe('');
      // Followed: the relay streams until the client hangs up.
      const followed = await cluster.follow(
        asker,
        ['workload', 'logs', '-f', `remote-logs/${w!.name}`],
        (out) => out.includes('says hello'),
      );
      expect(followed.stdout).toContain('remote-logs w1 says hello');

      // Exec (a WebSocket) is relayed too: the command runs on the owner's host, in its
      // namespace, and its exit code comes back.
      const ran = await cluster.cli(asker, [
        'workload',
        'exec',
        `remote-logs/${w!.name}`,
        '--',
        'sh',
        '-c',
        'ip -4 -o addr show | grep -c " $0/"; exit 3',
        owner.namespace.address,
      ]);
      expect(ran.code, ran.stderr).toBe(3);
      expect(ran.stdout.trim()).toBe('1');
      const local = await cluster.cli(owner, [
        'workload',
        'exec',
        `remote-logs/${w!.name}`,
        '--',
        'echo',
        'here',
      ]);
      expect([local.code, local.stdout]).toEqual([0, 'here\n']);
      expect((await a.api('DELETE', '/v1/services/remote-logs')).status).toBe(200);
      expect(processesUnder(join(owner.stateDir, 'data', 'remote-logs'))).toEqual([]);
    });

    it('a deploy through a spreads its workloads over a, b and c: each one’s `host` names its owner, whose agent runs it, and nowhere else', async () => {
      const { rig, a } = cluster;
      const deployed = await deploy(a, 'spread', 6);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const workloads = await workloadsOf(cluster.b, 'spread');
      expect(workloads).toHaveLength(6);
      // Spread (the default scoring) over three empty hosts: two each.
      const perHost = (host: string) => workloads.filter((w) => w.host === host).length;
      expect(['a', 'b', 'c'].map(perHost)).toEqual([2, 2, 2]);
      for (const w of workloads) {
        expect(w.state).toBe('running');
        // Really running under its owner's agent (its state directory), and under no other.
        expect(rig.copies().get(`spread/${w.name}`)).toEqual([w.host]);
        expect(rig.agent(w.host).runningWorkloads().get(`spread/${w.name}`)).toContain(w.pid);
      }
      const counts = Object.fromEntries((await rig.hosts()).map((h) => [h.name, h.workloads]));
      expect(counts).toEqual({ a: 2, b: 2, c: 2 });
      // Deleted through c: each workload stopped by its owner's agent.
      expect((await cluster.c.api('DELETE', '/v1/services/spread')).status).toBe(200);
      await until(
        () => [...rig.copies().keys()].filter((k) => k.startsWith('spread/')),
        (left) => left.length === 0,
        10_000,
        'the spread workloads to stop',
      );
    });

    it('a connection to a workload on another host gets that host’s address, and connects across the bridge', async () => {
      const { rig, a } = cluster;
      const path = join(cluster.dir, 'pingpong.yaml');
      writeFileSync(
        path,
        `tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun.core
    namespace: k
service_template:
  node_templates:
    server:
      type: k:Server
      properties:
        command: ${process.execPath}
        arguments:
          - -e
          - require('net').createServer((s) => s.end('pong')).listen(Number(process.env.PORT))
    client:
      type: k:Process
      properties:
        command: ${process.execPath}
        restart: always
        arguments:
          - -e
          - >-
            const { SERVER_HOST: host, SERVER_PORT: port } = process.env;
            require('net').connect(Number(port), host).on('data', (d) => {
            console.log('client got ' + d + ' from ' + host + ':' + port); setInterval(() => {}, 1e6); })
            .on('error', (e) => { console.log('client error ' + e.message); process.exit(1); })
      requirements:
        - connection: server
`,
      );
      const deployed = await a.api('POST', '/v1/services', { name: 'pingpong', source: { path } });
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const workloads = await workloadsOf(a, 'pingpong');
      const server = workloads.find((w) => w.name.startsWith('server'))!;
      const client = workloads.find((w) => w.name.startsWith('client'))!;
      // Spread: two workloads on two hosts.
      expect(server.host).not.toBe(client.host);
      const serverAddress = rig.agent(server.host).namespace.address;
      const logs = await until(
        () => a.api('GET', `/v1/workloads/pingpong/${client.name}/logs?stream=stdout`),
        (r) => r.status === 200 && String(r.body).includes('client got pong'),
        10_000,
        'the client to get an answer',
      );
      expect(String(logs.body)).toMatch(
        new RegExp(`client got pong from ${serverAddress.replace(/\./g, '\\.')}:\\d+`),
      );
      expect((await a.api('DELETE', '/v1/services/pingpong')).status).toBe(200);
    });

    it('a SIGKILLed agent’s workloads are replaced on the surviving hosts within 5 s (`workload-replaced`); after the fencing delay nothing runs on two hosts', async () => {
      const { rig, a } = cluster;
      const deployed = await deploy(a, 'failover', 6);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const placed = await workloadsOf(a, 'failover');
      // The victim: c, or whichever of b and c placement gave workloads (a deploys and checks).
      const victim = ['c', 'b'].find((h) => placed.some((w) => w.host === h));
      expect(victim, JSON.stringify(placed.map((w) => [w.name, w.host]))).toBeDefined();
      const c = rig.agent(victim!);
      const onC = placed.filter((w) => w.host === victim);
      const cPids = onC.flatMap((w) => c.runningWorkloads().get(`failover/${w.name}`) ?? []);
      expect(cPids.length).toBeGreaterThanOrEqual(onC.length);
      const before = (await rig.hosts()).find((h) => h.name === victim)!;

      const killedAt = Date.now();
      await c.kill();
      // Replaced elsewhere: ready (running) on a or b by the API and by /proc, within 5 s.
      const moved = await until(
        async () => {
          const now = await workloadsOf(a, 'failover');
          return onC.map((old) => {
            const w = now.find((x) => x.name === old.name)!;
            const running =
              w.host !== victim &&
              w.state === 'running' &&
              rig.agent(w.host).runningWorkloads().has(`failover/${w.name}`);
            return running ? w.host : undefined;
          });
        },
        (hosts) => hosts.every((h) => h !== undefined),
        8_000,
        "c's workloads to run elsewhere",
      );
      const failover = Date.now() - killedAt;
      expect(failover).toBeLessThan(5_000);
      const survivors = ['a', 'b', 'c'].filter((h) => h !== victim);
      for (const host of moved) expect(survivors).toContain(host);
      const lost = await rig.waitForEvent(
        (e) => e.type === 'host-lost' && e.host === victim && e.epoch > before.epoch,
      );
      // Each replacement is published once its new copy is ready, just after the API shows it.
      const replacedEvents = () =>
        rig.events.filter(
          (e) =>
            e.event.type === 'workload-replaced' &&
            (e.event as { service: string }).service === 'failover',
        );
      const replaced = await until(
        async () => replacedEvents(),
        (events) => events.length >= onC.length,
        5_000,
        'the workload-replaced events',
      );
      expect(replaced.map((e) => (e.event as { workload: string }).workload).sort()).toEqual(
        onC.map((w) => w.name).sort(),
      );
      for (const e of replaced) expect(survivors).toContain(e.event.host);

      // At least once: c's own copies may overlap until its fence watchdog stops them (its
      // lease, 4.5 s, runs out: the agent renews it no more). Once the fencing delay (10 s
      // after the declaration) has passed, every workload runs on one host only: real
      // processes, c's old PIDs gone.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, lost.at + 10_000 - Date.now())),
      );
      for (let sample = 0; sample < 5; sample++) {
        expect(duplicates()).toEqual([]);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      for (const pid of cPids) expect(processAlive(pid)).toBe(false);
      expect(
        [...rig.copies()].filter(([key]) => key.startsWith('failover/')).map(([, h]) => h.length),
      ).toEqual([1, 1, 1, 1, 1, 1]);
      expect((await a.api('DELETE', '/v1/services/failover')).status).toBe(200);
    });

    it('a service chooses at-most-once: its lost workload is replaced only after the fencing delay, when the lost copy is gone', async () => {
      const { rig, a, b } = cluster;
      const path = serviceWithPolicy('once', 'at-most-once');
      // On b alone (a and c drained meanwhile).
      for (const name of ['a', 'c'])
        expect((await a.api('POST', `/v1/hosts/${name}/drain`)).status).toBe(200);
      const deployed = await a.api('POST', '/v1/services', { name: 'once', source: { path } });
      for (const name of ['a', 'c'])
        expect((await a.api('POST', `/v1/hosts/${name}/undrain`)).status).toBe(200);
      expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
      const [w] = await workloadsOf(a, 'once');
      expect(w!.host).toBe('b');
      const oldPids = b.runningWorkloads().get(`once/${w!.name}`)!;
      expect(oldPids.length).toBeGreaterThan(0);
      const before = (await rig.hosts()).find((h) => h.name === 'b')!;

      // Watch every host's real processes from the kill on.
      let overlap = false;
      let oldGoneAt: number | undefined;
      let newSeenAt: number | undefined;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const hosts = rig.copies().get(`once/${w!.name}`) ?? [];
          if (hosts.length > 1) overlap = true;
          if (oldGoneAt === undefined && !oldPids.some(processAlive)) oldGoneAt = Date.now();
          if (newSeenAt === undefined && hosts.some((h) => h !== 'b')) newSeenAt = Date.now();
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      await b.kill();
      const lost = await rig.waitForEvent(
        (e) => e.type === 'host-lost' && e.host === 'b' && e.epoch > before.epoch,
      );
      const intent = (
        lost.event as {
          replacements: Array<{ service: string; policy: string; notBefore: string }>;
        }
      ).replacements.find((r) => r.service === 'once')!;
      expect(intent.policy).toBe('at-most-once');
      const replaced = await rig.waitForEvent(
        (e) => e.type === 'workload-replaced' && (e as { service: string }).service === 'once',
        20_000,
      );
      await until(
        () => newSeenAt,
        (at) => at !== undefined,
        10_000,
        'the replacement to run',
      );
      watching = false;
      await watcher;
      // Not before the fencing delay (10 s after the declaration), and never beside the old copy.
      expect(replaced.at).toBeGreaterThanOrEqual(lost.at + 9_000);
      expect(newSeenAt! - lost.at).toBeGreaterThanOrEqual(9_000);
      expect(oldGoneAt).toBeDefined();
      expect(oldGoneAt!).toBeLessThan(newSeenAt!);
      expect(overlap).toBe(false);
      expect(['a', 'c']).toContain(replaced.event.host);
      expect((await a.api('DELETE', '/v1/services/once')).status).toBe(200);
    });

    it('an agent SIGKILLed mid-deploy on a remote host: the deploy fails and rolls back on every host', async () => {
      const { rig, a, c } = cluster;
      // Three workloads that never become ready: the deploy waits on each host until c's agent
      // is killed under it.
      const path = serviceFile(
        cluster.dir,
        'stuck.yaml',
        ['w1', 'w2', 'w3']
          .map(
            (name) =>
              `    ${name}:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n` +
              `        arguments: ["600"]\n        readiness:\n          command: [/bin/false]\n          timeout: 60\n`,
          )
          .join(''),
      );
      const before = (await rig.hosts()).find((h) => h.name === 'c')!;
      const deploying = a.api('POST', '/v1/services', { name: 'stuck', source: { path } });
      // c's agent has started its workload (a real process), which is not ready yet.
      await until(
        () => c.runningWorkloads().size,
        (n) => n > 0,
        20_000,
        "c's workload to start",
      );
      const cPids = [...c.runningWorkloads().values()].flat();
      const killedAt = Date.now();
      await c.kill();
      const answer = await deploying;
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      // It fails as soon as c is declared lost (not when readiness would time out, at 60 s).
      expect(answer).toMatchObject({
        status: 503,
        body: { error: { code: 'host-lost', details: { host: 'c', op: 'start' } } },
      });
      await rig.waitForEvent(
        (e) => e.type === 'host-lost' && e.host === 'c' && e.epoch > before.epoch,
      );
      // Rolled back: no service, no owners, nothing running on a or b ...
      expect(
        ((await a.api('GET', '/v1/services')).body as Array<{ name: string }>).map((s) => s.name),
      ).not.toContain('stuck');
      const owners = (
        await Promise.all(['a', 'b', 'c'].map((h) => rig.registry.workloadsOf(h)))
      ).flat();
      expect(owners.filter((o) => o.service === 'stuck' && o.state === 'running')).toEqual([]);
      for (const agent of [a, cluster.b]) {
        expect([...agent.runningWorkloads().keys()].filter((k) => k.startsWith('stuck/'))).toEqual(
          [],
        );
      }
      // ... and c's copy is stopped by its fence watchdog (no agent renews the lease).
      await until(
        () => cPids.filter(processAlive),
        (alive) => alive.length === 0,
        12_000,
        "c's copy to stop",
      );
      await c.start();
      await rig.settled();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect([...rig.copies().keys()].filter((k) => k.startsWith('stuck/'))).toEqual([]);
    });
  },
);
