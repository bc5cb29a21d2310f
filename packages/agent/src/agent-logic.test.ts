/**
 * The agent's own logic, on an agent in this process whose `Process` nodes run on the
 * in-memory reference driver: start order, rollback, the restart policy and its back-off,
 * exits during a deploy, restarts on request, recovery after an agent restart, readiness and
 * liveness by command. Nothing real runs, so each test takes milliseconds to a few hundred
 * (the two back-off tests wait out one real 1 s delay each); the tests script the workloads
 * through the `MemoryHost`.
 */
import { MemoryDriver, type MemoryHost, type MemoryOperation } from '@khutulun/driver-memory';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Json } from './testing/agent-process.js';
import {
  type MemoryAgent,
  type MemoryScripts,
  startMemoryAgent,
  templateOf,
  temporaryDirectory,
  writeServiceFile,
} from './testing/memory-agent.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A state directory, removed after the test. */
function stateDir(): string {
  const dir = temporaryDirectory('khutulun-logic-');
  cleanup.push(() => dir.remove());
  return dir.path;
}

/** An agent on the memory kind, stopped after the test. */
async function memoryAgent(
  dir: string,
  options: { host?: MemoryHost; scripts?: MemoryScripts } = {},
): Promise<MemoryAgent> {
  const agent = await startMemoryAgent({ stateDir: dir, ...options });
  cleanup.push(() => agent.stop());
  return agent;
}

/** Deploys a service of these node templates (waiting for the outcome). */
async function deploy(agent: MemoryAgent, name: string, nodes: string, wait = true) {
  const source = writeServiceFile(agent.stateDir, name, nodes);
  return agent.api('POST', '/v1/services', { source: { path: source }, name, wait });
}

/**
 * A `Process` node template whose `after` are its dependencies; `properties` is more YAML
 * at the level of its properties' entries.
 */
function processNode(name: string, options: { after?: string[]; properties?: string } = {}) {
  const after = options.after ?? [];
  return `    ${name}:
      type: k:Process
      properties:
        command: ${name}
${options.properties ?? ''}${
  after.length
    ? `      requirements:\n${after.map((a) => `        - dependency: ${a}\n`).join('')}`
    : ''
}`;
}

/** A `Server` node template (a reserved port), ready by a command the memory driver answers. */
function serverNode(name: string, options: { after?: string[] } = {}) {
  return processNode(name, {
    ...options,
    properties: '        readiness: { command: ["true"] }\n',
  }).replace('type: k:Process', 'type: k:Server');
}

/**
 * The operations of a service, in order, as `op workload` with the instance number dropped
 * (`create web`, `create web.prestart-0`).
 */
function operations(host: MemoryHost, service: string, ops?: MemoryOperation['op'][]): string[] {
  return host.operations
    .filter((o) => o.key.service === service && (!ops || ops.includes(o.op)))
    .map((o) => `${o.op} ${o.key.name.replace(/-\d+(?=$|\.)/, '')}`);
}

/** The key of a service's workload on the memory host (first instance of a template). */
function key(service: string, template: string) {
  return { service, name: `${template}-1` };
}

/** Resolves once `condition` holds (polled every few ms), or fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A promise and its resolver. */
function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Events of a type about a workload instance. */
function eventOf(type: string, workload: string) {
  return (e: Json) => e.type === type && e.id.name === workload;
}

