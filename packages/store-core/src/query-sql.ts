import type { Metadata, Query, TraverseOptions } from '@khutulun/floria';
import { directoryPath, entityKey } from './entity-row.js';

/**
 * What differs between the SQL backends' statements, and the parameters of one statement:
 * each method adds parameters in the order their placeholders appear in the text.
 */
export interface SqlParams {
  /** Adds a parameter and returns its placeholder; `type` is its SQL type, for databases that want one. */
  add(value: unknown, type?: string): string;
  /** Adds an entity key parameter where no key column sets its collation (a CTE's seed). */
  addKey(key: string): string;
  /** Adds `metadata` and returns the conditions that an entity's `body` has all its entries. */
  addMetadata(metadata: Metadata): string[];
}

/** `name(k)`: the class with key `classKey` and all its descendants, as a recursive CTE. */
function descendantsCte(name: string, classKey: string, p: SqlParams): string {
  return `${name}(k) AS (SELECT ${p.addKey(classKey)} UNION SELECT cp.class_key FROM class_parents cp JOIN ${name} ON cp.parent_key = ${name}.k)`;
}

/**
 * The SELECT of the entities' bodies a query selects, ordered by key, with every criterion
 * in SQL (over the schema both SQL backends share).
 */
export function querySql(query: Query, p: SqlParams): string {
  const where: string[] = [];
  let with_ = '';
  if (query.class) {
    with_ = `WITH RECURSIVE ${descendantsCte('cls', entityKey(query.class), p)} `;
    // With a narrower criterion, test each candidate's memberships; otherwise start from the
    // class's members.
    const narrower =
      query.parent ??
      query.source ??
      query.target ??
      query.template ??
      (!query.recursive && query.directory);
    where.push(
      narrower
        ? 'EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = entities.key AND m.class_key IN (SELECT k FROM cls))'
        : 'key IN (SELECT m.entity_key FROM memberships m WHERE m.class_key IN (SELECT k FROM cls))',
    );
  }
  if (query.kind) where.push(`kind = ${p.add(query.kind)}`);
  if (query.directory) {
    const path = directoryPath(query.directory);
    if (query.recursive) {
      // The subtree of `/a/` is the range [`/a/`, `/a0`): `0` is the character after `/`.
      where.push(`directory >= ${p.add(path)} AND directory < ${p.add(`${path.slice(0, -1)}0`)}`);
    } else {
      where.push(`directory = ${p.add(path)}`);
    }
  }
  for (const column of ['parent', 'source', 'target', 'template'] as const) {
    const ref = query[column];
    if (ref) where.push(`${column} = ${p.add(entityKey(ref))}`);
  }
  if (query.metadata) where.push(...p.addMetadata(query.metadata));
  let text = `${with_}SELECT body FROM entities${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY key`;
  if (query.limit !== undefined) {
    text += ` LIMIT ${p.add(Math.max(0, Math.floor(query.limit)), 'bigint')}`;
  }
  return text;
}

/** The class CTEs a traversal's filters read: `ecls` (edge class), `vcls` (vertex class). */
export function traverseClassCtes(options: TraverseOptions, p: SqlParams): string[] {
  const ctes: string[] = [];
  if (options.edgeClass) ctes.push(descendantsCte('ecls', entityKey(options.edgeClass), p));
  if (options.vertexClass) ctes.push(descendantsCte('vcls', entityKey(options.vertexClass), p));
  return ctes;
}

/**
 * The conditions (each starting with ` AND`) on a traversal step through edge `e` to the vertex
 * `e.<to>`: the edge is in the edge class, the vertex in the vertex class.
 */
export function traverseStepFilter(options: TraverseOptions, to: 'source' | 'target'): string {
  let sql = '';
  if (options.edgeClass) {
    sql +=
      ' AND EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = e.key AND m.class_key IN (SELECT k FROM ecls))';
  }
  if (options.vertexClass) {
    sql += ` AND EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = e.${to} AND m.class_key IN (SELECT k FROM vcls))`;
  }
  return sql;
}

/**
 * A traversal's statement, given its CTEs ending with `walk(vkey, depth, via)` (the rows a
 * backend's recursive walk reaches): each vertex other than `start` (the start key's
 * placeholder) at its shortest depth with the smallest via edge, ordered by depth then key.
 */
export function traverseResultSql(ctes: readonly string[], start: string): string {
  const firsts = `firsts AS (SELECT vkey, depth, via, row_number() OVER (PARTITION BY vkey ORDER BY depth, via) AS rn FROM walk WHERE depth > 0 AND vkey <> ${start})`;
  return `WITH RECURSIVE ${[...ctes, firsts].join(', ')} SELECT v.body AS vertex, f.depth AS depth, x.body AS via FROM firsts f JOIN entities v ON v.key = f.vkey JOIN entities x ON x.key = f.via WHERE f.rn = 1 ORDER BY f.depth, f.vkey`;
}
