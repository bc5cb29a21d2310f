/**
 * The container conformance suite: what every OCI engine's workload driver (podman, docker)
 * does, on top of the workload-driver suite, against a real engine. Written once, run by each
 * engine's driver tests (imported from `@khutulun/driver-container/conformance`).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  isDriverError,
  quote,
  type WorkloadDriver,
  type WorkloadExit,
  type WorkloadKey,
  type WorkloadRef,
  type WorkloadSpec,
} from '@khutulun/driver';
import { describeWorkloadDriverConformance } from '@khutulun/driver/conformance';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerProperties } from './container-spec.js';
import { archiveReference, fileDigest } from './image-archive.js';
import { containerName, LABELS } from './names.js';
import type { ContainerEngine } from './run-command.js';
import { busyboxRootfs, busyboxRootfsVariant } from './testing/images.js';
import { freePort, waitForTcp } from './testing/tcp.js';

/**
 * What the suite needs to know about one engine's driver. Keep this interface stable: both
 * engines' tests implement it.
 */
export interface ContainerDriverConformance {
  /**
   * A fresh driver instance on a state directory, talking to the test's engine (a second
   * instance on the same directory simulates an agent restart). Its host name must be the
   * same for every instance of one test file.
   */
  open(stateDirectory: string): WorkloadDriver;
  /**
   * Runs the engine's own CLI against the test's engine (`args` follow the program and its
   * connection flags, e.g. `['ps', '-a']`); resolves with stdout, rejects on a non-zero exit.
   */
  cli(args: string[]): Promise<string>;
  /** `true` when the engine has pods; otherwise why not (the pod cases are skipped, saying so). */
  pods: true | string;
  /**
   * Kills the engine's daemon (SIGKILL, as in a crash: the containers keep running) and
   * resolves once it is gone.
   */
  stopEngine(): Promise<void>;
  /** Starts the daemon again on the same socket and state; resolves once it answers. */
  startEngine(): Promise<void>;
}

/** A shell command that runs until stopped and exits 0 on SIGTERM (as PID 1 it needs a trap). */
const RUNNING = 'trap "exit 0" TERM; sleep 300 & wait';

/** Sends one HTTP/1.0 GET to 127.0.0.1:port and resolves with the whole response. */
function httpGet(port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      text += d;
    });
    socket.once('error', reject);
    socket.once('end', () => resolve(text));
    socket.write(`GET ${path} HTTP/1.0\r\n\r\n`);
  });
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

/** Reads a workload's logs (following) until `until` appears in them; resolves with them. */
async function logsUntil(
  driver: WorkloadDriver,
  ref: WorkloadRef,
  until: string,
  timeoutMs = 15_000,
): Promise<{ stdout: string; stderr: string }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const out = { stdout: '', stderr: '' };
  try {
    for await (const chunk of driver.logs(ref, { follow: true, signal: abort.signal })) {
      out[chunk.stream] += Buffer.from(chunk.data).toString('utf8');
      if (out.stdout.includes(until) || out.stderr.includes(until)) break;
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  if (!out.stdout.includes(until) && !out.stderr.includes(until))
    throw new Error(`the logs never showed ${JSON.stringify(until)}: ${JSON.stringify(out)}`);
  return out;
}

function collect(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (d: Buffer | string) => {
      text += d.toString();
    });
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}

/** Runs a command in a workload and collects everything. */
async function execAll(
  driver: WorkloadDriver,
  ref: WorkloadRef,
  command: string[],
  options: { stdin?: string; tty?: boolean } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  if (!driver.exec) throw new Error('the driver has no exec');
  const session = await driver.exec(ref, {
    command,
    stdin: options.stdin !== undefined,
    ...(options.tty ? { tty: true } : {}),
  });
  const stdout = collect(session.stdout);
  const stderr = collect(session.stderr);
  if (options.stdin !== undefined && session.stdin) {
    session.stdin.write(options.stdin);
    session.stdin.end();
  }
  const [out, err, exit] = await Promise.all([stdout, stderr, session.exit]);
  return { stdout: out, stderr: err, code: exit.code };
}

