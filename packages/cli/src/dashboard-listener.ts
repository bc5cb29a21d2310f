/**
 * The loopback bridge of `khutulun dashboard`: a browser cannot reach the agent's Unix socket,
 * so this opens `http://127.0.0.1:PORT` and relays every request (plain, streaming and
 * WebSocket upgrades) to the socket, where the agent serves the dashboard and its API.
 *
 * Only the holder of a one-time token gets in, the way Jupyter does it: the printed URL
 * carries the token; its first use trades it for a session cookie and the token is spent.
 * Requests must name the loopback host (no DNS rebinding) and, when they carry an Origin,
 * come from this origin (no cross-site requests).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** Options of {@link openDashboardListener}. */
export interface DashboardListenerOptions {
  /** The agent's API socket. */
  socketPath: string;
  /** The loopback port; 0 (default) picks a free one. */
  port?: number;
  /** Default `127.0.0.1`. Only loopback addresses are accepted. */
  host?: string;
}

/** An open dashboard listener. */
export interface DashboardListener {
  /** The URL to open, with its one-time token. */
  readonly url: string;
  /** The listener's origin (without a token). */
  readonly origin: string;
  /** Whether the token has been traded for a session. */
  readonly tokenUsed: boolean;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Opens the loopback bridge; resolves once it listens. */
export async function openDashboardListener(
  options: DashboardListenerOptions,
): Promise<DashboardListener> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.test(host)) throw new Error(`the dashboard listens on loopback only, not ${host}`);
  const token = randomBytes(24).toString('base64url');
  const session = randomBytes(32).toString('base64url');
  let tokenUsed = false;
  let port = options.port ?? 0;
  let cookieName = 'khutulun_dashboard';

  const allowedHost = (value: string | undefined) => {
    if (!value) return false;
    const name = value.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    return LOOPBACK.test(name) && value.endsWith(`:${port}`);
  };
  const sameOrigin = (origin: string | undefined) => {
    if (origin === undefined) return true;
    try {
      const url = new URL(origin);
      return url.protocol === 'http:' && allowedHost(url.host);
    } catch {
      return false;
    }
  };
  const hasSession = (req: http.IncomingMessage) => same(readCookie(req, cookieName), session);

  // Upgraded connections (exec terminals) leave the HTTP server's books: closed here on close.
  const tunnels = new Set<() => void>();
  const server = http.createServer((req, res) => {
    if (!allowedHost(req.headers.host) || !sameOrigin(req.headers.origin)) {
      return refuse(res, 403, 'this dashboard answers only its own loopback origin');
    }
    const url = new URL(req.url ?? '/', 'http://loopback');
    const offered = url.searchParams.get('token');
    if (offered !== null && req.method === 'GET') {
      if (tokenUsed || !same(offered, token)) {
        return refuse(
          res,
          401,
          'this dashboard link was already used or is wrong: run `khutulun dashboard` again for a new one',
        );
      }
      tokenUsed = true;
      url.searchParams.delete('token');
      res.writeHead(302, {
        location: url.pathname === '/' ? '/dashboard/' : url.pathname + url.search,
        'set-cookie': `${cookieName}=${session}; Path=/; HttpOnly; SameSite=Strict`,
        'cache-control': 'no-store',
      });
      return res.end();
    }
    if (!hasSession(req)) {
      return refuse(
        res,
        401,
        'open the URL that `khutulun dashboard` printed (it carries a token)',
      );
    }
    if (url.pathname === '/') {
      res.writeHead(302, { location: '/dashboard/' });
      return res.end();
    }
    const upstream = http.request(
      {
        socketPath: options.socketPath,
        method: req.method,
        path: req.url,
        headers: forwardHeaders(req.headers),
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // Streams (SSE, followed logs) go through as they come.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) =>
      res.headersSent
        ? res.destroy()
        : refuse(res, 502, `the agent does not answer at ${options.socketPath}: ${error.message}`),
    );
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!allowedHost(req.headers.host) || !sameOrigin(req.headers.origin) || !hasSession(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const agent = net.connect(options.socketPath, () => {
      const headers = forwardHeaders(req.headers);
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (const [key, value] of Object.entries(headers)) {
        for (const item of Array.isArray(value) ? value : [value]) {
          if (item !== undefined) lines.push(`${key}: ${item}`);
        }
      }
      agent.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) agent.write(head);
      agent.pipe(socket);
      socket.pipe(agent);
    });
    const close = () => {
      agent.destroy();
      socket.destroy();
      tunnels.delete(close);
    };
    tunnels.add(close);
    agent.on('error', close);
    socket.on('error', close);
    agent.on('close', close);
    socket.on('close', close);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : port;
  // Cookies do not tell ports apart: one name per port keeps two dashboards apart.
  cookieName = `khutulun_dashboard_${port}`;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: `${origin}/dashboard/?token=${token}`,
    origin,
    get tokenUsed() {
      return tokenUsed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const close of [...tunnels]) close();
      }),
  };
}

/** The request's headers for the agent: without the session cookie, which is this bridge's. */
function forwardHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const forwarded: http.OutgoingHttpHeaders = { ...headers };
  delete forwarded.cookie;
  return forwarded;
}

function readCookie(req: http.IncomingMessage, name: string): string {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return '';
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`${message}\n`);
}
