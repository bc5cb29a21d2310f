/**
 * Containers through the agent, end to end with a real Podman: the README's
 * `examples/containers` (a container and a bare process in one service) and `examples/pod`,
 * deployed with the CLI, inspected with podman's own tools, exec'd into, re-adopted after
 * the agent is killed, and deleted leaving nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  serviceFile,
  TestHost,
  templateOf,
  type WorkloadItem,
  waitUntil,
} from './harness.js';

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
  const image = join(ROOT, 'examples/images/busybox-rootfs.tar');
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
  const withImage = `      artifacts:
        image:
          type: k:RootfsArchive
          file: ${image}
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
`)}${withImage}`,
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
${withImage}`,
      );
      expect(stderr).toMatch(new RegExp(`${port}`));
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
${withImage}`,
    );
    expect(stderr).toMatch(/web-1 needs the docker kind, which this host does not offer: /);
    expect(stderr).toMatch(/nonexistent\/khutulun\/docker.sock/);
  });
});

describe('faults under a running agent', () => {
  const image = join(ROOT, 'examples/images/busybox-rootfs.tar');
  const node = (name: string, extra = '') => `    ${name}:
      type: k:Container
      properties:
        command: [sleep, '100000']
        stop_grace_period: 1
        restart: always
${extra}      artifacts:
        image:
          type: k:RootfsArchive
          file: ${image}
`;

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