describe('deploy order', () => {
  it('starts a chain in dependency order, each after the one before is ready', async () => {
    const agent = await memoryAgent(stateDir());
    const res = await deploy(
      agent,
      'chain',
      serverNode('a') + serverNode('b', { after: ['a'] }) + serverNode('c', { after: ['b'] }),
    );
    expect(res.status).toBe(201);
    // Each readiness check (an exec) passes before the next workload is created.
    expect(operations(agent.host, 'chain')).toEqual([
      'create a',
      'exec a',
      'create b',
      'exec b',
      'create c',
      'exec c',
    ]);
  });

  it('starts a diamond base first and top last, after both branches are ready', async () => {
    const agent = await memoryAgent(stateDir());
    const res = await deploy(
      agent,
      'diamond',
      serverNode('base') +
        serverNode('left', { after: ['base'] }) +
        serverNode('right', { after: ['base'] }) +
        serverNode('top', { after: ['left', 'right'] }),
    );
    expect(res.status).toBe(201);
    const ops = operations(agent.host, 'diamond');
    expect(ops.slice(0, 2)).toEqual(['create base', 'exec base']);
    expect(ops.slice(-2)).toEqual(['create top', 'exec top']);
    expect(ops.slice(2, 6).sort()).toEqual([
      'create left',
      'create right',
      'exec left',
      'exec right',
    ]);
    expect(ops.indexOf('exec left')).toBeGreaterThan(ops.indexOf('create left'));
    expect(ops.indexOf('exec right')).toBeGreaterThan(ops.indexOf('create right'));
  });

  it('starts independent branches in parallel: a slow one does not hold the other back', async () => {
    const agent = await memoryAgent(stateDir());
    const slowReached = deferred();
    const release = deferred<{ code: number }>();
    cleanup.push(() => release.resolve({ code: 0 }));
    agent.host.onExec((request) => {
      if (request.command[0] !== 'slow-ready') return undefined;
      slowReached.resolve();
      return release.promise;
    });
    const deploying = deploy(
      agent,
      'branches',
      processNode('slow', { properties: '        readiness: { command: [slow-ready] }\n' }) +
        processNode('slow-dependant', { after: ['slow'] }) +
        processNode('fast') +
        processNode('fast-dependant', { after: ['fast'] }),
    );
    await slowReached.promise;
    // While `slow` is not ready, the other branch runs to its end, and `slow`'s dependant waits.
    await until(
      () => agent.host.get(key('branches', 'fast-dependant'))?.state === 'running',
      'the fast branch',
    );
    expect(agent.host.get(key('branches', 'slow-dependant'))).toBeUndefined();
    release.resolve({ code: 0 });
    expect((await deploying).status).toBe(201);
    const ops = operations(agent.host, 'branches', ['create']);
    expect(ops.indexOf('create slow-dependant')).toBeGreaterThan(
      ops.indexOf('create fast-dependant'),
    );
  });
});

describe('rollback', () => {
  it('rolls back a failed create: what started is deleted in reverse order, nothing is left', async () => {
    const agent = await memoryAgent(stateDir());
    const events = await agent.events();
    agent.host.failNextCreate(key('chain', 'c'));
    const res = await deploy(
      agent,
      'chain',
      serverNode('a') + serverNode('b', { after: ['a'] }) + serverNode('c', { after: ['b'] }),
    );
    expect(res.status).toBe(500);
    // The error names the workload and the driver's cause.
    expect(res.body.error.code).toBe('deploy-failed');
    expect(res.body.error.message).toContain('scripted failure of create for chain/c-1');
    expect(res.body.error.details).toMatchObject({
      service: 'chain',
      workload: 'c-1',
      driver: 'process',
      driverCode: 'start-failed',
    });
    expect(operations(agent.host, 'chain', ['create', 'delete'])).toEqual([
      'create a',
      'create b',
      'create c',
      'delete b',
      'delete a',
    ]);
    expect(agent.host.all('process')).toEqual([]);
    expect(agent.reservations()).toEqual([]);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
    expect((await agent.api('GET', '/v1/services/chain')).status).toBe(404);
    const failed = await events.next((e) => e.type === 'service-deploy-failed', 5_000);
    expect(failed.data.message).toContain('chain/c-1');
  });

  it('rolls back a failed branch while another waits for readiness, aborting that wait', async () => {
    const agent = await memoryAgent(stateDir());
    const waiting = deferred();
    agent.host.onExec((request) => {
      if (request.command[0] !== 'never-ready') return undefined;
      waiting.resolve();
      return { code: 1 };
    });
    agent.host.failNextCreate(key('fork', 'broken'));
    // `broken` fails only once `waits` is waiting: it depends on `gate`, ready on request.
    const gate = deferred<{ code: number }>();
    cleanup.push(() => gate.resolve({ code: 0 }));
    agent.host.onExec((request) => (request.command[0] === 'gate' ? gate.promise : undefined));
    const deploying = deploy(
      agent,
      'fork',
      processNode('base') +
        processNode('waits', {
          after: ['base'],
          properties: '        readiness: { command: [never-ready], timeout: 60 }\n',
        }) +
        processNode('gate', {
          after: ['base'],
          properties: '        readiness: { command: [gate] }\n',
        }) +
        processNode('broken', { after: ['gate'] }) +
        processNode('top', { after: ['waits', 'broken'] }),
    );
    await waiting.promise;
    gate.resolve({ code: 0 });
    const res = await deploying;
    expect(res.status).toBe(500);
    expect(res.body.error.details.workload).toBe('broken-1');
    const ops = operations(agent.host, 'fork', ['create', 'delete']);
    expect(ops).not.toContain('create top');
    // Dependants first: `waits` and `gate` before `base`.
    expect(ops.slice(ops.indexOf('create broken') + 1).sort()).toEqual([
      'delete base',
      'delete gate',
      'delete waits',
    ]);
    expect(ops.at(-1)).toBe('delete base');
    expect(agent.host.all('process')).toEqual([]);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
  });
});

