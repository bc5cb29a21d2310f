import type { Query, TraverseOptions } from '@khutulun/floria';
import { directoryPath, entityKey } from '@khutulun/store-core';

/** A statement and its parameters. */
export interface Sql {
  text: string;
  params: unknown[];
}

/** `WITH RECURSIVE name(k)`: the class `classKey` and all its descendants. */
function descendants(name: string): string {
  return `${name}(k) AS (SELECT ? UNION SELECT cp.class_key FROM class_parents cp JOIN ${name} ON cp.parent_key = ${name}.k)`;
}

/** The subtree of a directory path is a key range: `/a/` up to (not including) `/a0`. */
export function subtreeRange(path: string): [string, string] {
  return [path, `${path.slice(0, -1)}0`];
}

/** The SELECT for a query: every criterion in SQL, ordered by key. */
export function querySql(query: Query): Sql {
  const where: string[] = [];
  const params: unknown[] = [];
  let with_ = '';
  if (query.class) {
    with_ = `WITH RECURSIVE ${descendants('cls')} `;
    params.push(entityKey(query.class));
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
  if (query.kind) {
    where.push('kind = ?');
    params.push(query.kind);
  }
  if (query.directory) {
    const path = directoryPath(query.directory);
    if (query.recursive) {
      where.push('directory >= ? AND directory < ?');
      params.push(...subtreeRange(path));
    } else {
      where.push('directory = ?');
      params.push(path);
    }
  }
  for (const column of ['parent', 'source', 'target', 'template'] as const) {
    const ref = query[column];
    if (ref) {
      where.push(`${column} = ?`);
      params.push(entityKey(ref));
    }
  }
  for (const [k, v] of Object.entries(query.metadata ?? {})) {
    where.push(
      "EXISTS (SELECT 1 FROM json_each(body, '$.metadata') j WHERE j.key = ? AND j.value = ? AND j.type = 'text')",
    );
    params.push(k, v);
  }
  let text = `${with_}SELECT body FROM entities${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY key`;
  if (query.limit !== undefined) {
    text += ' LIMIT ?';
    params.push(Math.max(0, Math.floor(query.limit)));
  }
  return { text, params };
}

/**
 * One recursive query for a traversal: walk (vertex, depth, via edge) rows, deduplicated,
 * following qualifying edges; then each vertex at its shortest depth with the smallest via.
 */
export function traverseSql(options: TraverseOptions): Sql {
  const params: unknown[] = [];
  const ctes: string[] = [];
  if (options.edgeClass) {
    ctes.push(descendants('ecls'));
    params.push(entityKey(options.edgeClass));
  }
  if (options.vertexClass) {
    ctes.push(descendants('vcls'));
    params.push(entityKey(options.vertexClass));
  }
  const start = entityKey(options.from);
  const direction = options.direction ?? 'out';
  const step = (from: 'source' | 'target', to: 'source' | 'target'): string => {
    let sql = `SELECT e.${to}, w.depth + 1, e.key FROM walk w JOIN entities e ON e.${from} = w.vkey WHERE w.depth < ? AND e.${to} IS NOT NULL`;
    params.push(options.depth);
    if (options.edgeClass) {
      sql +=
        ' AND EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = e.key AND m.class_key IN (SELECT k FROM ecls))';
    }
    if (options.vertexClass) {
      sql += ` AND EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = e.${to} AND m.class_key IN (SELECT k FROM vcls))`;
    }
    return sql;
  };
  const steps: string[] = [];
  params.push(start);
  if (direction !== 'in') steps.push(step('source', 'target'));
  if (direction !== 'out') steps.push(step('target', 'source'));
  ctes.push(`walk(vkey, depth, via) AS (SELECT ?, 0, NULL UNION ${steps.join(' UNION ')})`);
  ctes.push(
    'firsts AS (SELECT vkey, depth, via, row_number() OVER (PARTITION BY vkey ORDER BY depth, via) AS rn FROM walk WHERE depth > 0 AND vkey <> ?)',
  );
  params.push(start);
  return {
    text: `WITH RECURSIVE ${ctes.join(', ')} SELECT v.body AS vertex, f.depth AS depth, x.body AS via FROM firsts f JOIN entities v ON v.key = f.vkey JOIN entities x ON x.key = f.via WHERE f.rn = 1 ORDER BY f.depth, f.vkey`,
    params,
  };
}

/** Whether an entity is in a class: its direct classes' ancestors, walked upwards. */
export const IS_IN_CLASS_SQL =
  'WITH RECURSIVE anc(k) AS (SELECT class_key FROM memberships WHERE entity_key = ? UNION SELECT cp.parent_key FROM class_parents cp JOIN anc ON cp.class_key = anc.k) SELECT 1 AS found FROM anc WHERE k = ? LIMIT 1';