/**
 * Registers the workload-driver suite and the container suite (vitest) for one engine's
 * driver. Images come from a busybox-static root file system built from files (see
 * `testing/images.ts`); nothing is pulled.
 */
export function describeContainerDriverConformance(
  engine: ContainerEngine,
  subject: ContainerDriverConformance,
): void {
  let rootfs = '';
  beforeAll(async () => {
    rootfs = await busyboxRootfs();
  });
  const image = () => ({ file: rootfs, format: 'rootfs' as const });
  const containerSpec = (
    key: WorkloadKey,
    properties: Partial<ContainerProperties>,
    rest: Partial<WorkloadSpec> = {},
  ): WorkloadSpec => ({
    key,
    properties: {
      type: 'container',
      environment: {},
      image_archive: image(),
      ...properties,
    } as unknown as WorkloadSpec['properties'],
    ports: [],
    ...rest,
  });

  describeWorkloadDriverConformance(engine, {
    open: (state) => subject.open(state),
    running: (key) => containerSpec(key, { command: ['sh', '-c', RUNNING] }),
    exiting: (key, code) =>
      containerSpec(key, { command: ['sh', '-c', `sleep 0.2; exit ${code}`] }),
    invalid: (key) =>
      containerSpec(key, { command: 'not a list' as unknown as string[], image: '' }),
    talking: (key, lines) =>
      containerSpec(key, {
        command: [
          'sh',
          '-c',
          [
            ...lines.stdout.map((l) => `echo ${quote(l)}`),
            ...lines.stderr.map((l) => `echo ${quote(l)} >&2`),
          ].join('; '),
        ],
      }),
  });

  describe(`container conformance: ${engine}`, () => {
    const service = `cc-${engine}`;
    let state: string;
    let opened: WorkloadDriver[];
    let scratch: string;
    const open = () => {
      const driver = subject.open(state);
      opened.push(driver);
      return driver;
    };
    const key = (name: string): WorkloadKey => ({ service, name });
    const running = (name: string, props: Partial<ContainerProperties> = {}, rest = {}) =>
      containerSpec(key(name), { command: ['sh', '-c', RUNNING], ...props }, rest);
    const names = async (filter: string[]) =>
      (await subject.cli(['ps', '-a', ...filter, '--format', '{{.Names}}']))
        .split('\n')
        .filter(Boolean);

    beforeEach(() => {
      state = mkdtempSync(join(tmpdir(), `khutulun-container-conformance-${engine}-`));
      scratch = mkdtempSync(join(tmpdir(), `khutulun-container-scratch-${engine}-`));
      opened = [];
    });

    afterEach(async () => {
      const driver = opened.at(-1) ?? open();
      // Twice: a pod is deleted once its members are gone.
      for (let pass = 0; pass < 2; pass++)
        for (const status of await driver.adopt())
          await driver.delete(status.ref, { graceMs: 1_000 }).catch(() => false);
      for (const d of opened) await d.close();
      rmSync(state, { recursive: true, force: true });
      rmSync(scratch, { recursive: true, force: true });
    });

    it('publishes ports on the host (reachable via 127.0.0.1, also when published on every address), with labels the engine CLI filters by', async () => {
      const driver = open();
      const port = await freePort();
      const anyAddress = await freePort();
      const status = await driver.create(
        running(
          'web',
          { command: ['sh', '-c', 'httpd -p 8081 -h /var/www; exec httpd -f -p 8080 -h /var/www'] },
          {
            ports: [
              { name: 'http', port, target: 8080, protocol: 'tcp', hostAddress: '127.0.0.1' },
              // No address: every address, 127.0.0.1 included.
              { name: 'other', port: anyAddress, target: 8081, protocol: 'tcp' },
            ],
            labels: { 'example.org/tier': 'front' },
          },
        ),
      );
      expect(status.state).toBe('running');
      // The container's own address, where health checks reach it at its inside port.
      expect(status.attributes.ip_address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      await waitForTcp(port);
      expect(await httpGet(port, '/index.html')).toContain('khutulun');
      await waitForTcp(anyAddress);
      expect(await httpGet(anyAddress, '/index.html')).toContain('khutulun');
      expect(await names(['--filter', `label=${LABELS.service}=${service}`])).toEqual([
        containerName(key('web')),
      ]);
      expect(await names(['--filter', 'label=example.org/tier=front'])).toContain(
        containerName(key('web')),
      );
      const description = await driver.describe(status.ref);
      const run = description?.commands.find((c) => c.startsWith(`${engine} run `)) ?? '';
      expect(run).toContain(`--name ${containerName(key('web'))}`);
      expect(run).toContain(`-p 127.0.0.1:${port}:8080/tcp`);
      expect(run).toContain(`--label ${LABELS.service}=${service}`);
      expect(run).toContain('--restart no');
      expect(run).toContain('httpd -f -p 8080');
      expect(run).toContain('-e PORT_HTTP=8080 -e PORT_OTHER=8081');
    });

    it("keeps the spec it records (secrets in the environment) readable by the agent's user only", async () => {
      const driver = open();
      const status = await driver.create(
        running('secret', { environment: { PASSWORD: 'hunter2' } }),
      );
      const record = (await driver.describe(status.ref))?.files.find((f) =>
        f.purpose.includes('spec'),
      )?.path;
      expect(record).toBeDefined();
      const file = record ?? '';
      expect(readFileSync(file, 'utf8')).toContain('hunter2');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
      expect(statSync(dirname(dirname(file))).mode & 0o777).toBe(0o700);
    });

    it('passes environment (and PORT_<NAME>), user and working directory', async () => {
      const driver = open();
      const port = await freePort();
      const status = await driver.create(
        running(
          'env',
          {
            command: [
              'sh',
              '-c',
              `echo "greeting=$GREETING port=$PORT_HTTP user=$(id -u) dir=$(pwd)"; ${RUNNING}`,
            ],
            environment: { GREETING: 'hello world' },
            user: '1000',
            working_directory: '/tmp',
          },
          {
            ports: [
              { name: 'http', port, target: 8080, protocol: 'tcp', hostAddress: '127.0.0.1' },
            ],
          },
        ),
      );
      const logs = await logsUntil(driver, status.ref, 'dir=');
      expect(logs.stdout).toContain('greeting=hello world port=8080 user=1000 dir=/tmp');
    });

    it('mounts a bind directory (also read-only), a named volume it labels and removes, and a tmpfs', async () => {
      const driver = open();
      writeFileSync(join(scratch, 'in.txt'), 'from the host\n');
      const volume = `khutulun-cc-${engine}-${process.pid}`;
      const status = await driver.create(
        running(
          'mounts',
          {},
          {
            mounts: [
              { type: 'bind', source: scratch, target: '/data' },
              { type: 'bind', source: scratch, target: '/ro', readOnly: true },
              { type: 'volume', source: volume, target: '/vol' },
              { type: 'tmpfs', target: '/scratch' },
            ],
          },
        ),
      );
      expect((await execAll(driver, status.ref, ['cat', '/data/in.txt'])).stdout).toBe(
        'from the host\n',
      );
      await execAll(driver, status.ref, ['sh', '-c', 'echo from inside > /data/out.txt']);
      expect(readFileSync(join(scratch, 'out.txt'), 'utf8')).toBe('from inside\n');
      expect(
        (await execAll(driver, status.ref, ['sh', '-c', 'echo x > /ro/denied'])).code,
      ).not.toBe(0);
      const vol = await execAll(driver, status.ref, [
        'sh',
        '-c',
        'echo kept > /vol/f && cat /vol/f',
      ]);
      expect(vol).toMatchObject({ stdout: 'kept\n', code: 0 });
      expect(
        (await execAll(driver, status.ref, ['grep', ' /scratch ', '/proc/mounts'])).stdout,
      ).toMatch(/^tmpfs /);
      const volumes = async () =>
        (
          await subject.cli([
            'volume',
            'ls',
            '--filter',
            `label=${LABELS.service}=${service}`,
            '--format',
            '{{.Name}}',
          ])
        )
          .split('\n')
          .filter(Boolean);
      expect(await volumes()).toEqual([volume]);
      expect(await driver.delete(status.ref, { graceMs: 1_000 })).toBe(true);
      expect(await volumes()).toEqual([]);
    });

    it('keeps a named volume a prestart step seeded, and removes a shared volume with its last user (in either order)', async () => {
      const driver = open();
      const volumes = async () =>
        (
          await subject.cli([
            'volume',
            'ls',
            '--filter',
            `label=${LABELS.service}=${service}`,
            '--format',
            '{{.Name}}',
          ])
        )
          .split('\n')
          .filter(Boolean);
      const volume = `khutulun-cc-seeded-${engine}-${process.pid}`;
      const mounts = [{ type: 'volume' as const, source: volume, target: '/vol' }];
      // As the agent runs a prestart step: a one-off workload with the same spec, labelled.
      const step = await driver.create(
        running(
          'db.prestart-0',
          { command: ['sh', '-c', 'echo seeded > /vol/f'] },
          { mounts, labels: { [LABELS.prestart]: '0' } },
        ),
      );
      for (let i = 0; i < 100 && (await driver.read(step.ref))?.state === 'running'; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await driver.read(step.ref)).toMatchObject({ exitCode: 0 });
      expect(await driver.delete(step.ref, { graceMs: 1_000 })).toBe(true);
      expect(await volumes()).toEqual([volume]);
      const db = await driver.create(running('db', {}, { mounts }));
      expect(await execAll(driver, db.ref, ['cat', '/vol/f'])).toMatchObject({
        stdout: 'seeded\n',
        code: 0,
      });
      expect(await driver.delete(db.ref, { graceMs: 1_000 })).toBe(true);
      expect(await volumes()).toEqual([]);

      for (const order of [
        ['first', 'second'],
        ['second', 'first'],
      ] as const) {
        const shared = `khutulun-cc-shared-${engine}-${process.pid}`;
        const both = [{ type: 'volume' as const, source: shared, target: '/vol' }];
        const made = {
          first: await driver.create(running('first', {}, { mounts: both })),
          second: await driver.create(running('second', {}, { mounts: both })),
        };
        expect(await driver.delete(made[order[0]].ref, { graceMs: 1_000 })).toBe(true);
        expect(await volumes()).toEqual([shared]);
        expect(await driver.delete(made[order[1]].ref, { graceMs: 1_000 })).toBe(true);
        expect(await volumes()).toEqual([]);
      }
    });

    it("refuses a name another service's workload holds (running or ended), never removing it", async () => {
      const driver = open();
      // Service `<service>-x` with workload `y`, and service `<service>` with workload `x-y`.
      const other: WorkloadKey = { service: `${service}-x`, name: 'y' };
      const mine = key('x-y');
      expect(containerName(other)).toBe(containerName(mine));
      const theirs = await driver.create(containerSpec(other, { command: ['sh', '-c', RUNNING] }));
      for (const state of ['running', 'stopped']) {
        if (state === 'stopped') await driver.stop(theirs.ref, { graceMs: 1_000 });
        const error = await driver.create(running('x-y')).catch((e: unknown) => e);
        expect(isDriverError(error)).toBe(true);
        expect(error).toMatchObject({ code: 'already-exists', workload: mine });
        expect((error as Error).message).toContain(`${other.service}/${other.name}`);
        expect(await driver.read(theirs.ref)).toMatchObject({ state });
      }
      expect(await names(['--filter', `label=${LABELS.service}=${other.service}`])).toEqual([
        containerName(other),
      ]);
    });

    it.skipIf(subject.pods !== true)(
      `runs pods: members share the pod's network namespace, the pod publishes the ports${subject.pods === true ? '' : ` (skipped: ${subject.pods})`}`,
      async () => {
        const driver = open();
        const port = await freePort();
        const pod = await driver.create({
          key: key('pod'),
          properties: { type: 'pod', environment: {} },
          ports: [{ name: 'http', port, target: 8080, protocol: 'tcp', hostAddress: '127.0.0.1' }],
        });
        expect(pod.state).toBe('running');
        await driver.create(
          running('server', {
            pod: 'pod',
            command: ['httpd', '-f', '-p', '8080', '-h', '/var/www'],
          }),
        );
        const client = await driver.create(running('client', { pod: 'pod' }));
        // Members share the pod's network namespace, and so its address.
        expect(client.attributes.ip_address).toBe(pod.attributes.ip_address);
        await waitForTcp(port);
        expect(await httpGet(port)).toContain('khutulun');
        const fetched = await execAll(driver, client.ref, [
          'wget',
          '-qO-',
          'http://127.0.0.1:8080/index.html',
        ]);
        expect(fetched).toMatchObject({ stdout: 'khutulun\n', code: 0 });
        const commands = (await driver.describe(pod.ref))?.commands.join('\n') ?? '';
        expect(commands).toContain(`pod create --name ${containerName(key('pod'))}`);
        expect(commands).toContain(`-p 127.0.0.1:${port}:8080/tcp`);
        expect((await driver.describe(client.ref))?.commands.join('\n')).toContain(
          `--pod ${containerName(key('pod'))}`,
        );
        expect((await driver.list()).map((s) => s.ref.key.name).sort()).toEqual([
          'client',
          'pod',
          'server',
        ]);
        for (const s of await driver.list())
          if (s.ref.key.name !== 'pod') await driver.delete(s.ref, { graceMs: 1_000 });
        expect(await driver.delete(pod.ref, { graceMs: 1_000 })).toBe(true);
        expect(await names(['--filter', `label=${LABELS.service}=${service}`])).toEqual([]);
      },
    );

    it.skipIf(subject.pods !== true)(
      `reports a member's crash after its pod was stopped and started again as not requested${subject.pods === true ? '' : ` (skipped: ${subject.pods})`}`,
      async () => {
        const driver = open();
        const pod = await driver.create({
          key: key('pod'),
          properties: { type: 'pod', environment: {} },
          ports: [],
        });
        const member = await driver.create(running('member', { pod: 'pod' }));
        const stopped = nextExit(driver, 'member');
        await driver.stop(pod.ref, { graceMs: 1_000 });
        expect(await stopped).toMatchObject({ requested: true });
        expect((await driver.restart(pod.ref)).state).toBe('running');
        for (let i = 0; i < 100 && (await driver.read(member.ref))?.state !== 'running'; i++)
          await new Promise((resolve) => setTimeout(resolve, 50));
        const crashed = nextExit(driver, 'member');
        await subject.cli(['kill', containerName(key('member'))]);
        expect(await crashed).toMatchObject({ ref: member.ref, requested: false });
        expect(await driver.read(member.ref)).toMatchObject({ state: 'exited' });
      },
    );

    it('is idle with a running container: no timer of its own, only the event stream', async () => {
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const before = timers();
      const driver = open();
      await driver.create(running('idle'));
      await new Promise((r) => setTimeout(r, 300));
      expect(timers()).toBeLessThanOrEqual(before);
    });

    it('imports an image archive once per digest, and removes the image with its last user, of whichever service', async () => {
      const file = await busyboxRootfsVariant(`once-${engine}`);
      const reference = archiveReference(await fileDigest(file));
      const driver = open();
      const archive = { file, format: 'rootfs' as const };
      // Two services share the image: deleting the first one's workload keeps it.
      const [a, b] = await Promise.all([
        driver.create(running('img-a', { image_archive: archive })),
        driver.create(
          containerSpec(
            { service: `${service}-other`, name: 'img-b' },
            { command: ['sh', '-c', RUNNING], image_archive: archive },
          ),
        ),
      ]);
      const images = async () =>
        (await subject.cli(['images', '--format', '{{.Repository}}:{{.Tag}}']))
          .split('\n')
          .filter((line) => line === reference);
      expect(await images()).toEqual([reference]);
      const described = (await driver.describe(a.ref))?.commands.join('\n') ?? '';
      expect(described).toContain(`${engine} import ${file} ${reference}`);
      expect(described).toContain(` ${reference}`);
      await driver.delete(a.ref, { graceMs: 1_000 });
      expect(await images()).toEqual([reference]);
      await driver.delete(b.ref, { graceMs: 1_000 });
      expect(await images()).toEqual([]);
    });

    it('loads a docker-archive (saved by the engine) and runs it', async () => {
      const driver = open();
      const first = await driver.create(running('saver'));
      const file = join(scratch, 'saved.tar');
      await subject.cli(['save', '-o', file, archiveReference(await fileDigest(rootfs))]);
      await driver.delete(first.ref, { graceMs: 1_000 });
      const status = await driver.create(
        running('loaded', { image_archive: { file, format: 'docker-archive' } }),
      );
      expect(status.state).toBe('running');
      expect((await execAll(driver, status.ref, ['echo', 'loaded'])).stdout).toBe('loaded\n');
    });

    it('refuses an image that is not in the store, naming the workload and the image, leaving nothing', async () => {
      const driver = open();
      const missing = 'localhost/khutulun-conformance/missing:never';
      const error = await driver
        .create(running('no-image', { image: missing, image_archive: undefined }))
        .catch((e: unknown) => e);
      expect(isDriverError(error)).toBe(true);
      expect((error as Error).message).toContain('no-image');
      expect((error as Error).message).toContain(missing);
      expect(await names(['--filter', `name=${containerName(key('no-image'))}`])).toEqual([]);
      expect(await driver.list()).toEqual([]);
    });

    it('fails a port conflict or a missing bind source with an error naming the workload, leaving nothing', async () => {
      const driver = open();
      const port = await freePort();
      const ports = [
        { name: 'http', port, target: 8080, protocol: 'tcp' as const, hostAddress: '127.0.0.1' },
      ];
      await driver.create(running('holder', {}, { ports }));
      const conflict = await driver
        .create(running('clash', {}, { ports }))
        .catch((e: unknown) => e);
      expect(isDriverError(conflict)).toBe(true);
      expect((conflict as Error).message).toContain('clash');
      const badMount = await driver
        .create(
          running(
            'bad-mount',
            {},
            {
              mounts: [{ type: 'bind', source: join(scratch, 'absent'), target: '/x' }],
            },
          ),
        )
        .catch((e: unknown) => e);
      expect(isDriverError(badMount)).toBe(true);
      expect((badMount as Error).message).toContain('bad-mount');
      const left = await names(['--filter', `label=${LABELS.service}=${service}`]);
      expect(left).toEqual([containerName(key('holder'))]);
      expect((await driver.list()).map((s) => s.ref.key.name)).toEqual(['holder']);
    });

    it('stops with the stop signal, and reports the exit as requested', async () => {
      const driver = open();
      const status = await driver.create(
        running('signal', {
          command: ['sh', '-c', 'trap "echo got-usr1; exit 3" USR1; sleep 300 & wait'],
          stop_signal: 'SIGUSR1',
        }),
      );
      const exited = nextExit(driver, 'signal');
      const stopped = await driver.stop(status.ref, { graceMs: 10_000 });
      expect(stopped).toMatchObject({ state: 'stopped', exitCode: 3 });
      expect(await exited).toMatchObject({ requested: true, exitCode: 3 });
      const logs = await logsUntil(driver, status.ref, 'got-usr1');
      expect(logs.stdout).toContain('got-usr1');
      expect((await driver.describe(status.ref))?.commands.join('\n')).toContain(
        '--stop-signal SIGUSR1',
      );
    });

    it('reads logs by stream, with tail, and follows new output', async () => {
      const driver = open();
      const status = await driver.create(
        running('logs', {
          command: [
            'sh',
            '-c',
            `echo out-1; echo err-1 >&2; echo out-2; sleep 0.5; echo late; ${RUNNING}`,
          ],
        }),
      );
      const followed = await logsUntil(driver, status.ref, 'late');
      expect(followed.stdout).toContain('out-1\nout-2\n');
      expect(followed.stderr).toContain('err-1\n');
      const read = async (options: Parameters<WorkloadDriver['logs']>[1]) => {
        let text = '';
        for await (const chunk of driver.logs(status.ref, options))
          text += `${chunk.stream}:${Buffer.from(chunk.data).toString()}`;
        return text;
      };
      expect(await read({ stream: 'stderr' })).toBe('stderr:err-1\n');
      expect(await read({ stream: 'stdout', tail: 1 })).toBe('stdout:late\n');
    });

    it('ends a follow of logs waiting for the next run when the driver closes', async () => {
      const driver = open();
      const exited = nextExit(driver, 'ended');
      const status = await driver.create(
        containerSpec(key('ended'), { command: ['sh', '-c', 'echo bye'] }),
      );
      await exited;
      let text = '';
      let shown: () => void = () => {};
      const bye = new Promise<void>((resolve) => {
        shown = resolve;
      });
      const followed = (async () => {
        for await (const chunk of driver.logs(status.ref, { follow: true })) {
          text += Buffer.from(chunk.data).toString('utf8');
          if (text.includes('bye')) shown();
        }
        return 'ended';
      })();
      await bye;
      // Long enough for the follow to be waiting for the next run.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await driver.close();
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still following'), 5_000);
      });
      expect(await Promise.race([followed, hung])).toBe('ended');
      clearTimeout(timer);
      // The cleanup after each case uses the newest driver: an open one.
      open();
    });

    it('execs commands: output, exit code, stdin, a TTY; refuses a stopped workload', async () => {
      const driver = open();
      const status = await driver.create(running('exec'));
      expect(
        await execAll(driver, status.ref, ['sh', '-c', 'echo hi; echo oops >&2; exit 5']),
      ).toEqual({ stdout: 'hi\n', stderr: 'oops\n', code: 5 });
      expect(await execAll(driver, status.ref, ['cat'], { stdin: 'ping\n' })).toEqual({
        stdout: 'ping\n',
        stderr: '',
        code: 0,
      });
      const tty = await execAll(driver, status.ref, ['tty'], { tty: true });
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(tty.code).toBe(0);
      await driver.stop(status.ref, { graceMs: 1_000 });
      await expect(execAll(driver, status.ref, ['true'])).rejects.toMatchObject({ code: 'exited' });
    });

    it('kills an exec: its command ends in the container', async () => {
      const driver = open();
      const status = await driver.create(running('exec-kill'));
      if (!driver.exec) throw new Error('the driver has no exec');
      const top = () => subject.cli(['top', containerName(key('exec-kill'))]);
      const session = await driver.exec(status.ref, { command: ['sleep', '4321'] });
      session.stdout.resume();
      session.stderr?.resume();
      for (let i = 0; i < 100 && !(await top()).includes('4321'); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await top()).toContain('sleep 4321');
      session.kill();
      await session.exit;
      expect(await top()).not.toContain('4321');
    });

    it('is adopted by a fresh instance, which describes it and stops it', async () => {
      const first = open();
      const port = await freePort();
      const status = await first.create(
        running(
          'adopted',
          {},
          {
            ports: [
              { name: 'http', port, target: 8080, protocol: 'tcp', hostAddress: '127.0.0.1' },
            ],
          },
        ),
      );
      await first.close();
      const second = open();
      const adopted = await second.adopt();
      expect(adopted.map((s) => s.ref)).toEqual([status.ref]);
      expect((await second.describe(status.ref))?.commands.join('\n')).toContain(
        `-p 127.0.0.1:${port}:8080/tcp`,
      );
      const exited = nextExit(second, 'adopted');
      await subject.cli(['kill', containerName(key('adopted'))]);
      expect(await exited).toMatchObject({ requested: false });
      expect((await second.restart(status.ref)).state).toBe('running');
    });

    it('reconnects after the engine restarts, reporting an exit it missed, and keeps reporting', async () => {
      const driver = open();
      const victim = await driver.create(running('victim'));
      const survivor = await driver.create(running('survivor'));
      expect(victim.pid).toBeGreaterThan(0);
      await subject.stopEngine();
      const missed = nextExit(driver, 'victim');
      process.kill(victim.pid!, 'SIGKILL');
      await subject.startEngine();
      expect(await missed).toMatchObject({ ref: victim.ref, requested: false });
      expect(await driver.read(victim.ref)).toMatchObject({ state: 'exited' });
      expect(await driver.read(survivor.ref)).toMatchObject({ state: 'running' });
      const later = nextExit(driver, 'survivor');
      await subject.cli(['kill', containerName(key('survivor'))]);
      expect(await later).toMatchObject({ ref: survivor.ref, requested: false });
      expect((await driver.restart(victim.ref)).state).toBe('running');
    }, 60_000);
  });
}