describe('restart policy', () => {
  it.each([
    { restart: 'always', clean: 'restarted', crashed: 'restarted' },
    { restart: 'on-failure', clean: 'exited', crashed: 'restarted' },
    { restart: 'never', clean: 'exited', crashed: 'failed' },
  ])('$restart: a clean exit is $clean, a crash $crashed', async ({ restart, clean, crashed }) => {
    const agent = await memoryAgent(stateDir());
    const policy = `        restart: ${restart}\n`;
    const res = await deploy(
      agent,
      'policy',
      processNode('clean', { properties: policy }) + processNode('crashed', { properties: policy }),
    );
    expect(res.status).toBe(201);
    const events = await agent.events();
    agent.host.crash(key('policy', 'clean'), 0);
    agent.host.crash(key('policy', 'crashed'), 1);
    for (const [name, expected] of [
      ['clean', clean],
      ['crashed', crashed],
    ] as const) {
      // With a restart, the exit and the restart are written together: once the exit is
      // seen, whatever the policy does with it has been done.
      const exited = await events.next(eventOf('workload-exited', `${name}-1`), 5_000);
      expect(exited.data.code).toBe(name === 'clean' ? 0 : 1);
      const workload = (await agent.api('GET', `/v1/workloads/policy/${name}`)).body;
      const onHost = agent.host.get(key('policy', name))!;
      if (expected === 'restarted') {
        expect(workload).toMatchObject({ state: 'running', restarts: 1 });
        expect(onHost).toMatchObject({ state: 'running', runs: 2 });
        expect(events.seen.some(eventOf('workload-restarted', `${name}-1`))).toBe(true);
      } else {
        expect(workload).toMatchObject({
          state: expected,
          restarts: 0,
          exitCode: exited.data.code,
        });
        expect(onHost).toMatchObject({ state: 'exited', runs: 1 });
        expect(events.seen.some(eventOf('workload-restarted', `${name}-1`))).toBe(false);
      }
    }
  });

  it('restarts at once the first time, then after a growing delay', async () => {
    const agent = await memoryAgent(stateDir());
    expect((await deploy(agent, 'backoff', processNode('app'))).status).toBe(201);
    const events = await agent.events();
    const app = key('backoff', 'app');

    agent.host.crash(app);
    await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
    expect(events.seen.some(eventOf('workload-restarting', 'app-1'))).toBe(false);
    expect(agent.host.get(app)!.runs).toBe(2);

    agent.host.crash(app);
    const second = await events.next(eventOf('workload-restarting', 'app-1'), 5_000);
    expect(second.data).toEqual({ delayMs: 1000, restarts: 2 });
    expect((await agent.api('GET', '/v1/workloads/backoff/app')).body.state).toBe('restarting');
    expect(agent.host.get(app)!.state).toBe('exited');
    // The one real wait of this file: the 1 s delay.
    await until(() => agent.host.get(app)!.runs === 3, 'the delayed restart');

    agent.host.crash(app);
    const third = await events.next(
      (e) => eventOf('workload-restarting', 'app-1')(e) && e.seq > second.seq,
      5_000,
    );
    expect(third.data).toEqual({ delayMs: 2000, restarts: 3 });
    // Deleting the service cancels the pending restart.
    expect((await agent.api('DELETE', '/v1/services/backoff?wait=true')).status).toBe(200);
    expect(agent.host.all('process')).toEqual([]);
  });

  it('resets the back-off after a run of 5 s or more (a clock moved forward)', async () => {
    const agent = await memoryAgent(stateDir());
    expect((await deploy(agent, 'stable', processNode('app'))).status).toBe(201);
    const events = await agent.events();
    const app = key('stable', 'app');
    agent.host.crash(app);
    const first = await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
    // The restarted run "lasts" 6 s: without the reset, the next restart would wait 1 s.
    const now = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => now() + 6_000);
    agent.host.crash(app);
    await events.next((e) => eventOf('workload-restarted', 'app-1')(e) && e.seq > first.seq, 5_000);
    expect(events.seen.some(eventOf('workload-restarting', 'app-1'))).toBe(false);
    expect(agent.host.get(app)!.runs).toBe(3);
  });

  it('applies the policy to an exit during the deploy, once the deploy succeeded', async () => {
    // Each run of `app` ends at once with 1, before the deploy has marked it ready.
    const agent = await memoryAgent(stateDir(), { scripts: { app: { exit_code: 1 } } });
    const events = await agent.events();
    const res = await deploy(agent, 'early', processNode('app'));
    expect(res.status).toBe(201);
    // The policy (on-failure): at once the first time, then with the back-off.
    const restarted = await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
    const ready = events.seen.find(eventOf('workload-ready', 'app-1'));
    expect(restarted.seq).toBeGreaterThan(ready.seq);
    const restarting = await events.next(eventOf('workload-restarting', 'app-1'), 5_000);
    expect(restarting.data).toEqual({ delayMs: 1000, restarts: 2 });
    expect(agent.host.get(key('early', 'app'))!.runs).toBe(2);
  });

  it('records an exit during the deploy of a workload that is never restarted', async () => {
    const agent = await memoryAgent(stateDir(), { scripts: { app: { exit_code: 3 } } });
    const events = await agent.events();
    const res = await deploy(
      agent,
      'early',
      processNode('app', { properties: '        restart: never\n' }),
    );
    expect(res.status).toBe(201);
    const exited = await events.next(eventOf('workload-exited', 'app-1'), 5_000);
    expect(exited.data.code).toBe(3);
    expect((await agent.api('GET', '/v1/workloads/early/app')).body).toMatchObject({
      state: 'failed',
      exitCode: 3,
      restarts: 0,
    });
    expect(agent.host.get(key('early', 'app'))!.runs).toBe(1);
  });

  it('fails the deploy of a workload that exits before its readiness check passed', async () => {
    const agent = await memoryAgent(stateDir());
    const checking = deferred();
    agent.host.onExec((request) => {
      if (request.command[0] !== 'not-yet') return undefined;
      checking.resolve();
      return { code: 1 };
    });
    const deploying = deploy(
      agent,
      'gone',
      serverNode('base') +
        processNode('app', {
          after: ['base'],
          properties: '        readiness: { command: [not-yet], timeout: 60 }\n',
        }),
    );
    await checking.promise;
    agent.host.crash(key('gone', 'app'), 2);
    const res = await deploying;
    expect(res.status).toBe(500);
    expect(res.body.error.message).toContain('app-1 exited before it was ready');
    expect(res.body.error.details).toMatchObject({ workload: 'app-1', driverCode: 'exited' });
    expect(agent.host.all('process')).toEqual([]);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
  });

  it('handles an exit once when it comes just as the workload became ready', async () => {
    const agent = await memoryAgent(stateDir());
    const app = key('edge', 'app');
    // Ready at the first check, then a crash on the next turn: while the deploy writes
    // `workload-ready` and reads the workload's state once more.
    agent.host.onExec((request) => {
      if (request.command[0] !== 'ready-then-crash') return undefined;
      setImmediate(() => agent.host.crash(app, 1));
      return { code: 0 };
    });
    const events = await agent.events();
    const res = await deploy(
      agent,
      'edge',
      processNode('app', { properties: '        readiness: { command: [ready-then-crash] }\n' }),
    );
    expect(res.status).toBe(201);
    await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
    // Let whatever else the agent would do with that exit happen, then count.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.seen.filter(eventOf('workload-exited', 'app-1'))).toHaveLength(1);
    expect(events.seen.filter(eventOf('workload-restarting', 'app-1'))).toHaveLength(0);
    expect((await agent.api('GET', '/v1/workloads/edge/app')).body).toMatchObject({
      state: 'running',
      restarts: 1,
    });
    expect(agent.host.get(app)!.runs).toBe(2);
  });
  it('handles an exit once when it comes just as the workload became ready, also when its restart fails', async () => {
    const agent = await memoryAgent(stateDir());
    const app = key('edge', 'app');
    agent.host.onExec((request) => {
      if (request.command[0] !== 'ready-then-crash') return undefined;
      setImmediate(() => {
        agent.host.failNext('restart', app);
        agent.host.crash(app, 1);
      });
      return { code: 0 };
    });
    const events = await agent.events();
    const res = await deploy(
      agent,
      'edge',
      processNode('app', { properties: '        readiness: { command: [ready-then-crash] }\n' }),
    );
    expect(res.status).toBe(201);
    const failed = await events.next(eventOf('workload-restart-failed', 'app-1'), 5_000);
    expect(failed.data).toMatchObject({ code: 1 });
    // Recorded as failed, and left so: not restarted by a second handling of the same exit.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(
      events.seen.filter((e: Json) => e.id.name === 'app-1' && /restart/.test(e.type)),
    ).toHaveLength(1);
    expect((await agent.api('GET', '/v1/workloads/edge/app')).body.state).toBe('failed');
    expect(agent.host.get(app)).toMatchObject({ state: 'exited', runs: 1 });
  });
});

