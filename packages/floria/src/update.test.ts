import { describe, expect, it } from 'vitest';
import { makeId } from './id.js';
import type { Properties, Vertex } from './model.js';
import { readOnlyChanges } from './update.js';

const vertex = (properties: Properties): Vertex => ({
  id: makeId('vertex', ['svc'], 'v'),
  metadata: {},
  classes: [],
  properties,
});

describe('readOnlyChanges', () => {
  it('allows setting a read-only property once, and keeping it', () => {
    expect(readOnlyChanges(undefined, vertex({ id: { value: 1, readOnly: true } }))).toEqual([]);
    expect(
      readOnlyChanges(
        vertex({ id: { readOnly: true } }),
        vertex({ id: { value: 1, readOnly: true } }),
      ),
    ).toEqual([]);
    expect(
      readOnlyChanges(
        vertex({ id: { value: { a: [1] }, readOnly: true } }),
        vertex({ id: { value: { a: [1] } } }),
      ),
    ).toEqual([]);
  });

  it('names read-only properties that change or disappear, and nothing else', () => {
    const before = vertex({
      b: { value: 1, readOnly: true },
      a: { value: 'x', readOnly: true },
      free: { value: 1 },
      gone: { value: true, readOnly: true },
    });
    const after = vertex({ b: { value: 2 }, a: { value: 'y' }, free: { value: 2 } });
    expect(readOnlyChanges(before, after)).toEqual(['a', 'b', 'gone']);
  });
});
