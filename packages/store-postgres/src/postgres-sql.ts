import type { Metadata, Query, TraverseOptions } from '@khutulun/floria';
import {
  querySql as baseQuerySql,
  entityKey,
  type SqlParams,
  traverseClassCtes,
  traverseResultSql,
  traverseStepFilter,
} from '@khutulun/store-core';

/** A statement and its parameters. */
export interface Sql {
  text: string;
  values: unknown[];
}

/**
 * PostgreSQL's parameters: typed `$n` placeholders; a key seeding a CTE takes the key columns'
 * "C" collation; metadata entries matched by jsonb containment.
 */
class PostgresParams implements SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown, type = 'text'): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }

  addKey(key: string): string {
    return `${this.add(key)} COLLATE "C"`;
  }

  addMetadata(metadata: Metadata): string[] {
    if (Object.keys(metadata).length === 0) return [];
    return [`(body::jsonb -> 'metadata') @> ${this.add(JSON.stringify(metadata), 'jsonb')}`];
  }
}

/** The SELECT for a query: every criterion in SQL, ordered by key. */
export function querySql(query: Query): Sql {
  const p = new PostgresParams();
  return { text: baseQuerySql(query, p), values: p.values };
}

/**
 * One recursive query for a traversal: walk (vertex, depth, via edge) rows, deduplicated,
 * following qualifying edges (both directions through one LATERAL, as PostgreSQL allows the
 * recursive reference only once); then each vertex at its shortest depth with the smallest via.
 */
export function traverseSql(options: TraverseOptions): Sql {
  const p = new PostgresParams();
  const ctes = traverseClassCtes(options, p);
  const start = p.add(entityKey(options.from));
  const depth = p.add(options.depth, 'integer');
  const branch = (from: 'source' | 'target', to: 'source' | 'target'): string =>
    `SELECT e.${to} AS next, e.key FROM entities e WHERE e.${from} = w.vkey AND e.${to} IS NOT NULL${traverseStepFilter(options, to)}`;
  const direction = options.direction ?? 'out';
  const branches: string[] = [];
  if (direction !== 'in') branches.push(branch('source', 'target'));
  if (direction !== 'out') branches.push(branch('target', 'source'));
  ctes.push(
    `walk(vkey, depth, via) AS (SELECT ${start} COLLATE "C", 0, NULL::text COLLATE "C" UNION SELECT n.next, w.depth + 1, n.key FROM walk w CROSS JOIN LATERAL (${branches.join(' UNION ALL ')}) n WHERE w.depth < ${depth})`,
  );
  return { text: traverseResultSql(ctes, start), values: p.values };
}

/** Whether an entity is in a class: its direct classes' ancestors, walked upwards. */
export const IS_IN_CLASS_SQL =
  'WITH RECURSIVE anc(k) AS (SELECT class_key FROM memberships WHERE entity_key = $1 UNION SELECT cp.parent_key FROM class_parents cp JOIN anc ON cp.class_key = anc.k) SELECT 1 AS found FROM anc WHERE k = $2 LIMIT 1';