describe('prestart steps', () => {
  it('runs a step to its end as a workload of its own before the workload, once', async () => {
    const agent = await memoryAgent(stateDir());
    const nodes = processNode('app', {
      properties: '        prestart: [ { command: [init, --db] } ]\n',
    });
    expect((await deploy(agent, 'init', nodes)).status).toBe(201);
    expect(operations(agent.host, 'init', ['create', 'delete'])).toEqual([
      'create app.prestart-0',
      'delete app.prestart-0',
      'create app',
    ]);
    expect(agent.host.all('process').map((w) => w.ref.key.name)).toEqual(['app-1']);
    expect((await agent.api('DELETE', '/v1/services/init?wait=true')).status).toBe(200);
    // The step's marker is in the data root, which the delete removed: it runs again.
    expect((await deploy(agent, 'init', nodes)).status).toBe(201);
    expect(
      operations(agent.host, 'init', ['create']).filter((o) => o.includes('prestart')),
    ).toHaveLength(2);
  });

  it('rolls the deploy back when a step cannot start, and starts nothing after it', async () => {
    const agent = await memoryAgent(stateDir());
    agent.host.failNextCreate({ service: 'init', name: 'app-1.prestart-0' });
    const res = await deploy(
      agent,
      'init',
      serverNode('base') +
        processNode('app', {
          after: ['base'],
          properties: '        prestart: [ { command: [init] } ]\n',
        }),
    );
    expect(res.status).toBe(500);
    expect(res.body.error.message).toContain(
      'scripted failure of create for init/app-1.prestart-0',
    );
    expect(operations(agent.host, 'init', ['create', 'delete'])).toEqual([
      'create base',
      'create app.prestart-0',
      'delete base',
    ]);
    expect(agent.host.all('process')).toEqual([]);
  });
});

