// PluginHost behaviour beyond the per-kind conformance suite: inline content, load failures
// and retries, the start-memory check, replacement, forwarding to dispatchers, and the
// executable process lifecycle (restart, kill on close, protocol violations).

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Dispatcher,
  type FunctionCall,
  type HostFunctions,
  hostFunctions,
  type PluginEntity,
  type StoreReader,
  type Value,
} from '@khutulun/floria';
import { afterAll, describe, expect, it } from 'vitest';
import { contentDigest } from './content-digest.js';
import { isPluginError, type PluginError } from './plugin-error.js';
import { PluginHost } from './plugin-host.js';

const fixture = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const wasmPath = fixture('build/fixtures/conformance.wasm');
const executablePath = fixture('fixtures/conformance-executable.mjs');
const modulePath = fixture('fixtures/conformance-module.mjs');
const site = { entity: { kind: 'vertex' as const, directory: ['t'], name: 'v' } };
const host = {} as HostFunctions;
const hosts: PluginHost[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'khutulun-plugin-host-'));

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  rmSync(scratch, { recursive: true, force: true });
});

function newHost(): PluginHost {
  const h = new PluginHost({ timeoutMs: 5000 });
  hosts.push(h);
  return h;
}

function entity(
  name: string,
  pluginKind: PluginEntity['pluginKind'],
  content: { path: string } | { inline: Uint8Array },
): PluginEntity {
  const bytes = 'path' in content ? readFileSync(content.path) : content.inline;
  const e: PluginEntity = {
    id: { kind: 'plugin', directory: ['t'], name },
    metadata: {},
    classes: [],
    pluginKind,
    digest: contentDigest(bytes),
    location: 'path' in content ? content.path : 'inline:',
    grants: [],
  };
  if ('inline' in content) e.content = Buffer.from(content.inline).toString('base64');
  return e;
}

const call = (h: PluginHost, plugin: string, fn: string, args: Value[] = []) =>
  h.dispatch({ plugin, function: fn, arguments: args, site }, host);

async function failure(promise: Promise<unknown>): Promise<PluginError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPluginError(error), `expected a PluginError, got ${String(error)}`).toBe(true);
  return error as PluginError;
}

describe('PluginHost', () => {
  it('loads every kind from inline content (as shipped in a CSAR)', async () => {
    const h = newHost();
    h.register(entity('w', 'wasm', { inline: readFileSync(wasmPath) }));
    h.register(entity('x', 'executable', { inline: readFileSync(executablePath) }));
    h.register(entity('m', 'typescript', { inline: readFileSync(modulePath) }));
    expect(await call(h, 'w', 'add', [1, 2])).toBe(3);
    expect(await call(h, 'x', 'add', [3, 4])).toBe(7);
    expect(await call(h, 'm', 'add', [5, 6])).toBe(11);
  });

  it('reports a missing file or a bad module as LOAD_FAILED, and retries at the next call', async () => {
    const h = newHost();
    const later = join(scratch, 'later.wasm');
    h.register({ ...entity('later', 'wasm', { path: wasmPath }), location: later });
    expect((await failure(call(h, 'later', 'add', [1, 1]))).code).toBe('LOAD_FAILED');
    copyFileSync(wasmPath, later);
    expect(await call(h, 'later', 'add', [1, 1])).toBe(2);

    h.register(entity('garbage', 'wasm', { inline: new TextEncoder().encode('not wasm') }));
    const error = await failure(call(h, 'garbage', 'add'));
    expect(error.code).toBe('LOAD_FAILED');
    expect(error.message).toContain('not a WebAssembly module');
  });

  it('refuses a module that needs more memory at start than the limit', async () => {
    const h = new PluginHost({ maxMemoryPages: 0 });
    hosts.push(h);
    h.register(entity('big', 'wasm', { path: wasmPath }));
    const error = await failure(call(h, 'big', 'add', [1, 1]));
    expect(error.code).toBe('LOAD_FAILED');
    expect(error.message).toMatch(/needs \d+ memory pages at start; the limit is 0/);
  });

  it('replaces a plugin registered again under the same name and directory', async () => {
    const h = newHost();
    h.register(entity('p', 'typescript', { path: modulePath }));
    expect(await call(h, 'p', 'add', [1, 2])).toBe(3);
    h.register(entity('p', 'executable', { path: executablePath }));
    expect(await call(h, 'p', 'pid')).toEqual(expect.any(Number));
    expect(h.plugins().map((p) => p.pluginKind)).toEqual(['executable']);
  });

  it('routes a name shared by several directories to the innermost one enclosing the site', async () => {
    const h = newHost();
    const at = (directory: string[]) => ({
      ...entity('f', 'typescript', { path: modulePath }),
      id: { kind: 'plugin' as const, directory, name: 'f' },
    });
    h.register(at(['services', 'a']));
    h.registerModule('f', { add: () => 'root' });
    h.register({ ...at(['services', 'b']), pluginKind: 'typescript' });
    h.registerModule('f', { add: () => 'b' });
    const from = (directory: string[]) =>
      h.dispatch(
        {
          plugin: 'f',
          function: 'add',
          arguments: [1, 2],
          site: { entity: { kind: 'vertex', directory, name: 'v' } },
        },
        host,
      );
    expect(await from(['services', 'a', 'deeper'])).toBe(3);
    expect(await from(['elsewhere'])).toBe('b');
    expect(await h.unregister({ kind: 'plugin', directory: [], name: 'f' })).toBe(true);
    expect(await h.unregister({ kind: 'plugin', directory: [], name: 'f' })).toBe(false);
    const error = await failure(from(['elsewhere']));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('several plugins have this name');
  });

  it("reports the host's own refusal of a granted function as DENIED too", async () => {
    const h = newHost();
    h.register({ ...entity('w', 'wasm', { path: wasmPath }), grants: ['change-graph'] });
    const readOnly = hostFunctions({
      reader: {} as StoreReader,
      dispatcher: h,
    });
    const child = {
      id: { kind: 'vertex', directory: ['t'], name: 'c' },
      metadata: {},
      classes: [],
      properties: {},
    };
    const error = await failure(
      h.dispatch({ plugin: 'w', function: 'put', arguments: [child], site }, readOnly),
    );
    expect(error.code).toBe('DENIED');
    expect(error.hostFunction).toBe('put');
    expect(error.message).toContain('refused by the host');
  });

  it('forwards calls, lazy flag and event to a registered dispatcher', async () => {
    const h = newHost();
    const seen: FunctionCall[] = [];
    const dispatcher: Dispatcher = {
      dispatch: async (c) => {
        seen.push(c);
        return c.function;
      },
    };
    h.registerDispatcher('d', dispatcher);
    const event = { seq: 1, type: 'added', id: site.entity, time: 't' };
    const lazyArgs = [{ kind: 'literal' as const, value: 1 }];
    expect(
      await h.dispatch(
        { plugin: 'd', function: 'f', arguments: lazyArgs, lazy: true, site, event },
        host,
      ),
    ).toBe('f');
    expect(seen).toEqual([
      { plugin: 'd', function: 'f', arguments: lazyArgs, lazy: true, site, event },
    ]);
  });
});

