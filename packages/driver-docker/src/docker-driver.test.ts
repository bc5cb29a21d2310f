/**
 * What only the Docker driver does, against a real private dockerd (the features both OCI
 * engines share are in the container conformance suite, run by `conformance.test.ts`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type {
  DriverContext,
  WorkloadDriver,
  WorkloadExit,
  WorkloadKey,
  WorkloadNode,
  WorkloadSpec,
} from '@khutulun/driver';
import {
  CONTAINER_TYPE,
  type ContainerProperties,
  containerName,
  planContainer,
  runCommand,
} from '@khutulun/driver-container';
import { busyboxRootfs } from '@khutulun/driver-container/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBody } from './docker-create-body.js';
import { DockerDriver } from './docker-driver.js';
import { createDockerKind, probeDocker } from './docker-kind.js';
import { startTestDockerd, type TestDockerd } from './test-dockerd.js';

const run = promisify(execFile);
const HOST = 'docker-test-host';
const RUNNING = 'trap "exit 0" TERM; sleep 300 & wait';

let dockerd: TestDockerd;
let rootfs: string;

beforeAll(async () => {
  [dockerd, rootfs] = await Promise.all([startTestDockerd({ liveRestore: true }), busyboxRootfs()]);
});

afterAll(async () => {
  await dockerd?.close();
});

const docker = async (socket: string, args: string[]) =>
  (await run('docker', ['-H', `unix://${socket}`, ...args])).stdout.trim();

const key = (name: string): WorkloadKey => ({ service: 'dk', name });

function spec(
  name: string,
  properties: Partial<ContainerProperties> = {},
  rest: Partial<WorkloadSpec> = {},
): WorkloadSpec {
  return {
    key: key(name),
    properties: {
      type: 'container',
      environment: {},
      image_archive: { file: rootfs, format: 'rootfs' },
      command: ['sh', '-c', RUNNING],
      ...properties,
    } as unknown as WorkloadSpec['properties'],
    ports: [],
    ...rest,
  };
}

function nextExit(driver: WorkloadDriver, name: string): Promise<WorkloadExit> {
  return new Promise((resolve) => {
    const off = driver.on('exit', (exit) => {
      if (exit.ref.key.name === name) {
        off();
        resolve(exit);
      }
    });
  });
}

/** Every exit the driver reports, in order. */
function exitsOf(driver: WorkloadDriver): WorkloadExit[] {
  const exits: WorkloadExit[] = [];
  driver.on('exit', (exit) => exits.push(exit));
  return exits;
}

/** An OCI image layout archive of a root file system tarball (one uncompressed layer). */
function ociArchive(directory: string, layer: string): string {
  const layout = join(directory, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (data: Buffer) => {
    const digest = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const layerData = readFileSync(layer);
  const layerBlob = blob(layerData);
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [layerBlob.digest] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerBlob }],
      }),
    ),
  );
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const file = join(directory, 'image.oci.tar');
  execFileSync('tar', ['-C', layout, '-cf', file, '.']);
  return file;
}

