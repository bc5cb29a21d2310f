import type { Value } from '@khutulun/floria';
import { describe, expect, it } from 'vitest';
import { evaluatePure, isFunctionError } from './builtin-functions.js';

/** The TOSCA 2.0 built-in functions of section 10.2 that compute from values alone. */
const CASES: Array<[string, Value[], Value]> = [
  ['and', [true, true], true],
  ['and', [true, false], false],
  ['or', [false, true], true],
  ['not', [false], true],
  ['xor', [true, true], false],
  ['equal', [{ a: [1, 2] }, { a: [1, 2] }], true],
  ['equal', [1, '1'], false],
  ['greater_than', [3, 2], true],
  ['greater_or_equal', ['2.0.1', '2.0.0'], true],
  ['less_than', ['2024-01-01T00:00:00Z', '2024-01-01T00:00:01Z'], true],
  ['less_or_equal', ['b', 'a'], false],
  ['valid_values', [4, [1, 2, 4]], true],
  ['matches', ['abc-12', '[a-z]+-\\d+'], true],
  ['matches', ['abc-12x', '[a-z]+-\\d+'], false],
  ['has_suffix', ['service.yaml', '.yaml'], true],
  [
    'has_prefix',
    [
      [1, 2, 3],
      [1, 2],
    ],
    true,
  ],
  ['contains', ['hello world', 'o w'], true],
  [
    'contains',
    [
      [1, 2, 3, 4],
      [2, 3],
    ],
    true,
  ],
  ['has_entry', [{ a: 1, b: 2 }, 2], true],
  ['has_key', [{ a: 1 }, 'b'], false],
  [
    'has_all_entries',
    [
      [1, 2, 3],
      [1, 3],
    ],
    true,
  ],
  ['has_all_keys', [{ a: 1, b: 2 }, ['a', 'b']], true],
  [
    'has_any_entry',
    [
      [1, 2],
      [5, 2],
    ],
    true,
  ],
  ['has_any_key', [{ a: 1 }, ['x', 'y']], false],
  ['length', ['héllo'], 5],
  ['length', [{ a: 1, b: 2 }], 2],
  ['concat', ['http://', 'host', ':', 8080], 'http://host:8080'],
  ['concat', [[1], [2, 3]], [1, 2, 3]],
  ['join', [['a', 'b', 'c'], ', '], 'a, b, c'],
  ['join', [['a', 'b']], 'ab'],
  ['token', ['a.b:c', '.:', 2], 'c'],
  [
    'union',
    [
      [1, 2],
      [2, 3],
    ],
    [1, 2, 3],
  ],
  [
    'intersection',
    [
      [1, 2, 3],
      [3, 2, 5],
    ],
    [2, 3],
  ],
  ['sum', [1, 2, 3.5], 6.5],
  ['difference', [10, 4], 6],
  ['product', [2, 3, 4], 24],
  ['quotient', [7, 2], 3.5],
  ['remainder', [7, 3], 1],
  ['round', [2.5], 3],
  ['floor', [2.7], 2],
  ['ceil', [2.1], 3],
];

describe('built-in functions', () => {
  for (const [fn, args, want] of CASES) {
    it(`$${fn}: ${JSON.stringify(args)} = ${JSON.stringify(want)}`, () => {
      expect(evaluatePure(fn, args)).toEqual(want);
    });
  }

  it('rejects arguments a function cannot use, with a branded error', () => {
    for (const [fn, args] of [
      ['and', [1]],
      ['quotient', [1, 0]],
      ['greater_than', [1, 'a']],
      ['token', ['a.b', '.', 5]],
      ['matches', ['a', '(']],
      ['concat', [[1], 'a']],
    ] as Array<[string, Value[]]>) {
      let caught: unknown;
      try {
        evaluatePure(fn, args);
      } catch (e) {
        caught = e;
      }
      expect(isFunctionError(caught), `${fn} ${JSON.stringify(args)}`).toBe(true);
    }
  });
});
