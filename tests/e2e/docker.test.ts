/**
 * The docker kind through the agent, end to end with a real (private) dockerd: the
 * containers example with `engine: docker`, mixed with a bare process in one service;
 * dockerd restarted under a running agent; delete leaves nothing behind; the agent killed
 * with SIGKILL mid-deploy (rolled back) and after a deploy (re-adopted); a missing image, a
 * missing bind source and a taken port, each rolled back leaving nothing; a TCP liveness
 * check that starts failing, before and after the agent re-adopts the container;
 * `workload exec -it` under a real terminal.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The private test daemon of the docker driver's own tests (its own data root, socket,
// bridge; no iptables), from the built package.
import {
  startTestDockerd,
  type TestDockerd,
} from '../../packages/driver-docker/lib/test-dockerd.js';
import {
  BUSYBOX_ARTIFACT,
  BUSYBOX_IMAGE,
  ROOT,
  serviceFile,
  TestHost,
  templateOf,
  type WorkloadItem,
  waitUntil,
} from './harness.js';
import { expectInteractiveShell } from './terminal.js';

const host = new TestHost('khutulun-e2e-docker-');
let dockerd: TestDockerd;
const AGENT = ['--kinds', 'process,docker', '--host-name', `e2e-docker-${process.pid}`];

/** `docker ARGS...` against the test daemon, as text. */
function docker(...args: string[]): string {
  return execFileSync('docker', ['-H', `unix://${dockerd.socketPath}`, ...args], {
    encoding: 'utf8',
  });
}

