import { describe, expect, it } from 'vitest';
import {
  directoryKey,
  isInDirectory,
  joinDirectory,
  parentDirectory,
  parseDirectory,
} from './directory.js';
import { isFloriaError } from './errors.js';
import { idFromPath, idFromValue, idKey, makeId, parseIdKey, sameId } from './id.js';
import type { Id } from './model.js';

describe('idKey and parseIdKey', () => {
  const ids: Id[] = [
    { kind: 'vertex', directory: [], name: 'web' },
    { kind: 'vertex-template', directory: ['services', 'hello'], name: 'web' },
    { kind: 'edge', directory: ['a/b', '100%'], name: 'x:y/z' },
    { kind: 'class', directory: ['ünïcode', '😀'], name: 'tosca.nodes.Root' },
    { kind: 'plugin', directory: ['%2F'], name: '%25' },
  ];

  it.each(ids.map((id) => [idKey(id), id]))('round-trips %s', (key, id) => {
    expect(parseIdKey(key)).toEqual(id);
  });

  it('gives different ids different keys', () => {
    expect(new Set(ids.map(idKey)).size).toBe(ids.length);
    expect(idKey({ kind: 'vertex', directory: ['a'], name: 'b' })).not.toBe(
      idKey({ kind: 'vertex', directory: [], name: 'a/b' }),
    );
  });

  it('has a readable form', () => {
    expect(idKey({ kind: 'vertex', directory: ['services', 'hello'], name: 'web-1' })).toBe(
      'vertex:services/hello/web-1',
    );
  });

  it.each([
    '',
    'vertex',
    'nothing:a',
    'vertex:',
    'vertex:a//b',
    'vertex:a/',
    'vertex:%41',
    'vertex:a%',
  ])('refuses %j with InvalidId', (key) => {
    let caught: unknown;
    try {
      parseIdKey(key);
    } catch (error) {
      caught = error;
    }
    expect(isFloriaError(caught, 'invalid-id')).toBe(true);
  });
});

describe('id helpers', () => {
  it('makeId checks its parts', () => {
    expect(makeId('vertex', ['a'], 'b')).toEqual({ kind: 'vertex', directory: ['a'], name: 'b' });
    expect(() => makeId('vertex', ['a', ''], 'b')).toThrow(/empty directory segment/);
    expect(() => makeId('vertex', [], '')).toThrow(/empty name/);
    expect(() => makeId('nonsense' as 'vertex', [], 'x')).toThrow(/unknown kind/);
  });

  it('idFromPath splits off the name', () => {
    expect(idFromPath('edge', 'services/hello/db')).toEqual({
      kind: 'edge',
      directory: ['services', 'hello'],
      name: 'db',
    });
    expect(() => idFromPath('edge', '/')).toThrow(/empty path/);
  });

  it('sameId compares structurally', () => {
    const a = makeId('vertex', ['x'], 'y');
    expect(sameId(a, { kind: 'vertex', directory: ['x'], name: 'y' })).toBe(true);
    expect(sameId(a, { kind: 'edge', directory: ['x'], name: 'y' })).toBe(false);
    expect(sameId(a, { kind: 'vertex', directory: ['x', 'y'], name: 'y' })).toBe(false);
  });

  it('idFromValue reads maps and keys, and nothing else', () => {
    const id = makeId('vertex', ['d'], 'n');
    expect(idFromValue({ ...id })).toEqual(id);
    expect(idFromValue(idKey(id))).toEqual(id);
    expect(idFromValue('not a key')).toBeUndefined();
    expect(idFromValue({ kind: 'vertex', directory: [''], name: 'n' })).toBeUndefined();
    expect(idFromValue({ kind: 'vertex', directory: 'd', name: 'n' })).toBeUndefined();
    expect(idFromValue([1])).toBeUndefined();
    expect(idFromValue(null)).toBeUndefined();
  });
});

describe('directories', () => {
  it('key and parse round-trip, root included', () => {
    for (const dir of [[], ['a'], ['a/b', 'c%d'], ['ü']]) {
      expect(parseDirectory(directoryKey(dir))).toEqual(dir);
    }
    expect(directoryKey([])).toBe('/');
    expect(directoryKey(['a', 'b'])).toBe('/a/b');
    expect(parseDirectory('a/b')).toEqual(['a', 'b']);
    expect(() => parseDirectory('/a//b')).toThrow(/empty directory segment/);
  });

  it('isInDirectory holds for the scope itself and below, not beside', () => {
    expect(isInDirectory(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(isInDirectory(['a', 'b', 'c'], ['a', 'b'])).toBe(true);
    expect(isInDirectory(['a'], ['a', 'b'])).toBe(false);
    expect(isInDirectory(['a', 'bc'], ['a', 'b'])).toBe(false);
    expect(isInDirectory(['anything'], [])).toBe(true);
  });

  it('join and parent', () => {
    expect(joinDirectory(['a'], 'b', 'c')).toEqual(['a', 'b', 'c']);
    expect(() => joinDirectory(['a'], '')).toThrow();
    expect(parentDirectory(['a', 'b'])).toEqual(['a']);
    expect(parentDirectory([])).toEqual([]);
  });
});
