/**
 * The other ready examples, deployed as their READMEs say: the three-tier chain starts in
 * dependency order and its probe gets a page through all tiers; restart policies restart
 * what they should and not what they should not; the exit handler script runs.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, templateOf, type WorkloadItem, waitUntil } from './harness.js';

const host = new TestHost('khutulun-e2e-examples-');
beforeAll(() => host.startAgent());
afterAll(() => host.cleanup());

interface Event {
  seq: number;
  type: string;
  id: { name: string };
  data?: Record<string, unknown>;
}

describe('inputs and names', () => {
  it('deploys examples/hello-world a second time under another name, with -i greeting=Hi', async () => {
    const deployed = await host.cli([
      'service',
      'deploy',
      'examples/hello-world',
      '--name',
      'hi',
      '-i',
      'greeting=Hi',
      '--wait',
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const shown = await host.json<{ inputs: Record<string, unknown> }>(['service', 'show', 'hi']);
    expect(shown.inputs).toMatchObject({ greeting: 'Hi' });
    const client = (await host.json<WorkloadItem[]>(['workload', 'list', 'hi'])).find(
      (w) => templateOf(w.name) === 'client',
    )!;
    await waitUntil(
      async () =>
        /got from the server: Hi, world!/.test(
          (await host.cli(['workload', 'logs', `hi/${client.name}`])).stdout,
        ),
      60_000,
      'the client to get the greeting',
    );
    const again = await host.cli([
      'service',
      'deploy',
      'examples/hello-world',
      '--name',
      'hi',
      '--wait',
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^khutulun: .*hi/);
    expect((await host.cli(['service', 'delete', 'hi', '--wait'])).code).toBe(0);
  });
});

describe('examples/three-tier', () => {
  it('starts db, api, web and probe in dependency order, and the probe gets a page through all of them', async () => {
    // Without --wait the command answers at once; the event stream tells when it is done.
    const deployed = await host.cli(['service', 'deploy', 'examples/three-tier']);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stdout).toMatch(/deploying/);
    const followed = await host.follow(
      ['events', '-f', '--since', '0', '--service', 'three-tier', '-o', 'json'],
      (out) => /"type":"service-deploy(ed|-failed)"/.test(out),
    );
    expect(followed.code, followed.stderr).toBe(0);
    const streamed = followed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Event);
    expect(streamed.map((e) => e.type)).toContain('service-deployed');
    expect(streamed.map((e) => e.seq)).toEqual(
      [...streamed.map((e) => e.seq)].sort((a, b) => a - b),
    );
    const events = await host.api<Event[]>(
      'GET',
      '/v1/events?since=0&limit=10000&service=three-tier',
    );
    const started = events
      .filter((e) => e.type === 'workload-started')
      .map((e) => templateOf(e.id.name));
    expect(started).toEqual(['db', 'api', 'web', 'probe']);
    const items = await host.json<WorkloadItem[]>(['workload', 'list', 'three-tier']);
    const probe = items.find((w) => templateOf(w.name) === 'probe')!;
    await waitUntil(
      async () =>
        /probe: users: ada, grace, linus/.test(
          (await host.cli(['workload', 'logs', `three-tier/${probe.name}`])).stdout,
        ),
      60_000,
      'the probe to get a page',
    );
    const tail = await host.follow(
      ['workload', 'logs', `three-tier/${probe.name}`, '-f', '--tail', '1'],
      (out) => /(probe: users: .*\n){2}/.test(out),
    );
    expect(tail.code, tail.stderr).toBe(0);
    const outputs = await host.json<{ url: string }>(['service', 'outputs', 'three-tier']);
    const web = items.find((w) => templateOf(w.name) === 'web')!;
    expect(outputs.url).toBe(`http://127.0.0.1:${web.ports?.port}/`);
    expect((await fetch(outputs.url).then((r) => r.text())).trim()).toBe(
      'users: ada, grace, linus',
    );
    expect((await host.cli(['service', 'delete', 'three-tier', '--wait'])).code).toBe(0);
  });
});

describe('examples/restart-policy', () => {
  const tally = join(tmpdir(), 'khutulun-restart-policy-exits.log');
  afterAll(() => rmSync(tally, { force: true }));

  it('restarts on failure and always, not a clean exit under on-failure, and runs the exit handler', async () => {
    rmSync(tally, { force: true });
    const deployed = await host.cli(['service', 'deploy', 'examples/restart-policy', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const byTemplate = async () =>
      new Map(
        (await host.json<WorkloadItem[]>(['workload', 'list', 'restart-policy'])).map((w) => [
          templateOf(w.name),
          w,
        ]),
      );
    await waitUntil(
      async () => {
        const now = await byTemplate();
        return (
          (now.get('flaky')?.restarts ?? 0) >= 1 &&
          (now.get('forever')?.restarts ?? 0) >= 1 &&
          now.get('batch')?.state === 'exited'
        );
      },
      90_000,
      'flaky and forever to be restarted and batch to finish',
    );
    const now = await byTemplate();
    expect(now.get('batch')).toMatchObject({ state: 'exited', restarts: 0 });
    await waitUntil(() => existsSync(tally), 60_000, 'the exit handler to run');
    expect(readFileSync(tally, 'utf8')).toMatch(
      /restart-policy\/flaky(-\d+)? exited: \{"event":"exited"/,
    );
    expect((await host.cli(['service', 'delete', 'restart-policy', '--wait'])).code).toBe(0);
  });
});
