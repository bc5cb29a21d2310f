import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkloadSpec } from '@khutulun/driver';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyLimits,
  type CgroupHost,
  cgroup2Mount,
  limitFiles,
  ownCgroup,
  probeCgroups,
} from './cgroups.js';
import { ProcessDriver } from './process-driver.js';

let state: string;
const drivers: ProcessDriver[] = [];
const cleanups: (() => void)[] = [];

beforeEach(() => {
  state = mkdtempSync(join(tmpdir(), 'khutulun-cgroups-'));
});

afterEach(async () => {
  for (const d of drivers.splice(0)) {
    for (const status of await d.list()) await d.delete(status.ref, { graceMs: 200 });
    await d.close();
  }
  for (const cleanup of cleanups.splice(0)) cleanup();
  rmSync(state, { recursive: true, force: true });
});

function driver(cgroups?: CgroupHost): ProcessDriver {
  const d = new ProcessDriver({ stateDirectory: state, ...(cgroups ? { cgroups } : {}) });
  drivers.push(d);
  return d;
}

const limits = { cpus: 0.5, memoryBytes: 64 * 1024 * 1024, pids: 32 };

function spec(name: string, withLimits = true): WorkloadSpec {
  return {
    key: { service: 'svc', name },
    properties: { command: 'sleep', arguments: ['300'] },
    ports: [],
    ...(withLimits ? { limits } : {}),
  };
}

/**
 * The real v2 hierarchy, with workload cgroups under a base of this test's own (so that it
 * never meets an agent's): what a process can do here whatever controllers the host has.
 */
async function testHost(): Promise<CgroupHost | undefined> {
  const probed = await probeCgroups();
  if (!probed.base) return undefined;
  const base = join(probed.base, `test-${process.pid}-${Date.now()}`);
  mkdirSync(base);
  for (const controller of probed.controllers)
    writeFileSync(join(base, 'cgroup.subtree_control'), `+${controller}`);
  cleanups.push(() => rmdirSync(base));
  return { ...probed, base };
}

describe('cgroup v2 probing', () => {
  it('reads the v2 mount and the own cgroup from /proc', () => {
    const mountinfo = [
      '35 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(cgroup2Mount(mountinfo)).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Mount('41 31 0:38 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw')).toBe(
      '/sys/fs/my cgroup',
    );
    expect(ownCgroup('4:memory:/x\n0::/system.slice/khutulun.service\n')).toBe(
      '/system.slice/khutulun.service',
    );
  });

  it('on this host: a base in the v2 hierarchy, and each controller enabled or a reason', async () => {
    const host = await probeCgroups();
    const mount = cgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
    if (!mount) {
      expect(host.base).toBeUndefined();
      return;
    }
    expect(host.base?.startsWith(mount)).toBe(true);
    for (const controller of ['cpu', 'memory', 'pids'] as const)
      expect(host.controllers.has(controller) || host.reasons.has(controller)).toBe(true);
  });

  it('without a v2 hierarchy: every limit is a reason', async () => {
    const host = await probeCgroups({ mountinfo: '', selfCgroup: '' });
    expect(host.base).toBeUndefined();
    expect(host.reasons.get('memory')).toBe('the host has no cgroup v2 hierarchy mounted');
  });
});

describe('limit files', () => {
  it('renders cpu.max, memory.max and pids.max, max for an absent limit', () => {
    expect(limitFiles(limits)).toEqual({
      'cpu.max': '50000 100000',
      'memory.max': String(64 * 1024 * 1024),
      'pids.max': '32',
    });
    expect(limitFiles({})).toEqual({
      'cpu.max': 'max 100000',
      'memory.max': 'max',
      'pids.max': 'max',
    });
  });

  // The controllers are bound to cgroup v1 on this host: a plain directory stands in for a
  // cgroup whose controllers are enabled, to check what is written where.
  it('writes the limits of enabled controllers and warns about the others', async () => {
    const fake = mkdtempSync(join(tmpdir(), 'khutulun-fake-cgroup-'));
    const host: CgroupHost = {
      base: fake,
      controllers: new Set(['memory', 'pids']),
      reasons: new Map([['cpu', 'no cpu here']]),
    };
    expect(await applyLimits(host, fake, limits)).toEqual([
      'limits.cpus is not applied: no cpu here',
    ]);
    expect(readFileSync(join(fake, 'memory.max'), 'utf8')).toBe(String(64 * 1024 * 1024));
    expect(readFileSync(join(fake, 'pids.max'), 'utf8')).toBe('32');
    expect(existsSync(join(fake, 'cpu.max'))).toBe(false);
    rmSync(fake, { recursive: true, force: true });
  });
});

