/**
 * The docker kind through the agent, end to end with a real (private) dockerd: the
 * containers example with `engine: docker`, mixed with a bare process in one service;
 * dockerd restarted under a running agent; delete leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The private test daemon of the docker driver's own tests (its own data root, socket,
// bridge; no iptables), from the built package.
import {
  startTestDockerd,
  type TestDockerd,
} from '../../packages/driver-docker/lib/test-dockerd.js';
import { ROOT, TestHost, templateOf, type WorkloadItem, waitUntil } from './harness.js';

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
      .replace('../images/busybox-rootfs.tar', join(ROOT, 'examples/images/busybox-rootfs.tar')),
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
