/**
 * What every kind gets from the agent, above the drivers, tested through a real agent with
 * real processes: configuration files, data directories, prestart steps, health checks
 * (readiness and liveness), numbers on command lines, restart on request.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentProcess, eventStream, startAgentProcess } from './testing/agent-process.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function agentOn(dir: string): Promise<AgentProcess> {
  const agent = await startAgentProcess(dir, []);
  cleanup.push(async () => {
    if (agent.child.exitCode === null && agent.child.signalCode === null) {
      for (const s of (await agent.api('GET', '/v1/services')).body) {
        await agent.api('DELETE', `/v1/services/${s.name}?wait=true`);
      }
    }
    await agent.kill();
  });
  return agent;
}

/** Writes a service file of the core profile with these node templates. */
function serviceFile(dir: string, name: string, nodes: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun.core
    namespace: k
service_template:
  node_templates:
${nodes}`,
  );
  return file;
}

const SERVER = `    server:
      type: k:Server
      properties:
        command: /usr/bin/python3
        arguments: [-m, http.server, { $get_attribute: [SELF, CAPABILITY, port, port] }, --bind, 127.0.0.1]
        readiness:
          port: port
          path: /
`;

describe('what every kind gets from the agent', () => {
  it('renders files from TOSCA values, makes data directories, runs a prestart step once, and cleans up', async () => {
    const dir = tempDir('khutulun-features-');
    const agent = await agentOn(dir);
    const source = serviceFile(
      tempDir('khutulun-features-src-'),
      'files',
      `${SERVER}    app:
      type: k:Process
      properties:
        command: /bin/sh
        arguments: [-c, 'cat "$KHUTULUN_DATA/conf/app.conf"; exec sleep 100000']
        files:
          app:
            path: conf/app.conf
            content: { $concat: [ 'upstream ', { $get_attribute: [server, CAPABILITY, port, address] }, ':', { $get_attribute: [server, CAPABILITY, port, port] }, "\\n" ] }
            mode: "0600"
        directories:
          data:
            path: data
            mode: "0700"
            keep: true
          scratch:
            path: scratch
        prestart:
          - command: [/bin/sh, -c, 'echo initialised >> "$KHUTULUN_DATA/data/init.log"']
      requirements:
        - dependency: server
`,
    );
    const deployed = await agent.api('POST', '/v1/services', {
      source: { path: source },
      wait: true,
    });
    expect(deployed.status).toBe(201);
    const server = (await agent.api('GET', '/v1/workloads/files/server')).body;
    const app = (await agent.api('GET', '/v1/workloads/files/app')).body;
    const root = join(dir, 'data', 'files', app.name);
    expect(app.dataDirectory).toBe(root);
    const conf = join(root, 'conf', 'app.conf');
    expect(readFileSync(conf, 'utf8')).toBe(`upstream 127.0.0.1:${server.ports.port}\n`);
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'data')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(root, 'data', 'init.log'), 'utf8')).toBe('initialised\n');
    // The prestart step ran as a workload of its own and is gone.
    expect((await agent.api('GET', '/v1/workloads?service=files')).body).toHaveLength(2);
    const logs = await agent.api('GET', '/v1/workloads/files/app/logs');
    expect(logs.body).toContain(`upstream 127.0.0.1:${server.ports.port}`);
    // The ref addresses it: a process ref of its kind.
    expect(app).toMatchObject({ kind: 'process', ref: { kind: 'process' } });

    expect(existsSync(join(root, 'scratch'))).toBe(true);
    expect((await agent.api('DELETE', '/v1/services/files?wait=true')).status).toBe(200);
    expect(existsSync(conf)).toBe(false);
    expect(existsSync(join(root, 'scratch'))).toBe(false);
    expect(readFileSync(join(root, 'data', 'init.log'), 'utf8')).toBe('initialised\n');
    // Deployed again on the kept data, a `once` step does not run again.
    expect(
      (await agent.api('POST', '/v1/services', { source: { path: source }, wait: true })).status,
    ).toBe(201);
    expect(readFileSync(join(root, 'data', 'init.log'), 'utf8')).toBe('initialised\n');
  });

  it('rolls a deploy back when a prestart step fails, naming the step and its output', async () => {
    const dir = tempDir('khutulun-features-');
    const agent = await agentOn(dir);
    const source = serviceFile(
      tempDir('khutulun-features-src-'),
      'broken',
      `    app:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['100000']
        prestart:
          - command: [/bin/sh, -c, 'echo cannot initialise >&2; exit 3']
`,
    );
    const res = await agent.api('POST', '/v1/services', { source: { path: source }, wait: true });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.body.error.message).toMatch(/prestart step 0 .* exited with 3: cannot initialise/);
    expect((await agent.api('GET', '/v1/services')).body).toEqual([]);
    expect(existsSync(join(dir, 'data', 'broken'))).toBe(false);
    expect(existsSync(join(dir, 'workloads', 'broken'))).toBe(false);
  });

  it('waits for HTTP and command readiness, and restarts a workload whose liveness fails', async () => {
    const dir = tempDir('khutulun-features-');
    const agent = await agentOn(dir);
    const source = serviceFile(
      tempDir('khutulun-features-src-'),
      'health',
      `${SERVER}    worker:
      type: k:Process
      properties:
        command: /bin/sh
        arguments: [-c, 'rm -f "$KHUTULUN_DATA/sick"; sleep 0.3; touch "$KHUTULUN_DATA/ready"; exec sleep 100000']
        readiness:
          command: [/bin/sh, -c, 'test -f "$KHUTULUN_DATA/ready"']
        liveness:
          command: [/bin/sh, -c, 'test ! -f "$KHUTULUN_DATA/sick"']
          interval: 0.2
          failures: 2
        restart: always
`,
    );
    const deployed = await agent.api('POST', '/v1/services', {
      source: { path: source },
      wait: true,
    });
    expect(deployed.status).toBe(201);
    const worker = (await agent.api('GET', '/v1/workloads/health/worker')).body;
    const root = join(dir, 'data', 'health', worker.name);
    expect(existsSync(join(root, 'ready'))).toBe(true);
    const server = (await agent.api('GET', '/v1/workloads/health/server')).body;
    const page = await fetch(`http://127.0.0.1:${server.ports.port}/`);
    expect(page.status).toBe(200);

    const since = (await agent.api('GET', '/v1/health')).body.lastSeq;
    const events = eventStream(join(dir, 'api.sock'), since);
    cleanup.push(() => events.close());
    writeFileSync(join(root, 'sick'), '');
    const unhealthy = await events.next(
      (e) => e.type === 'workload-unhealthy' && e.id.name === worker.name,
    );
    expect(unhealthy.data).toEqual({ failures: 2 });
    const restarted = await events.next(
      (e) => e.type === 'workload-restarted' && e.id.name === worker.name,
    );
    expect(restarted.data.pid).not.toBe(worker.pid);
    expect((await agent.api('GET', '/v1/workloads/health/worker')).body).toMatchObject({
      state: 'running',
      restarts: 1,
    });
  });

  it('restarts a workload on request, counting it', async () => {
    const dir = tempDir('khutulun-features-');
    const agent = await agentOn(dir);
    const source = serviceFile(
      tempDir('khutulun-features-src-'),
      'again',
      `    app:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['100000']
`,
    );
    expect(
      (await agent.api('POST', '/v1/services', { source: { path: source }, wait: true })).status,
    ).toBe(201);
    const before = (await agent.api('GET', '/v1/workloads/again/app')).body;
    const res = await agent.api('POST', '/v1/workloads/again/app/restart');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'running', restarts: 1 });
    expect(res.body.pid).not.toBe(before.pid);
    expect((await agent.api('POST', '/v1/workloads/again/nothing/restart')).status).toBe(404);
  });

  it('never reaches outside its data root, and leaves host paths it did not make', async () => {
    const dir = tempDir('khutulun-features-');
    const outside = tempDir('khutulun-features-outside-');
    const agent = await agentOn(dir);
    // A node template whose name would climb out of the data root is refused, making nothing.
    const climbing = serviceFile(
      tempDir('khutulun-features-src-'),
      'climb',
      `    "../../../../${outside.split('/').pop()}":
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['100000']
`,
    );
    const refused = await agent.api('POST', '/v1/services', {
      source: { path: climbing },
      wait: true,
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toMatch(/cannot name a workload on disk/);
    expect(existsSync(join(dir, 'data', 'climb'))).toBe(false);
    // A directory the host already had is used, but neither changed nor removed; one the
    // agent made at an absolute path goes with the service.
    const before = statSync(outside).mode & 0o777;
    const made = join(outside, 'made-by-khutulun');
    const source = serviceFile(
      tempDir('khutulun-features-src-'),
      'absolute',
      `    app:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ['100000']
        directories:
          existing:
            path: ${outside}
            mode: "0700"
          fresh:
            path: ${made}
`,
    );
    const deployed = await agent.api('POST', '/v1/services', {
      source: { path: source },
      wait: true,
    });
    expect(deployed.status).toBe(201);
    expect(statSync(outside).mode & 0o777).toBe(before);
    expect(existsSync(made)).toBe(true);
    expect((await agent.api('DELETE', '/v1/services/absolute?wait=true')).status).toBe(200);
    expect(existsSync(outside)).toBe(true);
    expect(existsSync(made)).toBe(false);
  });
});
