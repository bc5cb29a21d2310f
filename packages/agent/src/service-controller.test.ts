import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgresServer } from '@khutulun/store-postgres';
import { runToscaCommand } from '@khutulun/tosca';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  eventStream,
  isAlive,
  type Json,
  startAgentProcess,
} from './testing/agent-process.js';

const PROFILE = join(import.meta.dirname, '..', '..', '..', 'profiles', 'khutulun', 'profile.yaml');
const RESTART_COUNTER = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'examples',
  'plugins',
  'build',
  'restart-counter.wasm',
);
const HELLO = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'profiles',
  'khutulun',
  'test',
  'hello.yaml',
);

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-deploy-test-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts an agent; at the end of the test, deletes what it runs and stops it. */
async function agentOn(dir: string, args: string[] = []): Promise<AgentProcess> {
  const agent = await startAgentProcess(dir, args);
  cleanup.push(async () => {
    if (agent.child.exitCode === null && agent.child.signalCode === null) {
      for (const s of (await agent.api('GET', '/v1/services')).body) {
        await agent.api('DELETE', `/v1/services/${s.name}`);
      }
    }
    await agent.kill();
  });
  return agent;
}

/** Kills every workload process left in a state directory (after a test that killed its agent). */
function killLeftovers(dir: string): void {
  const root = join(dir, 'workloads');
  if (!existsSync(root)) return;
  for (const service of readdirSync(root)) {
    for (const name of readdirSync(join(root, service))) {
      try {
        const pid = Number(readFileSync(join(root, service, name, 'pid'), 'utf8'));
        if (pid > 0) process.kill(-pid, 'SIGKILL');
      } catch {
        // Not running.
      }
    }
  }
}

/** The port reservations persisted in a state directory. */
function reservedPorts(dir: string): unknown[] {
  const file = join(dir, 'ports.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')).reservations ?? []) : [];
}

const LISTENER =
  'import os,socket,time\\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\n' +
  's.bind((\\"127.0.0.1\\", int(os.environ[\\"PORT\\"]))); s.listen(); time.sleep(1e6)';

function service(nodes: string): string {
  return `tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun.core
    namespace: k
service_template:
  node_templates:
${nodes}`;
}

describe("Khutulun's TOSCA profile", () => {
  it('validates with the TOSCA compiler, and so does a service that uses it', async () => {
    let err = '';
    const io = {
      stdout: { write: () => true },
      stderr: {
        write: (text: string) => {
          err += text;
          return true;
        },
      },
    };
    expect(await runToscaCommand(['validate', PROFILE], io as never)).toBe(0);
    expect(await runToscaCommand(['validate', HELLO], io as never)).toBe(0);
    expect(err).toBe('');
  });
});

