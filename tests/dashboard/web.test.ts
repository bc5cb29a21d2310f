/**
 * The web dashboard in real Chromium, against a real agent running real processes, through
 * the real `khutulun dashboard` loopback listener. Screenshots go to tests/dashboard/output/.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostItem } from '@khutulun/api';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  fixture,
  launchBrowser,
  openDashboard,
  ROOT,
  screenshot,
  startTestAgent,
  type TestAgent,
} from './harness.js';

declare global {
  interface Window {
    __khutulunGraph?: {
      getElementById(id: string): {
        data(key: string): unknown;
        empty(): boolean;
        renderedPosition(): { x: number; y: number };
      };
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
      // The example: a server on a reserved port (files, an output) and a client of it.
      await agent.api.deploy({
        name: 'hello',
        source: { path: join(ROOT, 'examples/hello-world/service.yaml') },
        inputs: { node: process.execPath },
      });
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
      const row = await page.textContent('[data-testid=services] tbody tr:has-text("ticker")');
      expect(row).toContain('2/2');
      await page.screenshot({ path: screenshot('overview') });
    });

    it("shows each host's capacity and workload count, and the services' outputs", async () => {
      const [host] = await agent.api.hosts();
      const workloads = await agent.api.workloads();
      expect(workloads).toHaveLength(4);
      const outputs = await agent.api.outputs('hello');
      expect(outputs.server_port).toEqual(expect.any(Number));
      const overview = await browser.context.newPage();
      // Only a cluster member reports its capacity (placement weighs it): the host list the
      // real agent answers gets what a member of 4 cores and 8 GiB would report.
      await overview.route('**/v1/hosts', async (route) => {
        const response = await route.fetch();
        const hosts = (await response.json()) as HostItem[];
        const capacity = { cpuMillicores: 4000, memoryBytes: 8 * 2 ** 30 };
        await route.fulfill({ response, json: hosts.map((h) => ({ ...h, capacity })) });
      });
      await overview.goto(`${origin}/dashboard/#/`);
      const hostRow = overview.locator('[data-testid=hosts] tbody tr', { hasText: host!.name });
      await expect
        .poll(() => hostRow.locator('td').allTextContents())
        .toEqual([
          expect.stringContaining(host!.name),
          'up',
          'process',
          '4 CPUs, 8 GiB',
          String(workloads.length),
        ]);
      const helloRow = overview.locator('[data-testid=services] tbody tr', { hasText: 'hello' });
      await expect
        .poll(() => helloRow.textContent())
        .toContain(`server_port: ${outputs.server_port}`);
      expect(await helloRow.textContent()).toContain('2/2');
      await overview.screenshot({ path: screenshot('overview-capacity-outputs') });
      await overview.close();
    });

    it('is driven by the keyboard alone: 1 and 2 switch pages, j/k and arrows move, Enter opens', async () => {
      await page.goto(`${origin}/dashboard/#/deploy`);
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await page.keyboard.press('2');
      await page.waitForURL(/#\/events$/);
      await page.keyboard.press('1');
      await page.waitForURL(/#\/$/);
      await page.waitForSelector('[data-testid=services] >> text=ticker');
      const service = () =>
        page.textContent('[data-testid=services] tbody tr[aria-selected=true] td a');
      expect(await service()).toBe('hello');
      await page.keyboard.press('j');
      await expect.poll(service).toBe('ticker');
      await page.keyboard.press('k');
      await expect.poll(service).toBe('hello');
      await page.keyboard.press('ArrowDown');
      await expect.poll(service).toBe('ticker');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/services\/ticker$/);
      await page.waitForSelector('[data-testid=workload-row][data-name=worker-1]');
      const workload = () =>
        page.getAttribute('[data-testid=workload-row][data-selected=true]', 'data-name', {
          timeout: 1000,
        });
      await page.keyboard.press('j');
      await expect.poll(workload).toBe('ticker-1');
      await page.keyboard.press('ArrowDown');
      await expect.poll(workload).toBe('worker-1');
      await page.keyboard.press('ArrowUp');
      await expect.poll(workload).toBe('ticker-1');
      await page.keyboard.press('j');
      await expect.poll(workload).toBe('worker-1');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/workloads\/ticker\/worker-1$/);
      await page.waitForSelector('[data-testid=kind] >> text=process');
      await page.keyboard.press('1');
      await page.waitForSelector('[data-testid=services] >> text=ticker');
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

    it('opens a workload when its node in the graph is clicked', async () => {
      await page.goto(`${origin}/dashboard/#/services/ticker`);
      await page.waitForSelector('#graph[data-ready=true]');
      const box = await page.locator('#graph').boundingBox();
      const at = await page.evaluate(() =>
        window.__khutulunGraph!.getElementById('w:worker-1').renderedPosition(),
      );
      await page.mouse.click(box!.x + at.x, box!.y + at.y);
      await page.waitForURL(/#\/workloads\/ticker\/worker-1$/, { timeout: 5000 });
      await page.waitForSelector('[data-testid=kind] >> text=process');
    });

    it('shows what `khutulun workload show` does: properties, attributes, commands, files', async () => {
      const detail = await agent.api.workload('hello', 'server-1');
      await page.goto(`${origin}/dashboard/#/workloads/hello/server-1`);
      await page.waitForSelector('[data-testid=commands]');
      expect(detail.commands.length).toBeGreaterThan(0);
      const commands = await page.textContent('[data-testid=commands]');
      for (const command of detail.commands) expect(commands).toContain(command);
      expect(detail.files.length).toBeGreaterThan(0);
      const files = await page.$$eval('[data-testid=files] tr', (rows) =>
        rows.map((r) => r.querySelector('td')?.textContent),
      );
      expect(files).toEqual(detail.files.map((f) => f.path));
      const terms = (testId: string) =>
        page.$$eval(`[data-testid=${testId}] > div`, (items) =>
          items.map((i) => [
            i.querySelector('dt')?.textContent,
            i.querySelector('dd')?.textContent,
          ]),
        );
      const properties = Object.fromEntries(await terms('properties'));
      expect(Object.keys(properties).sort()).toEqual(Object.keys(detail.properties).sort());
      expect(properties.command).toBe(process.execPath);
      const attributes = Object.fromEntries(await terms('attributes'));
      expect(Object.keys(attributes).sort()).toEqual(Object.keys(detail.attributes).sort());
      expect(Object.keys(attributes).length).toBeGreaterThan(0);
      await page.screenshot({ path: screenshot('workload-details'), fullPage: true });
    });

    it("downloads a workload's whole log", async () => {
      await page.goto(`${origin}/dashboard/#/workloads/ticker/worker-1/logs`);
      await page.waitForFunction(() =>
        (document.querySelector('[data-testid=logs]')?.textContent ?? '').includes('worker up'),
      );
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('[data-testid=download-logs]'),
      ]);
      expect(download.suggestedFilename()).toBe('ticker-worker-1-both.log');
      const text = readFileSync(await download.path(), 'utf8');
      expect(text).toContain('worker up');
      expect(text).toBe(await agent.api.logs('ticker', 'worker-1'));
    });

    it('offers the terminal only for kinds that its host says run commands', async () => {
      const [host] = (await agent.api.hosts()) as Array<HostItem & { execKinds?: string[] }>;
      expect(host!.execKinds).toEqual(['process']);
      await page.goto(`${origin}/dashboard/#/workloads/ticker/worker-1`);
      await page.waitForSelector('[role=tab] >> text=Terminal');
      // No kind here lacks exec: the same agent's host list, with none of its kinds able to.
      const without = await browser.context.newPage();
      await without.route('**/v1/hosts', async (route) => {
        const response = await route.fetch();
        const hosts = (await response.json()) as HostItem[];
        await route.fulfill({ response, json: hosts.map((h) => ({ ...h, execKinds: [] })) });
      });
      await without.goto(`${origin}/dashboard/#/workloads/ticker/worker-1/terminal`);
      await without.waitForSelector('[data-testid=no-exec]');
      expect(await without.textContent('[data-testid=no-exec]')).toContain('process');
      expect(await without.$$eval('[role=tab]', (tabs) => tabs.map((t) => t.textContent))).toEqual([
        'Details',
        'Logs',
      ]);
      expect(await without.$('[data-testid=terminal]')).toBeNull();
      await without.close();
    });

    it('deletes the whole service from a workload page, saying so and asking first', async () => {
      await agent.api.deploy({ name: 'doomed', source: { path: fixture('upload.yaml') } });
      await page.goto(`${origin}/dashboard/#/workloads/doomed/echo-1`);
      const button = page.locator('[data-testid=delete-service]');
      await expect.poll(() => button.textContent()).toBe('Delete service doomed');
      await button.click();
      const dialog = page.locator('dialog[open]');
      expect(await dialog.locator('h2').textContent()).toBe('Delete service doomed?');
      expect(await dialog.textContent()).toContain('every workload of doomed is stopped');
      await dialog.locator('button', { hasText: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      expect((await agent.api.services()).map((s) => s.name)).toContain('doomed');
      await button.click();
      expect(await dialog.locator('[data-testid=confirm]').textContent()).toBe(
        'Delete service doomed',
      );
      await page.screenshot({ path: screenshot('delete-service') });
      await dialog.locator('[data-testid=confirm]').click();
      await page.waitForURL(/#\/$/, { timeout: 30_000 });
      await expect
        .poll(async () => (await agent.api.services()).map((s) => s.name), { timeout: 30_000 })
        .not.toContain('doomed');
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

    it('filters events by service, and by host: host events pass a filter on their host', async () => {
      const [self] = await agent.api.hosts();
      const hostEvent = (seq: number, host: string) => ({
        seq,
        type: 'host-joined',
        id: { kind: 'vertex', directory: ['khutulun', 'hosts'], name: host },
        time: new Date().toISOString(),
        data: { host, epoch: 1 },
      });
      const timeline = await browser.context.newPage();
      // A single agent is no cluster and records no host events: the history the real agent
      // answers gets two, about this host and about another.
      await timeline.route(/\/v1\/events\?/, async (route) => {
        const response = await route.fetch();
        const history = (await response.json()) as unknown[];
        const json = [hostEvent(-2, 'elsewhere'), hostEvent(-1, self!.name), ...history];
        await route.fulfill({ response, json });
      });
      await timeline.goto(`${origin}/dashboard/#/events`);
      await timeline.waitForSelector('[data-testid=events] tr[data-type=host-joined]');
      const rows = () =>
        timeline.$$eval('[data-testid=events] tbody tr', (trs) =>
          trs.map((r) => ({
            type: r.getAttribute('data-type'),
            service: r.getAttribute('data-service'),
            host: r.getAttribute('data-host'),
          })),
        );
      const all = await rows();
      await timeline.selectOption('select[aria-label=Service]', 'ticker');
      const ticker = await rows();
      expect(ticker.length).toBeGreaterThan(0);
      expect(ticker.length).toBeLessThan(all.length);
      expect(new Set(ticker.map((r) => r.service))).toEqual(new Set(['ticker']));
      await timeline.selectOption('select[aria-label=Service]', '');
      await timeline.selectOption('select[aria-label=Host]', self!.name);
      const onHost = await rows();
      expect(new Set(onHost.map((r) => r.host))).toEqual(new Set([self!.name]));
      expect(onHost.filter((r) => r.type === 'host-joined')).toEqual([
        { type: 'host-joined', service: null, host: self!.name },
      ]);
      // The workloads' events pass too; events about no host (services, graph records) do not.
      expect(onHost.some((r) => r.service !== null)).toBe(true);
      expect(onHost.length).toBeLessThan(all.length);
      await timeline.screenshot({ path: screenshot('events-by-host') });
      await timeline.close();
    });

    it('`khutulun dashboard --port P` listens on port P', async () => {
      const port = await freePort();
      const opened = await openDashboard(agent.stateDir, ['--port', String(port)]);
      try {
        expect(new URL(opened.url).port).toBe(String(port));
        const traded = await fetch(opened.url, { redirect: 'manual' });
        expect(traded.status).toBe(302);
        expect(traded.headers.get('set-cookie')).toContain(`khutulun_dashboard_${port}=`);
      } finally {
        opened.process.kill('SIGTERM');
      }
    });
  },
);

/** A loopback port free at the moment of asking. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
