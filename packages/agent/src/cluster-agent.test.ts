import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openHostRegistry } from '@khutulun/cluster';
import { processAlive as alive, startNatsServer } from '@khutulun/cluster/testing';
import { describe, expect, it } from 'vitest';
import { parseBusUrl } from './agent-cluster.js';
import { type AgentProcess, runAgentToExit, startAgentProcess } from './testing/agent-process.js';
import { type TestCluster, useClusterFixture } from './testing/cluster-fixture.js';

/** The CLI, as a user runs it. */
const CLI = fileURLToPath(new URL('../../cli/bin/khutulun.js', import.meta.url));

/** The head of the services these tests write: TOSCA 2.0 with Khutulun's profile as `k`. */
const PROFILE =
  'tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun.core\n    namespace: k\n';

/** A workload as `GET /v1/workloads` lists it. */
type Row = { name: string; host: string; state: string; pid: number };

/** The workloads an agent lists, by name. */
async function rows(agent: AgentProcess): Promise<Row[]> {
  return ((await agent.api('GET', '/v1/workloads')).body as Row[]).sort((x, y) =>
    x.name.localeCompare(y.name),
  );
}

const fx = useClusterFixture();

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-cluster-agent-'));
  fx.cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A new cluster: its own database and its own NATS subjects and stream. */
const newCluster = () => fx.newCluster('agents');

