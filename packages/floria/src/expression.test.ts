import { describe, expect, it } from 'vitest';
import { registerBuiltinFunctions } from './builtin-functions.js';
import type { HostFunctions } from './dispatch.js';
import { isFloriaError } from './errors.js';
import { call, evaluate, list, literal, map } from './expression.js';
import { FunctionRegistry, RoutingDispatcher } from './function-registry.js';
import { idKey, makeId } from './id.js';
import type { Entity, Expression, Value, Vertex } from './model.js';

const site = { entity: makeId('vertex', ['svc'], 'web-1'), path: ['port'] };

/** Host functions over an in-test entity map standing in for a store (no store package here). */
function mapHost(entities: Entity[], registry: FunctionRegistry): HostFunctions {
  const byKey = new Map(entities.map((entity) => [idKey(entity.id), entity]));
  const host: HostFunctions = {
    log: () => {},
    getEntity: async (id) => byKey.get(idKey(id)),
    evaluate: (expression, where) =>
      evaluate(expression, { site: where, dispatcher: registry, host }),
    query: async () => [],
    traverse: async () => [],
    put: async () => {},
    delete: async () => false,
    emit: async () => {},
  };
  return host;
}

function setup(entities: Entity[] = []) {
  const registry = registerBuiltinFunctions(new FunctionRegistry());
  const host = mapHost(entities, registry);
  const run = (expression: Expression) =>
    evaluate(expression, { site, dispatcher: registry, host });
  return { registry, host, run };
}

