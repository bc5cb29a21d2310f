/**
 * `khutulun top` (the real CLI) end to end in tmux: a real agent with real processes, keys sent with
 * `send-keys`, the screen read with `capture-pane`. The tmux server is private to the test
 * (`-L`), with no escape delay so Escape is not read as Alt+key.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, ROOT, startTestAgent, type TestAgent } from './harness.js';

const TMUX = spawnSync('tmux', ['-V']).status === 0;
const server = `khutulun-top-${process.pid}`;
const tmux = (...args: string[]) =>
  execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'top');

/** Sends keys one at a time, as a person types them. */
async function keys(...names: string[]): Promise<void> {
  for (const name of names) {
    tmux('send-keys', '-t', 'top', name);
    await new Promise((resolve) => setTimeout(resolve, 60));
  }
}

/** Waits until the screen shows what `test` looks for (or fails with the screen). */
async function until(
  test: (text: string) => boolean,
  what: string,
  timeout = 5000,
): Promise<string> {
  const end = Date.now() + timeout;
  let text = '';
  while (Date.now() < end) {
    text = screen();
    if (test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the screen never showed ${what}:\n${text}`);
}

describe.skipIf(!TMUX)('khutulun top in tmux, real agent (skipped without tmux)', () => {
  let agent: TestAgent;

  beforeAll(async () => {
    agent = await startTestAgent({ from: 27200, to: 27299 });
    await agent.api.deploy({ name: 'ticker', source: { path: fixture('ticker.yaml') } });
    const command = [
      process.execPath,
      join(ROOT, 'packages/cli/bin/khutulun.js'),
      '--state-dir',
      agent.stateDir,
      'top',
    ].join(' ');
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'top', '-x', '160', '-y', '40', command);
    tmux('set-option', '-s', 'escape-time', '0');
  });

  afterAll(async () => {
    spawnSync('tmux', ['-L', server, 'kill-server']);
    await agent?.stop();
  });

  it('shows the services, the workloads with their state and restarts, and the event tail', async () => {
    const text = await until(
      (t) => t.includes('ticker/worker-1') && t.includes('● live'),
      'the workloads',
    );
    expect(text).toMatch(/ticker\s+running\s+2\/2/);
    expect(text).toMatch(/> ticker\/ticker-1\s+process\s+running\s+0\s+\d+/);
    expect(text).toMatch(/ticker\/worker-1\s+process\s+running/);
    expect(text).toContain('EVENTS');
    expect(text).toContain('service-deployed');
  });

  it('shows the CPU and memory of running workloads, as the process driver reads them', async () => {
    // Memory with the first reading, CPU percent from the second (two seconds later).
    const text = await until(
      (t) => /ticker\/worker-1\s+process\s+running\s+\d+\s+\d+\s+[\d.]+%\s+[\d.]+M/.test(t),
      'the figures',
      8000,
    );
    const row = /ticker\/worker-1\s+process\s+running\s+\d+\s+(\d+)\s+([\d.]+)%\s+([\d.]+)M/.exec(
      text,
    )!;
    // A shell loop: some memory (its resident set, over 100 kB), little CPU.
    expect(Number(row[3])).toBeGreaterThan(0.1);
    expect(Number(row[2])).toBeLessThan(50);
  });

  it('follows a state change live: a killed process shows as failed', async () => {
    const { pid } = await agent.api.workload('ticker', 'ticker-1');
    process.kill(pid!, 'SIGKILL');
    const text = await until(
      (t) => /ticker\/ticker-1\s+process\s+(failed|exited)/.test(t),
      'the exit',
    );
    expect(text).toMatch(/ticker\s+degraded\s+1\/2/);
    expect(text).toMatch(
      /workload-exited|state: "running" → "(failed|exited)"|signal: null → "SIGKILL"/,
    );
  });

  it('moves with j/k and opens the details with enter (commands and files)', async () => {
    await keys('j');
    await until((t) => t.includes('> ticker/worker-1'), 'the selection on worker-1');
    await keys('Enter');
    const text = await until((t) => t.includes('commands') && t.includes('files'), 'the details');
    expect(text).toContain('ticker/worker-1 running');
    expect(text).toMatch(/workloads\/ticker\/worker-1/);
    await keys('Escape', 'k');
    await until((t) => t.includes('> ticker/ticker-1'), 'the selection back on ticker-1');
  });

  it('shows the logs with l', async () => {
    await keys('l');
    const text = await until((t) => /tick \d+/.test(t), 'the ticker output');
    expect(text).toContain('logs of ticker/ticker-1');
    await keys('Escape');
  });

  it('filters with /', async () => {
    await keys('/', 'w', 'o', 'r', 'k', 'Enter');
    const text = await until((t) => t.includes('("work")'), 'the filter');
    expect(text).toContain('> ticker/worker-1');
    expect(text).not.toMatch(/^\s*(> )?ticker\/ticker-1\s+process/m);
    await keys('/', 'Enter');
  });

  it('asks before deleting with d, and keeps the service on n', async () => {
    await keys('d');
    await until(
      (t) => t.includes('Delete service ticker with all its workloads? (y/n)'),
      'the question',
    );
    await keys('n');
    await until((t) => t.includes('delete cancelled'), 'the cancellation');
    expect((await agent.api.services()).map((s) => s.name)).toEqual(['ticker']);
  });

  it('restarts the selected workload with r', async () => {
    await keys('j');
    await until((t) => t.includes('> ticker/worker-1'), 'the selection on worker-1');
    const before = await agent.api.workload('ticker', 'worker-1');
    await keys('r');
    await until((t) => /restart ticker\/worker-1: /.test(t), 'the restart outcome');
    await expect
      .poll(async () => (await agent.api.workload('ticker', 'worker-1')).pid, { timeout: 10_000 })
      .not.toBe(before.pid);
  });

  it('deletes the service with d then y, and quits with q', async () => {
    await keys('d', 'y');
    await expect.poll(async () => (await agent.api.services()).length, { timeout: 15_000 }).toBe(0);
    await keys('q');
    await expect
      .poll(() => spawnSync('tmux', ['-L', server, 'has-session', '-t', 'top']).status, {
        timeout: 5000,
      })
      .not.toBe(0);
  });
});