describe('deploying through a real agent', () => {
  it('deploys hello: the client gets the server address, outputs see the reserved port, exits restart', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const res = await agent.api('POST', '/v1/services', { source: { path: HELLO }, wait: true });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'hello',
      state: 'running',
      workloads: expect.any(Array),
    });
    const list = (await agent.api('GET', '/v1/workloads?service=hello')).body;
    expect(list.map((w: { name: string }) => w.name).sort()).toEqual(['client-1', 'server-1']);
    for (const w of list) {
      expect(w).toMatchObject({
        service: 'hello',
        host: expect.any(String),
        state: 'running',
        pid: expect.any(Number),
      });
      expect(isAlive(w.pid)).toBe(true);
    }
    const server = list.find((w: { name: string }) => w.name === 'server-1');
    const port = server.ports.port;
    expect((await agent.api('GET', '/v1/services/hello/outputs')).body).toEqual({
      server_port: port,
      server_pid: server.pid,
    });
    // The client has no readiness check: the deploy may answer before it has written its line.
    let logs = await agent.api('GET', '/v1/workloads/hello/client-1/logs');
    for (let i = 0; i < 100 && !String(logs.body ?? '').includes('server at'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      logs = await agent.api('GET', '/v1/workloads/hello/client-1/logs');
    }
    expect(logs.body).toContain(`server at 127.0.0.1:${port}`);
    // A node template's name addresses its only instance.
    expect((await agent.api('GET', '/v1/workloads/hello/client/logs')).body).toBe(logs.body);
    expect((await agent.api('GET', '/v1/workloads/hello/server')).body.name).toBe('server-1');

    const events = eventStream(
      join(dir, 'api.sock'),
      (await agent.api('GET', '/v1/health')).body.lastSeq,
    );
    cleanup.push(() => events.close());
    process.kill(server.pid, 'SIGKILL');
    const restarted = await events.next(
      (e) => e.type === 'workload-restarted' && e.id.name === 'server-1',
    );
    expect(restarted.data.pid).not.toBe(server.pid);
    expect(isAlive(restarted.data.pid)).toBe(true);
    const after = (await agent.api('GET', '/v1/workloads/hello/server-1')).body;
    expect(after).toMatchObject({ state: 'running', pid: restarted.data.pid, restarts: 1 });
    const outputs = (await agent.api('GET', '/v1/services/hello/outputs')).body;
    expect(outputs.server_pid).toBe(restarted.data.pid);
  });

  it('streams the progress of a deploy as SSE, ending with the result', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const messages = await new Promise<Array<{ event: string; data: Json }>>((resolve, reject) => {
      const req = request(
        {
          socketPath: join(dir, 'api.sock'),
          method: 'POST',
          path: '/v1/services',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            text += d;
          });
          res.on('end', () =>
            resolve(
              text
                .split('\n\n')
                .filter((b) => b.trim())
                .map((b) => ({
                  event: /^event: (.*)$/m.exec(b)?.[1] ?? '',
                  data: JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? 'null'),
                })),
            ),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ source: { path: HELLO }, wait: true }));
    });
    const steps = messages.filter((m) => m.event === 'progress').map((m) => m.data.step);
    expect(steps.slice(0, 3)).toEqual(['compiled', 'stored', 'instantiated']);
    expect(steps.at(-1)).toBe('done');
    // The client connects to the server: it starts only once the server is ready.
    const order = messages
      .filter((m) => m.event === 'progress' && m.data.workload)
      .map((m) => `${m.data.step} ${m.data.workload}`);
    expect(order).toEqual(['start server-1', 'ready server-1', 'start client-1', 'ready client-1']);
    expect(messages.at(-1)).toMatchObject({
      event: 'result',
      data: { name: 'hello', state: 'running' },
    });
    expect(agent.pid).toBeGreaterThan(0);
  });

  it('follows a workload log as the process writes it', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const file = join(dir, 'talker.yaml');
    writeFileSync(
      file,
      service(`    talker:
      type: k:Process
      properties:
        command: /bin/sh
        arguments: ['-c', 'echo first; while [ ! -e ${join(dir, 'go')} ]; do sleep 0.05; done; echo second go; exec sleep 1000']
`),
    );
    expect((await agent.api('POST', '/v1/services', { source: { path: file } })).status).toBe(201);
    const text = await new Promise<string>((resolve, reject) => {
      let seen = '';
      const req = request(
        {
          socketPath: join(dir, 'api.sock'),
          path: '/v1/workloads/talker/talker-1/logs?follow=true&stream=stdout',
        },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            seen += chunk;
            // Once the first line is there, make the process write the second.
            if (seen.includes('first') && !seen.includes('second')) {
              writeFileSync(join(dir, 'go'), '');
            }
            if (seen.includes('second go')) {
              req.destroy();
              resolve(seen);
            }
          });
        },
      );
      req.on('error', (e) => (seen.includes('second go') ? undefined : reject(e)));
      req.end();
    });
    expect(text).toBe('first\nsecond go\n');
  });

  it('names an unnamed service after its metadata.template_name, else after its file', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const body = service(`    one:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
`);
    writeFileSync(
      join(dir, 'service.yaml'),
      body.replace(
        'service_template:\n',
        'service_template:\n  metadata:\n    template_name: named-one\n',
      ),
    );
    writeFileSync(join(dir, 'plain-file.yaml'), body);
    const accepted = await agent.api('POST', '/v1/services', {
      source: { path: join(dir, 'service.yaml') },
      wait: false,
    });
    expect(accepted).toMatchObject({
      status: 202,
      body: { service: 'named-one', state: 'deploying' },
    });
    expect(
      (await agent.api('POST', '/v1/services', { source: { path: join(dir, 'plain-file.yaml') } }))
        .body.name,
    ).toBe('plain-file');
    const events = eventStream(join(dir, 'api.sock'), 0);
    cleanup.push(() => events.close());
    await events.next((e) => e.type === 'service-deployed' && e.id.name === 'named-one');
    const names = (await agent.api('GET', '/v1/services')).body.map(
      (x: { name: string }) => x.name,
    );
    expect(names).toEqual(['named-one', 'plain-file']);
  });

  it('keeps an uploaded service file while the service exists, and removes it with the service', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const upload = (text: string) => ({
      source: { filename: 'up.yaml', content: Buffer.from(text).toString('base64') },
    });
    const bad = await agent.api(
      'POST',
      '/v1/services',
      upload('tosca_definitions_version: nope\n'),
    );
    expect(bad.status).toBe(422);
    const uploads = join(dir, 'uploads');
    const kept = () => (existsSync(uploads) ? readdirSync(uploads) : []);
    expect(kept()).toEqual([]);
    const ok = await agent.api('POST', '/v1/services', upload(readFileSync(HELLO, 'utf8')));
    expect(ok).toMatchObject({ status: 201, body: { name: 'up', state: 'running' } });
    expect(kept()).toHaveLength(1);
    expect((await agent.api('DELETE', '/v1/services/up')).status).toBe(200);
    expect(kept()).toEqual([]);
  });

  it('deletes a service leaving nothing behind: processes, files, ports, entities', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    expect((await agent.api('POST', '/v1/services', { source: { path: HELLO } })).status).toBe(201);
    const pids = (await agent.api('GET', '/v1/workloads')).body.map((w: { pid: number }) => w.pid);
    const del = await agent.api('DELETE', '/v1/services/hello');
    expect(del).toMatchObject({ status: 200, body: { deleted: true } });
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(dir, 'workloads', 'hello'))).toBe(false);
    expect(reservedPorts(dir)).toEqual([]);
    const left = await agent.api('POST', '/v1/graph/query', {
      directory: ['services'],
      recursive: true,
    });
    expect(left.body).toEqual([]);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
  });

  it('fails a deploy whose fixed port an outsider holds, and rolls everything back', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const outsider: Server = createServer();
    await new Promise<void>((r) => outsider.listen(0, '127.0.0.1', r));
    cleanup.push(() => outsider.close());
    const taken = (outsider.address() as { port: number }).port;
    const file = join(dir, 'taken.yaml');
    writeFileSync(
      file,
      service(`    first:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
    web:
      type: k:Server
      properties:
        command: /usr/bin/python3
        arguments: ['-c', "${LISTENER}"]
      capabilities:
        port:
          properties:
            fixed_port: ${taken}
`),
    );
    const res = await agent.api('POST', '/v1/services', { source: { path: file } });
    expect(res.status).toBe(500);
    expect(res.body.error).toMatchObject({
      code: 'deploy-failed',
      details: { driverCode: 'port-taken' },
    });
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
    expect(existsSync(join(dir, 'workloads', 'taken'))).toBe(false);
    expect(reservedPorts(dir)).toEqual([]);
    expect(outsider.listening).toBe(true);
  });

  it('restarts a crash loop at once the first time, then after a back-off; a clean exit stays down', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const file = join(dir, 'loop.yaml');
    writeFileSync(
      file,
      service(`    crasher:
      type: k:Process
      properties:
        command: /bin/sh
        arguments: ['-c', 'sleep 0.3; exit 3']
        restart: on-failure
    done:
      type: k:Process
      properties:
        command: /bin/sh
        arguments: ['-c', 'sleep 0.3; exit 0']
        restart: on-failure
`),
    );
    const events = eventStream(join(dir, 'api.sock'), 0);
    cleanup.push(() => events.close());
    expect((await agent.api('POST', '/v1/services', { source: { path: file } })).status).toBe(201);
    const first = await events.next(
      (e) => e.type === 'workload-restarted' && e.id.name === 'crasher-1',
    );
    const backoff = await events.next(
      (e) => e.type === 'workload-restarting' && e.id.name === 'crasher-1',
    );
    expect(backoff.data.delayMs).toBeGreaterThan(0);
    expect(backoff.seq).toBeGreaterThan(first.seq);
    await events.next((e) => e.type === 'workload-exited' && e.id.name === 'done-1');
    await events.next(
      (e) => e.type === 'workload-restarted' && e.id.name === 'crasher-1' && e.seq > backoff.seq,
    );
    const done = (await agent.api('GET', '/v1/workloads/loop/done-1')).body;
    expect(done).toMatchObject({ state: 'exited', exitCode: 0, restarts: 0 });
    expect(events.seen.some((e) => e.type === 'workload-restarted' && e.id.name === 'done-1')).toBe(
      false,
    );
  });

  it('calls a Wasm plugin event handler that changes the graph (examples/plugins restart-counter)', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    copyFileSync(RESTART_COUNTER, join(dir, 'restart-counter.wasm'));
    const file = join(dir, 'counted.yaml');
    writeFileSync(
      file,
      service(`    worker:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
        restart: never
      interfaces:
        events:
          notifications:
            exited:
              implementation: restart-counter.wasm
              inputs:
                function: on_exit
`),
    );
    expect((await agent.api('POST', '/v1/services', { source: { path: file } })).status).toBe(201);
    const [worker] = (await agent.api('GET', '/v1/workloads')).body;
    expect(worker.restarts).toBe(0);
    process.kill(worker.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    let restarts = 0;
    while (restarts === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      restarts = (await agent.api('GET', '/v1/workloads/counted/worker-1')).body.restarts;
    }
    expect(restarts).toBe(1);
    const failures = (await agent.api('GET', '/v1/events')).body.filter(
      (e: { type: string }) => e.type === 'handler-failed',
    );
    expect(failures).toEqual([]);
  });

  it('calls a handler from a policy trigger on its target workloads only', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const handler = join(dir, 'handle.sh');
    writeFileSync(
      handler,
      `#!/bin/sh\necho "$KHUTULUN_WORKLOAD $KHUTULUN_EVENT" >> ${join(dir, 'handled.txt')}\n`,
    );
    chmodSync(handler, 0o755);
    const node = (name: string) => `    ${name}:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
        restart: never
      interfaces:
        events:
          operations:
            handle:
              implementation: handle.sh
`;
    const file = join(dir, 'watched.yaml');
    writeFileSync(
      file,
      `${service(node('watched') + node('ignored'))}  policies:
    - on-exit:
        type: k:Restart
        properties:
          restart: never
        targets: [watched]
        triggers:
          exited:
            event: exited
            action:
              - call_operation: events.handle
`,
    );
    expect((await agent.api('POST', '/v1/services', { source: { path: file } })).status).toBe(201);
    const events = eventStream(join(dir, 'api.sock'), 0);
    cleanup.push(() => events.close());
    for (const w of (await agent.api('GET', '/v1/workloads')).body) process.kill(w.pid, 'SIGTERM');
    await events.next((e) => e.type === 'workload-exited' && e.id.name === 'watched-1');
    await events.next((e) => e.type === 'workload-exited' && e.id.name === 'ignored-1');
    const deadline = Date.now() + 30_000;
    while (!existsSync(join(dir, 'handled.txt')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500)); // room for a wrong second call to show up
    expect(readFileSync(join(dir, 'handled.txt'), 'utf8')).toBe('watched-1 exited\n');
  });

  it('calls a script event handler declared in the Events interface', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const handler = join(dir, 'on-exit.sh');
    writeFileSync(
      handler,
      `#!/bin/sh\ncat > ${join(dir, 'exited.json')}.tmp && mv ${join(dir, 'exited.json')}.tmp ${join(dir, 'exited.json')}\n`,
    );
    chmodSync(handler, 0o755);
    const file = join(dir, 'handled.yaml');
    writeFileSync(
      file,
      service(`    worker:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
        restart: never
      interfaces:
        events:
          notifications:
            exited:
              implementation: on-exit.sh
`),
    );
    expect((await agent.api('POST', '/v1/services', { source: { path: file } })).status).toBe(201);
    const [worker] = (await agent.api('GET', '/v1/workloads')).body;
    const events = eventStream(join(dir, 'api.sock'), 0);
    cleanup.push(() => events.close());
    process.kill(worker.pid, 'SIGTERM');
    await events.next((e) => e.type === 'workload-exited');
    const deadline = Date.now() + 30_000;
    while (!existsSync(join(dir, 'exited.json')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const payload = JSON.parse(readFileSync(join(dir, 'exited.json'), 'utf8'));
    expect(payload).toMatchObject({
      event: 'exited',
      service: 'handled',
      workload: 'worker-1',
      data: { signal: 'SIGTERM' },
    });
    expect((await agent.api('GET', '/v1/workloads/handled/worker-1')).body.state).toBe('failed');
  });
});

