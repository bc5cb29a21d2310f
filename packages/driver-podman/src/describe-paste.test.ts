/**
 * `describe` is the exact equivalent command line: pasted into a shell (as `podman create`,
 * under another name), it makes a container configured as the driver's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxRootfs, freePort } from '@khutulun/driver-container/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PodmanDriver } from './podman-driver.js';
import { type PodmanFixture, startPodmanFixture } from './testing/podman-fixture.js';

const run = promisify(execFile);
let podman: PodmanFixture;
beforeAll(async () => {
  podman = await startPodmanFixture();
});
afterAll(async () => {
  await podman?.dispose();
});

/** What of a container's inspect the command line decides. */
// biome-ignore lint/suspicious/noExplicitAny: libpod's inspect JSON, read field by field
function configOf(inspect: Record<string, any>) {
  const c = inspect.Config;
  const h = inspect.HostConfig;
  return {
    image: inspect.ImageName,
    cmd: c.Cmd,
    entrypoint: c.Entrypoint,
    // HOSTNAME differs by name; HOME is filled in from the user at start (one is only created).
    env: [...c.Env].filter((e: string) => !/^(HOSTNAME|HOME)=/.test(e)).sort(),
    user: c.User,
    workingDir: c.WorkingDir,
    labels: c.Labels,
    stopSignal: c.StopSignal,
    ports: h.PortBindings,
    restart: h.RestartPolicy,
    memory: h.Memory,
    cpuQuota: h.CpuQuota,
    cpuPeriod: h.CpuPeriod,
    pids: h.PidsLimit,
    runtime: inspect.OCIRuntime,
    // biome-ignore lint/suspicious/noExplicitAny: libpod's inspect JSON
    mounts: (inspect.Mounts as any[])
      .map((m) => ({
        type: m.Type,
        source: m.Type === 'volume' ? m.Name : m.Source,
        destination: m.Destination,
        rw: m.RW,
      }))
      .sort((a, b) => a.destination.localeCompare(b.destination)),
    tmpfs: h.Tmpfs,
  };
}

it('describe pasted into a shell makes the same container (podman create under another name)', async () => {
  const state = mkdtempSync(join(tmpdir(), 'khutulun-podman-paste-'));
  const driver = new PodmanDriver({
    client: podman.socketPath,
    stateDirectory: state,
    host: 'paste',
  });
  try {
    const port = await freePort();
    const status = await driver.create({
      key: { service: 'paste', name: 'web' },
      properties: {
        type: 'container',
        environment: { GREETING: "hello 'world'", EMPTY: '' },
        image_archive: { file: await busyboxRootfs(), format: 'rootfs' },
        entrypoint: ['/bin/sh', '-c'],
        command: ['echo "$GREETING"; trap "exit 0" TERM; sleep 300 & wait'],
        user: '1000:1000',
        working_directory: '/tmp',
        stop_signal: 'SIGUSR1',
      },
      ports: [
        { name: 'http', port, target: 8080, protocol: 'tcp', hostAddress: '127.0.0.1' },
        { name: 'dns', port, target: 53, protocol: 'udp' },
      ],
      labels: { 'example.org/tier': 'front end' },
      mounts: [
        { type: 'bind', source: state, target: '/data', readOnly: true },
        { type: 'volume', source: `paste-${process.pid}`, target: '/vol' },
        { type: 'tmpfs', target: '/scratch' },
      ],
      limits: { cpus: 0.5, memoryBytes: 64 * 1024 * 1024, pids: 64 },
    });
    const description = await driver.describe(status.ref);
    const runLine = description?.commands.find((c) => c.startsWith('podman run '));
    expect(runLine).toBeDefined();
    const pasted = runLine!
      .replace(/^podman run -d /, `podman ${podman.flags.join(' ')} create `)
      .replace('--name khutulun-paste-web', '--name pasted');
    await run('sh', ['-c', pasted]);
    const inspect = async (name: string) =>
      JSON.parse(await podman.cli(['container', 'inspect', name]))[0];
    const ours = configOf(await inspect('khutulun-paste-web'));
    expect(ours).toMatchObject({
      user: '1000:1000',
      workingDir: '/tmp',
      stopSignal: 10,
      pids: 64,
      labels: { 'example.org/tier': 'front end' },
    });
    expect(ours.mounts).toHaveLength(2);
    expect(Object.keys(ours.tmpfs ?? {})).toEqual(['/scratch']);
    expect(configOf(await inspect('pasted'))).toEqual(ours);
    await podman.cli(['rm', '-f', 'pasted']);
    await driver.delete(status.ref, { graceMs: 1_000 });
  } finally {
    await driver.close();
    rmSync(state, { recursive: true, force: true });
  }
});

it('describe of a pod pasted into a shell makes the same pod (under another name)', async () => {
  const state = mkdtempSync(join(tmpdir(), 'khutulun-podman-paste-'));
  const driver = new PodmanDriver({
    client: podman.socketPath,
    stateDirectory: state,
    host: 'paste',
  });
  try {
    const port = await freePort();
    const status = await driver.create({
      key: { service: 'paste', name: 'pod' },
      properties: { type: 'pod', environment: {}, hostname: 'web' },
      ports: [{ name: 'http', port, target: 8080, protocol: 'tcp' }],
      labels: { 'example.org/tier': 'front end' },
    });
    const create = (await driver.describe(status.ref))?.commands.find((c) =>
      c.startsWith('podman pod create '),
    );
    expect(create).toBeDefined();
    const pasted = create!
      .replace(/^podman pod create /, `podman ${podman.flags.join(' ')} pod create `)
      .replace('--name khutulun-paste-pod', '--name pasted-pod');
    await run('sh', ['-c', pasted]);
    const inspect = async (name: string) => {
      const pod = JSON.parse(await podman.cli(['pod', 'inspect', name]));
      const p = Array.isArray(pod) ? pod[0] : pod;
      return { labels: p.Labels, hostname: p.Hostname, ports: p.InfraConfig?.PortBindings };
    };
    const ours = await inspect('khutulun-paste-pod');
    expect(ours).toMatchObject({
      labels: { 'example.org/tier': 'front end' },
      hostname: 'web',
      ports: { '8080/tcp': [{ HostPort: String(port) }] },
    });
    expect(await inspect('pasted-pod')).toEqual(ours);
    await podman.cli(['pod', 'rm', '-f', 'pasted-pod']);
    await driver.delete(status.ref, { graceMs: 1_000 });
  } finally {
    await driver.close();
    rmSync(state, { recursive: true, force: true });
  }
});