describe('a script using the host', () => {
  it('exits by itself after close(), also when nothing else keeps it alive', () => {
    // A child process: the event loop must stay up while close() reaps workers and
    // processes (both are unref'd while idle), and the script must then end (exit code 0,
    // not 13 for an unsettled top-level await).
    const script = `
      import { readFileSync } from 'node:fs';
      import { contentDigest, createPluginHost } from '@khutulun/plugins';
      const host = createPluginHost({ builtins: true });
      const site = { entity: { kind: 'vertex', directory: [], name: 'v' } };
      const location = ${JSON.stringify(executablePath)};
      host.register({ id: { kind: 'plugin', directory: [], name: 'x' }, metadata: {}, classes: [],
        pluginKind: 'executable', digest: contentDigest(readFileSync(location)), location, grants: [] });
      const a = await host.dispatch({ plugin: 'x', function: 'add', arguments: [1, 2], site }, {});
      const d = await host.dispatch({ plugin: 'khutulun', function: 'restart_delay',
        arguments: [{ attempt: 2 }], site }, {});
      await host.close();
      console.log(JSON.stringify([a, d]));
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fixture('.'),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('[3,2000]');
  });
});

describe('executable plugin processes', () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const waitFor = async (condition: () => boolean) => {
    for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
    return condition();
  };

  it('keeps one process across calls, restarts it after it dies, kills it on close', async () => {
    const h = new PluginHost();
    h.register(entity('x', 'executable', { path: executablePath }));
    const first = (await call(h, 'x', 'pid')) as number;
    expect(await call(h, 'x', 'pid')).toBe(first);
    const crash = await failure(call(h, 'x', 'crash'));
    expect(crash.code).toBe('CRASHED');
    expect(crash.message).toContain('exited with code 70');
    const second = (await call(h, 'x', 'pid')) as number;
    expect(second).not.toBe(first);
    expect(await waitFor(() => !alive(first))).toBe(true);
    await h.close();
    expect(await waitFor(() => !alive(second))).toBe(true);
  });

  it("passes on only a minimal environment, not the host's", async () => {
    process.env['KHUTULUN_TEST_SECRET'] = 'do not leak';
    const h = newHost();
    h.register(entity('envy', 'executable', { path: executablePath }));
    const env = (await call(h, 'envy', 'env')) as Record<string, string>;
    delete process.env['KHUTULUN_TEST_SECRET'];
    expect(env['KHUTULUN_PLUGIN']).toBe('envy');
    expect(env['PATH']).toBe(process.env['PATH']);
    expect(env['KHUTULUN_TEST_SECRET']).toBeUndefined();
  });

  it('kills a process that writes something other than the protocol to stdout', async () => {
    const h = newHost();
    h.register(entity('x', 'executable', { path: executablePath }));
    const pid = (await call(h, 'x', 'pid')) as number;
    const error = await failure(call(h, 'x', 'garbage'));
    expect(error.code).toBe('PROTOCOL');
    expect(error.message).toContain('this is not JSON');
    expect(await waitFor(() => !alive(pid))).toBe(true);
    expect(await call(h, 'x', 'add', [1, 2])).toBe(3);
  });
});
