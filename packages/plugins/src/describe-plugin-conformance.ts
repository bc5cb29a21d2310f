/**
 * The plugin conformance suite, written once and run against every plugin kind (see
 * `plugin-conformance.test.ts`). Each kind provides the same fixture functions (echo, add,
 * refuse, entity_name, log, put, evaluate, query_count, count, spin, crash, exhaust) and
 * says how its failures are classified. Test-only; not part of the public API.
 */

import { readFileSync } from 'node:fs';
import type {
  CallSite,
  Entity,
  FunctionCall,
  HostFunctions,
  Id,
  PluginEntity,
  Value,
} from '@khutulun/floria';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentDigest } from './content-digest.js';
import { isPluginError, type PluginError, type PluginErrorCode } from './plugin-error.js';
import { PluginHost } from './plugin-host.js';

/** One plugin kind under test. */
export interface ConformanceKind {
  kind: PluginEntity['pluginKind'];
  /** Absolute path of the fixture implementing the conformance functions. */
  location: string;
  /** How this kind reports `crash` (a trap, a dying process, a throwing function). */
  crashCode: PluginErrorCode;
  /** How this kind reports `exhaust`, or why it cannot be tested for this kind. */
  exhaust: { code: PluginErrorCode } | { skip: string };
}

/** A graph of entities in a map, with the host functions plugins see; records logs. */
class TestGraph {
  readonly entities = new Map<string, Entity>();
  readonly logs: string[] = [];
  readonly events: string[] = [];

  constructor(readonly dispatcher: PluginHost) {}

  functions(): HostFunctions {
    const key = (id: Id) => `${id.kind}:${id.directory.join('/')}:${id.name}`;
    return {
      log: (level, message) => {
        this.logs.push(`${level}: ${message}`);
      },
      getEntity: async (id) => this.entities.get(key(id)),
      evaluate: async (expression, site) => {
        if (expression.kind === 'literal') return expression.value;
        if (expression.kind !== 'call') throw new Error('only literals and calls here');
        const args: Value[] = [];
        for (const a of expression.arguments) args.push(await this.functions().evaluate(a, site));
        return this.dispatcher.dispatch(
          { plugin: expression.plugin, function: expression.function, arguments: args, site },
          this.functions(),
        );
      },
      query: async (query) =>
        [...this.entities.values()].filter((e) => !query.kind || e.id.kind === query.kind),
      traverse: async () => [],
      put: async (entity) => {
        this.entities.set(key(entity.id), entity);
      },
      delete: async (id) => this.entities.delete(key(id)),
      emit: async (event) => {
        this.events.push(event.type);
      },
    };
  }
}

const vertexId: Id = { kind: 'vertex', directory: ['services', 'hello'], name: 'web' };
const site: CallSite = { entity: vertexId, path: ['port'] };

