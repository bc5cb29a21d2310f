import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDriverError, type WorkloadExit, type WorkloadSpec } from '@khutulun/driver';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readStat } from './proc-table.js';
import { ProcessDriver } from './process-driver.js';

let state: string;
const drivers: ProcessDriver[] = [];

function driver(): ProcessDriver {
  const d = new ProcessDriver({ stateDirectory: state });
  drivers.push(d);
  return d;
}

function spec(
  name: string,
  properties: WorkloadSpec['properties'],
  ports: WorkloadSpec['ports'] = [],
): WorkloadSpec {
  return { key: { service: 'svc', name }, properties, ports };
}

function alive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** The next exit event of a workload. */
function nextExit(d: ProcessDriver, name: string): Promise<WorkloadExit> {
  return new Promise((resolve) => {
    const off = d.on('exit', (event) => {
      if (event.ref.key.name === name) {
        off();
        resolve(event);
      }
    });
  });
}

/** Resolves once `done()` holds; checks on a coarse interval (test-side only). */
async function eventually(done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeEach(() => {
  state = mkdtempSync(join(tmpdir(), 'khutulun-process-'));
});

afterEach(async () => {
  for (const d of drivers.splice(0)) {
    for (const status of await d.list()) await d.delete(status.ref, { graceMs: 200 });
    await d.close();
  }
  rmSync(state, { recursive: true, force: true });
});

describe('ProcessDriver.check', () => {
  it('returns problems as data and none for a valid spec', async () => {
    const d = driver();
    expect(await d.check(spec('ok', { command: 'sleep', arguments: ['1'] }))).toEqual([]);
    const problems = await d.check({
      key: { service: '../x', name: 'ok' },
      properties: {
        arguments: 'not-a-list',
        environment: { 'BAD-NAME': 'x', GOOD: { nested: true } },
        working_directory: 'relative',
        user: 'no-such-user-khutulun',
      },
      ports: [],
    });
    const paths = problems.map((p) => p.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'key.service',
        'command',
        'arguments',
        'environment.BAD-NAME',
        'environment.GOOD',
        'working_directory',
        'user',
      ]),
    );
    expect(await d.check(spec('nope', { command: 'khutulun-no-such-program' }))).toEqual([
      { path: ['command'], message: 'program not found: khutulun-no-such-program' },
    ]);
  });

  it('refuses to create an invalid spec with an invalid-spec DriverError', async () => {
    const error = await driver()
      .create(spec('bad', {}))
      .catch((e: unknown) => e);
    expect(isDriverError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'invalid-spec', driver: 'process' });
  });
});

