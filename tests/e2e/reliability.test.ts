/**
 * Reliability, end to end with real agents and processes: an agent killed with SIGKILL
 * mid-deploy, an agent restarted under running workloads, a port held by an outsider,
 * invalid TOSCA.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ApiError,
  isAlive,
  serviceFile,
  TestHost,
  templateOf,
  type WorkloadItem,
  waitUntil,
} from './harness.js';

const files = mkdtempSync(join(tmpdir(), 'khutulun-e2e-files-'));
afterAll(() => rmSync(files, { recursive: true, force: true }));

let hosts: TestHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.cleanup()));
  hosts = [];
});
async function newHost(): Promise<TestHost> {
  const host = new TestHost();
  hosts.push(host);
  await host.startAgent();
  return host;
}

/** Unique numbers per run, so `sleep MARKER` processes are this test's and countable. */
let nextMarker = 3_000_000 + Math.floor(Math.random() * 90_000) * 10;

/** A process node that sleeps with a unique argument, found later in /proc by it. */
function sleeper(name: string, marker: number, extra = ''): string {
  return `    ${name}:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['${marker}']
        restart: always
${extra}`;
}

/** PIDs of live processes running `sleep MARKER`. */
function sleepers(marker: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('sleep') && argv[1] === String(marker) && isAlive(Number(entry))) {
        pids.push(Number(entry));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

async function workloads(host: TestHost, service?: string): Promise<WorkloadItem[]> {
  return host.api<WorkloadItem[]>('GET', `/v1/workloads${service ? `?service=${service}` : ''}`);
}

describe('an agent killed with SIGKILL mid-deploy', () => {
  it.each([1, 3])(
    'comes back consistent when killed after %i of 4 processes started: each adopted or gone, none twice',
    async (startedWhenKilled) => {
      const host = await newHost();
      const markers = [nextMarker++, nextMarker++, nextMarker++, nextMarker++];
      const ready = `        readiness: { command: [/bin/sleep, '1'] }\n`;
      const path = serviceFile(
        files,
        'chain.yaml',
        sleeper('a', markers[0]!, ready) +
          sleeper('b', markers[1]!, ready) +
          '      requirements:\n        - dependency: a\n' +
          sleeper('c', markers[2]!, ready) +
          '      requirements:\n        - dependency: b\n' +
          sleeper('d', markers[3]!, ready) +
          '      requirements:\n        - dependency: c\n',
      );
      await host.api('POST', '/v1/services', { name: 'chain', source: { path }, wait: false });
      const marker = markers[startedWhenKilled - 1]!;
      await waitUntil(
        () => sleepers(marker).length > 0,
        60_000,
        `process ${startedWhenKilled} of the chain to start`,
      );
      await host.killAgent('SIGKILL');
      const startedBeforeKill = markers.flatMap((m) => sleepers(m));
      expect(startedBeforeKill.length).toBeGreaterThanOrEqual(startedWhenKilled);
      // Really mid-deploy: the last of the chain had not started yet.
      expect(sleepers(markers[3]!)).toEqual([]);

      await host.startAgent();
      // Settled: running again (the deploy resumed) or rolled back (gone or failed).
      let state = '';
      await waitUntil(
        async () => {
          try {
            state = (await host.api<{ state: string }>('GET', '/v1/services/chain')).state;
          } catch (error) {
            if (error instanceof ApiError && error.status === 404) state = 'gone';
            else throw error;
          }
          return ['running', 'failed', 'gone'].includes(state);
        },
        90_000,
        'the interrupted deploy to settle',
      );
      const listed = await workloads(host);
      for (const marker of markers)
        expect(sleepers(marker).length, `sleep ${marker}`).toBeLessThanOrEqual(1);
      const live = markers.flatMap((m) => sleepers(m)).sort();
      const listedPids = listed
        .filter((w) => w.pid !== undefined && isAlive(w.pid))
        .map((w) => w.pid!);
      // No orphans: every live process is a listed workload's; every listed running pid lives.
      expect(live).toEqual([...listedPids].sort());
      for (const pid of startedBeforeKill) {
        expect(!isAlive(pid) || listedPids.includes(pid), `pid ${pid}: adopted or gone`).toBe(true);
      }
      if (state === 'running') {
        expect(listed.map((w) => templateOf(w.name)).sort()).toEqual(['a', 'b', 'c', 'd']);
        expect(listed.every((w) => w.state === 'running')).toBe(true);
      } else {
        expect(live).toEqual([]);
      }
    },
  );
});

describe('an agent restarted under running workloads', () => {
  it('re-adopts them (same PIDs), and still restarts one that is killed', async () => {
    const host = await newHost();
    const markers = [nextMarker++, nextMarker++];
    const path = serviceFile(
      files,
      'pair.yaml',
      sleeper('one', markers[0]!) + sleeper('two', markers[1]!),
    );
    const deployed = await host.cli(['service', 'deploy', path, '--name', 'pair', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const before = await workloads(host, 'pair');
    expect(before.map((w) => w.state)).toEqual(['running', 'running']);

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      await host.killAgent(signal);
      for (const w of before)
        expect(isAlive(w.pid!), `${w.name} survives the agent (${signal})`).toBe(true);
      await host.startAgent();
      const after = await workloads(host, 'pair');
      expect(after.map((w) => [w.name, w.pid, w.state]).sort()).toEqual(
        before.map((w) => [w.name, w.pid, 'running']).sort(),
      );
    }
    for (const marker of markers) expect(sleepers(marker)).toHaveLength(1);

    const victim = before.find((w) => templateOf(w.name) === 'one')!;
    process.kill(victim.pid!, 'SIGKILL');
    await waitUntil(
      async () => {
        const now = (await workloads(host, 'pair')).find((w) => w.name === victim.name);
        return now?.state === 'running' && now.pid !== victim.pid && now.pid !== undefined;
      },
      60_000,
      'the adopted workload to be restarted',
    );
    expect(sleepers(markers[0]!)).toHaveLength(1);
    expect(isAlive(victim.pid!)).toBe(false);
  });
});

describe('a port held by an outsider process', () => {
  const outsiders: Server[] = [];
  afterAll(async () => {
    await Promise.all(outsiders.map((s) => new Promise((r) => s.close(r))));
  });

  it('is never handed out, and a fixed port that is taken fails the deploy cleanly', async () => {
    // Hold the low end of the agent's range (where a fresh agent starts looking).
    const host = new TestHost();
    hosts.push(host);
    const range = host.ports();
    const held: number[] = [];
    for (let port = range.from; port < range.from + 10; port++) {
      // It only holds the port: whatever connects is hung up on at once, so that closing it
      // at the end never waits for a connection someone left open.
      const server = createServer((socket) => socket.destroy());
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) {
        outsiders.push(server);
        held.push(port);
      }
    }
    expect(held.length).toBeGreaterThan(0);
    await host.startAgent();
    const listener = (name: string) => `    ${name}:
      type: k:Server
      properties:
        command: node
        arguments: [-e, "require('node:net').createServer().listen(Number(process.env.PORT), '127.0.0.1')"]
`;
    const path = serviceFile(files, 'ports.yaml', listener('s1') + listener('s2') + listener('s3'));
    const deployed = await host.cli(['service', 'deploy', path, '--name', 'ports', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = await workloads(host, 'ports');
    const ports = items.map((w) => w.ports?.port);
    expect(ports.every((p) => typeof p === 'number')).toBe(true);
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      expect(held).not.toContain(port);
      expect(port).toBeGreaterThanOrEqual(range.from);
      expect(port).toBeLessThanOrEqual(range.to);
      await expect(connects(port!)).resolves.toBe(true);
    }

    const fixed = serviceFile(
      files,
      'fixed.yaml',
      `${listener('s')}      capabilities:\n        port:\n          properties:\n            fixed_port: ${held[0]}\n`,
    );
    const refused = await host.cli(['service', 'deploy', fixed, '--name', 'fixed', '--wait']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`${held[0]}`));
    expect(
      (await host.api<Array<{ name: string }>>('GET', '/v1/services')).map((s) => s.name),
    ).toEqual(['ports']);
    expect((await workloads(host)).filter((w) => w.service !== 'ports')).toEqual([]);
  });
});

describe('delete of a service with an exposed port', () => {
  it('leaves no firewall rule, no reservation, no process and no file behind', async () => {
    const host = await newHost();
    // The firewall is the machine's, shared with every agent on it: a port of its own, away
    // from where agents start handing out ports, keeps the check about this service only.
    const exposedPort = 29_000 + Math.floor(Math.random() * 900);
    const path = serviceFile(
      files,
      'exposed.yaml',
      `    web:
      type: k:Server
      properties:
        command: node
        arguments: [-e, "require('node:net').createServer().listen(Number(process.env.PORT), '127.0.0.1')"]
      capabilities:
        port:
          properties:
            expose: true
            fixed_port: ${exposedPort}
`,
    );
    const deployed = await host.cli(['service', 'deploy', path, '--name', 'exposed', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const [web] = await workloads(host, 'exposed');
    const port = web!.ports!.port!;
    expect(port).toBe(exposedPort);
    const shown = await host.api<{ commands: string[] }>(
      'GET',
      `/v1/workloads/exposed/${web!.name}`,
    );
    const firewall = shown.commands.filter((c) => /\b(nft|firewall-cmd)\b/.test(c));
    // Exposure goes to Firewalld or nftables, whichever this machine has; with neither
    // (not so in CI: .ci/run installs both), there is nothing to check.
    if (firewallRules() !== '' || existsSync('/usr/sbin/nft')) {
      expect(firewall.length).toBeGreaterThan(0);
      expect(firewall.join('\n')).toContain(String(port));
      expect(firewallRules()).toContain(`${port}`);
    }

    expect((await host.cli(['service', 'delete', 'exposed', '--wait'])).code).toBe(0);
    expect(firewallRules()).not.toMatch(new RegExp(`\\b${port}\\b`));
    expect(readFileSync(join(host.stateDir, 'ports.json'), 'utf8')).not.toMatch(/exposed/);
    expect(host.workloadProcesses()).toEqual([]);
    expect(readdirSync(join(host.stateDir, 'workloads'), { recursive: true })).toEqual([]);
  });
});

describe('invalid TOSCA', () => {
  it('deploys nothing: exit 1, diagnostics with file:line:col, no entities, no processes', async () => {
    const host = await newHost();
    const marker = nextMarker++;
    const path = serviceFile(
      files,
      'invalid.yaml',
      `${sleeper('fine', marker)}    broken:\n      type: k:NoSuchType\n`,
    );
    const result = await host.cli(['service', 'deploy', path, '--wait']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/invalid\.yaml:\d+:\d+: error/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const line = Number(/invalid\.yaml:(\d+):/.exec(result.stderr)?.[1]);
    expect(readFileSync(path, 'utf8').split('\n')[line - 1]).toMatch(/NoSuchType|broken/);
    expect(await host.api('GET', '/v1/services')).toEqual([]);
    expect(await workloads(host)).toEqual([]);
    const vertexes = await host.api<unknown[]>('POST', '/v1/graph/query', {
      kind: 'vertex',
      directory: ['services'],
      recursive: true,
    });
    expect(vertexes).toEqual([]);
    const templates = await host.api<unknown[]>('POST', '/v1/graph/query', {
      kind: 'vertex-template',
      directory: ['services'],
      recursive: true,
    });
    expect(templates).toEqual([]);
    expect(sleepers(marker)).toEqual([]);
    expect(host.workloadProcesses()).toEqual([]);

    const yaml = serviceFile(files, 'not-yaml.yaml', '    broken: [\n');
    const syntax = await host.cli(['service', 'deploy', yaml, '--wait']);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/not-yaml\.yaml:\d+:\d+: error/);
  });
});

/** The exposed ports in Khutulun's nftables table and in Firewalld (when they exist), as text. */
function firewallRules(): string {
  const run = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  return run('nft', ['list', 'table', 'inet', 'khutulun']) + run('firewall-cmd', ['--list-ports']);
}

/** Whether a TCP connection to 127.0.0.1:port succeeds. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
