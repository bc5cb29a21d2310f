import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { isAgentError } from './agent-error.js';
import { dashboardRoutes, SESSION_COOKIE, tokenAuth } from './dashboard-routes.js';

const assets = mkdtempSync(join(tmpdir(), 'khutulun-dashboard-assets-'));
mkdirSync(join(assets, 'assets'));
writeFileSync(join(assets, 'index.html'), '<!doctype html><title>Khutulun</title>');
writeFileSync(join(assets, 'assets', 'index-abc.js'), 'console.log(1)');
writeFileSync(join(tmpdir(), 'khutulun-secret.txt'), 'secret');
afterAll(() => {
  rmSync(assets, { recursive: true, force: true });
  rmSync(join(tmpdir(), 'khutulun-secret.txt'), { force: true });
});

/** The dashboard behind the TCP listener's authentication, errors mapped as the API does. */
function app(token?: string): Hono {
  const a = new Hono();
  if (token) a.use('*', tokenAuth(token));
  a.route('/', dashboardRoutes({ assetsDir: assets }));
  a.get('/v1/health', (c) => c.json({ ok: true }));
  a.onError((error, c) =>
    c.json(
      { error: { message: error.message } },
      (isAgentError(error) ? error.status : 500) as 500,
    ),
  );
  return a;
}

describe('dashboard routes', () => {
  it('serves the page (no caching, a strict content policy) and hashed assets (cached for good)', async () => {
    const page = await app().request('/dashboard/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<title>Khutulun</title>');
    const script = await app().request('/dashboard/assets/index-abc.js');
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect((await app().request('/dashboard')).headers.get('location')).toBe('/dashboard/');
  });

  it('serves nothing outside its directory', async () => {
    expect((await app().request('/dashboard/..%2fkhutulun-secret.txt')).status).toBe(404);
    expect((await app().request('/dashboard/nope.js')).status).toBe(404);
  });

  it('says how to build it when it is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'khutulun-dashboard-empty-'));
    const a = new Hono().route('/', dashboardRoutes({ assetsDir: empty }));
    const answer = await a.request('/dashboard/');
    expect(answer.status).toBe(503);
    expect(await answer.text()).toContain('npm run build');
    rmSync(empty, { recursive: true, force: true });
  });
});

describe('token authentication of the TCP listener', () => {
  const secure = app('s3cret');

  it('takes the bearer token, and refuses anything else', async () => {
    expect(
      (await secure.request('/v1/health', { headers: { authorization: 'Bearer s3cret' } })).status,
    ).toBe(200);
    expect((await secure.request('/v1/health')).status).toBe(401);
    expect(
      (await secure.request('/v1/health', { headers: { authorization: 'Bearer nope' } })).status,
    ).toBe(401);
    expect((await secure.request('/dashboard/?token=nope')).status).toBe(401);
  });

  it('trades ?token= on a dashboard page for a session cookie that opens the API', async () => {
    const login = await secure.request('/dashboard/?token=s3cret&x=1');
    expect(login.status).toBe(302);
    expect(login.headers.get('location')).toBe('/dashboard/?x=1');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(
      new RegExp(`^${SESSION_COOKIE}=[\\w-]+; Path=/; HttpOnly; Secure; SameSite=Strict$`),
    );
    expect(cookie).not.toContain('s3cret');
    const session = cookie.split(';')[0]!;
    expect((await secure.request('/v1/health', { headers: { cookie: session } })).status).toBe(200);
    expect(
      (await secure.request('/v1/health', { headers: { cookie: `${SESSION_COOKIE}=forged` } }))
        .status,
    ).toBe(401);
    // The token is only taken on a page, not on the API.
    expect((await secure.request('/v1/health?token=s3cret')).status).toBe(401);
  });
});