describe('the agent on PostgreSQL (--store postgres://...)', () => {
  it('deploys, lists and deletes with its state in a real PostgreSQL server', async () => {
    const server = await startPostgresServer({ fast: true });
    cleanup.push(() => server.stop());
    const dir = stateDir();
    const agent = await agentOn(dir, ['--store', server.url]);
    expect((await agent.api('GET', '/v1/health')).body.store).toBe('postgres');
    expect((await agent.api('POST', '/v1/services', { source: { path: HELLO } })).status).toBe(201);
    expect((await agent.api('GET', '/v1/services')).body).toMatchObject([
      { name: 'hello', state: 'running' },
    ]);
    expect(existsSync(join(dir, 'state.db'))).toBe(false);
    expect((await agent.api('DELETE', '/v1/services/hello')).status).toBe(200);
    expect((await agent.api('GET', '/v1/workloads')).body).toEqual([]);
  });
});

describe('crash safety with real agent processes', () => {
  it('re-adopts running workloads after kill -9 (same PIDs, no duplicates) and restarts one that died meanwhile', async () => {
    const dir = stateDir();
    cleanup.push(() => killLeftovers(dir));
    const first = await agentOn(dir);
    expect((await first.api('POST', '/v1/services', { source: { path: HELLO } })).status).toBe(201);
    const before = (await first.api('GET', '/v1/workloads')).body;
    await first.kill();
    const client = before.find((w: { name: string }) => w.name === 'client-1');
    const server = before.find((w: { name: string }) => w.name === 'server-1');
    process.kill(client.pid, 'SIGKILL');

    const second = await agentOn(dir);
    const events = eventStream(join(dir, 'api.sock'), 0);
    cleanup.push(() => events.close());
    const restarted = await events.next(
      (e) => e.type === 'workload-restarted' && e.id.name === 'client-1',
    );
    const after = (await second.api('GET', '/v1/workloads')).body;
    expect(after).toHaveLength(2);
    expect(after.find((w: { name: string }) => w.name === 'server-1')).toMatchObject({
      pid: server.pid,
      state: 'running',
    });
    expect(after.find((w: { name: string }) => w.name === 'client-1').pid).toBe(restarted.data.pid);
    expect(isAlive(server.pid)).toBe(true);
    expect(isAlive(restarted.data.pid)).toBe(true);
  });

  it('rolls back a deploy interrupted by kill -9: no service, no processes, no ports', async () => {
    const dir = stateDir();
    cleanup.push(() => killLeftovers(dir));
    const file = join(dir, 'slow.yaml');
    writeFileSync(
      file,
      service(`    fast:
      type: k:Server
      properties:
        command: /usr/bin/python3
        arguments: ['-c', "${LISTENER}"]
    slow:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
        readiness:
          command: [/bin/false]
          timeout: 120
    last:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['1000']
      requirements:
        - dependency: slow
`),
    );
    const first = await agentOn(dir);
    const events = eventStream(join(dir, 'api.sock'), 0);
    const accepted = await first.api('POST', '/v1/services', {
      source: { path: file },
      wait: false,
    });
    expect(accepted.status).toBe(202);
    const started = [
      await events.next((e) => e.type === 'workload-started' && e.id.name === 'slow-1'),
      await events.next((e) => e.type === 'workload-ready' && e.id.name === 'fast-1'),
    ];
    events.close();
    const pids = (await first.api('GET', '/v1/workloads?service=slow')).body;
    expect(pids).toEqual([]); // not listed until deployed
    const slowPid = started[0].data.pid;
    expect(isAlive(slowPid)).toBe(true);
    await first.kill();

    const second = await agentOn(dir);
    expect((await second.api('GET', '/v1/services')).body).toEqual([]);
    expect(isAlive(slowPid)).toBe(false);
    expect(existsSync(join(dir, 'workloads', 'slow'))).toBe(false);
    expect(reservedPorts(dir)).toEqual([]);
    const left = await second.api('POST', '/v1/graph/query', {
      directory: ['services'],
      recursive: true,
    });
    expect(left.body).toEqual([]);
  });
});
