import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { EdgeTemplate, Entity, PluginEntity, VertexTemplate } from '@khutulun/floria';
import { zipSync } from 'fflate';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { compile } from './compile.js';

const files: Record<string, string> = {
  'TOSCA-Metadata/TOSCA.meta':
    'CSAR-Version: 2.0\nCreated-By: test\nEntry-Definitions: definitions/service.yaml\n',
  'definitions/service.yaml': `tosca_definitions_version: tosca_2_0
imports:
  - url: ../types/types.yaml
    namespace: t
functions:
  double:
    signatures:
      - arguments: [ { type: integer } ]
        result: { type: integer }
        implementation: ../plugins/arith.wasm
service_template:
  inputs:
    port:
      type: integer
      default: 8080
  node_templates:
    machine:
      type: t:Machine
      count: 2
    app:
      type: t:App
      properties:
        port: { $get_input: port }
        twice: { $double: [ { $get_input: port } ] }
        url: { $concat: [ "http://", { $get_attribute: [ machine, address ] }, ":", { $get_input: port } ] }
      requirements:
        - host: machine
  outputs:
    url:
      value: { $get_property: [ app, url ] }
`,
  'types/types.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Host: {}
relationship_types:
  HostedOn: {}
interface_types:
  Standard:
    operations:
      start: {}
node_types:
  Machine:
    attributes:
      address: { type: string }
    capabilities:
      host: Host
  App:
    properties:
      port: { type: integer }
      twice: { type: integer }
      url: { type: string }
    requirements:
      - host: { capability: Host, relationship: HostedOn, count_range: [ 1, 1 ] }
    interfaces:
      lifecycle:
        type: Standard
        operations:
          start:
            implementation: ../scripts/start.sh
            inputs:
              where: { type: string, default: { $get_attribute: [ SELF, host, address ] } }
`,
  'plugins/arith.wasm': '\0asm-not-really',
  'scripts/start.sh': '#!/bin/sh\n',
};

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'tosca-test-'));
}

function writeTree(root: string, tree: Record<string, string>): void {
  for (const [name, text] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text);
  }
}

async function tarGz(tree: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, text] of Object.entries(tree)) p.entry({ name }, text);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

function byName<T extends Entity>(templates: Entity[] | undefined, kind: string, name: string): T {
  const found = templates?.find((t) => t.id.kind === kind && t.id.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as T;
}

function startImplementation(result: Awaited<ReturnType<typeof compile>>): unknown {
  const app = byName<VertexTemplate>(result.templates, 'vertex-template', 'app');
  const ifaces = app.properties['tosca:interfaces']?.value as Record<
    string,
    { operations: Record<string, { implementation: { primary: unknown } }> }
  >;
  return ifaces.lifecycle?.operations.start?.implementation.primary;
}

function checkCompiled(result: Awaited<ReturnType<typeof compile>>): void {
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const t = result.templates;
  const app = byName<VertexTemplate>(t, 'vertex-template', 'app');
  expect(app.properties.port?.value).toBe(8080);
  // A custom function compiles to a call of the plugin its implementation names.
  expect(app.properties.twice?.updater).toMatchObject({
    kind: 'call',
    plugin: 'arith',
    function: 'double',
  });
  expect(app.properties.url?.updater).toMatchObject({
    kind: 'call',
    plugin: 'tosca',
    function: 'concat',
  });
  expect(app.classes.map((c) => c.name)).toEqual(['node:App', 'tosca:node']);
  const machine = byName<VertexTemplate>(t, 'vertex-template', 'machine');
  expect(machine.count).toEqual({ initial: 2 });
  const host = byName<VertexTemplate>(t, 'vertex-template', 'machine/capabilities/host');
  expect(host.parent?.name).toBe('machine');
  const edge = byName<EdgeTemplate>(t, 'edge-template', 'app/requirements/0/host');
  expect(edge.source.name).toBe('app');
  expect(edge.selector).toMatchObject({ kind: 'id', id: { name: 'machine/capabilities/host' } });
  expect(edge.metadata).toMatchObject({
    'tosca.requirement': 'host',
    'tosca.target': 'machine',
    'tosca.capability': 'host',
  });
  const plugin = byName<PluginEntity>(t, 'plugin', 'arith');
  expect(plugin.pluginKind).toBe('wasm');
  expect(plugin.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  const ifaces = app.properties['tosca:interfaces']?.value as Record<
    string,
    { operations: Record<string, { implementation: unknown; inputs: Record<string, unknown> }> }
  >;
  expect(ifaces.lifecycle?.operations.start?.implementation).toMatchObject({
    primary: { file: '../scripts/start.sh' },
  });
  expect(ifaces.lifecycle?.operations.start?.inputs.where).toMatchObject({
    kind: 'call',
    function: 'get_attribute',
  });
  const service = byName<VertexTemplate>(t, 'vertex-template', 'tosca:service');
  expect(service.properties['input:port']?.value).toBe(8080);
  expect(service.properties['output:url']?.updater).toMatchObject({ function: 'get_property' });
  expect(result.service?.nodeTemplates).toEqual(['machine', 'app']);
}

describe('compile', () => {
  it('reads a CSAR directory with TOSCA.meta, relative imports, namespaces and custom functions', async () => {
    const dir = tmp();
    writeTree(dir, files);
    const result = await compile({ source: dir, directory: ['services', 'test'] });
    checkCompiled(result);
    expect(byName<PluginEntity>(result.templates, 'plugin', 'arith').location).toBe(
      join(dir, 'plugins/arith.wasm'),
    );
    // Relative to the file that defines the operation (types/types.yaml), not the service.
    expect(startImplementation(result)).toEqual({
      file: '../scripts/start.sh',
      path: join(dir, 'scripts/start.sh'),
    });
    expect(result.templates?.every((e) => e.id.directory.join('/') === 'services/test')).toBe(true);
  });

  it('reads a zip CSAR in memory, shipping plugins inline', async () => {
    const dir = tmp();
    const zip = zipSync(
      Object.fromEntries(Object.entries(files).map(([k, v]) => [k, new TextEncoder().encode(v)])),
    );
    writeFileSync(join(dir, 'service.csar'), zip);
    const result = await compile({ source: join(dir, 'service.csar') });
    checkCompiled(result);
    const plugin = byName<PluginEntity>(result.templates, 'plugin', 'arith');
    expect(plugin.location).toBe('inline:');
    // Implementation artifacts inside an archive travel with the templates.
    expect(startImplementation(result)).toMatchObject({
      path: `${join(dir, 'service.csar')}!scripts/start.sh`,
      content: Buffer.from('#!/bin/sh\n').toString('base64'),
    });
    expect(Buffer.from(plugin.content ?? '', 'base64').toString()).toBe('\0asm-not-really');
  });

  it('reads a tar.gz CSAR', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'service.tar.gz'), await tarGz(files));
    checkCompiled(await compile({ source: join(dir, 'service.tar.gz') }));
  });

  it('finds the single root YAML file of a CSAR without TOSCA.meta, and refuses two', async () => {
    const dir = tmp();
    const { 'TOSCA-Metadata/TOSCA.meta': _meta, 'definitions/service.yaml': main, ...rest } = files;
    const tree: Record<string, string> = {
      ...rest,
      'service.yaml': (main ?? '')
        .replace('../types/', 'types/')
        .replace('../plugins/', 'plugins/'),
    };
    writeFileSync(
      join(dir, 'a.zip'),
      zipSync(
        Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, new TextEncoder().encode(v)])),
      ),
    );
    const ok = await compile({ source: join(dir, 'a.zip') });
    expect(ok.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    tree['other.yaml'] = 'tosca_definitions_version: tosca_2_0\n';
    writeFileSync(
      join(dir, 'b.zip'),
      zipSync(
        Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, new TextEncoder().encode(v)])),
      ),
    );
    const bad = await compile({ source: join(dir, 'b.zip') });
    expect(bad.templates).toBeUndefined();
    expect(bad.diagnostics[0]?.message).toMatch(/several YAML files/);
  });

  it('checks TOSCA.meta and the substitution templates it lists in Other-Definitions', async () => {
    const dir = tmp();
    writeTree(dir, {
      'TOSCA-Metadata/TOSCA.meta':
        'CSAR-Version: 1.1\nCreated-By: test\nEntry-Definitions: main.yaml\nOther-Definitions: subs/db.yaml\n  "subs/missing one.yaml"\n',
      'main.yaml':
        'tosca_definitions_version: tosca_2_0\nservice_template:\n  node_templates: {}\n',
      'subs/db.yaml':
        'tosca_definitions_version: tosca_2_0\nservice_template:\n  inputs:\n    port: { type: integer }\n  node_templates:\n    x: { type: Nope }\n',
    });
    const result = await compile({ source: dir });
    const meta = join(dir, 'TOSCA-Metadata/TOSCA.meta');
    expect(result.diagnostics.map((d) => [d.file, d.line, d.message])).toEqual([
      [meta, 1, 'CSAR-Version must be 2.0, not "1.1"'],
      [meta, 4, 'Other-Definitions names subs/missing one.yaml, which is not in the CSAR'],
      // The substitution template is checked; its inputs come from the node it substitutes.
      [join(dir, 'subs/db.yaml'), 6, 'unknown node type "Nope"'],
    ]);
    writeTree(dir, {
      'TOSCA-Metadata/TOSCA.meta':
        'CSAR-Version: 2.0\nCreated-By: test\nEntry-Definitions: gone.yaml\n',
    });
    const gone = await compile({ source: dir });
    expect(gone.diagnostics.map((d) => [d.file, d.line, d.message])).toEqual([
      [meta, 3, 'Entry-Definitions names gone.yaml, which is not in the CSAR'],
    ]);
  });

  it('maps URLs to local files, finds profiles by name in --profile-path catalogs', async () => {
    const dir = tmp();
    writeTree(dir, {
      'vendor/remote-types.yaml':
        'tosca_definitions_version: tosca_2_0\nnode_types:\n  Remote: {}\n',
      'catalog/acme/profile.yaml':
        'tosca_definitions_version: tosca_2_0\nprofile: com.acme:1.0\nimports: [ nodes.yaml ]\n',
      'catalog/acme/nodes.yaml':
        'tosca_definitions_version: tosca_2_0\nnode_types:\n  Widget: {}\n',
      'main/service.yaml': `tosca_definitions_version: tosca_2_0
imports:
  - url: https://types.example.com/v1/remote-types.yaml
  - profile: com.acme:1.0
    namespace: acme
service_template:
  node_templates:
    r: { type: Remote }
    w: { type: acme:Widget }
`,
    });
    const result = await compile({
      source: join(dir, 'main/service.yaml'),
      mapUrls: { 'https://types.example.com/v1/': join(dir, 'vendor') },
      profilePaths: [join(dir, 'catalog')],
    });
    expect(result.diagnostics).toEqual([]);
    const w = byName<VertexTemplate>(result.templates, 'vertex-template', 'w');
    // Profile types have profile-qualified classes, whatever namespace imports them.
    expect(w.classes[0]?.name).toBe('node:com.acme:1.0/Widget');
    const cls = result.templates?.find(
      (e) => e.id.kind === 'class' && e.id.name === 'node:com.acme:1.0/Widget',
    );
    expect(cls?.metadata['tosca.profile']).toBe('com.acme:1.0');
  });

  it('imports a profile bundled in the same CSAR archive by its name', async () => {
    const dir = tmp();
    const tree: Record<string, string> = {
      'TOSCA-Metadata/TOSCA.meta':
        'CSAR-Version: 2.0\nCreated-By: test\nEntry-Definitions: service.yaml\n',
      'service.yaml':
        'tosca_definitions_version: tosca_2_0\nimports:\n  - profile: com.example.bundled:1.0\n    namespace: b\nservice_template:\n  node_templates:\n    w: { type: b:Widget }\n',
      'profiles/bundled.yaml':
        'tosca_definitions_version: tosca_2_0\nprofile: com.example.bundled:1.0\nnode_types:\n  Widget: {}\n',
    };
    writeFileSync(
      join(dir, 'bundle.csar'),
      zipSync(
        Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, new TextEncoder().encode(v)])),
      ),
    );
    const result = await compile({ source: join(dir, 'bundle.csar') });
    expect(result.diagnostics).toEqual([]);
    expect(byName<VertexTemplate>(result.templates, 'vertex-template', 'w').classes[0]?.name).toBe(
      'node:com.example.bundled:1.0/Widget',
    );
    // The same CSAR as a directory, its entry in a subfolder: the whole CSAR is searched.
    const unpacked = join(dir, 'unpacked');
    writeTree(unpacked, {
      ...tree,
      'TOSCA-Metadata/TOSCA.meta':
        'CSAR-Version: 2.0\nCreated-By: test\nEntry-Definitions: defs/service.yaml\n',
      'defs/service.yaml': tree['service.yaml'] ?? '',
    });
    expect((await compile({ source: unpacked })).diagnostics).toEqual([]);
  });

  it('compiles the OASIS simple profile from the project catalog', async () => {
    const dir = tmp();
    writeTree(dir, {
      'svc.yaml': `tosca_definitions_version: tosca_2_0
imports:
  - profile: org.oasis-open.simple:2.0
service_template:
  node_templates:
    server:
      type: Compute
      capabilities:
        host: { properties: { num_cpus: 2, mem_size: 4 GB } }
    web:
      type: WebServer
      requirements: [ host: server ]
`,
    });
    const result = await compile({ source: join(dir, 'svc.yaml') });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const host = byName<VertexTemplate>(
      result.templates,
      'vertex-template',
      'server/capabilities/host',
    );
    expect(host.properties.mem_size?.value).toBe(4e9);
    const cls = result.templates?.find(
      (e) => e.id.name === 'node:org.oasis-open.simple:2.0/WebServer',
    );
    expect((cls as { parents: Array<{ name: string }> }).parents.map((p) => p.name)).toEqual([
      'node:org.oasis-open.simple:2.0/SoftwareComponent',
    ]);
  });

  it('evaluates static get_property paths and pure functions at compile time', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Endpoint:
    properties:
      port: { type: integer, default: 80 }
node_types:
  Server:
    properties:
      host: { type: string }
      url: { type: string }
      mirror: { type: string }
      live: { type: string, required: false }
    attributes:
      address: { type: string }
    capabilities:
      api: Endpoint
service_template:
  node_templates:
    web:
      type: Server
      properties:
        host: web.example
        url: { $concat: [ "http://", { $get_property: [ SELF, host ] }, ":", { $get_property: [ SELF, CAPABILITY, api, port ] } ] }
        mirror: { $get_property: [ db, url ] }
        live: { $get_attribute: [ SELF, address ] }
    db:
      type: Server
      properties:
        host: db.example
        url: { $join: [ [ { $get_property: [ SELF, host ] }, "5432" ], ":" ] }
        mirror: { $get_property: [ web, mirror ] }
  outputs:
    web_url:
      value: { $get_property: [ web, url ] }
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics).toEqual([]);
    const web = byName<VertexTemplate>(result.templates, 'vertex-template', 'web');
    const db = byName<VertexTemplate>(result.templates, 'vertex-template', 'db');
    expect(web.properties.url?.value).toBe('http://web.example:80');
    expect(web.properties.mirror?.value).toBe('db.example:5432');
    expect(db.properties.mirror?.value).toBe('db.example:5432');
    // Attributes change at run time: never folded.
    expect(web.properties.live?.updater).toMatchObject({ function: 'get_attribute' });
    const service = byName<VertexTemplate>(result.templates, 'vertex-template', 'tosca:service');
    expect(service.properties['output:web_url']?.value).toBe('http://web.example:80');
  });

  it('selects a requirement target with a node_filter decided at compile time', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Host:
    properties:
      cpus: { type: integer }
node_types:
  Machine:
    properties:
      zone: { type: string }
    attributes:
      load: { type: float }
    capabilities:
      host: Host
  App:
    requirements:
      - host: { capability: Host, count_range: [ 1, 1 ] }
service_template:
  inputs:
    big: { type: integer, default: 8 }
  node_templates:
    small:
      type: Machine
      properties: { zone: eu }
      capabilities: { host: { properties: { cpus: 2 } } }
    big:
      type: Machine
      properties: { zone: eu }
      capabilities: { host: { properties: { cpus: 16 } } }
    app:
      type: App
      requirements:
        - host:
            node_filter:
              $and:
                - $equal: [ { $get_property: [ SELF, zone ] }, eu ]
                - $greater_or_equal: [ { $get_property: [ SELF, CAPABILITY, host, cpus ] }, 8 ]
    later:
      type: App
      requirements:
        - host:
            node_filter: { $less_than: [ { $get_attribute: [ SELF, load ] }, 0.5 ] }
    small_app:
      type: App
      requirements:
        - host:
            node_filter: { $less_than: [ { $get_property: [ SELF, CAPABILITY, host, cpus ] }, { $get_input: big } ] }
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics).toEqual([]);
    const app = byName<EdgeTemplate>(result.templates, 'edge-template', 'app/requirements/0/host');
    expect(app.selector).toMatchObject({ kind: 'id', id: { name: 'big/capabilities/host' } });
    // Inputs are known at compile time too.
    const small = byName<EdgeTemplate>(
      result.templates,
      'edge-template',
      'small_app/requirements/0/host',
    );
    expect(small.selector).toMatchObject({ kind: 'id', id: { name: 'small/capabilities/host' } });
    // An attribute is only known at run time: the filter goes to a finder.
    const later = byName<EdgeTemplate>(
      result.templates,
      'edge-template',
      'later/requirements/0/host',
    );
    expect(later.selector).toMatchObject({
      kind: 'finder',
      call: { plugin: 'tosca', function: 'find_target' },
    });
  });

  it('checks a named target against the node_filter: at compile time, else by a finder limited to it (8.7.2)', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Host:
    properties:
      cpus: { type: integer }
node_types:
  Machine:
    attributes:
      ready: { type: boolean }
    capabilities:
      host: Host
  App:
    requirements:
      - host: { capability: Host, count_range: [ 1, 1 ] }
service_template:
  node_templates:
    small:
      type: Machine
      capabilities: { host: { properties: { cpus: 2 } } }
    fits:
      type: App
      requirements:
        - host:
            node: small
            node_filter: { $less_than: [ { $get_property: [ SELF, CAPABILITY, host, cpus ] }, 4 ] }
    later:
      type: App
      requirements:
        - host:
            node: small
            node_filter: { $equal: [ { $get_attribute: [ SELF, ready ] }, true ] }
    wrong:
      type: App
      requirements:
        - host:
            node: small
            node_filter: { $greater_than: [ { $get_property: [ SELF, CAPABILITY, host, cpus ] }, 4 ] }
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(
      result.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.path} ${d.message}`),
    ).toEqual([
      '37:26 TOSCA1050 service_template.node_templates["wrong"].requirements[0]["host"].node_filter requirement "host" of "wrong": node template "small" does not pass the node_filter clause $greater_than: [ { $get_property: [ SELF, CAPABILITY, host, cpus ] }, 4 ] (its arguments are 2, 4), so it cannot be the target (TOSCA 2.0 8.7.2, 8.8)',
    ]);
    expect(result.diagnostics[0]?.related?.[0]).toMatchObject({ line: 18, column: 7 });
    expect(result.templates).toBeUndefined();
    // The same service without "wrong" (its six lines at the end).
    const lines = readFileSync(join(dir, 's.yaml'), 'utf8').split('\n');
    writeFileSync(join(dir, 't.yaml'), `${lines.slice(0, -7).join('\n')}\n`);
    const ok = await compile({ source: join(dir, 't.yaml') });
    expect(ok.diagnostics).toEqual([]);
    const fits = byName<EdgeTemplate>(ok.templates, 'edge-template', 'fits/requirements/0/host');
    expect(fits.selector).toMatchObject({ kind: 'id', id: { name: 'small/capabilities/host' } });
    // Not known before run time: a finder that only the named template's nodes can satisfy.
    const later = byName<EdgeTemplate>(ok.templates, 'edge-template', 'later/requirements/0/host');
    expect(later.selector).toMatchObject({
      kind: 'finder',
      call: {
        function: 'find_target',
        arguments: [
          {
            kind: 'literal',
            value: { node_template: 'small', capability: 'host', node_filter: expect.anything() },
          },
        ],
      },
    });
    expect(later.optional).toBeUndefined();
  });

  it('marks a relationship that may be absent as an optional edge template (8.7.4)', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Feed: {}
node_types:
  Source:
    capabilities:
      feed: Feed
  Reader:
    requirements:
      - maybe: { capability: Feed, count_range: [ 0, 2 ] }
      - must: { capability: Feed, count_range: [ 1, UNBOUNDED ] }
service_template:
  node_templates:
    reader:
      type: Reader
      requirements:
        - maybe: { node_filter: { $equal: [ { $get_attribute: [ SELF, up ] }, true ] } }
        - maybe: { optional: false, node_filter: { $equal: [ { $get_attribute: [ SELF, up ] }, true ] } }
        - must: { optional: true, node_filter: { $equal: [ { $get_attribute: [ SELF, up ] }, true ] } }
        - must: { node_filter: { $equal: [ { $get_attribute: [ SELF, up ] }, true ] } }
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const optional = (name: string) =>
      byName<EdgeTemplate>(result.templates, 'edge-template', `reader/requirements/${name}`)
        .optional ?? false;
    // count_range allows none: optional unless the assignment says otherwise.
    expect(optional('0/maybe')).toBe(true);
    expect(optional('1/maybe')).toBe(false);
    // optional: true wherever it is written; otherwise a lower bound above 0 makes it required.
    expect(optional('2/must')).toBe(true);
    expect(optional('3/must')).toBe(false);
  });

  it('unescapes $$ strings and keys, and reads bare $name strings as calls', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
node_types:
  N:
    properties:
      price: { type: string }
      labels: { type: map, entry_schema: string }
    attributes:
      index: { type: integer }
service_template:
  node_templates:
    n:
      type: N
      properties:
        price: $$5
        labels: { $$key: $$$value, plain: x }
      attributes:
        index: $node_index
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics).toEqual([]);
    const n = byName<VertexTemplate>(result.templates, 'vertex-template', 'n');
    expect(n.properties.price?.value).toBe('$5');
    expect(n.properties.labels?.value).toEqual({ $key: '$$value', plain: 'x' });
    expect(n.properties.index?.updater).toEqual({
      kind: 'call',
      plugin: 'tosca',
      function: 'node_index',
      arguments: [],
    });
  });

  it('keeps capability allocations on the edge, in canonical units', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Host:
    properties:
      cpus: { type: integer }
      memory: { type: scalar-unit.size }
      name: { type: string, required: false }
node_types:
  Machine:
    capabilities:
      host: Host
  App:
    requirements:
      - host: { capability: Host }
service_template:
  node_templates:
    m:
      type: Machine
      capabilities: { host: { properties: { cpus: 8, memory: 16 GB } } }
    a:
      type: App
      requirements:
        - host: { node: m, allocation: { cpus: 2, memory: 512 MB } }
    b:
      type: App
      requirements:
        - host: { node: m, allocation: { name: x, cpus: two } }
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics.map((d) => [d.line, d.code])).toEqual([
      [27, 'TOSCA1030'],
      [27, 'TOSCA1030'],
    ]);
    expect(result.templates).toBeUndefined();
    writeTree(dir, {
      's.yaml': readFileSync(join(dir, 's.yaml'), 'utf8').split('    b:')[0] ?? '',
    });
    const ok = await compile({ source: join(dir, 's.yaml') });
    expect(ok.diagnostics).toEqual([]);
    const edge = byName<EdgeTemplate>(ok.templates, 'edge-template', 'a/requirements/0/host');
    expect(edge.properties['tosca:allocation']?.value).toEqual({ cpus: 2, memory: 512e6 });
  });

  it('uses a relationship template named by a requirement, with its values', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Endpoint: {}
relationship_types:
  ConnectsTo:
    properties:
      speed: { type: integer, default: 10 }
node_types:
  Db:
    capabilities:
      sql: Endpoint
  App:
    requirements:
      - db: { capability: Endpoint }
service_template:
  node_templates:
    db: { type: Db }
    app:
      type: App
      requirements:
        - db: { node: db, relationship: fast }
  relationship_templates:
    fast:
      type: ConnectsTo
      properties:
        speed: 1000
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics).toEqual([]);
    const edge = byName<EdgeTemplate>(result.templates, 'edge-template', 'app/requirements/0/db');
    expect(edge.classes[0]?.name).toBe('relationship:ConnectsTo');
    expect(edge.properties.speed?.value).toBe(1000);
  });

  it('spreads a requirement count over the matching node templates', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
capability_types:
  Endpoint: {}
node_types:
  Db:
    capabilities:
      sql: Endpoint
  App:
    requirements:
      - db: { capability: Endpoint, count_range: [ 1, 3 ] }
service_template:
  node_templates:
    db1: { type: Db }
    db2: { type: Db }
    app:
      type: App
      requirements:
        - db: { node: Db, count: 3 }
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics).toEqual([]);
    const targets = (result.templates ?? [])
      .filter((t): t is EdgeTemplate => t.id.kind === 'edge-template')
      .map((e) => [e.id.name, e.selector.kind === 'id' ? e.selector.id.name : 'finder']);
    expect(targets).toEqual([
      ['app/requirements/0/db', 'db1/capabilities/sql'],
      ['app/requirements/1/db', 'db2/capabilities/sql'],
      ['app/requirements/2/db', 'db1/capabilities/sql'],
    ]);
  });

  it('reads a quoted scalar continuing at column 0 as YAML 1.1 does, with a warning per line', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml':
        "tosca_definitions_version: tosca_2_0\nservice_template:\n  description: \"two\nlines\"\n  inputs:\n    n: { type: string, default: 'it''s\nfolded' }\n  node_templates: {}\n",
    });
    const compiled = await compile({ source: join(dir, 's.yaml') });
    expect(compiled.diagnostics.map((d) => [d.severity, d.code, d.line, d.column])).toEqual([
      ['warning', 'TOSCA1001', 4, 1],
      ['warning', 'TOSCA1001', 7, 1],
    ]);
    expect(compiled.service?.description).toBe('two lines');
    expect(compiled.service?.inputs.n).toBe("it's folded");
  });

  it('requires inputs when compiling, only warns when validating', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml':
        'tosca_definitions_version: tosca_2_0\nservice_template:\n  inputs:\n    n: { type: integer }\n  node_templates: {}\n',
    });
    const compiled = await compile({ source: join(dir, 's.yaml') });
    expect(compiled.diagnostics.map((d) => [d.severity, d.code])).toEqual([['error', 'TOSCA1090']]);
    const validated = await compile({ source: join(dir, 's.yaml'), validateOnly: true });
    expect(validated.diagnostics.map((d) => [d.severity, d.code])).toEqual([
      ['warning', 'TOSCA1090'],
    ]);
    const given = await compile({ source: join(dir, 's.yaml'), inputs: { n: 'three' } });
    expect(given.diagnostics.map((d) => d.code)).toEqual(['TOSCA1030']);
    expect(given.diagnostics[0]?.line).toBe(4);
    writeTree(dir, {
      'm.yaml':
        'tosca_definitions_version: tosca_2_0\nservice_template:\n  inputs:\n    mem: { type: scalar-unit.size }\n  node_templates: {}\n',
    });
    const scalar = await compile({ source: join(dir, 'm.yaml'), inputs: { mem: '2 GiB' } });
    expect(scalar.service?.inputs.mem).toBe(2 ** 31);
    expect(scalar.service?.inputDefinitions).toEqual({
      mem: { type: 'scalar-unit.size', required: true },
    });
    const badUnit = await compile({ source: join(dir, 'm.yaml'), inputs: { mem: '2 parsecs' } });
    expect(badUnit.diagnostics.map((d) => d.code)).toEqual(['TOSCA1030']);
  });

  it('records each input type, description and requiredness on the service template (a deploy form reads them)', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml':
        'tosca_definitions_version: tosca_2_0\nservice_template:\n  inputs:\n    port:\n      type: integer\n      description: The port to listen on\n      default: 8080\n    name: { type: string }\n  node_templates: {}\n',
    });
    const compiled = await compile({ source: join(dir, 's.yaml'), validateOnly: true });
    const service = byName<VertexTemplate>(compiled.templates, 'vertex-template', 'tosca:service');
    const meta = (name: string) => service.properties[`input:${name}`]?.metadata;
    expect(meta('port')).toEqual({
      'tosca.kind': 'input',
      'tosca.type': 'integer',
      'tosca.description': 'The port to listen on',
      'tosca.required': 'false',
    });
    expect(meta('name')).toEqual({
      'tosca.kind': 'input',
      'tosca.type': 'string',
      'tosca.required': 'true',
    });
  });
});

