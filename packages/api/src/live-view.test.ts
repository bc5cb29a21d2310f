import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.js';
import { LiveView } from './live-view.js';
import { unixSocketFetch } from './node.js';

// A stand-in agent: one service of two workloads, and an event stream the test writes to.
let dir: string;
let server: http.Server;
let stream: http.ServerResponse | undefined;
let streamOpen: () => void = () => {};
let seq = 10;
let delay = 0;
const workloads = [
  { service: 'web', name: 'a-1', host: 'h', kind: 'process', state: 'running', restarts: 0 },
  { service: 'web', name: 'b-1', host: 'h', kind: 'process', state: 'running', restarts: 0 },
];

function send(name: string, property: string, value: unknown): void {
  const event = {
    seq: ++seq,
    type: 'property-changed',
    id: { kind: 'vertex', directory: ['services', 'web'], name },
    time: new Date().toISOString(),
    data: { property, new: value },
  };
  stream?.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'khutulun-live-'));
  server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://agent').pathname;
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/v1/health') return json({ lastSeq: seq });
    if (path === '/v1/events') return json([]);
    if (path === '/v1/hosts')
      return json([{ name: 'h', state: 'up', self: true, address: '127.0.0.1', workloads: 2 }]);
    if (path === '/v1/workloads') {
      // The answer is computed now, and arrives after `delay` (events may come meanwhile).
      const answer = JSON.parse(JSON.stringify(workloads));
      setTimeout(() => json(answer), delay);
      return;
    }
    if (path === '/v1/services') {
      const ready = workloads.filter((w) => w.state === 'running').length;
      return json([
        {
          name: 'web',
          state: ready === 2 ? 'running' : 'degraded',
          workloads: 2,
          ready,
          createdAt: '',
          source: '',
        },
      ]);
    }
    if (path === '/v1/events/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      stream = res;
      streamOpen();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  server.listen(join(dir, 'api.sock'));
  await once(server, 'listening');
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('LiveView', () => {
  it('loads, then patches workloads and ready counts from events', async () => {
    const live = new LiveView(new ApiClient({ fetch: unixSocketFetch(join(dir, 'api.sock')) }));
    const opened = new Promise<void>((resolve) => {
      streamOpen = resolve;
    });
    await live.start();
    await opened;
    expect(live.snapshot().workloads.get('web/a-1')?.state).toBe('running');
    expect(live.snapshot().services.get('web')).toMatchObject({ ready: 2, state: 'running' });

    let renders = 0;
    const changed = new Promise<void>((resolve) => {
      live.subscribe(() => {
        renders++;
        if (live.snapshot().workloads.get('web/b-1')?.pid === 42) resolve();
      });
    });
    send('a-1', 'state', 'failed');
    send('a-1', 'restarts', 1);
    send('b-1', 'pid', 42);
    await changed;
    const state = live.snapshot();
    expect(state.workloads.get('web/a-1')).toMatchObject({ state: 'failed', restarts: 1 });
    expect(state.services.get('web')).toMatchObject({ ready: 1, state: 'degraded' });
    expect(state.lastSeq).toBe(seq);
    expect(state.events.map((e) => e.seq)).toEqual([seq - 2, seq - 1, seq]);
    expect(renders).toBeGreaterThan(0);

    // A reload whose answer predates an event that arrives while it is on its way keeps the
    // event's value (the answer still says running; the event said exited).
    delay = 150;
    const reloading = live.reload();
    await new Promise((resolve) => setTimeout(resolve, 50));
    send('b-1', 'state', 'exited');
    await reloading;
    delay = 0;
    expect(live.snapshot().workloads.get('web/b-1')?.state).toBe('exited');
    // The answer counts both running (a-1 is running there); the later event leaves one.
    expect(live.snapshot().services.get('web')).toMatchObject({ ready: 1, state: 'degraded' });
    live.close();
  });
});