describe('ProcessDriver lifecycle', () => {
  it('starts a detached process in its own session with logs, environment, directory and layout', async () => {
    const d = driver();
    const wd = mkdtempSync(join(tmpdir(), 'khutulun-wd-'));
    const s = spec(
      'web',
      {
        command: ['/bin/sh', '-c'],
        arguments: [
          'echo "out $GREETING $PORT_HTTP $(pwd)"; echo err >&2; exec sleep 300',
          'it is me',
        ],
        environment: { GREETING: "it's me" },
        working_directory: wd,
      },
      [{ name: 'http', port: 23456, protocol: 'tcp' }],
    );
    const status = await d.create(s);
    expect(status.state).toBe('running');
    const pid = status.pid!;
    expect(alive(pid)).toBe(true);
    // The PID is reported as soon as the shim forked; setsid follows within moments.
    await eventually(() => readStat(pid)?.session === pid);
    const stat = readStat(pid)!;
    expect(stat.pgrp).toBe(pid);
    expect(stat.session).not.toBe(readStat(process.pid)!.session);
    expect(status.attributes).toMatchObject({ pid, state: 'running', ports: { http: 23456 } });

    const dir = join(state, 'workloads', 'svc', 'web');
    expect(readFileSync(join(dir, 'pid'), 'utf8').trim()).toBe(String(pid));
    expect(readFileSync(join(dir, 'cmdline'), 'utf8')).toBe(
      `/bin/sh -c 'echo "out $GREETING $PORT_HTTP $(pwd)"; echo err >&2; exec sleep 300' 'it is me'\n`,
    );
    expect(readFileSync(join(dir, 'env'), 'utf8')).toContain(`GREETING='it'\\''s me'\n`);
    expect(statSync(join(dir, 'env')).mode & 0o777).toBe(0o600);
    await eventually(() => readFileSync(join(dir, 'logs', 'stderr.log'), 'utf8') === 'err\n');
    expect(readFileSync(join(dir, 'logs', 'stdout.log'), 'utf8')).toBe(`out it's me 23456 ${wd}\n`);

    const description = (await d.describe(status.ref))!;
    expect(description.commands[0]).toBe(`/bin/sh ${dir}/run`);
    expect(description.commands[1]).toContain(`setsid env --default-signal -- /bin/sh -c`);
    expect(description.files.map((f) => f.path)).toEqual(
      expect.arrayContaining([join(dir, 'run'), join(dir, 'pid'), join(dir, 'logs', 'stdout.log')]),
    );

    const again = await d.create(s).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'already-exists' });
    rmSync(wd, { recursive: true, force: true });
  });

  it('reports exits with their code or signal, promptly and without being asked', async () => {
    const d = driver();
    const exited = nextExit(d, 'short');
    const short = await d.create(
      spec('short', { command: '/bin/sh', arguments: ['-c', 'sleep 0.2; exit 3'] }),
    );
    const event = await exited;
    expect(event).toMatchObject({ ref: short.ref, exitCode: 3, requested: false, pid: short.pid });
    expect((await d.read(short.ref))?.state).toBe('exited');

    const long = await d.create(spec('long', { command: 'sleep', arguments: ['300'] }));
    const killed = nextExit(d, 'long');
    process.kill(long.pid!, 'SIGKILL');
    expect(await killed).toMatchObject({ signal: 'SIGKILL', requested: false });
    const status = await d.read(long.ref);
    expect(status).toMatchObject({
      state: 'exited',
      signal: 'SIGKILL',
      attributes: { signal: 'SIGKILL' },
    });

    const restarted = await d.restart(long.ref);
    expect(restarted.state).toBe('running');
    expect(restarted.pid).not.toBe(long.pid);
    expect(alive(restarted.pid!)).toBe(true);
  });

  it('stops with SIGTERM, and with SIGKILL to the whole group after the grace period', async () => {
    const d = driver();
    const polite = await d.create(spec('polite', { command: 'sleep', arguments: ['300'] }));
    const politeExit = nextExit(d, 'polite');
    const stopped = await d.stop(polite.ref, { graceMs: 20_000 });
    expect(stopped).toMatchObject({ state: 'stopped', signal: 'SIGTERM' });
    expect(await politeExit).toMatchObject({ requested: true, signal: 'SIGTERM' });

    // Ignores SIGTERM and has a child in its group that ignores it too.
    const stubborn = await d.create(
      spec('stubborn', {
        command: '/bin/sh',
        arguments: ['-c', `trap '' TERM; sleep 300 & echo $! > child; while :; do sleep 1; done`],
      }),
    );
    const childFile = join(state, 'workloads', 'svc', 'stubborn', 'child');
    await eventually(() => existsSync(childFile) && readFileSync(childFile, 'utf8').endsWith('\n'));
    const child = Number(readFileSync(childFile, 'utf8'));
    expect(alive(child)).toBe(true);
    const result = await d.stop(stubborn.ref, { graceMs: 300 });
    expect(result).toMatchObject({ state: 'stopped', signal: 'SIGKILL' });
    expect(alive(stubborn.pid!)).toBe(false);
    await eventually(() => !alive(child));
  });

  it('delete leaves nothing behind: no process, no files', async () => {
    const d = driver();
    const status = await d.create(spec('gone', { command: 'sleep', arguments: ['300'] }));
    expect(await d.delete(status.ref, { graceMs: 2_000 })).toBe(true);
    expect(alive(status.pid!)).toBe(false);
    expect(existsSync(join(state, 'workloads', 'svc'))).toBe(false);
    expect(await d.read(status.ref)).toBeUndefined();
    expect(await d.delete(status.ref)).toBe(false);
  });

  it('runs as another user when root', async () => {
    expect(process.getuid?.()).toBe(0);
    const d = driver();
    const exited = nextExit(d, 'who');
    await d.create(
      spec('who', {
        command: '/bin/sh',
        arguments: ['-c', 'id -u; id -g; echo $HOME $USER'],
        user: 'nobody',
      }),
    );
    expect(await exited).toMatchObject({ exitCode: 0 });
    const out = readFileSync(join(state, 'workloads', 'svc', 'who', 'logs', 'stdout.log'), 'utf8');
    expect(out).toBe('65534\n65534\n/nonexistent nobody\n');
  });
});

