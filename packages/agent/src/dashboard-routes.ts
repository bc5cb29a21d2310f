/**
 * The web dashboard, served by the agent: the assets Vite built into
 * `@khutulun/dashboard-web/dist`, under `/dashboard/`. The pages speak the same `/v1` API as
 * everyone else.
 *
 * On the Unix socket nothing more is needed (file permissions guard it; `khutulun dashboard`
 * bridges it to a loopback port). On the TCP listener a browser cannot send a bearer header,
 * so {@link tokenAuth} also accepts the token once as `?token=` on a dashboard page and
 * answers with a session cookie (HttpOnly, Secure, SameSite=Strict), the way Jupyter does.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { requestErrors } from './agent-error.js';

/** Where the dashboard's pages are. */
export const DASHBOARD_PATH = '/dashboard/';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/**
 * The built dashboard's directory, or undefined when `@khutulun/dashboard-web` is not
 * installed. Resolved by package name, so the agent imports no browser code.
 */
export function dashboardAssets(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    // The package's main module is lib/index.js; the assets are beside lib/, in dist/.
    return join(dirname(dirname(require.resolve('@khutulun/dashboard-web'))), 'dist');
  } catch {
    return undefined;
  }
}

/** Options of {@link dashboardRoutes}. */
export interface DashboardRoutesOptions {
  /** The built assets (default: {@link dashboardAssets}). */
  assetsDir?: string;
}

/**
 * A Hono sub-app serving the dashboard under `/dashboard/` (mount it with `app.route('/', ...)`
 * before the API's not-found handler). Hashed assets are cached for good; `index.html` is
 * always revalidated. The pages' own policy allows nothing from another origin.
 */
export function dashboardRoutes(options: DashboardRoutesOptions = {}): Hono {
  const root = options.assetsDir ?? dashboardAssets();
  const app = new Hono();
  app.get('/dashboard', (c) => c.redirect(DASHBOARD_PATH, 302));
  app.get('/dashboard/*', async (c) => {
    const relative = decodeURIComponent(c.req.path.slice(DASHBOARD_PATH.length)) || 'index.html';
    const file = root ? inside(root, relative) : undefined;
    if (!root || !file) throw requestErrors.notFound('not-found', 'no such dashboard file');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      if (relative === 'index.html') {
        return c.text(
          'The dashboard is not built: run `npm run build` (or `npm run build:extra -w @khutulun/dashboard-web`).\n',
          503,
        );
      }
      throw requestErrors.notFound('not-found', `no dashboard file ${relative}`);
    }
    const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
    const headers: Record<string, string> = {
      'content-type': type,
      'x-content-type-options': 'nosniff',
      'cache-control': relative.startsWith('assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
    };
    if (type.startsWith('text/html')) {
      headers['content-security-policy'] =
        "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
      headers['referrer-policy'] = 'no-referrer';
    }
    return c.body(new Uint8Array(body), 200, headers);
  });
  return app;
}

/** `relative` resolved inside `root`, or undefined when it would leave it. */
function inside(root: string, relative: string): string | undefined {
  const file = normalize(join(root, relative));
  return file.startsWith(root.endsWith(sep) ? root : root + sep) ? file : undefined;
}

/** The name of the dashboard's session cookie. */
export const SESSION_COOKIE = 'khutulun_session';

/**
 * The TCP listener's authentication: `Authorization: Bearer TOKEN` on every request, or the
 * session cookie that a dashboard page visited once with `?token=TOKEN` received. The cookie
 * holds a digest of the token and a per-agent secret, never the token itself.
 */
export function tokenAuth(token: string): MiddlewareHandler {
  const expected = `Bearer ${token}`;
  const session = createHash('sha256').update(randomBytes(32)).update(token).digest('base64url');
  return async (c, next) => {
    if (same(c.req.header('authorization') ?? '', expected)) return next();
    if (same(cookie(c, SESSION_COOKIE) ?? '', session)) return next();
    const offered = c.req.query('token');
    if (offered !== undefined && c.req.method === 'GET' && c.req.path.startsWith('/dashboard')) {
      if (!same(offered, token)) throw requestErrors.unauthorized();
      const url = new URL(c.req.url);
      url.searchParams.delete('token');
      c.header(
        'set-cookie',
        `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; Secure; SameSite=Strict`,
      );
      return c.redirect(url.pathname + url.search, 302);
    }
    throw requestErrors.unauthorized();
  };
}

function cookie(c: Context, name: string): string | undefined {
  for (const part of (c.req.header('cookie') ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