describe('ProcessDriver limits', () => {
  it('puts a workload with limits (and its exec) in a cgroup of its own, warns as data, removes it on delete', async () => {
    const host = await testHost();
    if (!host) return; // No v2 hierarchy on this host: the warning case below covers it.
    const d = driver(host);
    // The workload says where it is, as its first act.
    const status = await d.create({
      ...spec('limited'),
      properties: {
        command: '/bin/sh',
        arguments: ['-c', 'cat /proc/self/cgroup; exec sleep 300'],
      },
    });
    const cgroup = join(host.base!, 'svc', 'limited');
    expect(status.attributes['cgroup']).toBe(cgroup);
    const mount = cgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'))!;
    const line = `0::${cgroup.slice(mount.length)}\n`;
    const abort = new AbortController();
    let logged = '';
    for await (const chunk of d.logs(status.ref, {
      stream: 'stdout',
      follow: true,
      signal: abort.signal,
    })) {
      logged += Buffer.from(chunk.data).toString();
      if (logged.includes(line)) abort.abort();
    }
    expect(logged).toContain(line);
    expect(readFileSync(join(cgroup, 'cgroup.procs'), 'utf8')).toContain(`${status.pid}\n`);
    const missing = (['cpu', 'memory', 'pids'] as const).filter((c) => !host.controllers.has(c));
    expect((status.attributes['warnings'] as string[] | undefined) ?? []).toHaveLength(
      missing.length,
    );
    const session = await d.exec(status.ref, { command: ['cat', '/proc/self/cgroup'] });
    let out = '';
    session.stdout.on('data', (data: Buffer) => {
      out += data.toString();
    });
    expect(await session.exit).toEqual({ code: 0 });
    expect(out).toContain(line);
    const description = await d.describe(status.ref);
    expect(description?.details['cgroup']).toBe(cgroup);
    expect(await d.delete(status.ref, { graceMs: 1_000 })).toBe(true);
    expect(existsSync(cgroup)).toBe(false);
    expect(existsSync(join(host.base!, 'svc'))).toBe(false);
  });

  it('without cgroup v2: runs, and says which limits are not applied, in its status', async () => {
    const d = driver(await probeCgroups({ mountinfo: '', selfCgroup: '' }));
    const status = await d.create(spec('unlimited'));
    expect(status.state).toBe('running');
    expect(status.attributes['warnings']).toEqual([
      'limits.cpus is not applied: the host has no cgroup v2 hierarchy mounted',
      'limits.memoryBytes is not applied: the host has no cgroup v2 hierarchy mounted',
      'limits.pids is not applied: the host has no cgroup v2 hierarchy mounted',
    ]);
    // Adopted by a fresh driver, the warnings are still there.
    const [adopted] = await driver().adopt();
    expect(adopted?.attributes['warnings']).toHaveLength(3);
  });

  it('changes limits in place when it has them, replaces when it had none, and refuses bad ones', async () => {
    const host = await testHost();
    const d = driver(host ?? (await probeCgroups({ mountinfo: '', selfCgroup: '' })));
    const limited = spec('tuned');
    const status = await d.create(limited);
    const retuned = { ...limited, limits: { pids: 16 } };
    const diff = await d.diff(limited, retuned);
    expect(diff).toMatchObject({ changes: true, replaces: [] });
    const updated = await d.update(status.ref, retuned);
    expect(updated.pid).toBe(status.pid);
    expect(((updated.attributes['warnings'] as string[] | undefined) ?? []).length).toBeLessThan(3);
    expect((await d.diff(spec('plain', false), spec('plain'))).replaces).toEqual([
      'limits.cpus',
      'limits.memoryBytes',
      'limits.pids',
    ]);
    await expect(
      d.update(status.ref, { ...retuned, properties: { command: 'sleep', arguments: ['1'] } }),
    ).rejects.toMatchObject({ code: 'invalid-spec' });
    expect(
      (await d.check({ ...limited, limits: { cpus: 0, memoryBytes: 1.5, pids: -1 } })).map((p) =>
        p.path.join('.'),
      ),
    ).toEqual(['limits.cpus', 'limits.memoryBytes', 'limits.pids']);
  });
});
