import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instantiate, RoutingDispatcher, update, type Vertex } from '@khutulun/floria';
import { openMemoryStore } from '@khutulun/store-memory';
import { compile, createToscaDispatcher } from '@khutulun/tosca';
import { describe, expect, it } from 'vitest';

/**
 * The compiler's output in a real Floria store: instantiated by Floria, with the calls left
 * for run time evaluated by the `tosca` plugin over the graph (TOSCA paths included).
 */
const SERVICE = `tosca_definitions_version: tosca_2_0
capability_types:
  Host:
    properties:
      slots: { type: integer, default: 4 }
relationship_types:
  HostedOn:
    properties:
      weight: { type: integer, default: 7 }
node_types:
  Machine:
    attributes:
      address: { type: string }
      disks: { type: list, entry_schema: string }
    capabilities:
      host: Host
  App:
    properties:
      port: { type: integer }
    attributes:
      url: { type: string }
      host_address: { type: string }
      host_slots: { type: integer }
      weight: { type: integer }
      second_disk: { type: string }
      all_addresses: { type: list, entry_schema: string }
    requirements:
      - host: { capability: Host, relationship: HostedOn }
service_template:
  inputs:
    port: { type: integer, default: 8080 }
  node_templates:
    machine:
      type: Machine
      capabilities:
        host:
          properties: { slots: 16 }
    app:
      type: App
      properties:
        port: { $get_input: port }
      attributes:
        url: { $concat: [ "http://", { $get_attribute: [ machine, address ] }, ":", { $get_property: [ SELF, port ] } ] }
        host_address: { $get_attribute: [ SELF, RELATIONSHIP, host, TARGET, address ] }
        host_slots: { $get_property: [ SELF, RELATIONSHIP, host, CAPABILITY, slots ] }
        weight: { $get_property: [ SELF, RELATIONSHIP, host, weight ] }
        second_disk: { $get_attribute: [ machine, disks, 1 ] }
        all_addresses: { $get_attribute: [ machine, ALL, address ] }
      requirements:
        - host: machine
  outputs:
    url:
      value: { $get_attribute: [ app, url ] }
`;

/**
 * A memory store with the `tosca` plugin's dispatcher, and `deploy`, which compiles a service
 * file into `services/NAME`, expects no diagnostic (no error, with `warningsAllowed`), stores
 * the templates and instantiates them there.
 */
function serviceStore() {
  const store = openMemoryStore();
  const dispatcher = new RoutingDispatcher({ tosca: createToscaDispatcher() });
  const deploy = async (source: string, name: string, warningsAllowed = false) => {
    const directory = ['services', name];
    const result = await compile({ source, directory });
    expect(
      warningsAllowed
        ? result.diagnostics.filter((d) => d.severity === 'error')
        : result.diagnostics,
    ).toEqual([]);
    await store.transaction(async (tx) => {
      for (const entity of result.templates ?? []) await tx.put(entity);
    });
    return instantiate(store, { templates: { directory }, into: directory, dispatcher });
  };
  return { store, dispatcher, deploy };
}

/** Writes `text` as service.yaml in a new temporary directory; its path. */
function serviceFile(text: string): string {
  const source = join(mkdtempSync(join(tmpdir(), 'tosca-runtime-')), 'service.yaml');
  writeFileSync(source, text);
  return source;
}

