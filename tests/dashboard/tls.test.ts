/**
 * The web dashboard served by the agent itself over TLS (`khutulun agent --listen`), opened
 * with the agent's token: the token becomes a session cookie, and the page lives on it (API
 * calls and the event stream), in real Chromium.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, startAgent } from '@khutulun/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchBrowser, ROOT, screenshot } from './harness.js';

const OPENSSL = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!CHROMIUM || !OPENSSL)(
  'web dashboard over the agent TLS listener (skipped without /usr/bin/chromium or openssl)',
  () => {
    const token = 'dashboard-tls-token';
    let dir: string;
    let agent: Agent;
    let origin: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'khutulun-dashboard-tls-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      // A free port: bind 0, read it, release it.
      const port = Number(
        execFileSync(
          process.execPath,
          [
            '-e',
            "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
          ],
          { encoding: 'utf8' },
        ).trim(),
      );
      agent = await startAgent({
        stateDir: join(dir, 'state'),
        kindNames: ['process'],
        listen: `127.0.0.1:${port}`,
        tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
        token,
        portRange: { from: 27400, to: 27499 },
      });
      origin = `https://127.0.0.1:${agent.tcpAddress!.port}`;
    });

    afterAll(async () => {
      await agent?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('prints the URL with the token (khutulun --agent https://... dashboard)', () => {
      const out = execFileSync(
        process.execPath,
        [
          join(ROOT, 'packages/cli/bin/khutulun.js'),
          '--agent',
          origin,
          '--token',
          token,
          'dashboard',
          '--no-open',
        ],
        { encoding: 'utf8' },
      );
      expect(out.trim()).toBe(`${origin}/dashboard/?token=${token}`);
    });

    it('trades the token for a session cookie and runs on it', async () => {
      const browser = await launchBrowser({ ignoreHTTPSErrors: true });
      try {
        const page = await browser.context.newPage();
        const refused = await page.goto(`${origin}/dashboard/`);
        expect(refused?.status()).toBe(401);
        await page.goto(`${origin}/dashboard/?token=${token}`);
        expect(page.url()).toBe(`${origin}/dashboard/`);
        await page.waitForSelector('[data-testid=connection]:has-text("live")');
        expect(await page.textContent('[data-testid=hosts]')).toContain('up');
        const cookies = await browser.context.cookies(origin);
        expect(cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite])).toEqual([
          ['khutulun_session', true, true, 'Strict'],
        ]);
        expect(cookies[0]!.value).not.toContain(token);
        await page.screenshot({ path: screenshot('tls-overview') });
      } finally {
        await browser.close();
      }
    });
  },
);
