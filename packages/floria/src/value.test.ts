import { describe, expect, it } from 'vitest';
import { isValue, valuesEqual } from './value.js';

describe('isValue', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['a boolean', false],
    ['a number', -1.5],
    ['a string', ''],
    ['nested lists and maps', { a: [1, { b: null }], c: {} }],
    ['a null-prototype map', Object.assign(Object.create(null), { a: 1 })],
  ])('accepts %s', (_name, value) => {
    expect(isValue(value)).toBe(true);
  });

  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a Date', new Date()],
    ['a Map', new Map()],
    ['undefined inside a list', [1, undefined]],
    ['a cycle', cyclic],
  ])('refuses %s', (_name, value) => {
    expect(isValue(value)).toBe(false);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { a: 1 };
    expect(isValue([shared, shared])).toBe(true);
  });
});

describe('valuesEqual', () => {
  it('compares deeply, ignoring map key order', () => {
    expect(valuesEqual({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 })).toBe(true);
    expect(valuesEqual([1, 2], [2, 1])).toBe(false);
    expect(valuesEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(valuesEqual({ a: null }, { b: null })).toBe(false);
    expect(valuesEqual([], {})).toBe(false);
    expect(valuesEqual(null, {})).toBe(false);
    expect(valuesEqual('1', 1)).toBe(false);
  });
});