describe('compiled TOSCA in a Floria store', () => {
  it('instantiates, then evaluates run-time TOSCA functions over the graph', async () => {
    const { store, dispatcher, deploy } = serviceStore();
    const made = await deploy(serviceFile(SERVICE), 'shop');
    const machine = made.vertexes.find((v) => v.template?.name === 'machine') as Vertex;
    const app = made.vertexes.find((v) => v.template?.name === 'app') as Vertex;
    expect(made.edges).toHaveLength(1);
    // What a driver would write back: the machine's address and disks.
    machine.properties.address = { value: '10.0.0.5', metadata: { 'tosca.kind': 'attribute' } };
    machine.properties.disks = { value: ['sda', 'sdb'], metadata: { 'tosca.kind': 'attribute' } };
    await store.put(machine);
    const updated = await update(store, { ids: [app.id], dispatcher });
    expect(updated.problems).toEqual([]);
    const after = (await store.get(app.id)) as Vertex;
    const value = (name: string) => after.properties[name]?.value;
    expect(value('port')).toBe(8080);
    expect(value('url')).toBe('http://10.0.0.5:8080');
    expect(value('host_address')).toBe('10.0.0.5');
    expect(value('host_slots')).toBe(16);
    expect(value('weight')).toBe(7);
    expect(value('second_disk')).toBe('sdb');
    expect(value('all_addresses')).toEqual(['10.0.0.5']);
    // Outputs live on the service vertex and evaluate there.
    const service = made.vertexes.find((v) => v.metadata['tosca.entity'] === 'service') as Vertex;
    await update(store, { ids: [service.id], dispatcher });
    expect(((await store.get(service.id)) as Vertex).properties['output:url']?.value).toBe(
      'http://10.0.0.5:8080',
    );
  });

  it('fulfils a dangling requirement at instantiation, across services, with a run-time node_filter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tosca-runtime-'));
    const types = `tosca_definitions_version: tosca_2_0
capability_types:
  Host: {}
  SpecialHost: { derived_from: Host }
node_types:
  Machine:
    attributes:
      ready: { type: boolean }
    capabilities:
      host: SpecialHost
  BigMachine: { derived_from: Machine }
  App:
    requirements:
      - host: { capability: Host, node: Machine, count_range: [ 1, 1 ] }
`;
    writeFileSync(join(dir, 'types.yaml'), types);
    writeFileSync(
      join(dir, 'infra.yaml'),
      'tosca_definitions_version: tosca_2_0\nimports: [ types.yaml ]\nservice_template:\n  node_templates:\n    m1: { type: BigMachine }\n    m2: { type: BigMachine }\n',
    );
    writeFileSync(
      join(dir, 'app.yaml'),
      `tosca_definitions_version: tosca_2_0
imports: [ types.yaml ]
service_template:
  node_templates:
    app:
      type: App
      requirements:
        - host:
            node_filter: { $equal: [ { $get_attribute: [ SELF, ready ] }, true ] }
`,
    );
    const { store, deploy } = serviceStore();
    const infra = await deploy(join(dir, 'infra.yaml'), 'infra', true);
    const m2 = infra.vertexes.find((v) => v.template?.name === 'm2') as Vertex;
    m2.properties.ready = { value: true, metadata: { 'tosca.kind': 'attribute' } };
    await store.put(m2);
    const app = await deploy(join(dir, 'app.yaml'), 'app', true);
    expect(app.edges).toHaveLength(1);
    const target = await store.get(app.edges[0]?.target as never);
    expect(target && 'parent' in target ? target.parent?.name : undefined).toBe(m2.id.name);
  });

  it('makes no edge for a requirement whose count_range allows none when its finder finds nothing (8.7.4)', async () => {
    const types = `tosca_definitions_version: tosca_2_0
capability_types:
  Feed: {}
node_types:
  Source:
    attributes:
      up: { type: boolean }
    capabilities:
      feed: Feed
  Reader:
    requirements:
      - maybe: { capability: Feed, count_range: [ 0, 1 ] }
      - must: { capability: Feed, count_range: [ 1, 1 ] }
service_template:
  node_templates:
    src:
      type: Source
      attributes: { up: false }
    reader:
      type: Reader
      requirements:
`;
    const upOnly = '{ $equal: [ { $get_attribute: [ SELF, up ] }, true ] }';
    const { deploy } = serviceStore();
    const made = await deploy(
      serviceFile(`${types}        - maybe: { node_filter: ${upOnly} }\n        - must: src\n`),
      'optional',
    );
    expect(made.edges.map((e) => e.template?.name)).toEqual(['reader/requirements/1/must']);

    // Required (lower bound 1): no target fails, naming the requirement and what was looked for.
    const error = await deploy(
      serviceFile(`${types}        - must: { node_filter: ${upOnly} }\n`),
      'required',
    ).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error?.code).toBe('target-not-found');
    expect(error?.message).toMatch(
      /reader\/requirements\/0\/must: no target for selector finder tosca:find_target .*"capability_type":"Feed".*the finder found nothing, and the edge template is not optional/,
    );
  });

  it('checks the node_filter of a requirement naming its target at instantiation when it needs attributes', async () => {
    const { deploy } = serviceStore();
    const made = await deploy(
      serviceFile(`tosca_definitions_version: tosca_2_0
capability_types:
  Host: {}
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
    ready1: { type: Machine, attributes: { ready: true } }
    ready2: { type: Machine, attributes: { ready: true } }
    idle: { type: Machine, attributes: { ready: false } }
    app:
      type: App
      requirements:
        - host: { node: ready1, node_filter: { $equal: [ { $get_attribute: [ SELF, ready ] }, true ] } }
    waiting:
      type: App
      requirements:
        - host:
            node: idle
            optional: true
            node_filter: { $equal: [ { $get_attribute: [ SELF, ready ] }, true ] }
`),
      'named',
    );
    // Only the named template's node, and only when it passes; the optional one gets none.
    expect(made.edges.map((e) => [e.template?.name, e.target.name])).toEqual([
      ['app/requirements/0/host', 'ready1/capabilities/host-1'],
    ]);
  });

  it('computes available_allocation from the allocations of the relationships made', async () => {
    const { store, dispatcher, deploy } = serviceStore();
    const made = await deploy(
      serviceFile(
        `tosca_definitions_version: tosca_2_0
capability_types:
  Host:
    properties:
      cpus: { type: integer }
node_types:
  Machine:
    attributes:
      spare: { type: integer }
    capabilities:
      host: Host
  App:
    requirements:
      - host: { capability: Host }
service_template:
  node_templates:
    m:
      type: Machine
      capabilities: { host: { properties: { cpus: 8 } } }
      attributes:
        spare: { $available_allocation: [ SELF, CAPABILITY, host, cpus ] }
    a:
      type: App
      count: 2
      requirements:
        - host: { node: m, allocation: { cpus: 3 } }
`,
      ),
      'alloc',
    );
    expect(made.edges).toHaveLength(2);
    const m = made.vertexes.find((v) => v.template?.name === 'm') as Vertex;
    expect((await update(store, { ids: [m.id], dispatcher })).problems).toEqual([]);
    expect(((await store.get(m.id)) as Vertex).properties.spare?.value).toBe(2);
  });

  it('reports a path that leads nowhere as a problem, not a crash', async () => {
    const { store, dispatcher, deploy } = serviceStore();
    const made = await deploy(
      serviceFile(
        `tosca_definitions_version: tosca_2_0
node_types:
  N:
    attributes:
      a: { type: string }
service_template:
  node_templates:
    n:
      type: N
      attributes:
        a: { $get_attribute: [ SELF, RELATIONSHIP, missing, TARGET, a ] }
`,
      ),
      'broken',
    );
    const n = made.vertexes.find((v) => v.template?.name === 'n') as Vertex;
    const updated = await update(store, { ids: [n.id], dispatcher });
    expect(updated.problems).toHaveLength(1);
    expect(updated.problems[0]).toMatchObject({
      path: ['a'],
      stage: 'updater',
      plugin: 'tosca',
      function: 'get_attribute',
    });
  });
});