describe('DockerDriver', () => {
  let state: string;
  let scratch: string;
  let opened: DockerDriver[];
  const open = (socketPath = dockerd.socketPath) => {
    const driver = new DockerDriver({ stateDirectory: state, host: HOST, socketPath });
    opened.push(driver);
    return driver;
  };

  beforeEach(() => {
    state = mkdtempSync(join(tmpdir(), 'khutulun-docker-state-'));
    scratch = mkdtempSync(join(tmpdir(), 'khutulun-docker-scratch-'));
    opened = [];
  });

  afterEach(async () => {
    const driver = opened.find((d) => d.engine.socketPath === dockerd.socketPath) ?? open();
    for (const status of await driver.adopt().catch(() => []))
      await driver.delete(status.ref, { graceMs: 1_000 }).catch(() => false);
    for (const d of opened) await d.close();
    rmSync(state, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('loads an OCI archive (written out as a docker-archive for dockerd 20.10) and runs it', async () => {
    const file = ociArchive(scratch, rootfs);
    const driver = open();
    const status = await driver.create(
      spec('oci', { image_archive: { file, format: 'oci-archive' } }),
    );
    expect(status.state).toBe('running');
    const description = await driver.describe(status.ref);
    expect(description?.commands[0]).toBe(`docker load -i ${file}`);
    expect(
      await docker(dockerd.socketPath, ['images', '--format', '{{.Repository}}:{{.Tag}}']),
    ).toContain(`localhost/khutulun/archive:`);
    expect(await driver.delete(status.ref, { graceMs: 1_000 })).toBe(true);
    expect(await docker(dockerd.socketPath, ['images', '-q'])).not.toContain('\n');
  });

  it('applies limits, updates them in place (docker update), and says what else needs a replacement', async () => {
    const driver = open();
    const limited = spec('limited', {}, { limits: { cpus: 0.5, memoryBytes: 64 << 20, pids: 64 } });
    const status = await driver.create(limited);
    const limits = () =>
      docker(dockerd.socketPath, [
        'inspect',
        '-f',
        '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}',
        status.ref.id,
      ]);
    expect(await limits()).toBe(`500000000 ${64 << 20} 64 no`);
    const raised = { ...limited, limits: { cpus: 1, memoryBytes: 128 << 20, pids: 100 } };
    const diff = await driver.diff(limited, raised);
    expect(diff).toMatchObject({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect((await driver.update(status.ref, raised)).state).toBe('running');
    expect(await limits()).toBe(`1000000000 ${128 << 20} 100 no`);
    const run = (await driver.describe(status.ref))?.commands.at(-1) ?? '';
    expect(run).toContain(`--cpus 1 --memory ${128 << 20} --pids-limit 100`);
    const unlimited = { ...limited, limits: {} };
    expect((await driver.diff(raised, unlimited)).replaces).toEqual([
      'limits.cpus',
      'limits.memoryBytes',
      'limits.pids',
    ]);
    const otherImage = spec('limited', { image: 'other:1', image_archive: undefined });
    expect((await driver.diff(limited, otherImage)).replaces).toContain('properties.image');
    await expect(driver.update(status.ref, otherImage)).rejects.toMatchObject({
      code: 'invalid-spec',
    });
  });

  it('runs an entrypoint of several words as given; the command line leads with its first', async () => {
    const driver = open();
    const status = await driver.create(
      spec('entry', { entrypoint: ['sh', '-c'], command: [`echo entry-ok; ${RUNNING}`] }),
    );
    let out = '';
    const abort = new AbortController();
    for await (const chunk of driver.logs(status.ref, { follow: true, signal: abort.signal })) {
      out += Buffer.from(chunk.data).toString();
      if (out.includes('entry-ok')) abort.abort();
    }
    expect(out).toBe('entry-ok\n');
    const command = (await driver.describe(status.ref))?.commands.at(-1) ?? '';
    expect(command).toMatch(
      /--entrypoint sh localhost\/khutulun\/archive:[0-9a-f]{64} -c 'echo entry-ok; /,
    );
  });

  it('names the runtime (e.g. Kata) in the create body and the command line (command line only: Kata is not installed here), and fails clearly where it is missing', async () => {
    const kata = spec('kata', { runtime: 'kata-runtime' });
    const plan = planContainer(kata, HOST, 'localhost/khutulun/archive:x');
    expect(createBody(plan).HostConfig?.Runtime).toBe('kata-runtime');
    expect(runCommand('docker', plan).join(' ')).toContain('--runtime kata-runtime');
    const error = await open()
      .create(kata)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'start-failed', workload: key('kata') });
    expect((error as Error).message).toMatch(/dk\/kata.*kata-runtime/);
  });

  it('reports its attributes: the container, its image, the PID and the host ports by name', async () => {
    const driver = open();
    const port = 20_000 + (process.pid % 10_000);
    const status = await driver.create(
      spec(
        'attrs',
        {},
        {
          ports: [{ name: 'http', port, target: 8080, protocol: 'tcp', hostAddress: '127.0.0.1' }],
        },
      ),
    );
    expect(status.attributes).toMatchObject({
      state: 'running',
      container_id: status.ref.id,
      container_name: containerName(key('attrs')),
      image: expect.stringMatching(/^sha256:/),
      pid: status.pid,
      ports: { http: port },
      ip_address: expect.stringMatching(/^10\.2\d\d\.\d+\.\d+$/),
    });
    expect(status.pid).toBeGreaterThan(0);
  });

  it('describes commands that, pasted into a shell, make the same container', async () => {
    const driver = open();
    mkdirSync(join(scratch, 'conf'));
    const status = await driver.create(
      spec(
        'twin',
        {
          entrypoint: ['sh', '-c'],
          command: [`echo "it's me"; ${RUNNING}`],
          environment: { GREETING: 'hello world', QUOTE: "it's" },
          user: '1000',
          working_directory: '/tmp',
          hostname: 'twin-host',
          stop_signal: 'SIGUSR1',
        },
        {
          ports: [
            {
              name: 'http',
              port: 20_000 + (process.pid % 9_000) + 1,
              target: 8080,
              protocol: 'tcp',
              hostAddress: '127.0.0.1',
            },
          ],
          mounts: [
            { type: 'bind', source: join(scratch, 'conf'), target: '/conf', readOnly: true },
            { type: 'volume', source: `twin-data-${process.pid}`, target: '/data' },
            { type: 'tmpfs', target: '/scratch' },
          ],
          labels: { 'example.org/role': 'twin' },
          limits: { cpus: 0.25, memoryBytes: 32 << 20, pids: 32 },
        },
      ),
    );
    // The environment separately: the docker CLI passes its `-e` flags on in any order.
    const environment = async (id: string) =>
      (
        JSON.parse(
          await docker(dockerd.socketPath, ['inspect', '-f', '{{json .Config.Env}}', id]),
        ) as string[]
      ).sort();
    const fields =
      '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Labels}} ' +
      '{{.Config.User}} {{.Config.WorkingDir}} {{.Config.Hostname}} {{.Config.StopSignal}} ' +
      '{{json .HostConfig.PortBindings}} {{json .HostConfig.Mounts}} {{.HostConfig.NanoCpus}} ' +
      '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.Config.Image}}';
    const made = await docker(dockerd.socketPath, ['inspect', '-f', fields, status.ref.id]);
    const madeEnvironment = await environment(status.ref.id);
    const commands = (await driver.describe(status.ref))?.commands ?? [];
    expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      `docker import ${rootfs}`,
      `docker volume create`,
      `docker run -d`,
    ]);
    await driver.delete(status.ref, { graceMs: 1_000 });
    const env = { ...process.env, DOCKER_HOST: `unix://${dockerd.socketPath}` };
    for (const command of commands) await run('sh', ['-c', command], { env });
    const pasted = await docker(dockerd.socketPath, [
      'inspect',
      '-f',
      fields,
      containerName(key('twin')),
    ]);
    expect(pasted).toBe(made);
    expect(await environment(containerName(key('twin')))).toEqual(madeEnvironment);
    await docker(dockerd.socketPath, ['rm', '-f', containerName(key('twin'))]);
    await docker(dockerd.socketPath, ['volume', 'rm', `twin-data-${process.pid}`]);
  });

  it('reports the exit of a run a sysadmin restarted (docker restart), with its code', async () => {
    const driver = open();
    const status = await driver.create(spec('bounced'));
    const exited = nextExit(driver, 'bounced');
    await docker(dockerd.socketPath, ['restart', '-t', '5', status.ref.id]);
    const exit = await exited;
    expect(exit).toMatchObject({ exitCode: 0, requested: false });
    expect(exit.lost).toBeUndefined();
    expect(await driver.read(status.ref)).toMatchObject({ state: 'running' });
  });

  it('replaces an ended workload of the same key on create', async () => {
    const driver = open();
    const exited = nextExit(driver, 'again');
    const first = await driver.create(spec('again', { command: ['sh', '-c', 'exit 2'] }));
    expect(await exited).toMatchObject({ exitCode: 2, requested: false });
    const second = await driver.create(spec('again'));
    expect(second.ref.id).not.toBe(first.ref.id);
    expect(await driver.read(first.ref)).toBeUndefined();
    expect(
      await docker(dockerd.socketPath, [
        'ps',
        '-a',
        '--filter',
        `name=${containerName(key('again'))}`,
        '-q',
      ]),
    ).toBe(second.ref.id.slice(0, 12));
  });

  it('ends a follow of logs (waiting for a next run) when the driver closes', async () => {
    const driver = open();
    const exited = nextExit(driver, 'quiet');
    const status = await driver.create(spec('quiet', { command: ['sh', '-c', 'echo bye'] }));
    await exited;
    let text = '';
    const following = (async () => {
      for await (const chunk of driver.logs(status.ref, { follow: true }))
        text += Buffer.from(chunk.data).toString();
    })();
    while (!text.includes('bye')) await new Promise((r) => setTimeout(r, 20));
    await driver.close();
    await following;
    expect(text).toBe('bye\n');
  });

  it('ends an exec session on kill (its process is on this host), and takes a resize', async () => {
    const driver = open();
    const status = await driver.create(spec('execs'));
    const session = await driver.exec!(status.ref, {
      command: ['sh', '-c', 'echo started; sleep 300'],
      tty: true,
      columns: 100,
      rows: 30,
    });
    let out = '';
    session.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    while (!out.includes('started')) await new Promise((r) => setTimeout(r, 20));
    session.resize(120, 40);
    session.kill();
    expect((await session.exit).code).toBe(137);
  });

  it('is idle while connected: no timers of its own', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const driver = open();
    await driver.create(spec('idle'));
    await new Promise((r) => setTimeout(r, 200));
    expect(timers()).toBeLessThanOrEqual(before);
    expect(driver.connections).toBe(1);
  });

  it('survives a daemon stop and start (SIGTERM, live restore): reconnects, reports the exit it missed once, and keeps reporting', async () => {
    const driver = open();
    const exits = exitsOf(driver);
    const ender = await driver.create(spec('ender', { command: ['sh', '-c', 'sleep 2; exit 4'] }));
    const stayer = await driver.create(spec('stayer'));
    const missed = nextExit(driver, 'ender');
    await dockerd.restart({ between: () => new Promise((r) => setTimeout(r, 3_000)) });
    expect(await missed).toMatchObject({ ref: ender.ref, exitCode: 4, requested: false });
    expect(await driver.read(stayer.ref)).toMatchObject({ state: 'running' });
    expect(driver.connections).toBe(2);
    const later = nextExit(driver, 'stayer');
    await driver.stop(stayer.ref, { graceMs: 2_000 });
    expect(await later).toMatchObject({ requested: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(exits.map((e) => e.ref.key.name)).toEqual(['ender', 'stayer']);
  }, 60_000);
});

describe('DockerDriver without live restore', () => {
  let plain: TestDockerd;
  let state: string;
  beforeAll(async () => {
    plain = await startTestDockerd();
  });
  afterAll(async () => {
    await plain?.close();
  });
  beforeEach(() => {
    state = mkdtempSync(join(tmpdir(), 'khutulun-docker-plain-'));
  });
  afterEach(() => rmSync(state, { recursive: true, force: true }));

  it('reports each container the daemon stop ended, exactly once, and restarts them on the daemon back', async () => {
    const driver = new DockerDriver({
      stateDirectory: state,
      host: HOST,
      socketPath: plain.socketPath,
    });
    try {
      const exits = exitsOf(driver);
      const a = await driver.create(spec('a'));
      const b = await driver.create(spec('b'));
      await plain.restart();
      while (exits.length < 2 || driver.connections < 2)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      expect(exits.map((e) => e.ref.key.name).sort()).toEqual(['a', 'b']);
      expect(exits.every((e) => !e.requested)).toBe(true);
      expect((await driver.restart(a.ref)).state).toBe('running');
      expect((await driver.restart(b.ref)).state).toBe('running');
      for (const ref of [a.ref, b.ref]) await driver.delete(ref, { graceMs: 1_000 });
    } finally {
      await driver.close();
    }
  }, 60_000);
});

describe('the docker kind', () => {
  const context = (stateDirectory: string): DriverContext => ({
    stateDirectory,
    host: HOST,
    log: () => {},
  });
  const node = (
    properties: WorkloadNode['properties'],
    types = [CONTAINER_TYPE],
  ): WorkloadNode => ({
    key: key('n'),
    types,
    properties,
    artifacts: {},
    relations: [],
    baseDirectory: '/',
  });

  it('claims containers whose engine is docker, and maps them with the shared container mapping', () => {
    const kind = createDockerKind();
    expect(kind).toMatchObject({
      kind: 'docker',
      nodeTypes: [CONTAINER_TYPE],
      ownFileSystem: true,
    });
    expect(kind.claims?.(node({ engine: 'docker', image: 'x' }))).toBe(true);
    expect(kind.claims?.(node({ engine: 'podman', image: 'x' }))).toBe(false);
    expect(kind.claims?.(node({ image: 'x' }))).toBe(false);
    const mapping = kind.map(node({ engine: 'docker', image: 'busybox:1', command: ['sh'] }));
    expect(mapping).toMatchObject({
      properties: { type: 'container', image: 'busybox:1', command: ['sh'] },
      problems: [],
    });
    expect(
      kind.withCommand({ type: 'container', image: 'x', command: ['a'] }, ['initdb', '-D', '/d']),
    ).toMatchObject({ image: 'x', entrypoint: ['initdb'], command: ['-D', '/d'] });
  });

  it('probes: available on a live socket; not running without one; not installed without dockerd', async () => {
    expect(await probeDocker(dockerd.socketPath)).toEqual({ available: true });
    const absent = join(tmpdir(), 'khutulun-no-such-docker.sock');
    expect(await createDockerKind({ socketPath: absent }).probe(context(tmpdir()))).toEqual({
      available: false,
      reason: `dockerd is not running (no socket at ${absent})`,
    });
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect((await probeDocker(absent)).available).toBe(false);
      expect(await probeDocker(absent)).toMatchObject({
        reason: expect.stringContaining('Docker is not installed'),
      });
    } finally {
      process.env.PATH = path;
    }
    const dockerHost = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:2375';
    try {
      expect(await createDockerKind().probe(context(tmpdir()))).toMatchObject({
        available: false,
        reason: expect.stringContaining('is not a unix:// socket'),
      });
    } finally {
      if (dockerHost === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = dockerHost;
    }
    const notSocket = join(tmpdir(), `khutulun-not-a-socket-${process.pid}`);
    writeFileSync(notSocket, '');
    try {
      expect(await probeDocker(notSocket)).toMatchObject({
        available: false,
        reason: expect.stringContaining('dockerd does not answer'),
      });
    } finally {
      rmSync(notSocket, { force: true });
    }
  });

  it('fails a create clearly, naming the workload, when dockerd does not answer', async () => {
    const state = mkdtempSync(join(tmpdir(), 'khutulun-docker-down-'));
    const absent = join(state, 'docker.sock');
    const driver = new DockerDriver({ stateDirectory: state, host: HOST, socketPath: absent });
    try {
      const error = await driver.create(spec('down')).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'start-failed',
        driver: 'docker',
        workload: key('down'),
      });
      expect((error as Error).message).toContain(`dk/down`);
      expect((error as Error).message).toContain(`dockerd does not answer at ${absent}`);
    } finally {
      await driver.close();
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('opens a driver on the probed socket, under <state>/docker', async () => {
    const state = mkdtempSync(join(tmpdir(), 'khutulun-docker-kind-'));
    const driver = await createDockerKind({ socketPath: dockerd.socketPath }).open(context(state));
    try {
      expect(driver.kind).toBe('docker');
      expect((driver as DockerDriver).root).toBe(join(state, 'docker'));
      expect(await driver.adopt()).toEqual([]);
    } finally {
      await driver.close();
      rmSync(state, { recursive: true, force: true });
    }
  });
});