describe('ProcessDriver adoption after an agent restart', () => {
  it('a fresh driver re-attaches to running workloads and learns of their exits', async () => {
    const first = driver();
    const a = await first.create(spec('a', { command: 'sleep', arguments: ['300'] }));
    const b = await first.create(spec('b', { command: 'sleep', arguments: ['300'] }));
    await first.close();
    // While no driver watches, b dies: its exit is found on adoption, without an event.
    process.kill(b.pid!, 'SIGKILL');
    await eventually(() => existsSync(join(state, 'workloads', 'svc', 'b', 'exit')));

    const second = driver();
    const events: WorkloadExit[] = [];
    second.on('exit', (e) => events.push(e));
    const adopted = await second.adopt();
    expect(adopted.map((s) => [s.ref.id, s.state, s.pid])).toEqual(
      expect.arrayContaining([
        ['svc/a', 'running', a.pid],
        ['svc/b', 'exited', b.pid],
      ]),
    );
    expect((await second.adopt()).length).toBe(2);
    expect((await second.read(b.ref))?.signal).toBe('SIGKILL');

    const exited = nextExit(second, 'a');
    process.kill(a.pid!, 'SIGTERM');
    expect(await exited).toMatchObject({ signal: 'SIGTERM', requested: false, pid: a.pid });
    expect(events.map((e) => e.ref.id)).toEqual(['svc/a']);
  });

  it('survives an agent killed with SIGKILL: no orphans, no duplicates', async () => {
    const script = join(
      fileURLToPath(new URL('.', import.meta.url)),
      '..',
      'lib',
      'process-driver.js',
    );
    const agent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { ProcessDriver } from ${JSON.stringify(script)};
         const d = new ProcessDriver({ stateDirectory: process.argv[1] });
         const s = await d.create({ key: { service: 'svc', name: 'survivor' }, properties: { command: 'sleep', arguments: ['300'] }, ports: [] });
         console.log(s.pid);
         setInterval(() => {}, 1000);`,
        state,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const pid = await new Promise<number>((resolve) => {
      agent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    });
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    expect(alive(pid)).toBe(true);

    const d = driver();
    const adopted = await d.adopt();
    expect(adopted).toHaveLength(1);
    expect(adopted[0]).toMatchObject({ state: 'running', pid });
    const shims = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(join(state, 'workloads', 'svc', 'survivor', 'run')));
    expect(shims).toHaveLength(1);
    await expect(
      d.create(spec('survivor', { command: 'sleep', arguments: ['300'] })),
    ).rejects.toMatchObject({
      code: 'already-exists',
    });
    const stopped = await d.stop(adopted[0]!.ref, { graceMs: 5_000 });
    expect(stopped).toMatchObject({ state: 'stopped', signal: 'SIGTERM' });
    expect(alive(pid)).toBe(false);
  });

  it('a workload whose shim is gone is killed and reported lost on adoption', async () => {
    const first = driver();
    const status = await first.create(spec('orphan', { command: 'sleep', arguments: ['300'] }));
    await first.close();
    await killShim('orphan');
    const second = driver();
    const [adopted] = await second.adopt();
    expect(adopted).toMatchObject({ state: 'exited' });
    await eventually(() => !alive(status.pid!));
  });
});

/** SIGKILLs the shim (`run`) of the workload `svc/name`, leaving the workload itself running. */
async function killShim(name: string): Promise<void> {
  const run = join(state, 'workloads', 'svc', name, 'run');
  const shim = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .find((line) => line.trim().endsWith(run));
  const shimPid = Number(shim!.trim().split(' ')[0]);
  process.kill(shimPid, 'SIGKILL');
  await eventually(() => !alive(shimPid));
}

describe('ProcessDriver shims, started by its launcher process', () => {
  it('reports a run lost, and kills its group, when its shim is killed while watched', async () => {
    const d = driver();
    const status = await d.create(spec('watched', { command: 'sleep', arguments: ['300'] }));
    const exited = nextExit(d, 'watched');
    await killShim('watched');
    expect(await exited).toMatchObject({ ref: status.ref, requested: false, lost: true });
    expect((await d.read(status.ref))?.state).toBe('exited');
    await eventually(() => !alive(status.pid!));
  });

  it('keeps supervising when the launcher dies: runs report exits, a new launcher starts more', async () => {
    const d = driver();
    const first = await d.create(spec('first', { command: 'sleep', arguments: ['300'] }));
    const shim = readStat(first.pid!)!.ppid;
    const launcher = readStat(shim)!.ppid;
    expect(launcher).not.toBe(process.pid);
    process.kill(launcher, 'SIGKILL');
    await eventually(() => !alive(launcher));
    expect(alive(shim)).toBe(true);

    const second = await d.create(spec('second', { command: 'sleep', arguments: ['300'] }));
    expect(readStat(readStat(second.pid!)!.ppid)!.ppid).not.toBe(launcher);
    const exited = nextExit(d, 'first');
    process.kill(first.pid!, 'SIGKILL');
    expect(await exited).toMatchObject({ signal: 'SIGKILL', requested: false });
    const stopped = await d.stop(second.ref, { graceMs: 5_000 });
    expect(stopped).toMatchObject({ state: 'stopped', signal: 'SIGTERM' });
  });
});

describe('ProcessDriver when the shim of an adopted workload is killed', () => {
  it('stop still ends the workload and reports it lost', async () => {
    const first = driver();
    const status = await first.create(spec('headless', { command: 'sleep', arguments: ['300'] }));
    await first.close();
    const second = driver();
    await second.adopt();
    await killShim('headless');
    const exited = nextExit(second, 'headless');
    const stopped = await second.stop(status.ref, { graceMs: 5_000 });
    expect(stopped.state).toBe('stopped');
    expect(await exited).toMatchObject({ requested: true, lost: true });
    expect(alive(status.pid!)).toBe(false);
  });
});

describe('ProcessDriver adoption of interrupted creates', () => {
  it('removes a directory without a spec, and reports a never-started workload as lost', async () => {
    const first = driver();
    const status = await first.create(spec('half', { command: 'sleep', arguments: ['300'] }));
    const shim = readStat(status.pid!)!.ppid;
    await first.stop(status.ref, { graceMs: 2_000 });
    await first.close();
    // The shim ends just after it wrote the exit status; a live one would be adopted as running.
    await eventually(() => !alive(shim));
    const dir = join(state, 'workloads', 'svc', 'half');
    // As if the agent died after writing the files but before the shim ran.
    for (const file of ['pid', 'exit', 'stopped']) rmSync(join(dir, file), { force: true });
    const partial = join(state, 'workloads', 'svc', 'partial');
    mkdirSync(join(partial, 'logs'), { recursive: true });

    const second = driver();
    const adopted = await second.adopt();
    expect(adopted).toHaveLength(1);
    expect(adopted[0]).toMatchObject({ ref: { id: 'svc/half' }, state: 'exited' });
    expect(existsSync(partial)).toBe(false);
    const restarted = await second.restart(adopted[0]!.ref);
    expect(restarted.state).toBe('running');
    expect(alive(restarted.pid!)).toBe(true);
  });
});

/** Collects a workload's logs as text per stream (until the iteration ends). */
async function collect(
  chunks: AsyncIterable<{ stream: string; data: Uint8Array }>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = { stdout: '', stderr: '' };
  for await (const chunk of chunks) out[chunk.stream] += Buffer.from(chunk.data).toString();
  return out;
}

describe('ProcessDriver.logs', () => {
  it('reads existing output, the last lines, and follows appended output by inotify', async () => {
    const d = driver();
    const exited = nextExit(d, 'talker');
    const status = await d.create(
      spec('talker', {
        command: '/bin/sh',
        arguments: ['-c', 'printf "one\\ntwo\\nthree\\n"; echo oops >&2'],
      }),
    );
    await exited;
    expect(await collect(d.logs(status.ref))).toEqual({
      stdout: 'one\ntwo\nthree\n',
      stderr: 'oops\n',
    });
    expect(await collect(d.logs(status.ref, { stream: 'stdout', tail: 2 }))).toEqual({
      stdout: 'two\nthree\n',
      stderr: '',
    });
    expect(await collect(d.logs(status.ref, { stream: 'stderr', tail: 0 }))).toEqual({
      stdout: '',
      stderr: '',
    });

    // Following: a restart appends to the same files, and the follower sees it.
    const abort = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const chunk of d.logs(status.ref, { follow: true, signal: abort.signal })) {
        seen.push(`${chunk.stream}:${Buffer.from(chunk.data).toString()}`);
        // The first run's output, then the second run's: two of each line.
        const text = seen.join('');
        if (text.split('oops').length === 3 && text.split('three').length === 3) abort.abort();
      }
    })();
    await eventually(() => seen.length >= 2);
    await d.restart(status.ref);
    await following;
    const of = (stream: string) =>
      seen
        .filter((s) => s.startsWith(`${stream}:`))
        .map((s) => s.slice(stream.length + 1))
        .join('');
    expect(of('stdout')).toBe('one\ntwo\nthree\none\ntwo\nthree\n');
    expect(of('stderr')).toBe('oops\noops\n');
  });

  it('rejects an unknown workload with not-found, and ends a follow when the workload is deleted', async () => {
    const d = driver();
    const unknown = { kind: 'process', key: { service: 'svc', name: 'nobody' }, id: 'svc/nobody' };
    await expect(collect(d.logs(unknown))).rejects.toMatchObject({ code: 'not-found' });
    const status = await d.create(spec('brief', { command: 'sleep', arguments: ['300'] }));
    const following = collect(d.logs(status.ref, { follow: true }));
    await d.delete(status.ref, { graceMs: 200 });
    expect(await following).toEqual({ stdout: '', stderr: '' });
  });
});

/** Everything a stream gives until it ends. */
function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!stream) return resolve('');
    let out = '';
    stream.setEncoding('utf8');
    stream.on('data', (data: string) => {
      out += data;
    });
    stream.once('end', () => resolve(out));
    stream.once('error', reject);
  });
}

describe('ProcessDriver.exec', () => {
  it("runs a command in the workload's environment, working directory and user", async () => {
    const d = driver();
    const wd = mkdtempSync(join(tmpdir(), 'khutulun-wd-'));
    const status = await d.create(
      spec(
        'host',
        {
          command: 'sleep',
          arguments: ['300'],
          environment: { GREETING: 'hello', PORT: 8080 },
          working_directory: wd,
          user: 'nobody',
        },
        [{ name: 'http', port: 23457, protocol: 'tcp' }],
      ),
    );
    const session = await d.exec(status.ref, {
      command: ['/bin/sh', '-c', 'echo "$GREETING $PORT $PORT_HTTP $EXTRA $(pwd) $(id -u)"'],
      environment: { EXTRA: 'more' },
    });
    expect(session.stdin).toBeUndefined();
    const [out, err, exit] = await Promise.all([
      text(session.stdout),
      text(session.stderr),
      session.exit,
    ]);
    expect({ out, err, exit }).toEqual({
      out: `hello 8080 23457 more ${wd} 65534\n`,
      err: '',
      exit: { code: 0 },
    });
    rmSync(wd, { recursive: true, force: true });
  });

  it('refuses a TTY and a bad command with invalid-spec, a missing program with start-failed; kill ends it', async () => {
    const d = driver();
    const status = await d.create(spec('plain', { command: 'sleep', arguments: ['300'] }));
    await expect(d.exec(status.ref, { command: ['sh'], tty: true })).rejects.toMatchObject({
      code: 'invalid-spec',
      problems: [{ path: ['tty'] }],
    });
    await expect(d.exec(status.ref, { command: [] })).rejects.toMatchObject({
      code: 'invalid-spec',
    });
    await expect(
      d.exec(status.ref, { command: ['no-such-program-khutulun'] }),
    ).rejects.toMatchObject({ code: 'start-failed' });
    const session = await d.exec(status.ref, { command: ['sleep', '300'] });
    session.kill();
    expect(await session.exit).toEqual({ code: 128 + 9 });
  });
});