describe('restart on request', () => {
  it('stops and starts the workload, counts each restart, and emits events', async () => {
    const agent = await memoryAgent(stateDir());
    expect((await deploy(agent, 'again', processNode('app'))).status).toBe(201);
    const events = await agent.events();
    const app = key('again', 'app');
    const before = operations(agent.host, 'again').length;

    const first = await agent.api('POST', '/v1/workloads/again/app/restart');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ state: 'running', restarts: 1 });
    expect(operations(agent.host, 'again').slice(before)).toEqual(['stop app', 'restart app']);
    const restarted = await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
    expect(restarted.data).toMatchObject({ requested: true });

    const second = await agent.api('POST', '/v1/workloads/again/app/restart');
    expect(second.body).toMatchObject({ state: 'running', restarts: 2 });
    expect(agent.host.get(app)!.runs).toBe(3);
    // A stop the agent asked for is no exit for the policy to handle.
    expect(events.seen.filter(eventOf('workload-exited', 'app-1'))).toHaveLength(0);

    // A restart on request resets the back-off: a crash now restarts at once.
    agent.host.crash(app);
    await until(() => agent.host.get(app)!.runs === 4, 'the restart after the crash');
    expect(events.seen.some(eventOf('workload-restarting', 'app-1'))).toBe(false);

    expect((await agent.api('POST', '/v1/workloads/again/nothing/restart')).status).toBe(404);
  });

  it('restarts on request a workload waiting out its back-off, cancelling the delayed restart', async () => {
    const agent = await memoryAgent(stateDir());
    expect((await deploy(agent, 'wait', processNode('app'))).status).toBe(201);
    const events = await agent.events();
    const app = key('wait', 'app');
    agent.host.crash(app);
    await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
    agent.host.crash(app);
    await events.next(eventOf('workload-restarting', 'app-1'), 5_000);
    const res = await agent.api('POST', '/v1/workloads/wait/app/restart');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'running', restarts: 2 });
    expect(agent.host.get(app)).toMatchObject({ state: 'running', runs: 3 });
    // The 1 s delay passes without another restart.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(agent.host.get(app)!.runs).toBe(3);
    expect((await agent.api('GET', '/v1/workloads/wait/app')).body.restarts).toBe(2);
  });
});

