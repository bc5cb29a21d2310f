// End to end: a TOSCA service whose custom function is a Wasm plugin compiles, and its
// property evaluates by calling the plugin through the PluginHost. The plugin is the
// tosca-url example (examples/plugins/tosca-url), built from source by the build.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Entity,
  type Expression,
  evaluate,
  type HostFunctions,
  type PluginEntity,
  type VertexTemplate,
} from '@khutulun/floria';
import { createPluginHost, isPluginError, type PluginHost } from '@khutulun/plugins';
import { compile, createToscaDispatcher } from '@khutulun/tosca';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const example = fileURLToPath(new URL('../../examples/plugins/', import.meta.url));
const wasm = join(example, 'build', 'tosca-url.wasm');
const serviceYaml = readFileSync(join(example, 'tosca-url', 'service.yaml'));

let dir: string;
const hosts: PluginHost[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'khutulun-tosca-wasm-'));
  writeFileSync(join(dir, 'service.yaml'), serviceYaml);
  copyFileSync(wasm, join(dir, 'tosca-url.wasm'));
  writeFileSync(
    join(dir, 'service.csar'),
    zipSync({
      'TOSCA-Metadata/TOSCA.meta': new TextEncoder().encode(
        'CSAR-Version: 2.0\nCreated-By: khutulun tests\nEntry-Definitions: service.yaml\n',
      ),
      'service.yaml': new Uint8Array(serviceYaml),
      'tosca-url.wasm': new Uint8Array(readFileSync(wasm)),
    }),
  );
});

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Compiles, registers the plugins it declares, and evaluates the `address` property. */
async function compileAndEvaluate(source: string, inputs = {}) {
  const result = await compile({ source, inputs, directory: ['services', 'site'] });
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const templates = result.templates as Entity[];
  const plugin = templates.find((e) => e.id.kind === 'plugin') as PluginEntity;
  const site = templates.find(
    (e) => e.id.kind === 'vertex-template' && 'properties' in e && 'address' in e.properties,
  ) as VertexTemplate;
  const host = createPluginHost();
  hosts.push(host);
  host.register(plugin);
  host.registerDispatcher('tosca', createToscaDispatcher(), ['get-entity', 'query']);
  const byId = new Map(templates.map((e) => [JSON.stringify(e.id), e]));
  const functions: HostFunctions = {
    log: () => {},
    getEntity: async (id) => byId.get(JSON.stringify(id)),
    evaluate: (expression, at) =>
      evaluate(expression, { site: at, dispatcher: host, host: functions }),
    query: async () => templates,
    traverse: async () => [],
    put: async () => {},
    delete: async () => false,
    emit: async () => {},
  };
  const property = site.properties['address'];
  const updater = property?.updater as Expression;
  const value = updater
    ? await evaluate(updater, {
        site: { entity: site.id, path: ['address'] },
        dispatcher: host,
        host: functions,
      })
    : property?.value;
  return { plugin, updater, value, host, functions, site };
}

describe('a TOSCA service whose custom function is a Wasm plugin', () => {
  it('compiles the function to a call of the Wasm plugin, and evaluates it', async () => {
    const { plugin, updater, value } = await compileAndEvaluate(join(dir, 'service.yaml'), {
      port: 9090,
    });
    expect(updater).toMatchObject({ kind: 'call', plugin: 'tosca-url', function: 'url' });
    expect(plugin.pluginKind).toBe('wasm');
    expect(plugin.id.name).toBe('tosca-url');
    expect(plugin.digest).toMatch(/^sha256:/);
    expect(value).toBe('http://example.org:9090/index.html');
  });

  it('works the same from a CSAR, with the module shipped inline', async () => {
    const { plugin, value } = await compileAndEvaluate(join(dir, 'service.csar'));
    expect(plugin.location).toBe('inline:');
    expect(plugin.content).toBeTruthy();
    expect(value).toBe('http://example.org:8080/index.html');
  });

  it('reports a bad argument from the plugin as an error naming the function', async () => {
    const { host, functions, site } = await compileAndEvaluate(join(dir, 'service.yaml'));
    const error = await host
      .dispatch(
        {
          plugin: 'tosca-url',
          function: 'url',
          arguments: ['', 1, '/'],
          site: { entity: site.id },
        },
        functions,
      )
      .catch((e: unknown) => e);
    expect(isPluginError(error) && error.code).toBe('FAILED');
    expect(String((error as Error).message)).toContain('tosca-url:url');
    expect(String((error as Error).message)).toContain('host must be a non-empty string');
  });
});
