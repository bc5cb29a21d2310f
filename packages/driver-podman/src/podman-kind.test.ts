import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverContext, WorkloadNode } from '@khutulun/driver';
import { CONTAINER_TYPE, POD_TYPE } from '@khutulun/driver-container';
import { busyboxRootfs } from '@khutulun/driver-container/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createPodmanKind, ownSocketPath, podmanKind } from './podman-kind.js';
import { pingSocket } from './podman-service.js';
import { removeStore, startPodmanFixture } from './testing/podman-fixture.js';

const node = (types: string[], properties: WorkloadNode['properties'] = {}): WorkloadNode => ({
  key: { service: 's', name: 'n' },
  types,
  properties,
  artifacts: {},
  relations: [],
  baseDirectory: '/',
});

function context(stateDirectory: string): DriverContext {
  return { stateDirectory, host: 'kind-test', log: () => {} };
}

/** Waits until a process (not our child) is gone: a test's bounded wait. */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} is still there`);
}

describe('podmanKind', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('runs Containers whose engine is podman or absent, and every Pod', () => {
    expect(podmanKind.kind).toBe('podman');
    expect(podmanKind.nodeTypes).toEqual([CONTAINER_TYPE, POD_TYPE]);
    expect(podmanKind.ownFileSystem).toBe(true);
    expect(podmanKind.claims?.(node([CONTAINER_TYPE]))).toBe(true);
    expect(podmanKind.claims?.(node([CONTAINER_TYPE], { engine: 'podman' }))).toBe(true);
    expect(podmanKind.claims?.(node([CONTAINER_TYPE], { engine: 'docker' }))).toBe(false);
    expect(podmanKind.claims?.(node([POD_TYPE]))).toBe(true);
    expect(
      podmanKind.withCommand({ type: 'container', command: ['x'] }, ['initdb', '-D', '/d']),
    ).toEqual({ type: 'container', entrypoint: ['initdb'], command: ['-D', '/d'] });
  });

  it('probes: podman not installed is a reason, not an exception', async () => {
    const state = mkdtempSync(join(tmpdir(), 'khutulun-kind-'));
    cleanups.push(async () => rmSync(state, { recursive: true, force: true }));
    const kind = createPodmanKind({
      podman: '/nonexistent/podman',
      socketPath: join(state, 'none.sock'),
    });
    expect(await kind.probe(context(state))).toEqual({
      available: false,
      reason: 'podman is not installed (no /nonexistent/podman on PATH)',
    });
    const noStart = createPodmanKind({ socketPath: join(state, 'none.sock'), startService: false });
    expect(await noStart.probe(context(state))).toMatchObject({ available: false });
  });

  it('opens on a socket that answers', async () => {
    const podman = await startPodmanFixture();
    cleanups.push(() => podman.dispose());
    const state = mkdtempSync(join(tmpdir(), 'khutulun-kind-'));
    cleanups.push(async () => rmSync(state, { recursive: true, force: true }));
    const kind = createPodmanKind({ socketPath: podman.socketPath });
    expect(await kind.probe(context(state))).toEqual({ available: true });
    const driver = await kind.open(context(state));
    cleanups.push(() => driver.close());
    expect(driver.kind).toBe('podman');
    expect(await driver.list()).toEqual([]);
  });

  it('starts podman system service when no socket answers, starts it again if it dies, and keeps it for the next agent to re-adopt', async () => {
    const state = mkdtempSync('/tmp/khutulun-kind-');
    cleanups.push(async () => rmSync(state, { recursive: true, force: true }));
    const serviceStore = {
      root: join(state, 'store', 'root'),
      runRoot: join(state, 'store', 'run'),
      tmpDir: join(state, 'store', 'tmp'),
    };
    const kind = createPodmanKind({ socketPath: join(state, 'none.sock'), serviceStore });
    expect(await kind.probe(context(state))).toEqual({ available: true });
    const driver = await kind.open(context(state));
    const pidFile = join(state, 'podman', 'service.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    cleanups.push(async () => {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      process.kill(pid, 'SIGTERM');
      await gone(pid);
      await removeStore(join(state, 'store'), serviceStore.root);
    });
    expect(await pingSocket(ownSocketPath(context(state)))).toBe(true);
    // Supervised while open: killed, it is started again, and the driver carries on.
    const exited = new Promise((resolve) => driver.on('exit', resolve));
    const status = await driver.create({
      key: { service: 'kind', name: 'web' },
      properties: {
        type: 'container',
        environment: {},
        image_archive: { file: await busyboxRootfs(), format: 'rootfs' },
        command: ['sh', '-c', 'trap "exit 0" TERM; sleep 300 & wait'],
      },
      ports: [],
    });
    process.kill(pid, 'SIGKILL');
    await gone(pid);
    let restarted = pid;
    for (let i = 0; i < 200 && restarted === pid; i++) {
      await new Promise((r) => setTimeout(r, 50));
      restarted = Number(readFileSync(pidFile, 'utf8'));
    }
    expect(restarted).not.toBe(pid);
    await driver.stop(status.ref, { graceMs: 1_000 });
    expect(await exited).toMatchObject({ ref: status.ref, requested: true });
    await driver.delete(status.ref);
    await driver.close();
    const pidAfterClose = Number(readFileSync(pidFile, 'utf8'));
    // Kept alive after close; the next agent's open re-adopts it instead of starting another.
    expect(await pingSocket(ownSocketPath(context(state)))).toBe(true);
    const again = await kind.open(context(state));
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pidAfterClose);
    await again.close();
  });
});