describe('usage', () => {
  it('lists CPU percent between two readings and memory when asked, from the driver, and nothing otherwise', async () => {
    const agent = await memoryAgent(stateDir());
    expect(
      (
        await deploy(
          agent,
          'busy',
          processNode('app') + processNode('idle', { properties: '        restart: never\n' }),
        )
      ).status,
    ).toBe(201);
    const app = agent.host.get(key('busy', 'app'))!;
    app.usage = { cpuSeconds: 10, memoryBytes: 64 * 2 ** 20 };
    agent.host.crash(key('busy', 'idle'));
    await until(() => agent.host.get(key('busy', 'idle'))!.state !== 'running', 'idle ended');
    const list = async (query: string) =>
      (await agent.api('GET', `/v1/workloads?service=busy${query}`)).body as unknown as Json[];
    // Without usage=true the drivers are not asked.
    expect((await list(''))[0]).not.toHaveProperty('memoryMb');
    // The first reading has memory only: CPU percent needs a previous reading.
    const first = await list('&usage=true');
    expect(first.find((w) => w.name === 'app-1')).toMatchObject({ memoryMb: 64 });
    expect(first.find((w) => w.name === 'app-1')).not.toHaveProperty('cpuPercent');
    const before = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    app.usage = { cpuSeconds: 10.1, memoryBytes: 32 * 2 ** 20 };
    const second = await list('&usage=true');
    const elapsed = (performance.now() - before) / 1000;
    const item = second.find((w) => w.name === 'app-1')!;
    expect(item.memoryMb).toBe(32);
    // 0.1 s of CPU over a little more than 0.2 s: under 50 %, and not far under.
    expect(item.cpuPercent as number).toBeLessThanOrEqual(50.01);
    expect(item.cpuPercent as number).toBeGreaterThan((0.1 / (elapsed + 0.5)) * 100);
    // A workload that does not run has no figures.
    expect(second.find((w) => w.name === 'idle-1')).not.toHaveProperty('memoryMb');
  });
});

