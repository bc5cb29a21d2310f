import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentProcess, runAgentToExit, startAgentProcess } from './testing/agent-process.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-agent-test-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function agentOn(dir: string, args: string[] = []): Promise<AgentProcess> {
  const agent = await startAgentProcess(dir, args);
  cleanup.push(() => agent.kill());
  return agent;
}

describe('the agent process', () => {
  it('serves the API on DIR/api.sock (mode 0600), writes DIR/agent.pid and removes it on SIGTERM', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    expect(statSync(join(dir, 'api.sock')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'agent.pid'), 'utf8').trim()).toBe(String(agent.pid));
    const health = await agent.api('GET', '/v1/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, pid: agent.pid, stateDir: dir, store: 'sqlite' });
    expect(existsSync(join(dir, 'state.db'))).toBe(true);
    expect(await agent.stop()).toBe(0);
    expect(existsSync(join(dir, 'agent.pid'))).toBe(false);
  });

  it('refuses a second agent on the same state directory, and takes over after a kill -9', async () => {
    const dir = stateDir();
    const first = await agentOn(dir);
    const second = await runAgentToExit(dir);
    expect(second.code).toBe(1);
    expect(second.output).toContain(`another agent (PID ${first.pid})`);
    await first.kill();
    const third = await agentOn(dir);
    expect((await third.api('GET', '/v1/health')).body.pid).toBe(third.pid);
  });

  it('exits 2 on misuse: --listen without TLS and token, unknown options', async () => {
    const dir = stateDir();
    expect((await runAgentToExit(dir, ['--listen', '127.0.0.1:0'])).code).toBe(2);
    expect((await runAgentToExit(dir, ['--bogus'])).code).toBe(2);
    expect((await runAgentToExit(dir, ['--store', 'mysql://x'])).code).toBe(2);
    expect((await runAgentToExit(dir, ['--port-range', '3000-2000'])).code).toBe(2);
  });

  it('maps errors to one JSON shape: unknown routes, bad bodies, missing services', async () => {
    const agent = await agentOn(stateDir());
    const route = await agent.api('GET', '/v1/nothing');
    expect(route).toMatchObject({ status: 404, body: { error: { code: 'not-found' } } });
    const bad = await agent.api('POST', '/v1/services', { source: { path: 'relative.yaml' } });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } });
    const missing = await agent.api('GET', '/v1/services/nope');
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'service-not-found' } } });
    const gone = await agent.api('DELETE', '/v1/services/nope');
    expect(gone.status).toBe(404);
    expect((await agent.api('GET', '/v1/workloads/nope/x')).body.error.code).toBe(
      'workload-not-found',
    );
  });

  it('adds a TCP listener with TLS that requires the bearer token', async () => {
    const dir = stateDir();
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const agent = await agentOn(dir, [
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--token',
      's3cret',
    ]);
    const port = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(agent.output())?.[1]);
    expect(port).toBeGreaterThan(0);
    const get = (token?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/health',
            ca: readFileSync(cert),
            checkServerIdentity: () => undefined,
            headers: token ? { authorization: `Bearer ${token}` } : {},
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect(await get()).toBe(401);
    expect(await get('wrong')).toBe(401);
    expect(await get('s3cret')).toBe(200);
  });

  it('registers and lists plugins, lists this host, validates and compiles TOSCA', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const plugin = join(dir, 'echo.mjs');
    writeFileSync(plugin, 'export function echo(args) { return args[0]; }\n');
    const registered = await agent.api('POST', '/v1/plugins', {
      name: 'echo',
      kind: 'typescript',
      path: plugin,
      grants: ['log'],
    });
    expect(registered).toMatchObject({
      status: 201,
      body: {
        name: 'echo',
        kind: 'typescript',
        digest: expect.stringMatching(/^sha256:/),
        grants: ['log'],
      },
    });
    expect((await agent.api('GET', '/v1/plugins')).body).toEqual([registered.body]);
    expect((await agent.api('POST', '/v1/plugins', { name: 'x', kind: 'nope' })).status).toBe(400);

    const hosts = (await agent.api('GET', '/v1/hosts')).body;
    expect(hosts).toMatchObject([{ self: true, state: 'up', agentPid: agent.pid, workloads: 0 }]);

    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      'tosca_definitions_version: tosca_2_0\nimports:\n  - profile: io.khutulun.core\n    namespace: k\n' +
        'service_template:\n  node_templates:\n    a:\n      type: k:Process\n      properties:\n        command: /bin/true\n',
    );
    const valid = await agent.api('POST', '/v1/tosca/validate', { source: { path: good } });
    expect(valid).toMatchObject({ status: 200, body: { ok: true } });
    const compiled = await agent.api('POST', '/v1/tosca/compile', {
      source: { filename: 'good.yaml', content: readFileSync(good).toString('base64') },
    });
    expect(compiled.body.ok).toBe(true);
    expect(compiled.body.output.some((e: { id: { name: string } }) => e.id.name === 'a')).toBe(
      true,
    );
    const bad = await agent.api('POST', '/v1/tosca/validate', {
      source: {
        filename: 'bad.yaml',
        content: Buffer.from('tosca_definitions_version: 1\n').toString('base64'),
      },
    });
    expect(bad).toMatchObject({ status: 200, body: { ok: false } });
    expect(bad.body.diagnostics.length).toBeGreaterThan(0);
  });

  it('deploys nothing from invalid TOSCA and returns the diagnostics', async () => {
    const dir = stateDir();
    const agent = await agentOn(dir);
    const file = join(dir, 'broken.yaml');
    writeFileSync(
      file,
      'tosca_definitions_version: tosca_2_0\nservice_template:\n  node_templates:\n    a:\n      type: NoSuchType\n',
    );
    const before = (await agent.api('GET', '/v1/health')).body.lastSeq;
    const res = await agent.api('POST', '/v1/services', { name: 'broken', source: { path: file } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('tosca-invalid');
    expect(res.body.error.diagnostics.length).toBeGreaterThan(0);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
    expect((await agent.api('GET', '/v1/health')).body.lastSeq).toBe(before);
    expect(existsSync(join(dir, 'workloads', 'broken'))).toBe(false);
  });
});
