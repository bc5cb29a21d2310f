import type { Query, TraverseOptions } from '@khutulun/floria';
import { directoryPath, entityKey } from '@khutulun/store-core';

/** A statement and its parameters. */
export interface Sql {
  text: string;
  values: unknown[];
}

/** Collects parameters, handing out `$n` placeholders. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast = 'text'): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
}

function descendants(name: string, p: Params, classKey: string): string {
  return `${name}(k) AS (SELECT ${p.add(classKey)} COLLATE "C" UNION SELECT cp.class_key FROM class_parents cp JOIN ${name} ON cp.parent_key = ${name}.k)`;
}

/** The SELECT for a query: every criterion in SQL, ordered by key. */
export function querySql(query: Query): Sql {
  const p = new Params();
  const where: string[] = [];
  let with_ = '';
  if (query.class) {
    with_ = `WITH RECURSIVE ${descendants('cls', p, entityKey(query.class))} `;
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
  if (query.metadata && Object.keys(query.metadata).length > 0) {
    where.push(`(body::jsonb -> 'metadata') @> ${p.add(JSON.stringify(query.metadata), 'jsonb')}`);
  }
  let text = `${with_}SELECT body FROM entities${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY key`;
  if (query.limit !== undefined)
    text += ` LIMIT ${p.add(Math.max(0, Math.floor(query.limit)), 'bigint')}`;
  return { text, values: p.values };
}

/**
 * One recursive query for a traversal: walk (vertex, depth, via edge) rows, deduplicated,
 * following qualifying edges (both directions through one LATERAL, as PostgreSQL allows the
 * recursive reference only once); then each vertex at its shortest depth with the smallest via.
 */
export function traverseSql(options: TraverseOptions): Sql {
  const p = new Params();
  const ctes: string[] = [];
  if (options.edgeClass) ctes.push(descendants('ecls', p, entityKey(options.edgeClass)));
  if (options.vertexClass) ctes.push(descendants('vcls', p, entityKey(options.vertexClass)));
  const start = p.add(entityKey(options.from));
  const depth = p.add(options.depth, 'integer');
  const direction = options.direction ?? 'out';
  const branch = (from: 'source' | 'target', to: 'source' | 'target'): string => {
    let sql = `SELECT e.${to} AS next, e.key FROM entities e WHERE e.${from} = w.vkey AND e.${to} IS NOT NULL`;
    if (options.edgeClass) {
      sql +=
        ' AND EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = e.key AND m.class_key IN (SELECT k FROM ecls))';
    }
    if (options.vertexClass) {
      sql += ` AND EXISTS (SELECT 1 FROM memberships m WHERE m.entity_key = e.${to} AND m.class_key IN (SELECT k FROM vcls))`;
    }
    return sql;
  };
  const branches: string[] = [];
  if (direction !== 'in') branches.push(branch('source', 'target'));
  if (direction !== 'out') branches.push(branch('target', 'source'));
  ctes.push(
    `walk(vkey, depth, via) AS (SELECT ${start} COLLATE "C", 0, NULL::text COLLATE "C" UNION SELECT n.next, w.depth + 1, n.key FROM walk w CROSS JOIN LATERAL (${branches.join(' UNION ALL ')}) n WHERE w.depth < ${depth})`,
  );
  ctes.push(
    `firsts AS (SELECT vkey, depth, via, row_number() OVER (PARTITION BY vkey ORDER BY depth, via) AS rn FROM walk WHERE depth > 0 AND vkey <> ${start})`,
  );
  return {
    text: `WITH RECURSIVE ${ctes.join(', ')} SELECT v.body AS vertex, f.depth AS depth, x.body AS via FROM firsts f JOIN entities v ON v.key = f.vkey JOIN entities x ON x.key = f.via WHERE f.rn = 1 ORDER BY f.depth, f.vkey`,
    values: p.values,
  };
}

/** Whether an entity is in a class: its direct classes' ancestors, walked upwards. */
export const IS_IN_CLASS_SQL =
  'WITH RECURSIVE anc(k) AS (SELECT class_key FROM memberships WHERE entity_key = $1 UNION SELECT cp.parent_key FROM class_parents cp JOIN anc ON cp.class_key = anc.k) SELECT 1 AS found FROM anc WHERE k = $2 LIMIT 1';
