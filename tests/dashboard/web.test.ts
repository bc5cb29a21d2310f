/**
 * The web dashboard in real Chromium, against a real agent running real processes, through
 * the real `khutulun dashboard` loopback listener. Screenshots go to tests/dashboard/output/.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  fixture,
  launchBrowser,
  openDashboard,
  screenshot,
  startTestAgent,
  type TestAgent,
} from './harness.js';

declare global {
  interface Window {
    __khutulunGraph?: {
      getElementById(id: string): { data(key: string): unknown; empty(): boolean };
      nodes(selector?: string): {
        length: number;
        map<T>(f: (n: { id(): string; data(k: string): unknown }) => T): T[];
      };
      edges(selector?: string): {
        length: number;
        map<T>(f: (e: { data(k: string): unknown; classes(): string[] }) => T): T[];
      };
    };
  }
}

describe.skipIf(!CHROMIUM)(
  'web dashboard in Chromium, real agent (skipped without /usr/bin/chromium)',
  () => {
    let agent: TestAgent;
    let dashboard: { url: string; process: ChildProcess };
    let browser: Awaited<ReturnType<typeof launchBrowser>>;
    let page: Page;
    let origin: string;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      agent = await startTestAgent({ from: 27100, to: 27199 });
      await agent.api.deploy({ name: 'ticker', source: { path: fixture('ticker.yaml') } });
      dashboard = await openDashboard(agent.stateDir);
      origin = new URL(dashboard.url).origin;
      browser = await launchBrowser();
      page = await browser.context.newPage();
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(dashboard.url);
    });

    afterAll(async () => {
      await browser?.close();
      dashboard?.process.kill('SIGTERM');
      await agent?.stop();
    });

    it('trades the one-time token for a session: the link does not work twice', async () => {
      expect(new URL(page.url()).searchParams.has('token')).toBe(false);
      const again = await fetch(dashboard.url, { redirect: 'manual' });
      expect(again.status).toBe(401);
      const without = await fetch(`${origin}/v1/services`);
      expect(without.status).toBe(401);
    });

    it('shows the hosts and the services on the overview', async () => {
      await page.waitForSelector('[data-testid=services] >> text=ticker');
      const hosts = await page.textContent('[data-testid=hosts]');
      expect(hosts).toContain('up');
      expect(hosts).toContain('process');
      const row = await page.textContent('[data-testid=services] tbody tr');
      expect(row).toContain('2/2');
      await page.screenshot({ path: screenshot('overview') });
    });

    it('draws the graph: workloads grouped by host, edges by relationship type', async () => {
      await page.click('[data-testid=services] >> text=ticker');
      await page.waitForSelector('#graph[data-ready=true]');
      const graph = await page.evaluate(() => {
        const cy = window.__khutulunGraph!;
        return {
          workloads: cy.nodes('.workload').map((n) => [n.id(), n.data('parent'), n.data('state')]),
          hosts: cy.nodes('.host').length,
          edges: cy
            .edges()
            .map((e) => [e.data('source'), e.data('target'), e.data('label'), e.classes()]),
        };
      });
      expect(graph.hosts).toBe(1);
      expect(graph.workloads.map((w) => w[0]).sort()).toEqual(['w:ticker-1', 'w:worker-1']);
      for (const w of graph.workloads) {
        expect(String(w[1])).toMatch(/^host:/);
        expect(w[2]).toBe('running');
      }
      expect(graph.edges).toEqual([['w:worker-1', 'w:ticker-1', 'DependsOn', ['depends']]]);
      await page.screenshot({ path: screenshot('service') });
    });

    it('streams logs as the process writes them, and filters them', async () => {
      await page.goto(`${origin}/dashboard/#/workloads/ticker/ticker-1/logs`);
      await page.waitForFunction(() =>
        /tick \d+/.test(document.querySelector('[data-testid=logs]')?.textContent ?? ''),
      );
      const lines = async () =>
        ((await page.textContent('[data-testid=logs]')) ?? '')
          .split('\n')
          .filter((l) => l.startsWith('tick')).length;
      const before = await lines();
      await page.waitForFunction(
        (n) =>
          (document.querySelector('[data-testid=logs]')?.textContent ?? '')
            .split('\n')
            .filter((l) => l.startsWith('tick')).length >=
          n + 3,
        before,
        { timeout: 5000 },
      );
      await page.fill('input[aria-label="Filter logs"]', 'no-such-line');
      expect((await page.textContent('[data-testid=logs]'))?.trim()).toBe('');
      await page.fill('input[aria-label="Filter logs"]', '');
      await page.screenshot({ path: screenshot('logs') });
    });

    it("merges the logs of all a service's workloads, each line marked with its workload", async () => {
      await page.goto(`${origin}/dashboard/#/services/ticker`);
      await page.click('[data-testid=service-logs]');
      await page.waitForFunction(() => {
        const text = document.querySelector('[data-testid=service-logs-text]')?.textContent ?? '';
        return /ticker-1\s+\| tick \d+/.test(text) && /worker-1\s+\| worker up/.test(text);
      });
      await page.fill('input[aria-label="Filter lines"]', 'worker up');
      const text = (await page.textContent('[data-testid=service-logs-text]')) ?? '';
      expect(text).toMatch(/worker-1\s+\| worker up/);
      expect(text).not.toContain('tick');
      await page.screenshot({ path: screenshot('service-logs') });
    });

    it('turns a killed process red within a second, without a reload', async () => {
      await page.goto(`${origin}/dashboard/#/services/ticker`);
      await page.waitForSelector('#graph[data-ready=true]');
      const { pid } = await agent.api.workload('ticker', 'ticker-1');
      expect(pid).toBeGreaterThan(0);
      const started = Date.now();
      process.kill(pid!, 'SIGKILL');
      await page.waitForFunction(
        () => window.__khutulunGraph?.getElementById('w:ticker-1').data('tone') === 'bad',
        undefined,
        { timeout: 1000, polling: 'raf' },
      );
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(1000);
      const state = await page.getAttribute(
        '[data-testid=workload-row][data-name=ticker-1]',
        'data-state',
      );
      expect(['exited', 'failed']).toContain(state);
      expect(await page.textContent('[data-testid=ready]')).toContain('1/2');
      await page.screenshot({ path: screenshot('killed') });
    });

    it('deploys an uploaded TOSCA file with a form built from its inputs, showing progress', async () => {
      await page.goto(`${origin}/dashboard/#/deploy`);
      await page.setInputFiles('[data-testid=deploy-file]', fixture('upload.yaml'));
      await page.waitForSelector('[data-testid=input-words]');
      expect(await page.inputValue('[data-testid=input-words]')).toBe('hello from an upload');
      expect(await page.textContent('main')).toContain('What the echo workload says.');
      await page.fill('[data-testid=input-words]', 'hello from the browser');
      await page.fill('[data-testid=deploy-name]', 'uploaded');
      await page.click('[data-testid=deploy]');
      await page.waitForSelector('[data-testid=deploy-status].tone-ok', { timeout: 30_000 });
      expect(await page.textContent('[data-testid=progress]')).toMatch(/ready echo-1/);
      const service = await agent.api.service('uploaded');
      expect(service.inputs).toEqual({ words: 'hello from the browser' });
      await expect
        .poll(() => agent.api.logs('uploaded', 'echo-1'), { timeout: 10_000 })
        .toContain('hello from the browser');
      await page.screenshot({ path: screenshot('deploy') });
    });

    it('deploys an uploaded CSAR, with a form from its inputs', async () => {
      // A CSAR of the upload fixture. (Artifacts inside a CSAR are not extracted for the
      // process kind yet: their path is `x.csar!file`; so this one needs none.)
      const dir = mkdtempSync(join(tmpdir(), 'khutulun-csar-'));
      writeFileSync(
        join(dir, 'TOSCA.meta'),
        'CSAR-Version: 2.0\nCreated-By: Khutulun\nEntry-Definitions: service.yaml\n',
      );
      copyFileSync(fixture('upload.yaml'), join(dir, 'service.yaml'));
      execFileSync('python3', ['-m', 'zipfile', '-c', 'echo.csar', 'TOSCA.meta', 'service.yaml'], {
        cwd: dir,
      });
      await page.goto(`${origin}/dashboard/#/`);
      await page.goto(`${origin}/dashboard/#/deploy`);
      await page.setInputFiles('[data-testid=deploy-file]', join(dir, 'echo.csar'));
      await page.waitForSelector('[data-testid=input-words]');
      expect(await page.inputValue('[data-testid=input-words]')).toBe('hello from an upload');
      await page.fill('[data-testid=input-words]', 'hello from a CSAR');
      await page.fill('[data-testid=deploy-name]', 'from-csar');
      await page.click('[data-testid=deploy]');
      await page.waitForSelector('[data-testid=deploy-status].tone-ok', { timeout: 30_000 });
      await expect
        .poll(() => agent.api.logs('from-csar', 'echo-1'), { timeout: 10_000 })
        .toContain('hello from a CSAR');
      await agent.api.deleteService('from-csar');
      rmSync(dir, { recursive: true, force: true });
    });

    it('shows the TOSCA diagnostics of a broken upload as file:line:col', async () => {
      await page.goto(`${origin}/dashboard/#/`);
      await page.goto(`${origin}/dashboard/#/deploy`);
      await page.setInputFiles('[data-testid=deploy-file]', fixture('broken.yaml'));
      await page.click('[data-testid=deploy]');
      await page.waitForSelector('[data-testid=deploy-status].tone-bad');
      const diagnostics = await page.textContent('[data-testid=diagnostics]');
      expect(diagnostics).toMatch(/broken\.yaml:\d+:\d+: error TOSCA\d+/);
      await page.screenshot({ path: screenshot('diagnostics') });
    });

    it('runs echo through the exec terminal', async () => {
      await page.goto(`${origin}/dashboard/#/workloads/ticker/worker-1/terminal`);
      await page.fill('[data-testid=exec-command]', 'sh -c "echo exec-answers-$((6*7))"');
      await page.click('[data-testid=exec-connect]');
      await page
        .waitForFunction(
          () =>
            (document.querySelector('.xterm-rows')?.textContent ?? '').includes('exec-answers-42'),
          undefined,
          { timeout: 10_000 },
        )
        .catch(async (error) => {
          throw new Error(
            `${error.message}; status: ${await page.textContent('[data-testid=exec-status]')}`,
          );
        });
      await page.screenshot({ path: screenshot('terminal') });
    });

    it('restarts a workload from its button', async () => {
      const before = await agent.api.workload('ticker', 'worker-1');
      await page.goto(`${origin}/dashboard/#/workloads/ticker/worker-1`);
      await page.click('[data-testid=restart]');
      await page.waitForFunction(
        (pid) => {
          const text = document.querySelector('[data-testid=pid]')?.textContent;
          return text !== undefined && text !== String(pid);
        },
        before.pid,
        { timeout: 10_000 },
      );
      const after = await agent.api.workload('ticker', 'worker-1');
      expect(after.pid).not.toBe(before.pid);
      expect(after.state).toBe('running');
    });

    it('lists events live, filtered by type, in dark mode', async () => {
      await page.goto(`${origin}/dashboard/#/events`);
      await page.click('[data-testid=theme]');
      expect(await page.getAttribute('html', 'data-theme')).toBe('dark');
      await page.fill('input[aria-label=Type]', 'workload-ready');
      await page.waitForSelector('[data-testid=events] tr[data-type=workload-ready]');
      const types = await page.$$eval('[data-testid=events] tbody tr', (rows) =>
        rows.map((r) => r.getAttribute('data-type')),
      );
      expect(new Set(types)).toEqual(new Set(['workload-ready']));
      await page.screenshot({ path: screenshot('events-dark') });
      expect(pageErrors).toEqual([]);
    });
  },
);
