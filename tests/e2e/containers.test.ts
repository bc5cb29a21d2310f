/**
 * Containers through the agent, end to end with a real Podman: the README's
 * `examples/containers` (a container and a bare process in one service) and `examples/pod`,
 * deployed with the CLI, inspected with podman's own tools, exec'd into, re-adopted after
 * the agent is killed, and deleted leaving nothing behind; configuration files, a data
 * directory, an exposed port and a prestart step, checked from inside the container; an
 * HTTP liveness check that starts failing; `workload exec -it` under a real terminal.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUSYBOX_ARTIFACT,
  ROOT,
  serviceFile,
  TestHost,
  templateOf,
  type WorkloadItem,
  waitUntil,
} from './harness.js';
import { expectInteractiveShell, TerminalRun } from './terminal.js';

const host = new TestHost('khutulun-e2e-containers-');
afterAll(() => host.cleanup());

/** `podman ARGS...` as text. */
function podman(...args: string[]): string {
  return execFileSync('podman', args, { encoding: 'utf8' });
}

/** The containers of a service, as podman lists them (`ps -a` by label). */
function containersOf(service: string): string[] {
  return podman(
    'ps',
    '-a',
    '--filter',
    `label=io.khutulun.service=${service}`,
    '--format',
    '{{.Names}}',
  )
    .split('\n')
    .filter(Boolean);
}

// A host name of its own: agents re-adopt (and clean up) the containers labelled with their
// host's name, and other tests' agents run on this machine too.
// The docker kind is offered but has no daemon (a socket that is not there): a service that
// asks for it is refused, saying why.
const AGENT = ['--kinds', 'process,podman,docker', '--host-name', `e2e-containers-${process.pid}`];
process.env.DOCKER_HOST = 'unix:///nonexistent/khutulun/docker.sock';

beforeAll(async () => {
  // What an earlier, interrupted run of these tests may have left (the examples' names are fixed).
  for (const service of [
    'containers',
    'pod',
    'engine',
    'interrupted',
    'noimage',
    'badmount',
    'porttaken',
    'configured',
    'sickweb',
    'terminal',
  ]) {
    for (const name of containersOf(service)) podman('rm', '-f', name);
    const pods = podman('pod', 'ps', '-q', '--filter', `label=io.khutulun.service=${service}`);
    for (const pod of pods.split('\n').filter(Boolean)) podman('pod', 'rm', '-f', pod);
  }
  execFileSync('sh', [join(ROOT, 'examples/images/build-busybox.sh')]);
  await host.startAgent(AGENT);
});

