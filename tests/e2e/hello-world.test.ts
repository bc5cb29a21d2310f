/**
 * The README's main job, end to end: `khutulun service deploy examples/hello-world --wait`
 * on a fresh state directory starts an agent by itself, runs the server and the client, the
 * client really gets the server's answer, and delete leaves nothing behind.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, TestHost, templateOf, type WorkloadItem, waitUntil } from './harness.js';

const host = new TestHost('khutulun-e2e-hello-');
afterAll(() => host.cleanup());

describe('examples/hello-world', () => {
  let server: WorkloadItem;
  let client: WorkloadItem;

  it('deploys with one command, starting an agent in the background, with progress on stderr', async () => {
    const result = await host.cli(['service', 'deploy', 'examples/hello-world', '--wait']);
    expect(result.stderr).toMatch(/starting one in the background/);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/hello-world\/server(-\d+)? .*running \(pid \d+/);
    expect(result.stderr).toMatch(/Deployed hello-world/);
    expect(result.stdout).toMatch(/^name:\s+hello-world$/m);
    expect(existsSync(join(host.stateDir, 'agent.log'))).toBe(true);
  });

  it('lists the workloads as JSON: service, name, host, state and pid', async () => {
    const items = await host.json<WorkloadItem[]>(['workload', 'list']);
    expect(Array.isArray(items)).toBe(true);
    expect(items.map((w) => templateOf(w.name)).sort()).toEqual(['client', 'server']);
    for (const item of items) {
      expect(item).toMatchObject({ service: 'hello-world', state: 'running' });
      expect(typeof item.host).toBe('string');
      expect(item.host.length).toBeGreaterThan(0);
      expect(Number.isInteger(item.pid)).toBe(true);
      expect(isAlive(item.pid ?? 0)).toBe(true);
    }
    server = items.find((w) => templateOf(w.name) === 'server')!;
    client = items.find((w) => templateOf(w.name) === 'client')!;
    expect(await host.json<WorkloadItem[]>(['workload', 'list', 'hello-world'])).toHaveLength(2);
    const unknown = await host.cli(['workload', 'list', 'no-such-service']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('khutulun: no service named "no-such-service"\n');
  });

  it('the client really receives the server answer through the reserved port', async () => {
    let logs = '';
    await waitUntil(
      async () => {
        logs = (await host.cli(['workload', 'logs', `hello-world/${client.name}`])).stdout;
        return /client: got from the server: Hello, world!/.test(logs);
      },
      60_000,
      'the client to log the server answer',
    );
    const port = server.ports?.port;
    expect(port).toBeGreaterThan(0);
    expect(logs).toContain(`client: the server is at 127.0.0.1:${port}`);
    expect(logs).toMatch(
      new RegExp(`answer #\\d+ from the server, pid ${server.pid}, port ${port}`),
    );
    // The node template's name addresses its only workload, as the READMEs write it.
    expect((await host.cli(['workload', 'logs', 'hello-world/client'])).stdout).toMatch(
      /got from the server/,
    );
    const outputs = await host.json<Record<string, unknown>>(['service', 'outputs', 'hello-world']);
    expect(outputs.server_port).toBe(port);
  });

  it('shows the exact command and files the driver made', async () => {
    const shown = await host.json<Record<string, unknown>>([
      'workload',
      'show',
      `hello-world/${server.name}`,
    ]);
    expect(shown).toMatchObject({ service: 'hello-world', name: server.name, pid: server.pid });
    expect(String(shown.commandLine)).toMatch(/node/);
    const files = (shown.files as Array<{ path: string; purpose: string }>).map((f) => f.path);
    expect(files.length).toBeGreaterThan(0);
    expect(files.some((f) => f.endsWith('stdout.log'))).toBe(true);
    for (const path of files) {
      expect(path.startsWith(host.stateDir), path).toBe(true);
      expect(existsSync(path), path).toBe(true);
    }
    const table = await host.cli(['workload', 'show', 'hello-world', server.name]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^command line:/m);
    expect(table.stdout).toContain(files.find((f) => f.endsWith('stdout.log')));
  });

  it('answers every listing command in every output format', async () => {
    for (const args of [
      ['service', 'list'],
      ['host', 'list'],
      ['events', '--limit', '5'],
      ['plugin', 'list'],
    ]) {
      for (const format of ['table', 'json', 'yaml']) {
        const result = await host.cli([...args, '-o', format]);
        expect(result.code, `${args.join(' ')} -o ${format}: ${result.stderr}`).toBe(0);
        if (format === 'json') JSON.parse(result.stdout);
      }
    }
    const services = await host.json<Array<{ name: string; state: string }>>(['service', 'list']);
    expect(services).toEqual([expect.objectContaining({ name: 'hello-world', state: 'running' })]);
    const hosts = await host.json<Array<{ self: boolean }>>(['host', 'list']);
    expect(hosts.some((h) => h.self)).toBe(true);
    const serviceNames = await host.cli(['__complete', 'service', 'show', 'hel']);
    expect(serviceNames.stdout).toBe('hello-world\n');
    const names = await host.cli(['__complete', 'workload', 'logs', 'hello-world/cl']);
    expect(names.stdout).toBe(`hello-world/${client.name}\n`);
    const plugin = join(host.stateDir, 'echo-plugin.sh');
    writeFileSync(plugin, '#!/bin/sh\nexec cat\n', { mode: 0o755 });
    const registered = await host.cli([
      'plugin',
      'register',
      'echo',
      plugin,
      '--grant',
      'log',
      '-o',
      'json',
    ]);
    expect(registered.code, registered.stderr).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({
      name: 'echo',
      kind: 'executable',
      grants: ['log'],
    });
    const plugins = await host.json<Array<{ name: string; digest: string }>>(['plugin', 'list']);
    expect(plugins.find((p) => p.name === 'echo')?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const missing = await host.cli(['service', 'show', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^khutulun: .*nope/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('restarts a workload killed with SIGKILL', async () => {
    process.kill(client.pid!, 'SIGKILL');
    let now: WorkloadItem | undefined;
    await waitUntil(
      async () => {
        const items = await host.json<WorkloadItem[]>(['workload', 'list', 'hello-world']);
        now = items.find((w) => w.name === client.name);
        return now?.state === 'running' && now.pid !== undefined && now.pid !== client.pid;
      },
      60_000,
      'the client to run again',
    );
    expect(isAlive(client.pid!)).toBe(false);
    expect(isAlive(now!.pid!)).toBe(true);
    expect(now!.restarts).toBeGreaterThanOrEqual(1);
  });

  it('deletes the service leaving nothing behind', async () => {
    const port = server.ports!.port!;
    const result = await host.cli(['service', 'delete', 'hello-world', '--wait']);
    expect(result.code, result.stderr).toBe(0);
    expect(host.workloadProcesses()).toEqual([]);
    const workloads = join(host.stateDir, 'workloads');
    const left = existsSync(workloads) ? readdirSync(workloads, { recursive: true }) : [];
    expect(left).toEqual([]);
    const ports = join(host.stateDir, 'ports.json');
    if (existsSync(ports)) expect(readFileSync(ports, 'utf8')).not.toMatch(/hello-world/);
    await expect(canListen(port)).resolves.toBe(true);
    expect(await host.json(['service', 'list'])).toEqual([]);
    expect(await host.json(['workload', 'list'])).toEqual([]);
    const left2 = await host.json<unknown[]>([
      'graph',
      'query',
      '--directory',
      'services/hello-world',
      '-r',
    ]);
    expect(left2).toEqual([]);
  });
});

/** Whether this process can listen on the port (nothing else holds it). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '0.0.0.0', exclusive: true }, () =>
      probe.close(() => resolve(true)),
    );
  });
}