/** An agent of `cluster` on a new state directory. */
const member = (
  cluster: TestCluster,
  host: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<AgentProcess> => fx.member(cluster, host, stateDir(), args, env);

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('agents joining a cluster (--store postgres://... --bus nats://...)', () => {
  it('reads the bus URL: user and password, a token, or nothing else', () => {
    expect(parseBusUrl('nats://u:p%40ss@10.0.0.1:4222')).toEqual({
      servers: 'nats://10.0.0.1:4222',
      user: 'u',
      password: 'p@ss',
    });
    expect(parseBusUrl('tls://tok@nats.example:4443')).toEqual({
      servers: 'nats://nats.example:4443',
      token: 'tok',
      tls: {},
    });
    expect(parseBusUrl('tls://u:p@nats.example:4443?ca=/etc/k/ca.pem')).toEqual({
      servers: 'nats://nats.example:4443',
      user: 'u',
      password: 'p',
      tls: { caFile: '/etc/k/ca.pem' },
    });
    // A CA only with TLS, and no other parameter.
    expect(parseBusUrl('nats://u:p@h:1?ca=/ca.pem')).toBeUndefined();
    expect(parseBusUrl('tls://u:p@h:1?verify=no')).toBeUndefined();
    expect(parseBusUrl('http://u:p@h:1')).toBeUndefined();
    expect(parseBusUrl('nats://u:p@h:1/path')).toBeUndefined();
    expect(parseBusUrl('not a url')).toBeUndefined();
  });

  it('joins over TLS verified against the cluster CA, and is refused without TLS or with a certificate it cannot verify', async () => {
    const dir = stateDir();
    const pki = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    pki(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=khutulun test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    );
    pki(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    );
    // nats.js checks a loopback server's certificate for the name localhost.
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName = IP:127.0.0.1, DNS:localhost\n');
    pki(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'san.ext',
      '-out',
      'server.pem',
    );
    const secure = await startNatsServer({
      tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') },
    });
    fx.cleanup(() => secure.stop());
    const { store, name } = await fx.newCluster('tls');
    const credentials = `${secure.user}:${encodeURIComponent(secure.password)}`;
    const bus = (scheme: string, query = '') =>
      `${scheme}://${credentials}@127.0.0.1:${secure.port}${query}`;
    const agent = await startAgentProcess(stateDir(), [
      '--store',
      store,
      '--bus',
      bus('tls', `?ca=${join(dir, 'ca.pem')}`),
      '--cluster',
      name,
      '--host-name',
      'host-tls',
    ]);
    fx.cleanup(() => agent.kill());
    const hosts = (await agent.api('GET', '/v1/hosts')).body as Array<{
      name: string;
      state: string;
    }>;
    expect(hosts.map((h) => [h.name, h.state])).toEqual([['host-tls', 'up']]);
    for (const [what, url] of [
      ['no TLS', bus('nats')],
      ['an unknown CA', bus('tls')],
    ] as const) {
      const refused = await runAgentToExit(stateDir(), [
        '--store',
        store,
        '--bus',
        url,
        '--cluster',
        name,
        '--host-name',
        'host-refused',
      ]);
      expect(refused.code, `${what}: ${refused.output}`).toBe(1);
      expect(refused.output, what).toContain('cannot join the cluster');
    }
  });

  it('lists every host of the cluster from any agent, and shows a SIGKILLed one lost', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a', ['--address', '127.0.0.1', '--label', 'zone=z1']);
    const b = await member(cluster, 'host-b', ['--label', 'zone=z2', '--label', 'disk=ssd']);
    const c = await member(cluster, 'host-c');

    const hosts = (await b.api('GET', '/v1/hosts')).body;
    expect(hosts.map((h: { name: string }) => h.name).sort()).toEqual([
      'host-a',
      'host-b',
      'host-c',
    ]);
    const byName = Object.fromEntries(hosts.map((h: { name: string }) => [h.name, h]));
    expect(byName['host-b']).toMatchObject({
      state: 'up',
      self: true,
      agentPid: b.pid,
      address: '127.0.0.1',
      labels: { zone: 'z2', disk: 'ssd' },
      workloads: 0,
    });
    expect(byName['host-a']).toMatchObject({ self: false, labels: { zone: 'z1' } });
    expect(byName['host-a'].agentPid).toBeUndefined();
    for (const host of hosts) {
      expect(host.epoch).toBeGreaterThan(0);
      expect(host.kinds).toContain('process');
      // Every host's kinds that exec, as its own agent recorded them (dashboard terminals).
      expect(host.execKinds).toContain('process');
      expect(host.capacity.cpuMillicores).toBeGreaterThanOrEqual(1000);
      expect(host.capacity.memoryBytes).toBeGreaterThan(0);
    }
    // The same list from another agent, each seeing itself as `self`.
    const fromA = (await a.api('GET', '/v1/hosts')).body;
    expect(
      fromA.filter((h: { self: boolean }) => h.self).map((h: { name: string }) => h.name),
    ).toEqual(['host-a']);

    await c.kill();
    const after = await until(
      async () => (await a.api('GET', '/v1/hosts')).body as Array<{ name: string; state: string }>,
      (list) => list.some((h) => h.name === 'host-c' && h.state === 'lost'),
    );
    expect(
      after
        .filter((h) => h.state === 'up')
        .map((h) => h.name)
        .sort(),
    ).toEqual(['host-a', 'host-b']);
  });

  it('refuses to start without the cluster credentials, and on misuse of the flags', async () => {
    const cluster = await newCluster();
    const wrong = cluster.bus.replace(encodeURIComponent(fx.nats().password), 'guessed');
    const refused = await runAgentToExit(stateDir(), [
      '--store',
      cluster.store,
      '--bus',
      wrong,
      '--host-name',
      'intruder',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('cannot join the cluster');
    expect(refused.output).not.toContain('guessed');

    const dir = stateDir();
    expect((await runAgentToExit(dir, ['--bus', cluster.bus])).code).toBe(2);
    expect((await runAgentToExit(dir, ['--store', cluster.store, '--bus', 'x:y'])).code).toBe(2);
    expect((await runAgentToExit(dir, ['--label', 'zone=z1'])).code).toBe(2);
    expect(
      (await runAgentToExit(dir, ['--store', cluster.store, '--bus', cluster.bus, '--label', 'z']))
        .code,
    ).toBe(2);
  });

  it("places a deploy against the registry, records owners, and leaves other agents' services alone", async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a');
    const b = await member(cluster, 'host-b', ['--address', '127.0.0.2']);
    const source = join(stateDir(), 'sleepers.yaml');
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n' +
        '    one:\n      type: k:Process\n      properties:\n        command: /bin/sh\n' +
        '        arguments: ["-c", "echo hello from $(hostname); echo started >&2; exec sleep 300"]\n' +
        '    two:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n',
    );
    const deployed = await a.api('POST', '/v1/services', {
      name: 'sleepers',
      source: { path: source },
    });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);

    // Every agent sees the owners: in the workloads' `host` and in the registry's counts.
    const workloads = (await b.api('GET', '/v1/workloads')).body as Array<{
      name: string;
      host: string;
      state: string;
      pid: number;
    }>;
    // Spread (the default scoring): one each, and each runs on its owner's agent.
    expect(workloads.map((w) => [w.name, w.host, w.state]).sort()).toEqual([
      ['one-1', 'host-a', 'running'],
      ['two-1', 'host-b', 'running'],
    ]);
    const counts = async (agent: AgentProcess) =>
      Object.fromEntries(
        (
          (await agent.api('GET', '/v1/hosts')).body as Array<{ name: string; workloads: number }>
        ).map((h) => [h.name, h.workloads]),
      );
    expect(await counts(b)).toEqual({ 'host-a': 1, 'host-b': 1 });

    // Any agent serves them: requests about another host's workloads are relayed to its agent.
    const logs = await until(
      () => b.api('GET', '/v1/workloads/sleepers/one/logs?stream=stdout'),
      (r) => r.status === 200 && String(r.body).includes('hello from'),
    );
    expect(String(logs.body)).not.toContain('started');
    // A followed log streams through the relay until the client goes away.
    expect(await followUntil(b, '/v1/workloads/sleepers/one/logs?follow=1', 'hello from')).toBe(
      true,
    );
    const restarted = await a.api('POST', '/v1/workloads/sleepers/two/restart');
    expect(restarted.status, JSON.stringify(restarted.body)).toBe(200);
    expect(restarted.body).toMatchObject({ host: 'host-b', state: 'running', restarts: 1 });
    const pidOfTwo = workloads.find((w) => w.name === 'two-1')!.pid;
    // A process learns the address of the host it runs on: where it listens.
    const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ(restarted.body.pid)).toContain('KHUTULUN_ADDRESS=127.0.0.2');
    expect(environ(workloads.find((w) => w.name === 'one-1')!.pid)).toContain(
      'KHUTULUN_ADDRESS=127.0.0.1',
    );
    expect(restarted.body.pid).not.toBe(pidOfTwo);
    // Exec (a WebSocket) through host-b of a workload on host-a: relayed, both ways, with the
    // command's exit code.
    const exec = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [CLI, '--state-dir', b.stateDir, 'workload', 'exec', '-i', 'sleepers/one', '--', ...args],
        { encoding: 'utf8', input: 'from stdin\n', timeout: 20_000 },
      );
    const echoed = exec('sh', '-c', 'cat; echo "on $0"; exit 3', 'host-a');
    expect([echoed.status, echoed.stdout, echoed.stderr]).toEqual([
      3,
      'from stdin\non host-a\n',
      '',
    ]);
    const current = (await a.api('GET', '/v1/workloads')).body as typeof workloads;
    // An agent restarted (same state directory) re-adopts the workloads its host owns, and
    // leaves the rest of the service (the deploying agent's) alone.
    expect(await b.stop()).toBe(0);
    const again = await startAgentProcess(b.stateDir, [
      '--store',
      cluster.store,
      '--bus',
      cluster.bus,
      '--cluster',
      cluster.name,
      '--host-name',
      'host-b',
    ]);
    fx.cleanup(() => again.kill());
    const after = (await a.api('GET', '/v1/workloads')).body as typeof workloads;
    expect(after.map((w) => [w.name, w.state, w.pid]).sort()).toEqual(
      current.map((w) => [w.name, w.state, w.pid]).sort(),
    );
    expect((await a.api('GET', '/v1/services/sleepers')).body).toMatchObject({ state: 'running' });

    // A delete through another agent is run by the deploying one, each workload stopped by
    // its owner's agent.
    const deleted = await again.api('DELETE', '/v1/services/sleepers');
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect((await a.api('GET', '/v1/services')).body).toEqual([]);
    for (const w of current) expect(alive(w.pid)).toBe(false);
    expect(await counts(a)).toEqual({ 'host-a': 0, 'host-b': 0 });
  });

  it('fails a placement with the reason of every host (a drained host takes none), recording no owner', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a');
    const b = await member(cluster, 'host-b');
    const registry = await openHostRegistry(cluster.store);
    fx.cleanup(() => registry.close());
    expect(await b.api('POST', '/v1/hosts/host-a/drain')).toMatchObject({
      status: 200,
      body: { name: 'host-a', state: 'draining' },
    });
    expect((await a.api('POST', '/v1/hosts/host-b/drain')).status).toBe(200);
    expect((await b.api('POST', '/v1/hosts/nope/drain')).status).toBe(404);
    const source = join(stateDir(), 'one.yaml');
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n    one:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n',
    );
    const refused = await a.api('POST', '/v1/services', { name: 'one', source: { path: source } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('placement-failed');
    expect(Object.keys(refused.body.error.details.reasons).sort()).toEqual(['host-a', 'host-b']);
    expect(refused.body.error.message).toContain('host-a: ');
    expect((await a.api('GET', '/v1/services')).body).toEqual([]);
    expect((await registry.workloadsOf('host-a')).length).toBe(0);
    expect((await registry.workloadsOf('host-b')).length).toBe(0);

    expect(await a.api('POST', '/v1/hosts/host-a/undrain')).toMatchObject({
      status: 200,
      body: { state: 'up' },
    });
    expect((await a.api('POST', '/v1/hosts/host-b/undrain')).status).toBe(200);
    // Two agents deploying one name at once (one store): exactly one wins, the other gets 409.
    const both = await Promise.all(
      [a, b].map((agent) =>
        agent.api('POST', '/v1/services', { name: 'one', source: { path: source } }),
      ),
    );
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(both.find((r) => r.status === 409)!.body.error.code).toBe('service-exists');
    const winner = both[0]!.status === 201 ? a : b;
    expect((await winner.api('DELETE', '/v1/services/one')).status).toBe(200);
  });

  it("replaces a SIGKILLed host's workloads on another host, at-most-once ones after the fencing delay", async () => {
    const cluster = await newCluster();
    const env = { KHUTULUN_FENCING_DELAY_MS: '2500' };
    const a = await member(cluster, 'host-a', [], env);
    const b = await member(cluster, 'host-b', [], env);
    const source = join(stateDir(), 'spread.yaml');
    const sleeper = (name: string) =>
      `    ${name}:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n` +
      `        arguments: ["300"]\n`;
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n' +
        ['one', 'two', 'three'].map(sleeper).join('') +
        '  policies:\n    - once:\n        type: k:Replacement\n        properties: { guarantee: at-most-once }\n        targets: [ three ]\n',
    );
    // Everything on host-b: host-a takes no placements while drained.
    expect((await a.api('POST', '/v1/hosts/host-a/drain')).status).toBe(200);
    const deployed = await a.api('POST', '/v1/services', {
      name: 'spread',
      source: { path: source },
    });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
    expect((await a.api('POST', '/v1/hosts/host-a/undrain')).status).toBe(200);
    const before = await rows(b);
    for (const w of before)
      expect([w.host, w.state, alive(w.pid)]).toEqual(['host-b', 'running', true]);
    fx.cleanup(() => {
      for (const w of before) if (alive(w.pid)) process.kill(w.pid, 'SIGKILL');
    });
    // host-b's own agent runs them: they are in its driver's state.
    const bRecords = readdirSync(join(b.stateDir, 'workloads', 'spread'));
    expect(bRecords.sort()).toEqual(before.map((w) => w.name));

    await b.kill();
    // host-a declares host-b lost and starts its workloads: at-least-once ones at once, the
    // at-most-once one (three) only once the fencing delay has passed.
    const replaced = await until(
      () => rows(a),
      (ws) => ws.filter((w) => w.host === 'host-a' && w.state === 'running').length === 3,
    );
    for (const w of replaced) expect(alive(w.pid)).toBe(true);
    // Each replacement is recorded once it is ready (just after its state says running).
    const events = await until(
      async () =>
        (await a.api('GET', '/v1/events?limit=1000')).body as Array<{
          type: string;
          id: { name: string };
          time: string;
        }>,
      (es) => es.filter((e) => e.type === 'workload-replaced').length === 3,
    );
    const at = (type: string, name: string) =>
      Date.parse(events.find((e) => e.type === type && e.id.name === name)?.time ?? 'x');
    for (const name of ['one-1', 'two-1', 'three-1']) {
      const after = at('workload-replaced', name) - at('workload-lost', name);
      if (name === 'three-1') expect(after).toBeGreaterThanOrEqual(2_400);
      else expect(after).toBeLessThan(2_400);
    }
    expect((await a.api('DELETE', '/v1/services/spread')).status).toBe(200);
    for (const w of replaced) expect(alive(w.pid)).toBe(false);
  });

  it('records host-joined and host-lost in the event stream, and calls host-lost handlers on the other hosts', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a');
    const b = await member(cluster, 'host-b');
    const dir = stateDir();
    const handler = join(dir, 'on-host-lost.sh');
    const seen = join(dir, 'host-lost.json');
    writeFileSync(handler, `#!/bin/sh\ncat > ${seen}.tmp && mv ${seen}.tmp ${seen}\n`);
    chmodSync(handler, 0o755);
    const source = join(dir, 'watcher.yaml');
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n    watcher:\n      type: k:Process\n' +
        '      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n' +
        '      interfaces:\n        events:\n          notifications:\n' +
        '            host-lost:\n              implementation: on-host-lost.sh\n',
    );
    // On host-a: host-b takes no placements while drained.
    expect((await a.api('POST', '/v1/hosts/host-b/drain')).status).toBe(200);
    expect(
      (await a.api('POST', '/v1/services', { name: 'watcher', source: { path: source } })).status,
    ).toBe(201);
    await b.kill();
    const payload = await until(
      async () => (existsSync(seen) ? JSON.parse(readFileSync(seen, 'utf8')) : undefined),
      (p) => p !== undefined,
    );
    expect(payload).toMatchObject({
      event: 'host-lost',
      service: 'watcher',
      workload: 'watcher-1',
      data: { host: 'host-b', declaredBy: 'host-a' },
    });
    const events = (await a.api('GET', '/v1/events?limit=1000')).body as Array<{
      type: string;
      id: { directory: string[]; name: string };
    }>;
    const about = (type: string) =>
      events
        .filter((e) => e.type === type && e.id.directory.join('/') === 'khutulun/hosts')
        .map((e) => e.id.name);
    expect(about('host-joined').sort()).toEqual(['host-a', 'host-b']);
    expect(about('host-lost')).toEqual(['host-b']);
    expect((await a.api('DELETE', '/v1/services/watcher')).status).toBe(200);
  });

  it('takes over the services of a lost deploying agent: its half-done deploy is rolled back on the other hosts', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a');
    const b = await member(cluster, 'host-b');
    const source = join(stateDir(), 'stuck.yaml');
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n' +
        '    base:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n' +
        '    stuck:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n' +
        '        readiness: { command: [/bin/false], timeout: 120 }\n' +
        '      requirements:\n        - dependency: base\n',
    );
    // Deployed through host-b, run on host-a (host-b takes no placements while drained).
    expect((await a.api('POST', '/v1/hosts/host-b/drain')).status).toBe(200);
    const deploying = b
      .api('POST', '/v1/services', { name: 'stuck', source: { path: source } })
      .catch(() => undefined);
    // The service lists its workloads once deployed: until then, the graph has them.
    const attribute = async (name: string, property: string) => {
      const id = { kind: 'vertex', directory: ['services', 'stuck'], name };
      const vertex = (await a.api('POST', '/v1/graph/get', { id })).body as {
        properties?: Record<string, { value?: unknown }>;
      };
      return vertex.properties?.[property]?.value;
    };
    const pids = await until(
      () => Promise.all(['base-1', 'stuck-1'].map((name) => attribute(name, 'pid'))),
      (ps) => ps.every((p) => typeof p === 'number'),
    );
    expect(await attribute('stuck-1', 'host')).toBe('host-a');
    const started = pids.map((pid) => ({ pid: pid as number }));
    await b.kill();
    await deploying;
    // host-a declares host-b lost, takes the service over and rolls the deploy back.
    await until(
      async () => (await a.api('GET', '/v1/services')).body as unknown[],
      (services) => services.length === 0,
    );
    for (const w of started) expect(alive(w.pid)).toBe(false);
    // The failed deploy is recorded once the teardown has committed.
    const events = await until(
      async () => (await a.api('GET', '/v1/events?limit=1000')).body as Array<{ type: string }>,
      (es) => es.some((e) => e.type === 'service-deploy-failed'),
    );
    expect(events.map((e) => e.type)).toContain('service-taken-over');
    const hosts = (await a.api('GET', '/v1/hosts')).body as Array<{
      name: string;
      workloads: number;
    }>;
    expect(hosts.find((h) => h.name === 'host-a')?.workloads).toBe(0);
  });

  it('starts the clients of a replaced server again with its new address and port', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a', ['--address', '127.0.0.1']);
    const b = await member(cluster, 'host-b', ['--address', '127.0.0.2']);
    const c = await member(cluster, 'host-c', ['--address', '127.0.0.3']);
    const source = join(stateDir(), 'wired.yaml');
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n' +
        `    srv:\n      type: k:Server\n      properties:\n        command: ${process.execPath}\n` +
        `        arguments: ["-e", "require('net').createServer().listen(process.env.PORT, process.env.KHUTULUN_ADDRESS)"]\n` +
        '    cli:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n' +
        '      requirements:\n        - connection: srv\n' +
        '  policies:\n    - apart: { type: k:DistinctHosts, targets: [srv, cli] }\n',
    );
    // The server and its client on host-a and host-b (host-c takes none while drained).
    expect((await a.api('POST', '/v1/hosts/host-c/drain')).status).toBe(200);
    const deployed = await a.api('POST', '/v1/services', {
      name: 'wired',
      source: { path: source },
    });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
    expect((await a.api('POST', '/v1/hosts/host-c/undrain')).status).toBe(200);
    const environ = (pid: number) =>
      Object.fromEntries(
        readFileSync(`/proc/${pid}/environ`, 'utf8')
          .split('\0')
          .filter((kv) => kv.startsWith('SRV_'))
          .map((kv) => kv.split('=') as [string, string]),
      );
    let [cli, srv] = await rows(a);
    // The server's host is lost; its replacement can only go to host-c (DistinctHosts).
    const victim = srv!.host === 'host-b' ? b : a;
    const before = environ(cli!.pid);
    expect(before.SRV_HOST).toBe(victim === b ? '127.0.0.2' : '127.0.0.1');
    // The old server outlives its SIGKILLed agent until the fence watchdog stops it, which
    // the test does not wait for.
    const oldServer = srv!.pid;
    fx.cleanup(() => {
      if (alive(oldServer)) process.kill(oldServer, 'SIGKILL');
    });
    const survivor = victim === b ? a : b;
    await victim.kill();
    const after = await until(
      () => rows(survivor),
      (ws) =>
        ws.length === 2 &&
        ws.every((w) => w.state === 'running') &&
        ws[1]!.host === 'host-c' &&
        ws[0]!.pid !== cli!.pid,
    );
    [cli, srv] = after;
    // The client runs again, given the server's new host and port.
    const given = environ(cli!.pid);
    expect(given.SRV_HOST).toBe('127.0.0.3');
    expect(given.SRV_PORT).toBe(
      String((await survivor.api('GET', '/v1/workloads/wired/srv')).body.ports.port),
    );
    await until(
      async () =>
        (await survivor.api('GET', '/v1/events?limit=1000')).body as Array<{ type: string }>,
      (es) => es.some((e) => e.type === 'workload-rewired'),
    );
    expect((await survivor.api('DELETE', '/v1/services/wired')).status).toBe(200);
    for (const w of after) expect(alive(w.pid)).toBe(false);
    expect((await c.api('GET', '/v1/hosts')).status).toBe(200);
  });

  it('drains a host: its workloads move off, dependencies first, each ready before its old copy stops', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a');
    const b = await member(cluster, 'host-b');
    const source = join(stateDir(), 'chain.yaml');
    const sleeper = (name: string, after?: string) =>
      `    ${name}:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n` +
      (after ? `      requirements:\n        - dependency: ${after}\n` : '');
    writeFileSync(
      source,
      PROFILE + `service_template:\n  node_templates:\n${sleeper('app', 'db')}${sleeper('db')}`,
    );
    // Everything on host-b first: host-a takes no placements while drained.
    expect((await a.api('POST', '/v1/hosts/host-a/drain')).body).toMatchObject({ moved: [] });
    expect(
      (await a.api('POST', '/v1/services', { name: 'chain', source: { path: source } })).status,
    ).toBe(201);
    expect((await a.api('POST', '/v1/hosts/host-a/undrain')).status).toBe(200);
    const before = await rows(a);
    expect(before.map((w) => w.host)).toEqual(['host-b', 'host-b']);

    const drained = await a.api('POST', '/v1/hosts/host-b/drain');
    expect(drained.status, JSON.stringify(drained.body)).toBe(200);
    expect(drained.body).toMatchObject({
      state: 'draining',
      moved: [
        { service: 'chain', workload: 'db-1', to: 'host-a' },
        { service: 'chain', workload: 'app-1', to: 'host-a' },
      ],
    });
    const after = await rows(a);
    expect(after.map((w) => [w.name, w.host, w.state])).toEqual([
      ['app-1', 'host-a', 'running'],
      ['db-1', 'host-a', 'running'],
    ]);
    for (const w of before) expect(alive(w.pid)).toBe(false);
    for (const w of after) expect(alive(w.pid)).toBe(true);
    // host-b holds nothing of it any more: no driver records, no owners.
    const records = join(b.stateDir, 'workloads', 'chain');
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);
    const hosts = (await b.api('GET', '/v1/hosts')).body as Array<{
      name: string;
      workloads: number;
    }>;
    expect(Object.fromEntries(hosts.map((h) => [h.name, h.workloads]))).toEqual({
      'host-a': 2,
      'host-b': 0,
    });
    const events = (await a.api('GET', '/v1/events?limit=1000')).body as Array<{ type: string }>;
    expect(events.filter((e) => e.type === 'workload-moved').length).toBe(2);
    expect((await a.api('DELETE', '/v1/services/chain')).status).toBe(200);
    for (const w of after) expect(alive(w.pid)).toBe(false);
  });

  it('stops its workloads when fenced (NATS out of reach), and starts them again when it re-joins', async () => {
    const cluster = await newCluster();
    const a = await member(cluster, 'host-a');
    const source = join(stateDir(), 'sleeper.yaml');
    writeFileSync(
      source,
      PROFILE +
        'service_template:\n  node_templates:\n' +
        '    one:\n      type: k:Process\n      properties:\n        command: /bin/sleep\n        arguments: ["300"]\n',
    );
    expect(
      (await a.api('POST', '/v1/services', { name: 'sleeper', source: { path: source } })).status,
    ).toBe(201);
    const workload = async () =>
      (await a.api('GET', '/v1/workloads/sleeper/one')).body as { state: string; pid?: number };
    const before = await workload();
    expect(before.state).toBe('running');
    expect(alive(before.pid!)).toBe(true);

    // NATS down for longer than the fence bound (1.5 s): every agent fences (none can tell it
    // is not the one cut off), and no host is declared lost (no watcher is renewing).
    const fenced = fx.nats().restart(3_000);
    await until(workload, (w) => w.state === 'fenced');
    expect(alive(before.pid!)).toBe(false);
    expect(a.output()).toContain('cluster: fenced; stopped 1 workloads');
    await fenced;

    // Back: the host re-joins at a new epoch, still owns its workload, and starts it again.
    const after = await until(workload, (w) => w.state === 'running');
    expect(after.pid).not.toBe(before.pid);
    expect(alive(after.pid!)).toBe(true);
    const hosts = (await a.api('GET', '/v1/hosts')).body as Array<{
      state: string;
      workloads: number;
    }>;
    expect(hosts).toMatchObject([{ state: 'up', workloads: 1 }]);
    expect((await a.api('DELETE', '/v1/services/sleeper')).status).toBe(200);
    expect(alive(after.pid!)).toBe(false);
  });
});

/** Follows a streamed answer until `text` appears (true), then hangs up; false after 15 s. */
function followUntil(agent: AgentProcess, path: string, text: string): Promise<boolean> {
  return new Promise((resolve) => {
    let seen = '';
    const req = request({ socketPath: join(agent.stateDir, 'api.sock'), path }, (res) => {
      res.on('data', (d) => {
        seen += d;
        if (seen.includes(text)) {
          clearTimeout(timer);
          req.destroy();
          resolve(true);
        }
      });
      res.on('end', () => resolve(seen.includes(text)));
    });
    req.on('error', () => resolve(seen.includes(text)));
    const timer = setTimeout(() => {
      req.destroy();
      resolve(false);
    }, 15_000);
    req.end();
  });
}