describe('examples/containers on Podman', () => {
  let web: WorkloadItem;

  it('deploys a container and a process in one service', async () => {
    const deployed = await host.cli(['service', 'deploy', 'examples/containers', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = await host.json<WorkloadItem[]>(['workload', 'list', 'containers']);
    const byTemplate = new Map(items.map((w) => [templateOf(w.name), w]));
    web = byTemplate.get('web')!;
    expect(web).toMatchObject({ kind: 'podman', state: 'running' });
    expect(web.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof web.image).toBe('string');
    expect(byTemplate.get('client')).toMatchObject({ kind: 'process', state: 'running' });
    await expect(host.json<{ kinds: string[] }[]>(['host', 'list'])).resolves.toMatchObject([
      { kinds: expect.arrayContaining(['process', 'podman']) },
    ]);
  });

  it('is what a sysadmin would have built: a named, labelled container and its podman run line', async () => {
    expect(containersOf('containers')).toEqual([`khutulun-containers-${web.name}`]);
    const shown = await host.json<{ commandLine: string }>([
      'workload',
      'show',
      `containers/${web.name}`,
    ]);
    expect(shown.commandLine).toMatch(/^podman run /m);
    expect(shown.commandLine).toContain(`--name khutulun-containers-${web.name}`);
    expect(shown.commandLine).toContain('--label io.khutulun.service=containers');
  });

  it('serves through the reserved port to the bare-process client', async () => {
    await waitUntil(
      async () =>
        (await host.cli(['workload', 'logs', 'containers/client'])).stdout.includes(
          'client: Hello from a container',
        ),
      30_000,
      'the client to get the page',
    );
    const outputs = await host.json<{ url: string }>(['service', 'outputs', 'containers']);
    expect(await (await fetch(outputs.url)).text()).toBe('Hello from a container\n');
  });

  it('runs commands inside the container, passing their exit code on', async () => {
    const listed = await host.cli([
      'workload',
      'exec',
      `containers/${web.name}`,
      '--',
      'ls',
      '/var/www',
    ]);
    expect(listed).toMatchObject({ code: 0, stdout: 'index.html\n' });
    const failed = await host.cli([
      'workload',
      'exec',
      `containers/${web.name}`,
      '--',
      'sh',
      '-c',
      'echo no >&2; exit 3',
    ]);
    expect(failed).toMatchObject({ code: 3, stderr: 'no\n' });
  });

  it('restarts a container killed behind its back, per its policy', async () => {
    const before = (await host.json<WorkloadItem>([
      'workload',
      'show',
      `containers/${web.name}`,
    ])) as WorkloadItem & { restarts: number };
    podman('kill', `khutulun-containers-${web.name}`);
    await waitUntil(
      async () => {
        const now = (await host.json<WorkloadItem>([
          'workload',
          'show',
          `containers/${web.name}`,
        ])) as WorkloadItem & { restarts: number };
        return now.state === 'running' && now.restarts === before.restarts + 1;
      },
      30_000,
      'the container to be restarted',
    );
  });

  it('re-adopts the container after the agent is killed, without a duplicate', async () => {
    await host.killAgent('SIGKILL');
    await host.startAgent(AGENT);
    const items = await host.json<WorkloadItem[]>(['workload', 'list', 'containers']);
    expect(items.find((w) => w.name === web.name)).toMatchObject({
      state: 'running',
      containerId: web.containerId,
    });
    expect(containersOf('containers')).toHaveLength(1);
  });

  it('deletes everything it made: the container and the image no one else uses', async () => {
    const image = (await host.json<WorkloadItem[]>(['workload', 'list', 'containers'])).find(
      (w) => w.name === web.name,
    )!.image as string;
    // The image attribute is a reference or an ID: listed before, neither is left after.
    const images = () =>
      podman('images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}');
    expect(images()).toContain(image.replace(/^sha256:/, ''));
    expect((await host.cli(['service', 'delete', 'containers', '--wait'])).code).toBe(0);
    expect(containersOf('containers')).toEqual([]);
    expect(images()).not.toContain(image.replace(/^sha256:/, ''));
  });
});

describe('examples/pod on Podman', () => {
  it("runs two containers that talk over the pod's localhost, and deletes the pod", async () => {
    const deployed = await host.cli(['service', 'deploy', 'examples/pod', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    await waitUntil(
      async () =>
        (await host.cli(['workload', 'logs', 'pod/sidecar'])).stdout.includes(
          'sidecar: Hello from a container',
        ),
      30_000,
      "the sidecar to read the page over the pod's localhost",
    );
    const outputs = await host.json<{ url: string }>(['service', 'outputs', 'pod']);
    expect(await (await fetch(outputs.url)).text()).toBe('Hello from a container\n');
    expect(
      podman(
        'pod',
        'ps',
        '--filter',
        'label=io.khutulun.service=pod',
        '--format',
        '{{.Name}}',
      ).trim(),
    ).toMatch(/^khutulun-pod-pod/);
    expect((await host.cli(['service', 'delete', 'pod', '--wait'])).code).toBe(0);
    expect(containersOf('pod')).toEqual([]);
    expect(podman('pod', 'ps', '-q', '--filter', 'label=io.khutulun.service=pod').trim()).toBe('');
  });
});

describe('bad input and faults, each rolled back with nothing left behind', () => {
  const web = (extra: string) => `    web:
      type: k:ContainerServer
      properties:
        command: [httpd, -f, -p, '8080']
        stop_grace_period: 1
${extra}      capabilities:
        port:
          properties:
            target: 8080
`;

  /** Deploys a service that must fail; returns the CLI's error output. */
  async function failing(name: string, nodes: string): Promise<string> {
    const file = serviceFile(host.stateDir, `${name}.yaml`, nodes);
    const result = await host.cli(['service', 'deploy', file, '--wait']);
    expect(result.code).toBe(1);
    expect(await host.json<unknown[]>(['service', 'list'])).toEqual([]);
    expect(containersOf(name)).toEqual([]);
    expect(await host.api('GET', '/v1/workloads')).toEqual([]);
    return result.stderr;
  }

  it('an image the engine does not have', async () => {
    const stderr = await failing('noimage', web('        image: localhost/khutulun/not-there:1\n'));
    expect(stderr).toMatch(/web-1/);
    expect(stderr).toMatch(/localhost\/khutulun\/not-there:1/);
  });

  it('a bind mount of a path that does not exist', async () => {
    const stderr = await failing(
      'badmount',
      `${web(`        volumes:
          - { type: bind, source: /nonexistent/khutulun/data, target: /data }
`)}${BUSYBOX_ARTIFACT}`,
    );
    expect(stderr).toMatch(/web-1/);
    expect(stderr).toMatch(/\/nonexistent\/khutulun\/data/);
  });

  it('a fixed port someone else holds', async () => {
    const outsider = createServer().listen(0, '127.0.0.1');
    await once(outsider, 'listening');
    const port = (outsider.address() as AddressInfo).port;
    try {
      const stderr = await failing(
        'porttaken',
        `    web:
      type: k:ContainerServer
      properties:
        command: [httpd, -f, -p, '8080']
      capabilities:
        port:
          properties:
            target: 8080
            fixed_port: ${port}
${BUSYBOX_ARTIFACT}`,
      );
      expect(stderr).toMatch(/web-1/);
      expect(stderr).toMatch(new RegExp(`\\b${port}\\b`));
    } finally {
      outsider.close();
    }
  });

  it('an engine this host does not offer', async () => {
    const stderr = await failing(
      'noengine',
      `    web:
      type: k:Container
      properties:
        engine: docker
        command: [httpd, -f, -p, '8080']
${BUSYBOX_ARTIFACT}`,
    );
    expect(stderr).toMatch(/web-1 needs the docker kind, which this host does not offer: /);
    expect(stderr).toMatch(/nonexistent\/khutulun\/docker.sock/);
  });
});

describe('faults under a running agent', () => {
  const node = (name: string, extra = '') => `    ${name}:
      type: k:Container
      properties:
        command: [sleep, '100000']
        stop_grace_period: 1
        restart: always
${extra}${BUSYBOX_ARTIFACT}`;

  it('rolls back a deploy interrupted by kill -9 of the agent: no containers, no service', async () => {
    const file = serviceFile(
      host.stateDir,
      'interrupted.yaml',
      `${node('first')}${node(
        'slow',
        `        readiness:
          command: [test, -e, /never]
          timeout: 120
`,
      )}`,
    );
    const deploying = host.cli(['service', 'deploy', file, '--wait']);
    await waitUntil(
      () => containersOf('interrupted').length === 2,
      60_000,
      'both containers to be created',
    );
    await host.killAgent('SIGKILL');
    await deploying;
    await host.startAgent(AGENT);
    expect(await host.json<unknown[]>(['service', 'list'])).toEqual([]);
    expect(containersOf('interrupted')).toEqual([]);
  });

  it('reconnects after the engine restarts and resyncs: an exit missed meanwhile is restarted', async () => {
    const file = serviceFile(host.stateDir, 'engine.yaml', node('app'));
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const before = await host.json<WorkloadItem & { restarts: number }>([
      'workload',
      'show',
      'engine/app',
    ]);
    const pidFile = join(host.stateDir, 'podman', 'service.pid');
    const service = Number(readFileSync(pidFile, 'utf8'));
    process.kill(service, 'SIGKILL');
    // While the service is down, the container is killed behind the agent's back.
    podman('kill', `khutulun-engine-${before.name}`);
    await waitUntil(
      async () => {
        const now = await host.json<WorkloadItem & { restarts: number }>([
          'workload',
          'show',
          'engine/app',
        ]);
        return now.state === 'running' && now.restarts === before.restarts + 1;
      },
      60_000,
      'the agent to learn of the exit after the engine came back, and restart the container',
    );
    expect(Number(readFileSync(pidFile, 'utf8'))).not.toBe(service);
    expect((await host.cli(['service', 'delete', 'engine', '--wait'])).code).toBe(0);
    expect(containersOf('engine')).toEqual([]);
  });
});

/** The exposed ports in Khutulun's nftables table and in Firewalld (when they run), as text. */
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

describe('configuration files, a data directory, an exposed port and a prestart step, on Podman', () => {
  let app: WorkloadItem;
  let db: WorkloadItem;
  /** `workload exec configured/APP -- ARGS...`, which must succeed; its stdout. */
  const inApp = async (...args: string[]) => {
    const ran = await host.cli(['workload', 'exec', `configured/${app.name}`, '--', ...args]);
    expect(ran.code, ran.stderr).toBe(0);
    return ran.stdout;
  };

  it('deploys, the prestart step running before the first start', async () => {
    const file = serviceFile(
      host.stateDir,
      'configured.yaml',
      `    db:
      type: k:ContainerServer
      properties:
        command: [httpd, -f, -p, '8080', -h, /var/www]
        stop_grace_period: 1
      capabilities:
        port:
          properties:
            target: 8080
${BUSYBOX_ARTIFACT}    app:
      type: k:ContainerServer
      properties:
        # What the prestart step wrote is there at every start (and is appended to).
        command: [sh, -c, 'cat /data/init.log >> /data/seen-at-start; exec httpd -f -p 9090 -h /var/www']
        stop_grace_period: 1
        restart: always
        files:
          upstream:
            path: /etc/app/upstream.conf
            mode: '0640'
            content:
              $concat:
                - 'upstream = '
                - { $get_attribute: [db, CAPABILITY, port, address] }
                - ':'
                - { $get_attribute: [db, CAPABILITY, port, port] }
                - "\\n"
        directories:
          data:
            path: /data
            mode: '0750'
            owner: '1000:1000'
        prestart:
          - command: [sh, -c, 'echo initialised >> /data/init.log']
      capabilities:
        port:
          properties:
            target: 9090
            expose: true
      requirements:
        - connection: db
${BUSYBOX_ARTIFACT}`,
    );
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = await host.json<WorkloadItem[]>(['workload', 'list', 'configured']);
    app = items.find((w) => templateOf(w.name) === 'app')!;
    db = items.find((w) => templateOf(w.name) === 'db')!;
    expect(app).toMatchObject({ kind: 'podman', state: 'running' });
    // The prestart step's one-off container is gone.
    expect(containersOf('configured').sort()).toEqual(
      [`khutulun-configured-${app.name}`, `khutulun-configured-${db.name}`].sort(),
    );
    expect(await inApp('cat', '/data/init.log')).toBe('initialised\n');
    expect(await inApp('cat', '/data/seen-at-start')).toBe('initialised\n');
  });

  it("renders the file from TOSCA values (the db's address and port), bind-mounted read-only", async () => {
    const dbPort = db.ports?.port;
    expect(dbPort).toBeGreaterThan(0);
    expect(await inApp('cat', '/etc/app/upstream.conf')).toMatch(
      new RegExp(`^upstream = \\d+\\.\\d+\\.\\d+\\.\\d+:${dbPort}\\n$`),
    );
    const mount = (await inApp('cat', '/proc/mounts'))
      .split('\n')
      .find((line) => line.split(' ')[1] === '/etc/app/upstream.conf');
    expect(mount?.split(' ')[3]?.split(',')).toContain('ro');
    expect(await inApp('busybox', 'stat', '-c', '%a', '/etc/app/upstream.conf')).toBe('640\n');
    const write = await host.cli([
      'workload',
      'exec',
      `configured/${app.name}`,
      '--',
      'sh',
      '-c',
      'echo changed > /etc/app/upstream.conf',
    ]);
    expect(write.code).not.toBe(0);
  });

  it('mounts the data directory with its mode and owner', async () => {
    expect(await inApp('ls', '-lnd', '/data')).toMatch(/^drwxr-x---\s+\d+\s+1000\s+1000\s/);
    expect(await inApp('busybox', 'stat', '-c', '%a %u:%g', '/data')).toBe('750 1000:1000\n');
    const mount = (await inApp('cat', '/proc/mounts'))
      .split('\n')
      .find((line) => line.split(' ')[1] === '/data');
    expect(mount?.split(' ')[3]?.split(',')).toContain('rw');
  });

  it('exposes the port: a firewall rule, published on every address (the unexposed db on the host address only)', async () => {
    const port = app.ports?.port as number;
    expect(podman('port', `khutulun-configured-${app.name}`)).toMatch(
      new RegExp(`^9090/tcp -> 0\\.0\\.0\\.0:${port}$`, 'm'),
    );
    expect(podman('port', `khutulun-configured-${db.name}`)).toMatch(
      new RegExp(`^8080/tcp -> 127\\.0\\.0\\.1:${db.ports?.port}$`, 'm'),
    );
    const shown = await host.json<{ commands?: string[] }>([
      'workload',
      'show',
      `configured/${app.name}`,
    ]);
    // Exposure goes to Firewalld or nftables, whichever this machine has (.ci/run installs
    // both; without either there is nothing to check).
    if (firewallRules() !== '' || existsSync('/usr/sbin/nft')) {
      expect(firewallRules()).toMatch(new RegExp(`\\b${port}\\b`));
      expect(
        (shown.commands ?? []).filter((c) => /\b(nft|firewall-cmd)\b/.test(c)).join('\n'),
      ).toContain(String(port));
    }
  });

  it('runs the prestart step only once: restarts start the container again, not the step', async () => {
    expect((await host.cli(['workload', 'restart', `configured/${app.name}`])).code).toBe(0);
    podman('kill', `khutulun-configured-${app.name}`);
    await waitUntil(
      async () =>
        (
          await host.cli([
            'workload',
            'exec',
            `configured/${app.name}`,
            '--',
            'cat',
            '/data/seen-at-start',
          ])
        ).stdout === 'initialised\n'.repeat(3),
      60_000,
      'the container to have started three times',
    );
    expect(await inApp('cat', '/data/init.log')).toBe('initialised\n');
  });

  it('deletes the files, the directory and the firewall rule', async () => {
    const port = app.ports?.port as number;
    expect((await host.cli(['service', 'delete', 'configured', '--wait'])).code).toBe(0);
    expect(containersOf('configured')).toEqual([]);
    expect(existsSync(join(host.stateDir, 'data', 'configured'))).toBe(false);
    expect(firewallRules()).not.toMatch(new RegExp(`\\b${port}\\b`));
  });
});

describe('liveness on Podman', () => {
  it('restarts a running container whose HTTP check starts failing, per its policy', async () => {
    const file = serviceFile(
      host.stateDir,
      'sickweb.yaml',
      `    web:
      type: k:ContainerServer
      properties:
        # Healthy while /run/www/healthz exists; every start makes it again.
        command: [sh, -c, 'busybox mkdir -p /run/www && echo ok > /run/www/healthz && exec httpd -f -p 8080 -h /run/www']
        stop_grace_period: 1
        restart: on-failure
        liveness:
          port: port
          path: /healthz
          interval: 0.5
          timeout: 1
          failures: 2
      capabilities:
        port:
          properties:
            target: 8080
${BUSYBOX_ARTIFACT}`,
    );
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const before = await host.json<WorkloadItem & { restarts: number }>([
      'workload',
      'show',
      'sickweb/web',
    ]);
    const { lastSeq } = await host.api<{ lastSeq: number }>('GET', '/v1/health');
    // Still running, but its endpoint now answers 404.
    const removed = await host.cli([
      'workload',
      'exec',
      'sickweb/web',
      '--',
      'busybox',
      'rm',
      '/run/www/healthz',
    ]);
    expect(removed.code, removed.stderr).toBe(0);
    type Event = { type: string; id?: { name?: string }; data?: Record<string, unknown> };
    let events: Event[] = [];
    await waitUntil(
      async () => {
        events = await host.api<Event[]>('GET', `/v1/events?service=sickweb&since=${lastSeq}`);
        return events.some((e) => e.type === 'workload-restarted');
      },
      60_000,
      'the unhealthy container to be restarted',
    );
    const ofWeb = events.filter((e) => e.id?.name === before.name).map((e) => e.type);
    expect(ofWeb).toEqual(
      expect.arrayContaining(['workload-unhealthy', 'workload-exited', 'workload-restarted']),
    );
    expect(ofWeb.indexOf('workload-unhealthy')).toBeLessThan(ofWeb.indexOf('workload-restarted'));
    expect(events.find((e) => e.type === 'workload-unhealthy')?.data).toEqual({ failures: 2 });
    expect(events.find((e) => e.type === 'workload-exited')?.data).toMatchObject({
      reason: 'liveness',
    });
    const after = await host.json<WorkloadItem & { restarts: number }>([
      'workload',
      'show',
      'sickweb/web',
    ]);
    expect(after).toMatchObject({ state: 'running', restarts: before.restarts + 1 });
    // Healthy again after the restart: no further restart.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(
      (await host.json<WorkloadItem & { restarts: number }>(['workload', 'show', 'sickweb/web']))
        .restarts,
    ).toBe(before.restarts + 1);
    expect((await host.cli(['service', 'delete', 'sickweb', '--wait'])).code).toBe(0);
    expect(containersOf('sickweb')).toEqual([]);
  });
});

describe('exec on a terminal (the CLI under a real pseudo-terminal)', () => {
  it('gives `workload exec -it` a TTY inside a container, and passes the exit code on', async () => {
    const file = serviceFile(
      host.stateDir,
      'terminal.yaml',
      `    box:
      type: k:Container
      properties:
        command: [sleep, '100000']
        stop_grace_period: 1
${BUSYBOX_ARTIFACT}`,
    );
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    await expectInteractiveShell(host.stateDir, 'terminal/box');
    // Without -t the command has no terminal, even when the CLI has one.
    const plain = new TerminalRun(host.stateDir, [
      'workload',
      'exec',
      'terminal/box',
      '--',
      'sh',
      '-c',
      'test -t 0 || echo "no""-tty"; exit 3',
    ]);
    try {
      expect(await plain.exit).toBe(3);
      expect(plain.output).toMatch(/^no-tty\r?$/m);
    } finally {
      plain.kill();
    }
    expect((await host.cli(['service', 'delete', 'terminal', '--wait'])).code).toBe(0);
  });
});
