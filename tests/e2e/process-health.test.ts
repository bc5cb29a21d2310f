/**
 * Liveness and terminals for bare processes through a real agent and the CLI: an HTTP check
 * and a TCP check that start failing on a running process restart it per its policy (the
 * events and the restart count say so); `workload exec` under a real pseudo-terminal passes
 * stdin and the exit code on, and `-t` is refused with the reason (processes have no TTY).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceFile, TestHost, type WorkloadItem, waitUntil } from './harness.js';
import { TerminalRun } from './terminal.js';

const host = new TestHost('khutulun-e2e-process-health-');
beforeAll(() => host.startAgent(['--kinds', 'process']));
afterAll(() => host.cleanup());

type Event = { type: string; id?: { name?: string }; data?: Record<string, unknown> };
type Shown = WorkloadItem & { restarts: number };

// A server that answers /healthz with 200 until it gets /sick, then 500; and closes its
// listener altogether on /deaf (while the process keeps running). Every start is healthy.
const SERVER = `const http = require('node:http');
let sick = false;
const server = http.createServer((req, res) => {
  if (req.url === '/sick') sick = true;
  if (req.url === '/deaf') { res.end('bye\\n'); server.close(); return; }
  res.statusCode = req.url === '/healthz' && sick ? 500 : 200;
  res.end('ok\\n');
});
server.listen(Number(process.env.PORT), process.env.KHUTULUN_ADDRESS);
setInterval(() => {}, 1 << 30);
`;

function server(name: string, liveness: string): string {
  return `    ${name}:
      type: k:Server
      properties:
        command: node
        arguments: [server.js]
        restart: on-failure
        stop_grace_period: 1
        files:
          program:
            path: server.js
            content: ${JSON.stringify(SERVER)}
        liveness:
${liveness}          interval: 0.3
          timeout: 1
          failures: 2
`;
}

/** Asks the workload's port for `path`, and waits until the agent restarted it for liveness. */
async function breakAndWait(target: string, path: string): Promise<Event[]> {
  const before = await host.json<Shown>(['workload', 'show', target]);
  const { lastSeq } = await host.api<{ lastSeq: number }>('GET', '/v1/health');
  const port = before.ports?.port as number;
  await fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.text());
  const [service] = target.split('/');
  let events: Event[] = [];
  await waitUntil(
    async () => {
      events = await host.api<Event[]>('GET', `/v1/events?service=${service}&since=${lastSeq}`);
      return events.some((e) => e.type === 'workload-restarted');
    },
    30_000,
    `${target} to be restarted for its liveness check`,
  );
  const after = await host.json<Shown>(['workload', 'show', target]);
  expect(after).toMatchObject({ state: 'running', restarts: before.restarts + 1 });
  expect(after.pid).not.toBe(before.pid);
  const types = events.filter((e) => e.id?.name === before.name).map((e) => e.type);
  expect(types).toEqual(
    expect.arrayContaining(['workload-unhealthy', 'workload-exited', 'workload-restarted']),
  );
  expect(types.indexOf('workload-unhealthy')).toBeLessThan(types.indexOf('workload-restarted'));
  expect(events.find((e) => e.type === 'workload-unhealthy')?.data).toEqual({ failures: 2 });
  expect(events.find((e) => e.type === 'workload-exited')?.data).toMatchObject({
    reason: 'liveness',
  });
  return events;
}

describe('liveness of a process', () => {
  beforeAll(async () => {
    const file = serviceFile(
      host.stateDir,
      'live.yaml',
      `${server('web', '          port: port\n          path: /healthz\n')}${server('tcp', '          port: port\n')}`,
    );
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
  });

  it('an HTTP check that starts failing (500) restarts the process, and again after that restart', async () => {
    await breakAndWait('live/web', '/sick');
    await breakAndWait('live/web', '/sick');
  });

  it('a TCP check that starts failing (the listener closed, the process running) restarts it', async () => {
    await breakAndWait('live/tcp', '/deaf');
  });

  it('a healthy process is left alone', async () => {
    const before = await host.json<Shown>(['workload', 'show', 'live/web']);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await host.json<Shown>(['workload', 'show', 'live/web'])).toMatchObject({
      state: 'running',
      restarts: before.restarts,
      pid: before.pid,
    });
    expect((await host.cli(['service', 'delete', 'live', '--wait'])).code).toBe(0);
  });
});

describe('workload exec of a process on a terminal', () => {
  beforeAll(async () => {
    const file = serviceFile(
      host.stateDir,
      'shell.yaml',
      `    idle:
      type: k:Process
      properties:
        command: sleep
        arguments: ['100000']
        stop_grace_period: 1
`,
    );
    const deployed = await host.cli(['service', 'deploy', file, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
  });
  afterAll(() => host.cli(['service', 'delete', 'shell', '--wait']));

  it("-i passes the terminal's input to the command (which has no TTY of its own) and its exit code on", async () => {
    const run = new TerminalRun(host.stateDir, [
      'workload',
      'exec',
      'shell/idle',
      '-i',
      '--',
      'sh',
      '-c',
      'test -t 0 || echo "no""-tty"; echo "ready""-for-input"; read line; echo "got:$line"; exit 4',
    ]);
    try {
      await run.waitFor(/^ready-for-input/m);
      run.type('hello\r');
      expect(await run.exit).toBe(4);
      expect(run.output).toMatch(/^no-tty\r?$/m);
      expect(run.output).toMatch(/^got:hello\r?$/m);
    } finally {
      run.kill();
    }
  });

  it('-it is refused with the reason: a process has no terminal', async () => {
    const run = new TerminalRun(host.stateDir, [
      'workload',
      'exec',
      'shell/idle',
      '-it',
      '--',
      'sh',
    ]);
    try {
      expect(await run.exit).not.toBe(0);
      expect(run.output).toMatch(/process workloads have no terminal/);
      expect(run.output).not.toMatch(/\n\s+at /); // a message, not a stack trace
    } finally {
      run.kill();
    }
  });
});