/** Registers the conformance tests for one plugin kind. */
export function describePluginConformance(subject: ConformanceKind): void {
  describe(`plugin conformance: ${subject.kind}`, () => {
    let host: PluginHost;
    let graph: TestGraph;
    const entity = (name: string, grants: string[], digest?: string): PluginEntity => ({
      id: { kind: 'plugin', directory: ['plugins'], name },
      metadata: {},
      classes: [],
      pluginKind: subject.kind,
      digest: digest ?? contentDigest(readFileSync(subject.location)),
      location: subject.location,
      grants,
    });
    const call = (fn: string, args: Value[] = [], plugin = 'full'): Promise<Value> =>
      host.dispatch({ plugin, function: fn, arguments: args, site }, graph.functions());
    const failure = async (promise: Promise<unknown>): Promise<PluginError> => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPluginError(error), `expected a PluginError, got ${String(error)}`).toBe(true);
      return error as PluginError;
    };

    beforeAll(() => {
      // Generous: the first call to an executable includes starting it, on a loaded machine.
      host = new PluginHost({ timeoutMs: 5000, maxMemoryPages: 64 });
      graph = new TestGraph(host);
      graph.entities.set('vertex:services/hello:web', {
        id: { ...vertexId, kind: 'vertex' },
        metadata: {},
        classes: [],
        properties: { name: { value: 'web-1' } },
      });
      host.register(entity('full', ['log', 'get-entity', 'evaluate', 'query', 'change-graph']));
      host.register(entity('readonly', ['log', 'get-entity']));
      host.register(entity('tampered', [], 'sha256:0000'));
    });
    afterAll(async () => {
      await host.close();
    });

    it('returns the value the function computes', async () => {
      expect(await call('add', [2, 3])).toBe(5);
    });

    it('passes arguments, call site, lazy flag and event through unchanged', async () => {
      const event = {
        seq: 7,
        type: 'property-changed',
        id: vertexId,
        time: '2026-01-01T00:00:00.000Z',
        data: { property: 'port', old: 1, new: 2 },
      };
      const args = [{ a: [1, 'two', null, true] }, 'ünïcode ✓', 1.5];
      const fc: FunctionCall = { plugin: 'full', function: 'echo', arguments: args, site, event };
      expect(await host.dispatch(fc, graph.functions())).toEqual({
        plugin: 'full',
        function: 'echo',
        arguments: args,
        lazy: false,
        site,
        event,
      });
    });

    it('reports an error the plugin raises as FAILED, naming plugin, function and site', async () => {
      const error = await failure(call('refuse', ['not today']));
      expect(error.code).toBe('FAILED');
      expect(error.message).toContain('not today');
      expect(error.message).toContain('full:refuse');
      expect(error.message).toContain('/services/hello/web#port');
      expect(error.site).toEqual(site);
    });

    it('reports an unknown function or plugin as NOT_FOUND', async () => {
      expect((await failure(call('no_such_function'))).code).toBe('NOT_FOUND');
      expect((await failure(call('add', [1, 2], 'no-such-plugin'))).code).toBe('NOT_FOUND');
    });

    it('refuses content whose digest does not match', async () => {
      expect((await failure(call('add', [1, 2], 'tampered'))).code).toBe('DIGEST_MISMATCH');
    });

    it('serves granted host functions: get-entity and log', async () => {
      expect(await call('entity_name')).toBe('web-1');
      await call('log', ['hello from the plugin']);
      expect(graph.logs).toContain('info: hello from the plugin');
    });

    it('serves the query host function', async () => {
      const vertexes = [...graph.entities.values()].filter((e) => e.id.kind === 'vertex').length;
      expect(await call('query_count', ['vertex'])).toBe(vertexes);
      expect(await call('query_count', ['edge'])).toBe(0);
    });

    it('passes a lazy call its argument expressions unevaluated', async () => {
      const args = [{ kind: 'call', plugin: 'x', function: 'y', arguments: [] }];
      const result = (await host.dispatch(
        { plugin: 'full', function: 'echo', arguments: args, lazy: true, site },
        graph.functions(),
      )) as { arguments: Value; lazy: boolean };
      expect(result.lazy).toBe(true);
      expect(result.arguments).toEqual(args);
    });

    it('lets a plugin granted change-graph change the graph', async () => {
      const child: Entity = {
        id: { kind: 'vertex', directory: ['services', 'hello'], name: 'child' },
        metadata: {},
        classes: [],
        properties: {},
      };
      expect(await call('put', [child as unknown as Value])).toBe(true);
      expect(graph.entities.has('vertex:services/hello:child')).toBe(true);
    });

    it('denies a host function that was not granted, naming it, and changes nothing', async () => {
      const child = {
        id: { kind: 'vertex', directory: ['services', 'hello'], name: 'forbidden' },
        metadata: {},
        classes: [],
        properties: {},
      };
      const error = await failure(call('put', [child], 'readonly'));
      expect(error.code).toBe('DENIED');
      expect(error.hostFunction).toBe('put');
      expect(error.message).toContain("'put'");
      expect(graph.entities.has('vertex:services/hello:forbidden')).toBe(false);
      // Granted functions still work for the same plugin.
      expect(await call('entity_name', [], 'readonly')).toBe('web-1');
    });

    it('keeps the plugin loaded between calls instead of reloading it per call', async () => {
      const first = (await call('count')) as number;
      const second = (await call('count')) as number;
      expect(second).toBeGreaterThan(first);
    });

    it('answers a call nested inside a host function of the same plugin', async () => {
      const expression = { kind: 'call', plugin: 'full', function: 'add', arguments: [] };
      const nested = {
        ...expression,
        arguments: [
          { kind: 'literal', value: 20 },
          { kind: 'literal', value: 22 },
        ],
      };
      expect(await call('evaluate', [nested])).toBe(42);
    });

    it('answers many calls in a row (no lost wake-up between calls)', async () => {
      for (let i = 0; i < 2000; i++) {
        const sum = await call('add', [i, 1]);
        if (sum !== i + 1) expect(sum).toBe(i + 1);
      }
    });

    it('answers concurrent calls correctly', async () => {
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => call('add', [i, i])));
      expect(results).toEqual(Array.from({ length: 24 }, (_, i) => 2 * i));
    });

    it('stops a call that runs past its time limit with TIMEOUT, then works again', async () => {
      const error = await failure(call('spin'));
      expect(error.code).toBe('TIMEOUT');
      expect(error.function).toBe('spin');
      expect(await call('add', [1, 1])).toBe(2);
    });

    it('reports a crash as an error, then works again', async () => {
      const error = await failure(call('crash'));
      expect(error.code).toBe(subject.crashCode);
      expect(await call('add', [2, 2])).toBe(4);
    });

    const exhaust = subject.exhaust;
    if ('skip' in exhaust) {
      it.skip(`memory exhaustion (skipped: ${exhaust.skip})`, () => {});
    } else {
      it('reports memory exhaustion as an error, then works again', async () => {
        const error = await failure(call('exhaust'));
        expect(error.code).toBe(exhaust.code);
        expect(await call('add', [3, 3])).toBe(6);
      });
    }

    it('fails calls with CLOSED after close()', async () => {
      const other = new PluginHost();
      other.register(entity('full', ['log']));
      expect(
        await other.dispatch(
          { plugin: 'full', function: 'add', arguments: [1, 2], site },
          graph.functions(),
        ),
      ).toBe(3);
      await other.close();
      const error = await failure(
        other.dispatch(
          { plugin: 'full', function: 'add', arguments: [1, 2], site },
          graph.functions(),
        ),
      );
      expect(error.code).toBe('CLOSED');
    });
  });
}
