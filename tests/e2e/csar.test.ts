/**
 * A service deployed from a CSAR archive (zip) runs what the archive carries: the archive is
 * unpacked into the agent's state directory (a sysadmin finds the files there), the service
 * owns that directory, and delete removes it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TestHost, templateOf, type WorkloadItem, waitUntil } from './harness.js';

const host = new TestHost('khutulun-e2e-csar-');
afterAll(() => host.cleanup());

describe('a CSAR archive', () => {
  it('deploys examples/hello-world zipped, runs its scripts from the unpacked files, and deletes them', async () => {
    const archive = join(host.stateDir, 'hello.csar');
    execFileSync('python3', [
      '-c',
      'import sys, os, zipfile\n' +
        'src, out = sys.argv[1], sys.argv[2]\n' +
        'with zipfile.ZipFile(out, "w") as z:\n' +
        '  for name in sorted(os.listdir(src)): z.write(os.path.join(src, name), name)\n',
      join(ROOT, 'examples/hello-world'),
      archive,
    ]);
    const deployed = await host.cli(['service', 'deploy', archive, '--wait']);
    expect(deployed.code, deployed.stderr).toBe(0);
    const items = await host.json<WorkloadItem[]>(['workload', 'list', 'hello-world']);
    expect(items.map((w) => templateOf(w.name)).sort()).toEqual(['client', 'server']);
    const client = items.find((w) => templateOf(w.name) === 'client')!;
    await waitUntil(
      async () =>
        (await host.cli(['workload', 'logs', `hello-world/${client.name}`])).stdout.includes(
          'Hello, world!',
        ),
      30_000,
      'the client to get the answer of the server, both run from the archive',
    );
    const uploads = join(host.stateDir, 'uploads');
    const unpacked = readdirSync(uploads).map((d) => join(uploads, d, 'csar'));
    expect(unpacked).toHaveLength(1);
    expect(existsSync(join(unpacked[0]!, 'server.mjs'))).toBe(true);
    expect((await host.cli(['service', 'delete', 'hello-world', '--wait'])).code).toBe(0);
    expect(readdirSync(uploads)).toEqual([]);
  });

  it('refuses an archive whose entries would leave their directory, leaving nothing', async () => {
    const archive = join(host.stateDir, 'evil.csar');
    execFileSync('python3', [
      '-c',
      'import sys, zipfile\n' +
        'with zipfile.ZipFile(sys.argv[1], "w") as z:\n' +
        '  z.writestr("service.yaml", "tosca_definitions_version: tosca_2_0\\n")\n' +
        '  z.writestr("../../escaped.txt", "x")\n',
      archive,
    ]);
    const result = await host.cli(['service', 'deploy', archive, '--wait']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /the CSAR entry \.\.\/\.\.\/escaped\.txt would leave its directory/,
    );
    expect(existsSync(join(host.stateDir, 'escaped.txt'))).toBe(false);
    expect(await host.json<unknown[]>(['service', 'list'])).toEqual([]);
  });
});