function containersOf(service: string): string[] {
  return docker(
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

let source: string;

beforeAll(async () => {
  execFileSync('sh', [join(ROOT, 'examples/images/build-busybox.sh')]);
  dockerd = await startTestDockerd({ liveRestore: true });
  process.env.DOCKER_HOST = `unix://${dockerd.socketPath}`;
  // examples/containers with its web server on Docker.
  source = join(host.stateDir, 'containers-docker.yaml');
  writeFileSync(
    source,
    readFileSync(join(ROOT, 'examples/containers/service.yaml'), 'utf8')
      .replace('template_name: containers', 'template_name: docked')
      .replace(
        '      type: k:ContainerServer\n      properties:\n',
        '      type: k:ContainerServer\n      properties:\n        engine: docker\n',
      )
      .replace('../images/busybox-rootfs.tar', BUSYBOX_IMAGE),
  );
  await host.startAgent(AGENT);
});

afterAll(async () => {
  await host.cleanup();
  await dockerd?.close();
});

describe('a container on Docker and a process, in one service', () => {
  let web: WorkloadItem;

  it('deploys, and the host offers the docker kind', async () => {
    // Named by the file's metadata.template_name (no --name).
    const deployed = await host.cli(['service', 'deploy', source, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = await host.json<WorkloadItem[]>(['workload', 'list', 'docked']);
    web = items.find((w) => templateOf(w.name) === 'web')!;
    expect(web).toMatchObject({ kind: 'docker', state: 'running' });
    expect(web.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(items.find((w) => templateOf(w.name) === 'client')).toMatchObject({ kind: 'process' });
    const [self] = await host.json<{ kinds: string[] }[]>(['host', 'list']);
    expect(self?.kinds).toEqual(expect.arrayContaining(['process', 'docker']));
    expect(containersOf('docked')).toEqual([`khutulun-docked-${web.name}`]);
    const shown = await host.json<{ commandLine: string }>([
      'workload',
      'show',
      `docked/${web.name}`,
    ]);
    expect(shown.commandLine).toMatch(/^docker run /m);
  });

  it('serves the bare-process client through the reserved port', async () => {
    await waitUntil(
      async () =>
        (await host.cli(['workload', 'logs', 'docked/client'])).stdout.includes(
          'client: Hello from a container',
        ),
      30_000,
      'the client to get the page',
    );
  });

  it('runs commands inside, with their exit code', async () => {
    const ran = await host.cli([
      'workload',
      'exec',
      `docked/${web.name}`,
      '--',
      'sh',
      '-c',
      'cat /var/www/index.html; exit 5',
    ]);
    expect(ran).toMatchObject({ code: 5, stdout: 'Hello from a container\n' });
  });

  it('reconnects when dockerd restarts under the agent, and resyncs: a container that died meanwhile is restarted', async () => {
    const before = await host.json<WorkloadItem & { restarts: number }>([
      'workload',
      'show',
      `docked/${web.name}`,
    ]);
    // Killed while the daemon is down (live-restore keeps containers running without it).
    await dockerd.restart({
      between: async () => {
        process.kill(before.pid as number, 'SIGKILL');
      },
    });
    await waitUntil(
      async () => {
        const now = await host.json<WorkloadItem & { restarts: number }>([
          'workload',
          'show',
          `docked/${web.name}`,
        ]);
        return now.state === 'running' && now.restarts === before.restarts + 1;
      },
      60_000,
      'the agent to learn of the exit from the restarted daemon and restart the container',
    );
  });

  it('deletes everything: containers and the imported image', async () => {
    const image = (await host.json<WorkloadItem>(['workload', 'show', `docked/${web.name}`]))
      .image as string;
    expect((await host.cli(['service', 'delete', 'docked', '--wait'])).code).toBe(0);
    expect(containersOf('docked')).toEqual([]);
    expect(docker('images', '-q', '--no-trunc')).not.toContain(image);
  });
});

/** A busybox container of the test image; `extra` goes into its properties. */
function container(name: string, extra = ''): string {
  return `    ${name}:
      type: k:Container
      properties:
        engine: docker
        command: [sleep, '100000']
        stop_grace_period: 1
        restart: always
${extra}${BUSYBOX_ARTIFACT}`;
}

/** The named volumes the daemon holds for a service (by the driver's label). */
function volumesOf(service: string): string[] {
  return docker('volume', 'ls', '-q', '--filter', `label=io.khutulun.service=${service}`)
    .split('\n')
    .filter(Boolean);
}

/** The port reservations the agent's ledger holds for a service. */
function reservationsOf(service: string): unknown[] {
  const path = join(host.stateDir, 'ports.json');
  if (!existsSync(path)) return []; // nothing was ever reserved
  const ledger = JSON.parse(readFileSync(path, 'utf8')) as
    | { reservations?: { service?: string }[] }
    | { service?: string }[];
  const entries = Array.isArray(ledger) ? ledger : (ledger.reservations ?? []);
  return entries.filter((r) => r.service === service);
}

describe('the agent killed with SIGKILL, on Docker', () => {
  it('mid-deploy: the next agent rolls the deploy back, leaving no container and no volume', async () => {
    const file = serviceFile(
      host.stateDir,
      'dinterrupted.yaml',
      `${container(
        'first',
        `        volumes:
          - { type: volume, source: scratch, target: /scratch }
`,
      )}${container(
        'slow',
        `        readiness:
          command: [test, -e, /never]
          timeout: 120
`,
      )}`,
    );
    const deploying = host.cli(['service', 'deploy', file, '--wait']);
    await waitUntil(
      () => containersOf('dinterrupted').length === 2,
      60_000,
      'both containers to be created',
    );
    expect(volumesOf('dinterrupted')).toHaveLength(1);
    await host.killAgent('SIGKILL');
    await deploying;
    await host.startAgent(AGENT);
    expect(await host.json<unknown[]>(['service', 'list'])).toEqual([]);
    expect(containersOf('dinterrupted')).toEqual([]);
    expect(volumesOf('dinterrupted')).toEqual([]);
    expect(reservationsOf('dinterrupted')).toEqual([]);
  });

  it('after a deploy: the next agent re-adopts the containers without duplicates, and supervises them', async () => {
    const file = serviceFile(
      host.stateDir,
      'dadopted.yaml',
      `${container('one')}${container('two')}`,
    );
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const before = await host.json<WorkloadItem[]>(['workload', 'list', 'dadopted']);
    expect(before).toHaveLength(2);
    await host.killAgent('SIGKILL');
    await host.startAgent(AGENT);
    const after = await host.json<(WorkloadItem & { restarts: number })[]>([
      'workload',
      'list',
      'dadopted',
    ]);
    for (const w of before) {
      expect(after.find((a) => a.name === w.name)).toMatchObject({
        state: 'running',
        kind: 'docker',
        containerId: w.containerId,
      });
    }
    expect(containersOf('dadopted').sort()).toEqual(
      before.map((w) => `khutulun-dadopted-${w.name}`).sort(),
    );
    // Supervised again: a container killed behind the new agent's back is restarted.
    const one = after.find((w) => templateOf(w.name) === 'one')!;
    docker('kill', `khutulun-dadopted-${one.name}`);
    await waitUntil(
      async () => {
        const now = await host.json<WorkloadItem & { restarts: number }>([
          'workload',
          'show',
          `dadopted/${one.name}`,
        ]);
        return now.state === 'running' && now.restarts === one.restarts + 1;
      },
      60_000,
      'the re-adopted container to be restarted',
    );
    expect(containersOf('dadopted')).toHaveLength(2);
    expect((await host.cli(['service', 'delete', 'dadopted', '--wait'])).code).toBe(0);
    expect(containersOf('dadopted')).toEqual([]);
  });
});

describe('bad input on Docker, each rolled back with nothing left behind', () => {
  const web = (extra: string) => `    web:
      type: k:ContainerServer
      properties:
        engine: docker
        command: [httpd, -f, -p, '8080']
        stop_grace_period: 1
${extra}      capabilities:
        port:
          properties:
            target: 8080
`;
  // A named volume beside the failing part: the rollback must remove it too.
  const scratch = `          - { type: volume, source: scratch, target: /scratch }
`;

  /** Deploys a service that must fail; returns the CLI's error output. */
  async function failing(name: string, nodes: string): Promise<string> {
    const file = serviceFile(host.stateDir, `${name}.yaml`, nodes);
    const result = await host.cli(['service', 'deploy', file, '--wait']);
    expect(result.code).toBe(1);
    expect(await host.json<unknown[]>(['service', 'list'])).toEqual([]);
    expect(containersOf(name)).toEqual([]);
    expect(volumesOf(name)).toEqual([]);
    expect(reservationsOf(name)).toEqual([]);
    expect(await host.api('GET', '/v1/workloads')).toEqual([]);
    return result.stderr;
  }

  it('an image the daemon does not have', async () => {
    const stderr = await failing(
      'dnoimage',
      web(`        image: localhost/khutulun/not-there:1
        volumes:
${scratch}`),
    );
    expect(stderr).toMatch(/web-1/);
    expect(stderr).toMatch(/localhost\/khutulun\/not-there:1/);
  });

  it('a bind mount of a path that does not exist', async () => {
    const stderr = await failing(
      'dbadmount',
      `${web(`        volumes:
${scratch}          - { type: bind, source: /nonexistent/khutulun/data, target: /data }
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
        'dporttaken',
        `    web:
      type: k:ContainerServer
      properties:
        engine: docker
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
});

describe('liveness on Docker', () => {
  // Listens on 8080 while /tmp/listen exists, then stops listening but keeps running (every
  // start listens again). Docker's proxy accepts on the published host port whatever the
  // container does, so only a check of the container's own address sees it.
  const sick = container(
    'web',
    `        liveness:
          port: port
          interval: 0.5
          timeout: 1
          failures: 2
`,
  )
    .replace('type: k:Container', 'type: k:ContainerServer')
    .replace(
      "command: [sleep, '100000']",
      "command: [sh, -c, 'echo > /tmp/listen; httpd -p 8080 -h /var/www; while test -e /tmp/listen; do sleep 0.2; done; busybox killall httpd; exec sleep 100000']",
    )
    .replace(
      '      artifacts:',
      `      capabilities:
        port:
          properties:
            target: 8080
      artifacts:`,
    );
  type Event = { type: string; id?: { name?: string }; data?: Record<string, unknown> };

  /** Stops the container's listener and waits for the liveness restart; returns the events. */
  async function stopListening(): Promise<Event[]> {
    const before = await host.json<WorkloadItem & { restarts: number }>([
      'workload',
      'show',
      'dsick/web',
    ]);
    const { lastSeq } = await host.api<{ lastSeq: number }>('GET', '/v1/health');
    const removed = await host.cli([
      'workload',
      'exec',
      'dsick/web',
      '--',
      'busybox',
      'rm',
      '/tmp/listen',
    ]);
    expect(removed.code, removed.stderr).toBe(0);
    let events: Event[] = [];
    await waitUntil(
      async () => {
        events = await host.api<Event[]>('GET', `/v1/events?service=dsick&since=${lastSeq}`);
        return events.some((e) => e.type === 'workload-restarted');
      },
      30_000,
      'the container that stopped listening to be restarted',
    );
    const after = await host.json<WorkloadItem & { restarts: number }>([
      'workload',
      'show',
      'dsick/web',
    ]);
    expect(after).toMatchObject({ state: 'running', restarts: before.restarts + 1 });
    return events;
  }

  it('restarts a running container whose TCP check starts failing', async () => {
    const file = serviceFile(host.stateDir, 'dsick.yaml', sick);
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const types = (await stopListening()).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['workload-unhealthy', 'workload-exited', 'workload-restarted']),
    );
    expect(types.indexOf('workload-unhealthy')).toBeLessThan(types.indexOf('workload-restarted'));
    // Checked again after the restart (at the container's address then).
    await stopListening();
  });

  it('keeps checking the container itself after the agent is killed and re-adopts it', async () => {
    await host.killAgent('SIGKILL');
    await host.startAgent(AGENT);
    await stopListening();
    expect((await host.cli(['service', 'delete', 'dsick', '--wait'])).code).toBe(0);
    expect(containersOf('dsick')).toEqual([]);
  });
});

describe('exec on a terminal, on Docker', () => {
  it('gives `workload exec -it` a TTY inside the container, and passes the exit code on', async () => {
    const file = serviceFile(host.stateDir, 'dterminal.yaml', container('box'));
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    await expectInteractiveShell(host.stateDir, 'dterminal/box');
    expect((await host.cli(['service', 'delete', 'dterminal', '--wait'])).code).toBe(0);
  });
});
