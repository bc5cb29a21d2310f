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
  params: unknown[];
}

/** SQLite's parameters: `?` placeholders; metadata entries matched through `json_each`. */
class SqliteParams implements SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return '?';
  }

  addKey(key: string): string {
    return this.add(key);
  }

  addMetadata(metadata: Metadata): string[] {
    return Object.entries(metadata).map(
      ([key, value]) =>
        `EXISTS (SELECT 1 FROM json_each(body, '$.metadata') j WHERE j.key = ${this.add(key)} AND j.value = ${this.add(value)} AND j.type = 'text')`,
    );
  }
}

/** The SELECT for a query: every criterion in SQL, ordered by key. */
export function querySql(query: Query): Sql {
  const p = new SqliteParams();
  return { text: baseQuerySql(query, p), params: p.values };
}

/**
 * One recursive query for a traversal: walk (vertex, depth, via edge) rows, deduplicated,
 * following qualifying edges; then each vertex at its shortest depth with the smallest via.
 */
export function traverseSql(options: TraverseOptions): Sql {
  const p = new SqliteParams();
  const ctes = traverseClassCtes(options, p);
  const start = entityKey(options.from);
  const step = (from: 'source' | 'target', to: 'source' | 'target'): string =>
    `SELECT e.${to}, w.depth + 1, e.key FROM walk w JOIN entities e ON e.${from} = w.vkey WHERE w.depth < ${p.add(options.depth)} AND e.${to} IS NOT NULL${traverseStepFilter(options, to)}`;
  const seed = p.add(start);
  const direction = options.direction ?? 'out';
  const steps: string[] = [];
  if (direction !== 'in') steps.push(step('source', 'target'));
  if (direction !== 'out') steps.push(step('target', 'source'));
  ctes.push(`walk(vkey, depth, via) AS (SELECT ${seed}, 0, NULL UNION ${steps.join(' UNION ')})`);
  return { text: traverseResultSql(ctes, p.add(start)), params: p.values };
}

/** Whether an entity is in a class: its direct classes' ancestors, walked upwards. */
export const IS_IN_CLASS_SQL =
  'WITH RECURSIVE anc(k) AS (SELECT class_key FROM memberships WHERE entity_key = ? UNION SELECT cp.parent_key FROM class_parents cp JOIN anc ON cp.class_key = anc.k) SELECT 1 AS found FROM anc WHERE k = ? LIMIT 1';
