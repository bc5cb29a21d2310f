/**
 * Ids: an entity's kind, directory and name, with a stable string key for maps, logs, URLs
 * and plugin arguments.
 */
import { checkDirectory, escapeSegment, unescapeSegment } from './directory.js';
import { InvalidId } from './errors.js';
import { ENTITY_KINDS, type EntityKind, type Id } from './model.js';

/**
 * The stable string key of an id: `kind:dir/dir/name` (`kind:name` at the root), with `%` and
 * `/` in segments percent-escaped. Equal ids have equal keys; `parseIdKey` inverts it.
 */
export function idKey(id: Id): string {
  return `${id.kind}:${[...id.directory, id.name].map(escapeSegment).join('/')}`;
}

/** Parses an `idKey`; throws `InvalidId` for anything `idKey` cannot produce. */
export function parseIdKey(key: string): Id {
  const colon = key.indexOf(':');
  if (colon < 0) throw new InvalidId(key, 'expected kind:path');
  const kind = key.slice(0, colon);
  if (!isEntityKind(kind)) throw new InvalidId(key, `unknown kind ${JSON.stringify(kind)}`);
  const segments = key
    .slice(colon + 1)
    .split('/')
    .map((segment) => unescapeSegment(segment, key));
  const name = segments.pop() ?? '';
  if (name === '') throw new InvalidId(key, 'empty name');
  checkDirectory(segments, key);
  return { kind, directory: segments, name };
}

/** Whether `value` is an entity kind. */
export function isEntityKind(value: unknown): value is EntityKind {
  return (ENTITY_KINDS as readonly unknown[]).includes(value);
}

/** Makes an id, checking its parts (non-empty name and directory segments). */
export function makeId<K extends EntityKind>(
  kind: K,
  directory: readonly string[],
  name: string,
): Id & { kind: K } {
  if (!isEntityKind(kind)) throw new InvalidId(String(kind), 'unknown kind');
  if (typeof name !== 'string' || name === '') throw new InvalidId(String(name), 'empty name');
  checkDirectory(directory);
  return { kind, directory: [...directory], name };
}

/** Makes an id from a `/`-separated path whose last segment is the name (`'a/b/web'`). */
export function idFromPath<K extends EntityKind>(kind: K, path: string): Id & { kind: K } {
  const segments = path.split('/').filter((segment) => segment !== '');
  const name = segments.pop();
  if (name === undefined) throw new InvalidId(path, 'empty path');
  return makeId(kind, segments, name);
}

/** Whether two ids name the same entity. */
export function sameId(a: Id, b: Id): boolean {
  return (
    a.kind === b.kind &&
    a.name === b.name &&
    a.directory.length === b.directory.length &&
    a.directory.every((segment, index) => b.directory[index] === segment)
  );
}

/**
 * Reads an id from a plugin value: an `Id`-shaped map or an id key string. Returns
 * `undefined` for anything else.
 */
export function idFromValue(value: unknown): Id | undefined {
  if (typeof value === 'string') {
    try {
      return parseIdKey(value);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { kind, directory, name } = value as Record<string, unknown>;
  if (!isEntityKind(kind) || typeof name !== 'string' || name === '') return undefined;
  if (!Array.isArray(directory) || !directory.every((s) => typeof s === 'string' && s !== '')) {
    return undefined;
  }
  return { kind, directory: [...(directory as string[])], name };
}
