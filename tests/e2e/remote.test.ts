/**
 * The CLI against an agent over TCP (`--agent https://HOST:PORT`): TLS verified against the
 * given CA, the bearer token required, files uploaded rather than named.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  serviceFile,
  TestHost,
  templateOf,
  type WorkloadItem,
  waitUntil,
} from './harness.js';

const host = new TestHost('khutulun-e2e-remote-');
const files = mkdtempSync(join(tmpdir(), 'khutulun-e2e-remote-files-'));
const cert = join(files, 'cert.pem');
const key = join(files, 'key.pem');
let url = '';

beforeAll(async () => {
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
      ...[
        '-keyout',
        key,
        '-out',
        cert,
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
    ],
    { stdio: 'ignore' },
  );
  await host.startAgent([
    '--listen',
    '127.0.0.1:0',
    '--tls-cert',
    cert,
    '--tls-key',
    key,
    '--token',
    's3cret',
  ]);
  await waitUntil(
    () => /https:\/\/127\.0\.0\.1:\d+/.test(host.agentOutput),
    30_000,
    'the TCP address',
  );
  url = /https:\/\/127\.0\.0\.1:\d+/.exec(host.agentOutput)![0];
});
afterAll(async () => {
  await host.cleanup();
  rmSync(files, { recursive: true, force: true });
});

/** `khutulun --agent URL [--ca CERT] [--token T] ARGS...` (`null` leaves an option out). */
function remote(args: string[], token: string | null = 's3cret', ca: string | null = cert) {
  return host.cli(
    ['--agent', url, ...(ca ? ['--ca', ca] : []), ...(token ? ['--token', token] : []), ...args],
    {
      remote: true,
    },
  );
}

describe('a remote agent over TLS with a token', () => {
  it('deploys an uploaded CSAR (zip) of examples/three-tier, whose probe gets a page through all tiers', async () => {
    const csar = join(files, 'three-tier.csar');
    execFileSync('python3', ['-m', 'zipfile', '-c', csar, 'TOSCA.meta', 'service.yaml'], {
      cwd: join(ROOT, 'examples/three-tier'),
    });
    const deployed = await remote(['service', 'deploy', csar, '--name', 'zipped', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = JSON.parse(
      (await remote(['workload', 'list', 'zipped', '-o', 'json'])).stdout,
    ) as WorkloadItem[];
    const probe = items.find((w) => templateOf(w.name) === 'probe')!;
    await waitUntil(
      async () =>
        /probe: users: ada, grace, linus/.test(
          (await remote(['workload', 'logs', `zipped/${probe.name}`])).stdout,
        ),
      60_000,
      'the probe to get a page',
    );
    expect((await remote(['service', 'delete', 'zipped', '--wait'])).code).toBe(0);
  });

  it('refuses a missing or wrong token, and an unknown certificate, with one-line messages', async () => {
    for (const token of [null, 'wrong']) {
      const result = await remote(['service', 'list'], token);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^khutulun: .*(token|unauthori[sz]ed)/i);
    }
    const untrusted = await remote(['service', 'list'], 's3cret', null);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /^khutulun: talking to the agent at https:\/\/127\.0\.0\.1:\d+: .*certificate/,
    );
    expect(untrusted.stderr).not.toMatch(/\n\s+at /);
  });

  it('deploys an uploaded file, lists, shows logs and deletes; a directory is refused as misuse', async () => {
    const path = serviceFile(
      files,
      'echo.yaml',
      `    talker:
      type: k:Process
      properties:
        command: /bin/sh
        arguments: [-c, 'echo "uploaded and running"; exec sleep 1000000']
`,
    );
    const deployed = await remote(['service', 'deploy', path, '--name', 'echo', '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = JSON.parse(
      (await remote(['workload', 'list', 'echo', '-o', 'json'])).stdout,
    ) as WorkloadItem[];
    expect(items.map((w) => [templateOf(w.name), w.state])).toEqual([['talker', 'running']]);
    await waitUntil(
      async () =>
        /uploaded and running/.test(
          (await remote(['workload', 'logs', `echo/${items[0]!.name}`])).stdout,
        ),
      30_000,
      'the log line',
    );
    const directory = await remote(['service', 'deploy', files, '--wait']);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toMatch(/is a directory: a remote agent cannot read it/);
    expect((await remote(['service', 'delete', 'echo', '--wait'])).code).toBe(0);
    expect(JSON.parse((await remote(['service', 'list', '-o', 'json'])).stdout)).toEqual([]);
  });
});