describe('delete', () => {
  it('leaves nothing running when a crash and its restart race the delete', async () => {
    const agent = await memoryAgent(stateDir());
    expect((await deploy(agent, 'race', processNode('a') + processNode('b'))).status).toBe(201);
    // The restarts may still be in flight (the policy's first answer is a Wasm call) as the
    // delete starts, or done: either way the delete leaves nothing.
    agent.host.crash(key('race', 'a'), 1);
    agent.host.crash(key('race', 'b'), 1);
    expect((await agent.api('DELETE', '/v1/services/race?wait=true')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(agent.host.all('process')).toEqual([]);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
  });
});

describe('recovery', () => {
  it('re-adopts running workloads without duplicates, removes orphans, and applies the policy to those that ended meanwhile', async () => {
    const dir = stateDir();
    const first = await memoryAgent(dir);
    const host = first.host;
    const res = await deploy(
      first,
      'kept',
      processNode('steady') +
        processNode('crashed', { after: ['steady'] }) +
        processNode('done', { after: ['steady'], properties: '        restart: never\n' }),
    );
    expect(res.status).toBe(201);
    const refs = Object.fromEntries(
      ['steady', 'crashed', 'done'].map((n) => [n, host.get(key('kept', n))!.ref.id]),
    );
    await first.stop();

    // While no agent runs: two workloads end, unseen; and one of no service appears (as a
    // create the agent did not live to record would leave it).
    host.crash(key('kept', 'crashed'), 1);
    host.crash(key('kept', 'done'), 1);
    await new MemoryDriver({ kind: 'process', host }).create({
      key: { service: 'unknown', name: 'orphan-1' },
      properties: {},
      ports: [],
      labels: {},
      mounts: [],
    });
    const before = host.operations.length;

    const second = await memoryAgent(dir, { host });
    // The policy's restart is queued during the recovery, and may follow the agent's start.
    await until(() => host.get(key('kept', 'crashed'))!.runs === 2, 'the restart of crashed');
    // Adopted, not created again: the same workloads, by the same refs.
    expect(host.operations.slice(before).map((o) => `${o.op} ${templateOf(o.key.name)}`)).toEqual([
      'delete orphan',
      'stop orphan',
      'restart crashed',
    ]);
    expect(
      host
        .all('process')
        .map((w) => w.ref.id)
        .sort(),
    ).toEqual(Object.values(refs).sort());
    expect(host.get(key('kept', 'steady'))).toMatchObject({ state: 'running', runs: 1 });
    expect(host.get(key('kept', 'crashed'))).toMatchObject({ state: 'running', runs: 2 });
    expect(host.get(key('kept', 'done'))).toMatchObject({ state: 'exited', runs: 1 });
    const workloads = (await second.api('GET', '/v1/workloads?service=kept')).body;
    const byName = Object.fromEntries(workloads.map((w: Json) => [templateOf(w.name), w]));
    expect(byName.steady).toMatchObject({ state: 'running', restarts: 0 });
    expect(byName.crashed).toMatchObject({ state: 'running', restarts: 1 });
    expect(byName.done).toMatchObject({ state: 'failed', restarts: 0 });

    // The second agent supervises what it adopted.
    const events = await second.events();
    host.crash(key('kept', 'steady'), 1);
    await events.next(eventOf('workload-restarted', 'steady-1'), 5_000);
    expect(host.get(key('kept', 'steady'))).toMatchObject({ state: 'running', runs: 2 });
    expect(host.all('process')).toHaveLength(3);
  });

  it('rolls back a service whose deploy the agent did not live to finish', async () => {
    const dir = stateDir();
    const first = await memoryAgent(dir);
    const host = first.host;
    // `held` never becomes ready: the deploy is still waiting when the agent goes, and, its
    // check never answering and its timeout an hour, it stays so (as if the agent was killed).
    const waiting = deferred();
    host.onExec((request) => {
      if (request.command[0] !== 'held') return undefined;
      waiting.resolve();
      return new Promise<never>(() => {});
    });
    const events = await first.events();
    const res = await deploy(
      first,
      'interrupted',
      serverNode('base') +
        processNode('held', {
          after: ['base'],
          properties: '        readiness: { command: [held], timeout: 3600 }\n',
        }) +
        processNode('later', { after: ['held'] }),
      false,
    );
    expect(res.status).toBe(202);
    await waiting.promise;
    // Its ref recorded (a stop before that commit fails the deploy with the closed store, and
    // leaves the workload for the next agent to find by its key: the same outcome).
    await events.next(eventOf('workload-started', 'held-1'), 5_000);
    expect(first.reservations()).toHaveLength(1);
    await first.stop();
    expect(host.all('process')).toHaveLength(2);

    const second = await memoryAgent(dir, { host });
    expect(host.all('process')).toEqual([]);
    expect(operations(host, 'interrupted', ['create', 'delete'])).toEqual([
      'create base',
      'create held',
      'delete held',
      'delete base',
    ]);
    expect(second.reservations()).toEqual([]);
    expect((await second.api('GET', '/v1/services')).body).toEqual([]);
    const failed = (await second.api('GET', '/v1/events?since=0')).body.filter(
      (e: Json) => e.type === 'service-deploy-failed',
    );
    expect(failed).toHaveLength(1);
    expect(failed[0].data.message).toMatch(/rolled back/);
  });
});

describe('health checks', () => {
  it('waits for readiness by a command run through the driver, before starting dependants', async () => {
    const agent = await memoryAgent(stateDir());
    const seen: Json[] = [];
    agent.host.onExec((request) => {
      if (request.command[0] !== 'check-ready') return undefined;
      seen.push({ command: request.command, workload: request.ref.key.name });
      // Not ready twice, then ready.
      return { code: seen.length < 3 ? 1 : 0 };
    });
    const res = await deploy(
      agent,
      'ready',
      processNode('app', { properties: '        readiness: { command: [check-ready, --now] }\n' }) +
        processNode('client', { after: ['app'] }),
    );
    expect(res.status).toBe(201);
    expect(seen).toEqual(
      Array.from({ length: 3 }, () => ({ command: ['check-ready', '--now'], workload: 'app-1' })),
    );
    expect(operations(agent.host, 'ready')).toEqual([
      'create app',
      'exec app',
      'exec app',
      'exec app',
      'create client',
    ]);
  });

  it('fails a deploy whose readiness times out, with a not-ready error, and rolls it back', async () => {
    const agent = await memoryAgent(stateDir());
    agent.host.onExec((request) => (request.command[0] === 'nope' ? { code: 1 } : undefined));
    const res = await deploy(
      agent,
      'late',
      serverNode('base') +
        processNode('app', {
          after: ['base'],
          properties: '        readiness: { command: [nope], timeout: 0.2 }\n',
        }) +
        processNode('client', { after: ['app'] }),
    );
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/app-1 was not ready within 200 ms \(command nope\)/);
    expect(res.body.error.details).toMatchObject({ workload: 'app-1', driverCode: 'not-ready' });
    expect(operations(agent.host, 'late', ['create', 'delete'])).toEqual([
      'create base',
      'create app',
      'delete app',
      'delete base',
    ]);
    expect(agent.host.all('process')).toEqual([]);
    expect(agent.reservations()).toEqual([]);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
  });

  it.each([
    { restart: 'on-failure', after: 'restarted' },
    { restart: 'never', after: 'failed' },
  ])(
    'liveness failures in a row stop the workload; $restart: it is $after',
    async ({ restart, after }) => {
      const agent = await memoryAgent(stateDir());
      let healthy = true;
      let checks = 0;
      agent.host.onExec((request) => {
        if (request.command[0] !== 'alive') return undefined;
        checks++;
        return { code: healthy ? 0 : 1 };
      });
      const res = await deploy(
        agent,
        'live',
        processNode('app', {
          properties: `        restart: ${restart}
        liveness: { command: [alive], interval: 0.02, failures: 2 }
`,
        }),
      );
      expect(res.status).toBe(201);
      const app = key('live', 'app');
      // Healthy checks restart nothing.
      await until(() => checks >= 3, 'a few liveness checks');
      expect(agent.host.get(app)!.runs).toBe(1);

      const events = await agent.events();
      healthy = false;
      const unhealthy = await events.next(eventOf('workload-unhealthy', 'app-1'), 5_000);
      expect(unhealthy.data).toEqual({ failures: 2 });
      const exited = await events.next(eventOf('workload-exited', 'app-1'), 5_000);
      expect(exited.data).toMatchObject({ code: 1, reason: 'liveness' });
      if (after === 'restarted') {
        healthy = true;
        await events.next(eventOf('workload-restarted', 'app-1'), 5_000);
        expect(agent.host.get(app)).toMatchObject({ state: 'running', runs: 2 });
        expect(operations(agent.host, 'live', ['stop', 'restart'])).toEqual([
          'stop app',
          'restart app',
        ]);
        // Checked again after the restart, and healthy: no more restarts.
        const count = checks;
        await until(() => checks >= count + 2, 'liveness checks after the restart');
        expect(agent.host.get(app)!.runs).toBe(2);
      } else {
        expect(agent.host.get(app)).toMatchObject({ state: 'stopped', runs: 1 });
        expect((await agent.api('GET', '/v1/workloads/live/app')).body.state).toBe('failed');
        // Not checked any more.
        const count = checks;
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(checks).toBe(count);
      }
    },
  );
});
