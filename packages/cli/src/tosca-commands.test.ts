import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from './cli-io.js';
import { main } from './main.js';

const tmp = mkdtempSync(join(tmpdir(), 'khutulun-cli-tosca-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `khutulun ...args` in-process, in `tmp`, and collects its output. */
async function khutulun(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { KHUTULUN_AGENT: 'unix:/nonexistent/khutulun-test/api.sock' },
    cwd: tmp,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

function writeTree(root: string, tree: Record<string, string>): void {
  for (const [path, text] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

const SERVICE = `tosca_definitions_version: tosca_2_0
imports:
  - url: https://types.example/machines.yaml
    namespace: t
service_template:
  inputs:
    port: { type: integer, default: 8080 }
  node_templates:
    machine:
      type: t:Machine
      count: 2
    app:
      type: t:App
      properties:
        port: { $get_input: port }
      requirements:
        - host: machine
        - host: machine
`;

const TYPES = `tosca_definitions_version: tosca_2_0
capability_types:
  Host: {}
node_types:
  Machine:
    capabilities:
      host: Host
  App:
    properties:
      port: { type: integer }
    requirements:
      - host: { capability: Host, count_range: [ 1, 2 ] }
`;

describe('khutulun tosca', () => {
  it('exits 2 on misuse and unreadable sources, 1 with diagnostics, 0 when valid', async () => {
    expect((await khutulun('tosca')).code).toBe(2);
    expect((await khutulun('tosca', 'frobnicate')).code).toBe(2);
    expect((await khutulun('tosca', 'validate')).code).toBe(2);
    expect((await khutulun('tosca', 'validate', 'x.yaml', '--format', 'xml')).code).toBe(2);
    expect((await khutulun('tosca', 'validate', 'x.yaml', '--map-url', 'nothing')).code).toBe(2);
    expect((await khutulun('tosca', 'validate', '/nonexistent/file.yaml')).code).toBe(2);
    writeTree(tmp, {
      'bad.yaml': 'tosca_definitions_version: tosca_2_0\nnode_types:\n  A:\n    derived_from: B\n',
    });
    const bad = await khutulun('tosca', 'validate', 'bad.yaml');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `${join(tmp, 'bad.yaml')}:4:19: error TOSCA1020: unknown node type "B" in derived_from (at node_types["A"].derived_from)\n`,
    );
    const json = await khutulun('tosca', 'validate', 'bad.yaml', '--format', 'json');
    expect(JSON.parse(json.stderr)).toMatchObject([
      { code: 'TOSCA1020', line: 4, column: 19, path: 'node_types["A"].derived_from' },
    ]);
  });

  it('maps URLs, takes inputs, prints JSON or YAML, and previews the instances', async () => {
    writeTree(tmp, { 'svc/service.yaml': SERVICE, 'vendor/machines.yaml': TYPES });
    const unmapped = await khutulun('tosca', 'validate', 'svc/service.yaml');
    expect(unmapped.code).toBe(1);
    expect(unmapped.stderr).toMatch(/--map-url/);
    const mapUrl = `https://types.example/=${join(tmp, 'vendor')}/`;
    const valid = await khutulun('tosca', 'validate', 'svc/service.yaml', '--map-url', mapUrl);
    expect(valid).toMatchObject({ code: 0, stderr: '' });
    const out = await khutulun(
      '-o',
      'json',
      'tosca',
      'compile',
      'svc/service.yaml',
      '--map-url',
      mapUrl,
      '-i',
      'port=9090',
      '--instantiate',
    );
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const doc = JSON.parse(out.stdout) as {
      service: { inputs: Record<string, unknown> };
      instances: Array<{
        kind: string;
        name: string;
        template: string;
        parent?: string;
        source?: string;
        target?: string;
      }>;
    };
    expect(doc.service.inputs.port).toBe(9090);
    // Floria's own instantiation: two machines, each with its capability.
    expect(
      doc.instances
        .filter((i) => i.kind === 'vertex' && i.template === 'machine')
        .map((i) => i.name),
    ).toEqual(['machine-1', 'machine-2']);
    expect(
      doc.instances.filter((i) => i.template === 'machine/capabilities/host').map((i) => i.parent),
    ).toEqual(['machine-1', 'machine-2']);
    // Each requirement names "machine", which is two vertexes: an edge to each one's host.
    expect(doc.instances.filter((i) => i.kind === 'edge').map((i) => [i.source, i.target])).toEqual(
      [
        ['app-1', 'machine/capabilities/host-1'],
        ['app-1', 'machine/capabilities/host-2'],
        ['app-1', 'machine/capabilities/host-1'],
        ['app-1', 'machine/capabilities/host-2'],
      ],
    );
    const yaml = await khutulun('tosca', 'compile', 'svc/service.yaml', '--map-url', mapUrl);
    expect(yaml.stdout).toMatch(/^service:\n/);
    const after = await khutulun(
      'tosca',
      'compile',
      'svc/service.yaml',
      '--map-url',
      mapUrl,
      '-o',
      'json',
    );
    expect(JSON.parse(after.stdout)).toHaveProperty('templates');
  });
});