async function failure(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

describe('evaluate: structure', () => {
  it('literal, list and map evaluate structurally', async () => {
    const { run } = setup();
    expect(await run(literal({ a: [1, 'x', null] }))).toEqual({ a: [1, 'x', null] });
    expect(await run(list(literal(1), list(literal(true)), map({})))).toEqual([1, [true], {}]);
    expect(await run(map({ a: literal(1), b: list() }))).toEqual({ a: 1, b: [] });
    expect(
      await run(map([[call('floria:concat', [literal('k'), literal(1)]), literal('v')]])),
    ).toEqual({
      k1: 'v',
    });
  });

  it('keeps a __proto__ key as data', async () => {
    const { run } = setup();
    const result = (await run(map([[literal('__proto__'), literal(1)]]))) as Record<string, Value>;
    expect(Object.keys(result)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
  });

  it('refuses non-string map keys with the call site', async () => {
    const { run } = setup();
    const error = await failure(run(map([[literal(1), literal('v')]])));
    expect(error.code).toBe('evaluation-failed');
    expect(error.site).toEqual(site);
  });
});

describe('evaluate: calls', () => {
  it('eager calls get evaluated argument values, in order', async () => {
    const { registry, run } = setup();
    const seen: unknown[] = [];
    registry.register('test:record', (args, { call: c }) => {
      seen.push({ args, lazy: c.lazy, site: c.site });
      return args.length;
    });
    expect(
      await run(call('test:record', [call('floria:sum', [literal(1), literal(2)]), literal('x')])),
    ).toBe(2);
    expect(seen).toEqual([{ args: [3, 'x'], lazy: undefined, site }]);
  });

  it('lazy calls get expressions and evaluate them through the host', async () => {
    const { registry, run } = setup();
    let evaluated = 0;
    registry.register('test:count', () => ++evaluated);
    registry.register('test:first', async (args, { call: c, host }) => {
      expect(c.lazy).toBe(true);
      return host.evaluate(args[0] as Expression, c.site);
    });
    expect(
      await run(call('test:first', [call('test:count'), call('test:count')], { lazy: true })),
    ).toBe(1);
    expect(evaluated).toBe(1);
  });

  it('lazy if and and short-circuit; eager ones evaluate everything', async () => {
    const { registry, run } = setup();
    registry.register('test:boom', () => {
      throw new Error('boom');
    });
    expect(
      await run(
        call('floria:if', [literal(true), literal('yes'), call('test:boom')], { lazy: true }),
      ),
    ).toBe('yes');
    expect(await run(call('floria:and', [literal(false), call('test:boom')], { lazy: true }))).toBe(
      false,
    );
    expect(await run(call('floria:or', [literal(true), call('test:boom')], { lazy: true }))).toBe(
      true,
    );
    await expect(run(call('floria:and', [literal(false), call('test:boom')]))).rejects.toThrow(
      /boom/,
    );
  });

  it('errors carry the call site and the innermost plugin:function, with the cause', async () => {
    const { registry, run } = setup();
    const cause = new Error('no such port');
    registry.register('ports:lookup', () => {
      throw cause;
    });
    const error = await failure(
      run(call('floria:concat', [literal('port '), call('ports:lookup', [literal('web')])])),
    );
    expect(isFloriaError(error, 'evaluation-failed')).toBe(true);
    expect(error).toMatchObject({ site, plugin: 'ports', functionName: 'lookup', cause });
    expect(String(error.message)).toMatch(
      /vertex:svc\/web-1 at port in ports:lookup: no such port/,
    );
  });

  it('errors inside lazily evaluated arguments keep the innermost call', async () => {
    const { registry, run } = setup();
    registry.register('test:boom', () => {
      throw new Error('inner');
    });
    const error = await failure(
      run(call('floria:if', [literal(false), literal(1), call('test:boom')], { lazy: true })),
    );
    expect(error).toMatchObject({ plugin: 'test', functionName: 'boom' });
  });

  it('unknown functions fail naming plugin and function', async () => {
    const { run } = setup();
    const error = await failure(run(call('nowhere:nothing')));
    expect(error).toMatchObject({
      code: 'evaluation-failed',
      plugin: 'nowhere',
      functionName: 'nothing',
    });
    expect(isFloriaError(error.cause, 'unknown-function')).toBe(true);
  });

  it('a function returning nothing yields null; returning a non-value fails', async () => {
    const { registry, run } = setup();
    registry.register('test:nothing', () => undefined);
    registry.register('test:date', () => new Date() as unknown as Value);
    expect(await run(call('test:nothing'))).toBeNull();
    await expect(run(call('test:date'))).rejects.toThrow(/not a Floria value/);
  });

  it('call() refuses names without plugin:function', () => {
    expect(() => call('concat')).toThrow(TypeError);
    expect(() => call(':x')).toThrow(TypeError);
    expect(call('a:b:c')).toMatchObject({ plugin: 'a', function: 'b:c' });
  });
});

describe('RoutingDispatcher', () => {
  it('routes by plugin name, falls back, and refuses the unknown', async () => {
    const a = new FunctionRegistry().register('a:f', () => 'from a');
    const fallback = new FunctionRegistry().register('b:f', () => 'from fallback');
    const { host } = setup();
    const routed = new RoutingDispatcher({ a }, fallback);
    const dispatch = (plugin: string) =>
      routed.dispatch({ plugin, function: 'f', arguments: [], site }, host);
    expect(await dispatch('a')).toBe('from a');
    expect(await dispatch('b')).toBe('from fallback');
    await expect(dispatch('c')).rejects.toMatchObject({ code: 'unknown-function' });
    const strict = new RoutingDispatcher(new Map([['a', a]]));
    await expect(
      strict.dispatch({ plugin: 'b', function: 'f', arguments: [], site }, host),
    ).rejects.toMatchObject({ code: 'unknown-function', plugin: 'b', functionName: 'f' });
  });
});

describe('built-in functions', () => {
  const db: Vertex = {
    id: makeId('vertex', ['svc'], 'db-1'),
    metadata: {},
    classes: [],
    template: makeId('vertex-template', ['tpl'], 'db'),
    properties: { port: { value: 5432 }, settings: { value: { tls: { on: true } } }, empty: {} },
  };
  const web: Vertex = {
    id: site.entity,
    metadata: {},
    classes: [],
    parent: db.id,
    properties: { port: { value: 8080 } },
  };
  const edge: Entity = {
    id: makeId('edge', ['svc'], 'uses-1'),
    metadata: {},
    classes: [],
    source: web.id,
    target: db.id,
    properties: {},
  };
  const f = (name: string, ...args: Value[]) => call(`floria:${name}`, args.map(literal));

  it.each<[string, Expression, Value]>([
    ['concat', f('concat', 'a', 1, true, null), 'a1truenull'],
    ['join', f('join', ['a', 'b', 'c'], ', '), 'a, b, c'],
    ['join without separator', f('join', ['a', 'b']), 'ab'],
    ['token', f('token', 'a.b:c', '.:', 2), 'c'],
    ['equal deep', f('equal', { a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), true],
    ['equal differs', f('equal', [1], [1, 2]), false],
    ['not', f('not', false), true],
    ['and', f('and', true, true), true],
    ['or', f('or', false, false), false],
    ['if else', f('if', false, 1, 2), 2],
    ['if without else', f('if', false, 1), null],
    ['less_than', f('less_than', 1, 2), true],
    ['less_or_equal', f('less_or_equal', 'b', 'b'), true],
    ['greater_than', f('greater_than', 'a', 'b'), false],
    ['greater_or_equal', f('greater_or_equal', 3, 2), true],
    ['in_range inside', f('in_range', 5, [1, 5]), true],
    ['in_range outside', f('in_range', 6, [1, 5]), false],
    ['valid_values', f('valid_values', { a: 1 }, [1, { a: 1 }]), true],
    ['length of string (code points)', f('length', 'a😀'), 2],
    ['length of list', f('length', [1, 2, 3]), 3],
    ['length of map', f('length', { a: 1 }), 1],
    ['pattern matches whole', f('pattern', 'abc', '[a-c]+'), true],
    ['pattern partial is no match', f('pattern', 'abcd', '[a-c]+'), false],
    ['sum', f('sum', 1, 2, 3.5), 6.5],
    ['product', f('product', 2, 3), 6],
    ['difference', f('difference', 2, 3), -1],
    ['quotient', f('quotient', 3, 2), 1.5],
    ['self', f('self'), { kind: 'vertex', directory: ['svc'], name: 'web-1' }],
    ['value at the call site', f('value'), 8080],
    ['get_property by id map', f('get_property', { ...db.id }, 'port'), 5432],
    [
      'get_property by key, with a path',
      f('get_property', idKey(db.id), 'settings', 'tls', 'on'),
      true,
    ],
    ['get_property of an unset value', f('get_property', idKey(db.id), 'empty'), null],
    ['parent of self', f('parent'), { kind: 'vertex', directory: ['svc'], name: 'db-1' }],
    [
      'template of another',
      f('template', idKey(db.id)),
      { kind: 'vertex-template', directory: ['tpl'], name: 'db' },
    ],
    ['template absent', f('template'), null],
    [
      'target of an edge',
      f('target', idKey(edge.id)),
      { kind: 'vertex', directory: ['svc'], name: 'db-1' },
    ],
    [
      'source of an edge',
      f('source', idKey(edge.id)),
      { kind: 'vertex', directory: ['svc'], name: 'web-1' },
    ],
  ])('%s', async (_name, expression, expected) => {
    const { run } = setup([db, web, edge]);
    expect(await run(expression)).toEqual(expected);
  });

  it.each<[string, Expression, RegExp]>([
    ['comparing different types', f('less_than', 1, 'a'), /cannot compare/],
    ['not of a non-boolean', f('not', 1), /expected a boolean/],
    ['a missing argument', f('equal', 1), /position 2/],
    ['division by zero', f('quotient', 1, 0), /division by zero/],
    ['a missing entity', f('get_property', 'vertex:nowhere', 'port'), /no entity/],
    ['a missing property', f('get_property', idKey(db.id), 'nope'), /no property nope/],
    ['a missing path step', f('get_property', idKey(db.id), 'settings', 'nope'), /no key "nope"/],
    ['a bad id', f('get_property', 42, 'port'), /not an id/],
    ['a bad range', f('in_range', 1, [1]), /\[low, high\]/],
    ['a missing token', f('token', 'a.b', '.', 5), /no token 5/],
  ])('fails on %s', async (_name, expression, message) => {
    const { run } = setup([db, web, edge]);
    await expect(run(expression)).rejects.toThrow(message);
  });
});
