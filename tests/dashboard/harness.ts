/**
 * What the dashboard tests share: a real agent on a temporary state directory, the real
 * `khutulun dashboard` command in front of it, and Debian's Chromium driven by playwright-core.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Agent, startAgent } from '@khutulun/agent';
import { ApiClient } from '@khutulun/api';
import { unixSocketFetch } from '@khutulun/api/node';
import { type BrowserContext, chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository's root. */
export const ROOT = resolve(here, '../..');

/** Where tests keep their screenshots (gitignored). */
export const OUTPUT = join(here, 'output');

/** A fixture file's absolute path. */
export function fixture(name: string): string {
  return join(here, 'fixtures', name);
}

/** Debian's Chromium, as RUNTIMES.md says; undefined when it is not installed. */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) =>
  existsSync(p),
);

/** A running agent with a client. */
export interface TestAgent {
  agent: Agent;
  api: ApiClient;
  stateDir: string;
  stop(): Promise<void>;
}

/** Starts a real agent on a fresh state directory. */
export async function startTestAgent(portRange: { from: number; to: number }): Promise<TestAgent> {
  const stateDir = mkdtempSync(join(tmpdir(), 'khutulun-dashboard-'));
  // Processes only: the podman kind would start a detached `podman system service` that
  // outlives the test's state directory.
  const agent = await startAgent({ stateDir, portRange, kindNames: ['process'] });
  const api = new ApiClient({ fetch: unixSocketFetch(agent.socketPath) });
  return {
    agent,
    api,
    stateDir,
    async stop() {
      for (const service of await api.services().catch(() => [])) {
        await api.deleteService(service.name).catch(() => undefined);
      }
      await agent.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * `khutulun dashboard --no-open [ARGS]` against a state directory: its process and printed
 * URL.
 */
export async function openDashboard(
  stateDir: string,
  args: readonly string[] = [],
): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'packages/cli/bin/khutulun.js'),
      '--state-dir',
      stateDir,
      'dashboard',
      '--no-open',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard URL: ${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:\d+\/dashboard\/\?token=\S+/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[0]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`khutulun dashboard exited (${code}): ${output}`)));
  });
  return { url, process: child };
}

/** A headless Chromium with a fresh profile, loopback only. */
export async function launchBrowser(options: { ignoreHTTPSErrors?: boolean } = {}): Promise<{
  context: BrowserContext;
  close(): Promise<void>;
}> {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install chromium)');
  const profile = mkdtempSync(join(tmpdir(), 'khutulun-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1366, height: 820 },
    // Only for an agent's self-signed test certificate.
    ...(options.ignoreHTTPSErrors ? { ignoreHTTPSErrors: true } : {}),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The screenshot path for a name (the folder is made on first use). */
export function screenshot(name: string): string {
  mkdirSync(OUTPUT, { recursive: true });
  return join(OUTPUT, `${name}.png`);
}
