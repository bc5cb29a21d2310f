import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DashboardListener, openDashboardListener } from './dashboard-listener.js';

// A stand-in agent on a Unix socket: it echoes what it was asked, streams, and upgrades.
let dir: string;
let agent: http.Server;
let listener: DashboardListener;
let session = '';

/** A raw request to the listener, so Host and Origin can be anything. */
function request(
  path: string,
  headers: Record<string, string> = {},
): Promise<http.IncomingMessage & { body: string }> {
  const url = new URL(listener.origin);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(Object.assign(res, { body })));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'khutulun-listener-'));
  agent = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, cookie: req.headers.cookie ?? null }));
  });
  agent.on('upgrade', (req, socket) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    socket.on('data', (data) => socket.write(Buffer.concat([Buffer.from(`${req.url} `), data])));
  });
  agent.listen(join(dir, 'api.sock'));
  await once(agent, 'listening');
  listener = await openDashboardListener({ socketPath: join(dir, 'api.sock') });
});

afterAll(async () => {
  await listener.close();
  agent.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard loopback listener', () => {
  it('listens on loopback only', async () => {
    await expect(openDashboardListener({ socketPath: '/x', host: '0.0.0.0' })).rejects.toThrow(
      /loopback/,
    );
    expect(listener.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/\?token=[\w-]{32}$/);
  });

  it('listens on the port it is given, and names it in the URL and the cookie', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const fixed = await openDashboardListener({ socketPath: join(dir, 'api.sock'), port });
    try {
      expect(fixed.origin).toBe(`http://127.0.0.1:${port}`);
      expect(new URL(fixed.url).port).toBe(String(port));
      const login = await fetch(fixed.url, { redirect: 'manual' });
      expect(login.status).toBe(302);
      expect(login.headers.get('set-cookie')).toMatch(new RegExp(`^khutulun_dashboard_${port}=`));
    } finally {
      await fixed.close();
    }
  });

  it('lets nobody in without the token, and takes the token once', async () => {
    expect((await request('/v1/services')).statusCode).toBe(401);
    const path = new URL(listener.url).pathname + new URL(listener.url).search;
    expect((await request(path.replace(/token=.*/, 'token=wrong'))).statusCode).toBe(401);
    const login = await request(path);
    expect(login.statusCode).toBe(302);
    expect(login.headers.location).toBe('/dashboard/');
    session = String(login.headers['set-cookie']).split(';')[0]!;
    expect(session).toMatch(/^khutulun_dashboard_\d+=/);
    expect(listener.tokenUsed).toBe(true);
    expect((await request(path)).statusCode).toBe(401);
  });

  it('relays requests to the agent with the session, keeping its cookie to itself', async () => {
    const answer = await request('/v1/services?x=1', { cookie: session });
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ path: '/v1/services?x=1', cookie: null });
  });

  it('refuses another Host (DNS rebinding) and another Origin (cross-site requests)', async () => {
    const port = new URL(listener.origin).port;
    expect(
      (await request('/v1/services', { cookie: session, host: `evil.example:${port}` })).statusCode,
    ).toBe(403);
    expect(
      (await request('/v1/services', { cookie: session, origin: 'http://evil.example' }))
        .statusCode,
    ).toBe(403);
    expect(
      (await request('/v1/services', { cookie: session, origin: listener.origin })).statusCode,
    ).toBe(200);
  });

  it('relays WebSocket upgrades both ways, and only with the session', async () => {
    const url = new URL(listener.origin);
    const talk = (cookie: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(Number(url.port), url.hostname, () => {
          socket.write(
            `GET /v1/workloads/s/w/exec?command=sh HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: ${cookie}\r\n\r\n`,
          );
        });
        let text = '';
        socket.on('data', (d) => {
          text += d;
          if (text.includes('101') && !text.includes('ping')) socket.write('ping');
          if (text.includes('ping') || text.includes('403')) {
            socket.end();
            resolve(text);
          }
        });
        socket.on('close', () => resolve(text));
      });
    expect(await talk(session)).toContain('/v1/workloads/s/w/exec?command=sh ping');
    expect(await talk('khutulun_dashboard_1=forged')).toContain('403 Forbidden');
  });
});
