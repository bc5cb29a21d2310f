import { isDriverError, type WorkloadExit, type WorkloadSpec } from '@khutulun/driver';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from './memory-driver.js';
import { MemoryHost } from './memory-host.js';
import { memoryKind } from './memory-kind.js';

const key = (name: string) => ({ service: 'svc', name });
const spec = (name: string, properties: WorkloadSpec['properties'] = {}): WorkloadSpec => ({
  key: key(name),
  properties,
  ports: [],
});

function exits(driver: MemoryDriver): WorkloadExit[] {
  const seen: WorkloadExit[] = [];
  driver.on('exit', (exit) => seen.push(exit));
  return seen;
}

async function text(chunks: AsyncIterable<{ stream: string; data: Uint8Array }>) {
  let out = '';
  for await (const chunk of chunks) out += `${chunk.stream}:${Buffer.from(chunk.data)}`;
  return out;
}

describe('MemoryDriver test controls', () => {
  it('crash ends a run with an unrequested exit at once; restart runs it again', async () => {
    const driver = new MemoryDriver();
    const seen = exits(driver);
    const status = await driver.create(spec('web'));
    // Refs are the driver's own ids, not names: code that rebuilds them from names fails.
    expect(status.ref).toMatchObject({ kind: 'memory', key: key('web') });
    expect(status.ref.id).not.toContain('web');
    driver.crash(key('web'), 3);
    expect(seen).toEqual([expect.objectContaining({ exitCode: 3, requested: false })]);
    expect(await driver.read(status.ref)).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(() => driver.crash(key('web'))).toThrow('not running');
    expect((await driver.restart(status.ref)).state).toBe('running');
    driver.host.crash(status.ref, { signal: 'SIGKILL' });
    expect(seen[1]).toMatchObject({ signal: 'SIGKILL', requested: false });
    expect((await driver.read(status.ref))?.attributes).toMatchObject({ runs: 2 });
  });

  it('failNextCreate fails one create (default start-failed, or the given error), then not', async () => {
    const driver = new MemoryDriver({ kind: 'podman' });
    driver.failNextCreate(key('db'));
    const error = await driver.create(spec('db')).catch((e: unknown) => e);
    expect(isDriverError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'start-failed', driver: 'podman' });
    expect((await driver.create(spec('db'))).state).toBe('running');
    driver.host.failNext('stop', key('db'), new Error('stuck'));
    const [status] = await driver.list();
    await expect(driver.stop(status!.ref)).rejects.toThrow('stuck');
    expect(driver.host.operations.map((o) => o.op)).toEqual(['create', 'create', 'stop']);
  });

  it('exit_code ends each run on its own after create resolved; stop exits by SIGTERM, or SIGKILL after the grace', async () => {
    const driver = new MemoryDriver();
    const seen = exits(driver);
    const status = await driver.create(spec('job', { exit_code: 4 }));
    expect(status.state).toBe('running');
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([expect.objectContaining({ exitCode: 4, requested: false })]);
    const stubborn = await driver.create(spec('stubborn', { ignore_sigterm: true }));
    const started = Date.now();
    expect(await driver.stop(stubborn.ref, { graceMs: 30 })).toMatchObject({
      state: 'stopped',
      signal: 'SIGKILL',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    const polite = await driver.create(spec('polite', { stop_exit_code: 0 }));
    expect(await driver.stop(polite.ref)).toMatchObject({ state: 'stopped', exitCode: 0 });
    expect(seen.slice(1).map((e) => e.requested)).toEqual([true, true]);
  });

  it('write feeds logs and their followers, in order, until delete', async () => {
    const driver = new MemoryDriver();
    const status = await driver.create(spec('chatty', { stdout: 'hello\n' }));
    driver.host.write(key('chatty'), 'stderr', 'warn\n');
    expect(await text(driver.logs(status.ref))).toBe('stdout:hello\nstderr:warn\n');
    const following = text(driver.logs(status.ref, { follow: true, stream: 'stdout' }));
    driver.host.write(status.ref, 'stdout', 'more\n');
    driver.host.write(status.ref, 'stderr', 'ignored\n');
    await driver.delete(status.ref);
    expect(await following).toBe('stdout:hello\nstdout:more\n');
  });

  it('exec answers by handlers, then built-in commands', async () => {
    const driver = new MemoryDriver();
    const status = await driver.create(spec('shell'));
    const off = driver.host.onExec((request) =>
      request.command[0] === 'pg_isready' ? { stdout: 'accepting\n', code: 0 } : undefined,
    );
    const run = async (command: string[]) => {
      const session = await driver.exec(status.ref, { command });
      let out = '';
      session.stdout.on('data', (d: Buffer) => {
        out += d;
      });
      const ended = new Promise((resolve) => session.stdout.once('end', resolve));
      const { code } = await session.exit;
      await ended;
      return { out, code };
    };
    expect(await run(['pg_isready'])).toEqual({ out: 'accepting\n', code: 0 });
    off();
    expect(await run(['pg_isready'])).toMatchObject({ code: 127 });
    expect(await run(['echo', 'a', 'b'])).toEqual({ out: 'a b\n', code: 0 });
    expect(await run(['false'])).toMatchObject({ code: 1 });
  });

  it('a second driver on the same host adopts, without events for exits it did not watch', async () => {
    const host = new MemoryHost();
    const first = new MemoryDriver({ host });
    const kept = await first.create(spec('kept'));
    const lost = await first.create(spec('lost'));
    await first.close();
    host.crash(key('lost'), 9);
    const second = new MemoryDriver({ host });
    const seen = exits(second);
    expect(await second.read(kept.ref)).toBeUndefined();
    const adopted = await second.adopt();
    expect(adopted.map((s) => [s.ref.id, s.state])).toEqual([
      [kept.ref.id, 'running'],
      [lost.ref.id, 'exited'],
    ]);
    expect(seen).toEqual([]);
    second.crash(kept.ref);
    expect(seen).toHaveLength(1);
  });

  it('updates limits in place, and refuses what needs a replacement', async () => {
    const driver = new MemoryDriver();
    const before = { ...spec('tuned'), limits: { pids: 10 } };
    const status = await driver.create(before);
    const after = { ...before, limits: { pids: 20 } };
    expect(await driver.diff(before, after)).toMatchObject({
      diffs: ['limits.pids'],
      replaces: [],
    });
    expect((await driver.update(status.ref, after)).ref).toEqual(status.ref);
    await expect(
      driver.update(status.ref, { ...after, properties: { command: 'other' } }),
    ).rejects.toMatchObject({ code: 'invalid-spec' });
  });
});

describe('memoryKind', () => {
  it('maps any node as is, on configurable node types, and every driver it opens shares a host', async () => {
    const kind = memoryKind({ nodeTypes: ['node:io.khutulun.core/Process'] });
    const context = { stateDirectory: '/nowhere', host: 'here', log: () => {} };
    expect(kind.kind).toBe('memory');
    expect(kind.ownFileSystem).toBe(false);
    expect(await kind.probe(context)).toEqual({ available: true });
    const node = {
      key: key('web'),
      types: ['node:io.khutulun.core/Process'],
      properties: { command: 'web', arguments: ['--port', 8080] },
      artifacts: {},
      relations: [],
      baseDirectory: '/',
    };
    expect(kind.map(node)).toEqual({ properties: node.properties, problems: [] });
    expect(kind.withCommand({ command: 'web', arguments: ['x'] }, ['init'])).toEqual({
      command: ['init'],
      exit_code: 0,
    });
    const first = await kind.open(context);
    const status = await first.create(spec('web'));
    await first.close();
    const second = await kind.open(context);
    expect((await second.adopt()).map((s) => s.ref)).toEqual([status.ref]);
    expect(kind.drivers).toHaveLength(2);
    expect(await memoryKind({ unavailable: 'no engine' }).probe(context)).toEqual({
      available: false,
      reason: 'no engine',
    });
  });
});