describe('thin corners of the specification', () => {
  it('imports from the root of a CSAR archive with a leading slash (6.8.2.2)', async () => {
    const tree: Record<string, string> = {
      'TOSCA-Metadata/TOSCA.meta':
        'CSAR-Version: 2.0\nCreated-By: test\nEntry-Definitions: definitions/service.yaml\n',
      'definitions/service.yaml':
        'tosca_definitions_version: tosca_2_0\nimports:\n  - /types/types.yaml\nservice_template:\n  node_templates:\n    box: { type: Box }\n',
      'types/types.yaml': 'tosca_definitions_version: tosca_2_0\nnode_types:\n  Box: {}\n',
    };
    const dir = tmp();
    const zip = join(dir, 'service.csar');
    writeFileSync(
      zip,
      zipSync(Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, Buffer.from(v)]))),
    );
    const zipped = await compile({ source: zip });
    expect(zipped.diagnostics).toEqual([]);
    const tgz = join(dir, 'service.tar.gz');
    writeFileSync(tgz, await tarGz(tree));
    const tarred = await compile({ source: tgz });
    expect(tarred.diagnostics).toEqual([]);
  });

  it('converts scalars of derived scalar types to their canonical unit (9.1.2.2)', async () => {
    const dir = tmp();
    writeTree(dir, {
      's.yaml': `tosca_definitions_version: tosca_2_0
data_types:
  Length:
    derived_from: scalar
    units: { m: 1, ft: 0.3048 }
  MetricLength:
    derived_from: Length
    prefixes: { "": 1, k: 1000, c: 0.01 }
  NauticalLength:
    derived_from: MetricLength
    units: { nmi: 1852 }
  Count:
    derived_from: scalar
    data_type: integer
    units: { items: 1, dozen: 12 }
node_types:
  Thing:
    properties:
      feet: { type: Length }
      metric: { type: MetricLength }
      centi: { type: MetricLength }
      nautical: { type: NauticalLength }
      kilo-nautical: { type: NauticalLength }
      count: { type: Count }
service_template:
  node_templates:
    thing:
      type: Thing
      properties:
        feet: 10 ft
        metric: 2.5km
        centi: 12 cm
        nautical: 1 nmi
        kilo-nautical: 2 knmi
        count: 2 dozen
`,
    });
    const result = await compile({ source: join(dir, 's.yaml') });
    expect(result.diagnostics).toEqual([]);
    const thing = byName<VertexTemplate>(result.templates, 'vertex-template', 'thing');
    const value = (name: string) => thing.properties[name]?.value;
    expect(value('feet')).toBeCloseTo(3.048, 9);
    expect(value('metric')).toBe(2500);
    expect(value('centi')).toBeCloseTo(0.12, 9);
    expect(value('nautical')).toBe(1852);
    expect(value('kilo-nautical')).toBe(3704000);
    expect(value('count')).toBe(24);
  });
});
