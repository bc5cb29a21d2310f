import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, isApiError } from './api-client.js';
import type { ApiEvent } from './events.js';
import { unixSocketFetch } from './node.js';

// A stand-in agent on a Unix socket: it answers the shapes of API.md, so the client's
// transport, error mapping, SSE parsing and reconnection are exercised for real.
let dir: string;
let server: http.Server;
let client: ApiClient;
const lastEventIds: Array<string | undefined> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'khutulun-api-'));
  let streams = 0;
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (url.pathname === '/v1/services/nope') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: 'service-not-found', message: 'no service named "nope"' },
        }),
      );
    } else if (url.pathname === '/v1/workloads') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify([{ service: url.searchParams.get('service'), name: 'a-1' }]));
    } else if (url.pathname === '/v1/services' && req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: progress\ndata: {"service":"s","step":"start","workload":"a-1"}\n\n');
      res.end(
        'event: error\ndata: {"error":{"code":"tosca-invalid","message":"bad","diagnostics":[{"severity":"error","code":"TOSCA1","message":"m","file":"f","line":1,"column":2}]}}\n\n',
      );
    } else if (url.pathname === '/v1/events/stream') {
      streams++;
      lastEventIds.push(url.searchParams.get('since') ?? undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const seq = streams;
      const event = {
        seq,
        type: 'workload-ready',
        id: { kind: 'vertex', directory: ['services', 's'], name: 'a-1' },
        time: 't',
      };
      res.write(`id: ${seq}\nevent: workload-ready\ndata: ${JSON.stringify(event)}\n\n`);
      // The first stream drops (the client must resume after seq 1); the second stays open.
      if (streams === 1) res.end();
    } else {
      res.writeHead(500);
      res.end('boom');
    }
  });
  server.listen(join(dir, 'api.sock'));
  await once(server, 'listening');
  client = new ApiClient({ fetch: unixSocketFetch(join(dir, 'api.sock')) });
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ApiClient over a Unix socket', () => {
  it('sends queries and parses JSON', async () => {
    expect(await client.workloads('web')).toEqual([{ service: 'web', name: 'a-1' }]);
  });

  it('turns an error body into an ApiError with its code', async () => {
    const error = await client.service('nope').catch((e: unknown) => e);
    expect(isApiError(error)).toBe(true);
    expect(error).toMatchObject({ status: 404, code: 'service-not-found' });
  });

  it('keeps a text error as the message', async () => {
    await expect(client.health()).rejects.toMatchObject({ status: 500, message: 'boom' });
  });

  it('reports deploy progress, then rejects with the diagnostics of the error event', async () => {
    const steps: string[] = [];
    const error = await client
      .deployWithProgress({ source: { path: '/x.yaml' } }, (p) => steps.push(p.step))
      .catch((e: unknown) => e);
    expect(steps).toEqual(['start']);
    expect(error).toMatchObject({ code: 'tosca-invalid', status: 422 });
    expect((error as { diagnostics: unknown[] }).diagnostics).toHaveLength(1);
  });

  it('follows events and resumes after the last one when the stream drops', async () => {
    const controller = new AbortController();
    const seen: ApiEvent[] = [];
    await new Promise<void>((resolve) => {
      void client.followEvents({ since: 0, signal: controller.signal }, (event) => {
        seen.push(event);
        if (seen.length === 2) resolve();
      });
    });
    controller.abort();
    expect(seen.map((e) => e.seq)).toEqual([1, 2]);
    expect(lastEventIds).toEqual(['0', '1']);
  });
});
