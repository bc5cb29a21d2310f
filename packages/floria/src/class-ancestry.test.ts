import { describe, expect, it } from 'vitest';
import { allClasses, classAncestors, entityIsInClass } from './class-ancestry.js';
import { idKey, makeId } from './id.js';
import type { Class, Entity, Id, Vertex } from './model.js';

function classes(edges: Record<string, string[]>): Map<string, Entity> {
  const map = new Map<string, Entity>();
  for (const [name, parents] of Object.entries(edges)) {
    const entity: Class = {
      id: makeId('class', ['types'], name),
      metadata: {},
      classes: [],
      parents: parents.map((parent) => makeId('class', ['types'], parent)),
    };
    map.set(idKey(entity.id), entity);
  }
  return map;
}

const names = (ids: Id[]) => ids.map((id) => id.name);

describe('class ancestry', () => {
  it('expands every ancestor once, nearest first', async () => {
    const map = classes({
      root: [],
      compute: ['root'],
      container: ['compute', 'root'],
      pod: ['container'],
    });
    const lookup = { get: (id: Id) => map.get(idKey(id)) };
    expect(names(await classAncestors(lookup, [makeId('class', ['types'], 'pod')]))).toEqual([
      'pod',
      'container',
      'compute',
      'root',
    ]);
  });

  it('survives cycles', async () => {
    const map = classes({ a: ['b'], b: ['c'], c: ['a'] });
    const lookup = { get: async (id: Id) => map.get(idKey(id)) };
    expect(names(await classAncestors(lookup, [makeId('class', ['types'], 'a')])).sort()).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('keeps a class it cannot find, without ancestors', async () => {
    const lookup = { get: () => undefined };
    expect(names(await classAncestors(lookup, [makeId('class', [], 'ghost')]))).toEqual(['ghost']);
  });

  it('an entity in C is in every ancestor of C, and not in unrelated classes', async () => {
    const map = classes({ root: [], compute: ['root'], network: ['root'] });
    const lookup = { get: (id: Id) => map.get(idKey(id)) };
    const vertex: Vertex = {
      id: makeId('vertex', [], 'v'),
      metadata: {},
      classes: [makeId('class', ['types'], 'compute')],
      properties: {},
    };
    expect(names(await allClasses(lookup, vertex))).toEqual(['compute', 'root']);
    expect(await entityIsInClass(lookup, vertex, makeId('class', ['types'], 'root'))).toBe(true);
    expect(await entityIsInClass(lookup, vertex, makeId('class', ['types'], 'network'))).toBe(
      false,
    );
  });
});
