import type { HostFunctions, Value } from '@khutulun/floria';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_PLUGIN, builtinPlugins } from './builtin-plugins.js';
import { isPluginError } from './plugin-error.js';
import { createPluginHost } from './plugin-host.js';

const host = createPluginHost({ builtins: true });
const site = { entity: { kind: 'vertex' as const, directory: ['services', 'hello'], name: 'web' } };
const noHost = {} as HostFunctions;
const call = (fn: string, arg: Value) =>
  host.dispatch({ plugin: BUILTIN_PLUGIN, function: fn, arguments: [arg], site }, noHost);

afterAll(() => host.close());

describe('built-in Wasm plugin (khutulun.wasm)', () => {
  it('is registered as a Wasm plugin with a sha256 digest', () => {
    const [entity] = builtinPlugins();
    expect(entity?.pluginKind).toBe('wasm');
    expect(entity?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(host.has(BUILTIN_PLUGIN)).toBe(true);
  });

  it('restart_delay: immediate the first time, then capped exponential back-off', async () => {
    const policy = { initial_ms: 100, max_ms: 1000, multiplier: 2 };
    const delays = [];
    for (let attempt = 0; attempt < 7; attempt++)
      delays.push(await call('restart_delay', { attempt, policy }));
    expect(delays).toEqual([0, 100, 200, 400, 800, 1000, 1000]);
    expect(await call('restart_delay', { attempt: 1 })).toBe(1000);
  });

  it('restart_delay: refuses a malformed argument', async () => {
    const error = await call('restart_delay', { policy: {} }).catch((e: unknown) => e);
    expect(isPluginError(error) && error.code).toBe('FAILED');
  });

  it('place: the least loaded available host with the wanted labels, ties by name', async () => {
    const hosts: Value = [
      { name: 'c', workloads: 1, labels: { zone: 'a' } },
      { name: 'b', workloads: 1, labels: { zone: 'a' } },
      { name: 'a', workloads: 0, available: false, labels: { zone: 'a' } },
      { name: 'd', workloads: 0, labels: { zone: 'b' } },
    ];
    expect(await call('place', { workload: { name: 'web' }, hosts })).toBe('d');
    expect(await call('place', { workload: { name: 'web', labels: { zone: 'a' } }, hosts })).toBe(
      'b',
    );
    expect(await call('place', { workload: { name: 'web', host: 'c' }, hosts })).toBe('c');
    expect(await call('place', { workload: { name: 'web', host: 'a' }, hosts })).toBe(null);
    expect(await call('place', { workload: { name: 'web', labels: { zone: 'x' } }, hosts })).toBe(
      null,
    );
  });
});
