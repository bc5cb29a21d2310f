// The example plugins (examples/plugins, built from source by the build) do what their
// guide says, through a real PluginHost: an event handler that changes the graph, a
// validator, and the template project.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Entity, FloriaEvent, HostFunctions, Id, Value, Vertex } from '@khutulun/floria';
import { contentDigest, createPluginHost, isPluginError } from '@khutulun/plugins';
import { afterAll, describe, expect, it } from 'vitest';

const build = fileURLToPath(new URL('../../examples/plugins/build/', import.meta.url));
const host = createPluginHost();
for (const [name, grants] of [
  ['restart-counter', ['get-entity', 'change-graph', 'log']],
  ['port-validator', []],
  ['template', ['log', 'get-entity']],
  ['restart-counter-readonly', ['get-entity']],
] as const) {
  const file = join(build, `${name.replace('-readonly', '')}.wasm`);
  host.register({
    id: { kind: 'plugin', directory: ['examples'], name },
    metadata: {},
    classes: [],
    pluginKind: 'wasm',
    digest: contentDigest(readFileSync(file)),
    location: file,
    grants: [...grants],
  });
}
const python = fileURLToPath(
  new URL('../../examples/plugins/python-executable/plugin.py', import.meta.url),
);
host.register({
  id: { kind: 'plugin', directory: ['examples'], name: 'python' },
  metadata: {},
  classes: [],
  pluginKind: 'executable',
  digest: contentDigest(readFileSync(python)),
  location: python,
  grants: ['get-entity'],
});
afterAll(() => host.close());

const webId: Id = { kind: 'vertex', directory: ['services', 'hello'], name: 'web' };

/** A graph of a few entities with the host functions a plugin sees; records what happens. */
function graph(entities: Entity[]) {
  const byKey = new Map(entities.map((e) => [JSON.stringify(e.id), e]));
  const logs: string[] = [];
  const emitted: Array<{ type: string; data?: Value }> = [];
  const functions: HostFunctions = {
    log: (level, message) => logs.push(`${level}: ${message}`),
    getEntity: async (id) => byKey.get(JSON.stringify(id)),
    evaluate: async () => null,
    query: async () => [...byKey.values()],
    traverse: async () => [],
    put: async (entity) => {
      byKey.set(JSON.stringify(entity.id), entity);
    },
    delete: async (id) => byKey.delete(JSON.stringify(id)),
    emit: async (event) => {
      emitted.push(event.data === undefined ? { type: event.type } : event);
    },
  };
  const get = (id: Id) => byKey.get(JSON.stringify(id)) as Vertex;
  return { functions, logs, emitted, get };
}

const exited: FloriaEvent = { seq: 3, type: 'exited', id: webId, time: '2026-01-01T00:00:00Z' };
const web: Vertex = {
  id: webId as Vertex['id'],
  metadata: {},
  classes: [],
  properties: { max_restarts: { value: 2 }, state: { value: 'running' } },
};

describe('example: restart-counter (an event handler that changes the graph)', () => {
  it('counts exits in the graph and gives up past max_restarts', async () => {
    const g = graph([web]);
    const handle = () =>
      host.dispatch(
        {
          plugin: 'restart-counter',
          function: 'on_exit',
          arguments: [],
          site: { entity: webId },
          event: exited,
        },
        g.functions,
      );
    expect(await handle()).toBe(1);
    expect(await handle()).toBe(2);
    expect(g.get(webId).properties['state']?.value).toBe('running');
    expect(await handle()).toBe(3);
    expect(g.get(webId).properties['restarts']?.value).toBe(3);
    expect(g.get(webId).properties['state']?.value).toBe('failed');
    expect(g.emitted).toEqual([{ type: 'gave-up', id: webId, data: 3 }]);
    expect(g.logs).toContain('warn: giving up after 3 exits');
  });

  it('is denied without the change-graph grant, and the graph stays as it was', async () => {
    const g = graph([web]);
    const error = await host
      .dispatch(
        {
          plugin: 'restart-counter-readonly',
          function: 'on_exit',
          arguments: [],
          site: { entity: webId },
          event: exited,
        },
        g.functions,
      )
      .catch((e: unknown) => e);
    expect(isPluginError(error) && error.code).toBe('DENIED');
    expect(isPluginError(error) && error.hostFunction).toBe('put');
    expect(g.get(webId).properties['restarts']).toBeUndefined();
  });
});

describe('example: port-validator (a validator)', () => {
  const validate = (value: Value, options: Value = {}) =>
    host.dispatch(
      {
        plugin: 'port-validator',
        function: 'valid_port',
        arguments: [value, options],
        site: { entity: webId, path: ['port'] },
      },
      graph([]).functions,
    );

  it('accepts a port in range with true', async () => {
    expect(await validate(8080)).toBe(true);
    expect(await validate(2000, { min: 1024, max: 4096 })).toBe(true);
  });

  it('explains why a value is not a valid port', async () => {
    expect(await validate(80, { min: 1024 })).toBe('port 80 is outside 1024..65535');
    expect(await validate(80.5)).toBe('a port must be an integer');
    expect(await validate('http')).toBe('a port must be a number');
  });
});

describe('example: the template project', () => {
  it('builds with its own asconfig and answers its functions', async () => {
    const g = graph([web]);
    const site = { entity: webId, path: ['greeting'] };
    expect(
      await host.dispatch(
        { plugin: 'template', function: 'greet', arguments: ['Khutulun'], site },
        g.functions,
      ),
    ).toBe('Hello, Khutulun!');
    expect(g.logs).toEqual(['info: Hello, Khutulun!']);
    expect(
      await host.dispatch(
        { plugin: 'template', function: 'describe_site', arguments: [], site },
        g.functions,
      ),
    ).toEqual({ name: 'web', property: ['greeting'] });
  });
});

describe('example: an executable plugin in Python', () => {
  const site = { entity: webId, path: ['slug'] };
  it('answers calls, including one that calls a host function back', async () => {
    const g = graph([web]);
    const dispatch = (fn: string, args: Value[]) =>
      host.dispatch({ plugin: 'python', function: fn, arguments: args, site }, g.functions);
    expect(await dispatch('slug', ['Hello, World!'])).toBe('hello-world');
    expect(await dispatch('describe', [])).toEqual({ name: 'web', path: ['slug'] });
    const error = await dispatch('slug', [42]).catch((e: unknown) => e);
    expect(isPluginError(error) && error.code).toBe('FAILED');
    expect(String((error as Error).message)).toContain('slug needs a string');
  });
});
