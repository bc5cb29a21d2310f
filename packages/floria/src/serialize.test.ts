import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { isFloriaError } from './errors.js';
import { call, literal, map } from './expression.js';
import { makeId } from './id.js';
import type { Edge, Entity, Value, Vertex, VertexTemplate } from './model.js';
import {
  deserialize,
  SERIALIZATION_FORMATS,
  type SerializationFormat,
  serialize,
} from './serialize.js';

const roundTrip = (data: unknown, format: SerializationFormat) =>
  deserialize(serialize(data, format), format);

/**
 * Deep equality of what came back with what was serialized, requiring plain prototypes; names
 * the first difference. Numbers must come back exactly (`Object.is`), except that Floria writes
 * -0 as 0: a -0 must come back as 0.
 */
function difference(actual: unknown, expected: unknown, path: string): string | undefined {
  if (typeof expected === 'number') {
    return Object.is(actual, expected === 0 ? 0 : expected)
      ? undefined
      : `${path}: ${String(actual)} is not ${String(expected)}`;
  }
  if (typeof expected !== 'object' || expected === null) {
    return Object.is(actual, expected)
      ? undefined
      : `${path}: ${String(actual)} is not ${String(expected)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: not the list`;
    for (const [index, item] of expected.entries()) {
      const found = difference(actual[index], item, `${path}[${index}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (
    typeof actual !== 'object' ||
    actual === null ||
    Object.getPrototypeOf(actual) !== Object.prototype
  ) {
    return `${path}: not a plain map`;
  }
  const keys = Object.keys(expected);
  if (Object.keys(actual).length !== keys.length) return `${path}: different keys`;
  for (const key of keys) {
    if (!Object.hasOwn(actual, key)) return `${path}: no key ${key}`;
    const found = difference(
      Object.getOwnPropertyDescriptor(actual, key)?.value,
      Object.getOwnPropertyDescriptor(expected, key)?.value,
      `${path}.${key}`,
    );
    if (found) return found;
  }
  return undefined;
}

function expectExact(actual: unknown, expected: unknown): void {
  expect(difference(actual, expected, '$')).toBeUndefined();
}

function expectSerializationError(work: () => unknown): void {
  let caught: unknown;
  try {
    work();
  } catch (error) {
    caught = error;
  }
  expect(isFloriaError(caught, 'serialization-failed')).toBe(true);
}

const tricky: Record<string, Value> = {
  unicode: 'ünïcødé 😀 \u0000 \u2028 עברית 中文',
  float: 1.5,
  huge: 1e300,
  tiny: 5e-324,
  tenth: 0.1,
  negativeZero: -0,
  maxSafe: Number.MAX_SAFE_INTEGER,
  minSafe: Number.MIN_SAFE_INTEGER,
  beyond32: 12345678901,
  negative: -42,
  looksNumeric: '1e3',
  looksOctal: '0o17',
  looksHex: '0x10',
  looksNull: 'null',
  looksTilde: '~',
  looksTrue: 'true',
  looksYes: 'yes',
  looksDate: '2001-12-14',
  looksInfinity: '.inf',
  looksNegativeZero: '-0',
  underscores: '1_000',
  empty: '',
  spaces: '  leading and trailing  ',
  multiline: 'a\nb\n',
  quotes: `'"\\`,
  emptyMap: {},
  emptyList: [],
  nested: [[[[[[[[[[{ deep: [[[]]] }]]]]]]]]]],
  mixed: [null, true, false, 0, 'x', { a: null }],
};

const vertexTemplate: VertexTemplate = {
  id: makeId('vertex-template', ['services', 'hello'], 'web'),
  metadata: { 'tosca.type': 'tosca.nodes.Compute' },
  classes: [makeId('class', ['types'], 'compute')],
  properties: {
    port: {
      value: 8080,
      updater: call('floria:sum', [literal(8000), literal(80)]),
      validator: call('floria:in_range', [call('floria:value'), literal([1, 65535])], {
        lazy: true,
      }),
      readOnly: true,
      metadata: { unit: 'port' },
    },
    settings: { value: { tls: { on: true } }, updater: map({ a: literal('x') }) },
  },
  count: { initial: 2, min: 1, max: 5 },
  eventHandlers: [{ events: ['added'], plugin: 'p', function: 'f', arguments: [literal(1)] }],
  instantiator: { plugin: 'site', function: 'adapt' },
};
const vertex: Vertex = {
  id: makeId('vertex', ['services', 'hello'], 'web-1'),
  metadata: {},
  classes: [],
  template: vertexTemplate.id,
  properties: { port: { value: 8080 } },
};
const edge: Edge = {
  id: makeId('edge', ['services', 'hello'], 'uses-1'),
  metadata: {},
  classes: [],
  source: vertex.id,
  target: makeId('vertex', ['services', 'hello'], 'db-1'),
  properties: { weight: { value: -0.25 } },
};
const entities: Entity[] = [vertexTemplate, vertex, edge];

describe.each(SERIALIZATION_FORMATS)('%s', (format) => {
  it.each(Object.entries(tricky))('round-trips %s exactly', (_name, value) => {
    expectExact(roundTrip({ value }, format), { value });
    expectExact(roundTrip(value, format), value);
  });

  it('round-trips integers at every encoding boundary', () => {
    const boundaries = [
      0,
      23,
      24,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53 - 1,
    ];
    const integers = boundaries.flatMap((n) => [n, -n, -n - 1]).filter((n) => !Object.is(n, -0));
    expectExact(roundTrip(integers, format), integers);
  });

  it('round-trips entities exactly', () => {
    for (const entity of entities) expectExact(roundTrip(entity, format), entity);
    expectExact(roundTrip(entities, format), entities);
  });

  it('keeps __proto__ and constructor keys as data', () => {
    const data = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": 2}}');
    const back = roundTrip(data, format) as Record<string, unknown>;
    expectExact(back, data);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('drops undefined fields', () => {
    expectExact(roundTrip({ a: 1, b: undefined, c: { d: undefined } }, format), { a: 1, c: {} });
  });

  it.each<[string, unknown]>([
    ['NaN', { n: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a function', { f: () => 1 }],
    ['a class instance', { d: new Date() }],
    ['a bigint', { b: 1n }],
    ['undefined in a list', [undefined]],
  ])('refuses %s with SerializationError', (_name, data) => {
    expectSerializationError(() => serialize(data, format));
  });

  it('refuses a cycle', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => serialize(cyclic, format)).toThrow(/cycle/);
  });

  it('rejects malformed input with SerializationError', () => {
    const bad =
      format === 'json'
        ? '{"a":'
        : format === 'yaml'
          ? 'a: [1, 2'
          : new Uint8Array([0xff, 0xff, 0xff]);
    expectSerializationError(() => deserialize(bad, format));
  });

  it('round-trips generated values exactly (property-based)', () => {
    const value = fc.letrec<{ value: Value }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constant(null),
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ unit: 'grapheme' }),
        fc.constantFrom('null', 'true', '1.5', '-0', '~', 'yes', '0x1F', ''),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(value, (generated) => {
        expectExact(roundTrip(generated, format), generated);
      }),
      { numRuns: 300 },
    );
  });
});

// Length encodings change at these sizes in the binary formats (text formats have none).
describe.each(['cbor', 'messagepack'] as const)('%s lengths', (format) => {
  it.each([0, 15, 16, 23, 24, 31, 32, 255, 256, 65535, 65536])('round-trips size %i', (size) => {
    const text = 'x'.repeat(size);
    const items = Array.from({ length: size }, (_, index) => index % 3);
    const entries = Object.fromEntries(items.map((_, index) => [`k${index}`, index]));
    expectExact(roundTrip({ text, items, entries }, format), { text, items, entries });
  });
});

describe('what Floria cannot hold', () => {
  it.each<[SerializationFormat, Uint8Array]>([
    // 2^53 + 1 as a 64-bit unsigned integer: a number would round it.
    ['cbor', new Uint8Array([0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01])],
    ['messagepack', new Uint8Array([0xcf, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01])],
    // A byte string, and a map with an integer key.
    ['cbor', new Uint8Array([0x42, 0x01, 0x02])],
    ['cbor', new Uint8Array([0xa1, 0x01, 0x02])],
    ['messagepack', new Uint8Array([0xc4, 0x02, 0x01, 0x02])],
    ['messagepack', new Uint8Array([0x81, 0x01, 0x02])],
  ])('%s refuses %o', (format, bytes) => {
    expectSerializationError(() => deserialize(bytes, format));
  });

  it('JSON and YAML refuse what they cannot read exactly', () => {
    expect(() => deserialize('a: 1\na: 2\n', 'yaml')).toThrow(/serialization|yaml/i);
    expect(() => deserialize('{1: 2}', 'json')).toThrow();
  });
});

describe('YAML for every reader', () => {
  it('quotes strings that YAML 1.1 readers would take for something else', () => {
    const ambiguous = [
      'yes',
      'No',
      'on',
      'OFF',
      'y',
      'n',
      '0o17',
      '017',
      '1:20',
      '1_000',
      '0b101',
      '<<',
      '2001-12-14',
      '~',
    ];
    const text = serialize(
      { values: ambiguous, keys: Object.fromEntries(ambiguous.map((a) => [a, a])) },
      'yaml',
    );
    const data = { values: ambiguous, keys: Object.fromEntries(ambiguous.map((a) => [a, a])) };
    expect(text).toContain('- "yes"');
    expect(YAML.parse(text, { version: '1.1' })).toEqual(data);
    expect(YAML.parse(text, { version: '1.2' })).toEqual(data);
    expect(serialize(['plain', 'Yellow', 'offset', 'nothing'], 'yaml')).toBe(
      '- plain\n- Yellow\n- offset\n- nothing\n',
    );
  });
});

describe('output types', () => {
  it('reads CBOR and MessagePack from other writers (the libraries themselves)', async () => {
    const { encode } = await import('cbor-x');
    const { pack } = await import('msgpackr');
    const data = { a: [1, 1.5, -2, 'x', null, true], b: { c: 2 ** 40 } };
    expect(deserialize(encode(data), 'cbor')).toEqual(data);
    expect(deserialize(pack(data), 'messagepack')).toEqual(data);
  });

  it('text formats give strings, binary formats bytes; bytes of text are accepted', () => {
    expect(typeof serialize({ a: 1 }, 'json')).toBe('string');
    expect(typeof serialize({ a: 1 }, 'yaml')).toBe('string');
    expect(serialize({ a: 1 }, 'cbor')).toBeInstanceOf(Uint8Array);
    expect(serialize({ a: 1 }, 'messagepack')).toBeInstanceOf(Uint8Array);
    expect(deserialize(new TextEncoder().encode('{"a":1}'), 'json')).toEqual({ a: 1 });
  });

  it('writes -0 as 0 in every format', () => {
    expect(serialize([-0, 0], 'json')).toBe('[0,0]');
    expect(serialize([-0, 0], 'yaml')).toBe('- 0\n- 0\n');
    for (const format of ['cbor', 'messagepack'] as const) {
      expect(serialize(-0, format)).toEqual(serialize(0, format));
    }
  });
});

describe('integers stay integers, floats stay floats', () => {
  const numbers = [1.5, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 32, 1e300, -0.25];

  it.each(SERIALIZATION_FORMATS)('%s round-trips them to the same numbers', (format) => {
    expectExact(roundTrip(numbers, format), numbers);
  });

  it('text formats write integers without a fraction or exponent', () => {
    expect(serialize(numbers, 'json')).toBe(
      '[1.5,-1,9007199254740991,-9007199254740991,4294967296,1e+300,-0.25]',
    );
    expect(serialize(numbers, 'yaml')).toBe(
      '- 1.5\n- -1\n- 9007199254740991\n- -9007199254740991\n- 4294967296\n- 1e+300\n- -0.25\n',
    );
  });

  // The first byte of each encoding tells its major type.
  it.each<[number, number, number]>([
    [1.5, 0xfb, 0xcb], // 64-bit float
    [1e300, 0xfb, 0xcb],
    [-1, 0x20, 0xff], // negative integer, negative fixint
    [2 ** 32, 0x1b, 0xd3], // 64-bit integers
    [2 ** 53 - 1, 0x1b, 0xd3],
    [-(2 ** 53 - 1), 0x3b, 0xd3],
  ])('CBOR and MessagePack write %d with its type', (number, cborType, messagepackType) => {
    expect(serialize(number, 'cbor')[0]).toBe(cborType);
    expect(serialize(number, 'messagepack')[0]).toBe(messagepackType);
  });
});
