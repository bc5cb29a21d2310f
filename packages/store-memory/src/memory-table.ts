import type {
  Entity,
  Query,
  TraverseOptions,
  TraverseStep,
  Vertex,
  VertexTemplate,
} from '@khutulun/floria';
import { directoryPath, type EntityRow, entityKey } from '@khutulun/store-core';

/** The columns the in-memory store indexes. */
export type IndexName =
  | 'kind'
  | 'directory'
  | 'parent'
  | 'source'
  | 'target'
  | 'template'
  | 'class';

function indexValues(row: EntityRow, index: IndexName): readonly string[] {
  if (index === 'class') return row.classes;
  const value = row[index];
  return value === null ? [] : [value];
}

/** Rows by key with secondary indexes: what the memory store's queries read. */
export interface Table {
  get(key: string): EntityRow | undefined;
  /** Keys of the rows whose `index` column holds `value`. */
  lookup(index: IndexName, value: string): Iterable<string>;
  /** Keys of the rows whose directory path starts with `prefix`. */
  lookupDirectoryPrefix(prefix: string): Iterable<string>;
  rows(): Iterable<EntityRow>;
}

/** The committed rows, indexed. */
export class BaseTable implements Table {
  readonly #rows = new Map<string, EntityRow>();
  readonly #indexes = new Map<IndexName, Map<string, Set<string>>>(
    (['kind', 'directory', 'parent', 'source', 'target', 'template', 'class'] as const).map((i) => [
      i,
      new Map(),
    ]),
  );

  get(key: string): EntityRow | undefined {
    return this.#rows.get(key);
  }

  lookup(index: IndexName, value: string): Iterable<string> {
    return this.#indexes.get(index)!.get(value) ?? [];
  }

  *lookupDirectoryPrefix(prefix: string): Iterable<string> {
    for (const [path, keys] of this.#indexes.get('directory')!) {
      if (path.startsWith(prefix)) yield* keys;
    }
  }

  rows(): Iterable<EntityRow> {
    return this.#rows.values();
  }

  /** Inserts, replaces (`row`) or removes (`null`) the row at `key`. */
  set(key: string, row: EntityRow | null): void {
    const old = this.#rows.get(key);
    for (const [name, index] of this.#indexes) {
      if (old) {
        for (const value of indexValues(old, name)) {
          const keys = index.get(value);
          keys?.delete(key);
          if (keys?.size === 0) index.delete(value);
        }
      }
      if (row) {
        for (const value of indexValues(row, name)) {
          const keys = index.get(value);
          if (keys) keys.add(key);
          else index.set(value, new Set([key]));
        }
      }
    }
    if (row) this.#rows.set(key, row);
    else this.#rows.delete(key);
  }
}

/** A transaction's view: its own writes (`null` = removed) over the committed rows. */
export class OverlayTable implements Table {
  readonly overlay = new Map<string, EntityRow | null>();

  constructor(private readonly base: Table) {}

  get(key: string): EntityRow | undefined {
    const row = this.overlay.get(key);
    return row === undefined ? this.base.get(key) : (row ?? undefined);
  }

  *lookup(index: IndexName, value: string): Iterable<string> {
    for (const key of this.base.lookup(index, value)) if (!this.overlay.has(key)) yield key;
    for (const [key, row] of this.overlay) {
      if (row && indexValues(row, index).includes(value)) yield key;
    }
  }

  *lookupDirectoryPrefix(prefix: string): Iterable<string> {
    for (const key of this.base.lookupDirectoryPrefix(prefix))
      if (!this.overlay.has(key)) yield key;
    for (const [key, row] of this.overlay) if (row?.directory.startsWith(prefix)) yield key;
  }

  *rows(): Iterable<EntityRow> {
    for (const row of this.base.rows()) if (!this.overlay.has(row.key)) yield row;
    for (const row of this.overlay.values()) if (row) yield row;
  }
}

function parse(row: EntityRow): Entity {
  return JSON.parse(row.body) as Entity;
}

/** The class and every class that descends from it (through class parents). */
function descendantClasses(table: Table, classKey: string): Set<string> {
  const children = new Map<string, string[]>();
  for (const key of table.lookup('kind', 'class')) {
    const row = table.get(key)!;
    for (const parent of row.parents) {
      children.set(parent, [...(children.get(parent) ?? []), key]);
    }
  }
  const result = new Set([classKey]);
  const pending = [classKey];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const child of children.get(next) ?? []) {
      if (!result.has(child)) {
        result.add(child);
        pending.push(child);
      }
    }
  }
  return result;
}

/** Whether the entity at `entityKey` is in `classKey` directly or through class ancestors. */
export function isInClass(table: Table, entityKey: string, classKey: string): boolean {
  const row = table.get(entityKey);
  if (!row) return false;
  const seen = new Set<string>();
  const pending = [...row.classes];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next === classKey) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    pending.push(...(table.get(next)?.parents ?? []));
  }
  return false;
}

function inAny(row: EntityRow, classes: Set<string>): boolean {
  return row.classes.some((c) => classes.has(c));
}

/** The entities matching `query`, ordered by key: candidates from the most selective index. */
export function queryTable(table: Table, query: Query): Entity[] {
  const directory = query.directory && directoryPath(query.directory);
  const exact: Array<[IndexName, string]> = [];
  if (query.parent) exact.push(['parent', entityKey(query.parent)]);
  if (query.source) exact.push(['source', entityKey(query.source)]);
  if (query.target) exact.push(['target', entityKey(query.target)]);
  if (query.template) exact.push(['template', entityKey(query.template)]);
  if (directory !== undefined && !query.recursive) exact.push(['directory', directory]);
  if (query.kind) exact.push(['kind', query.kind]);
  const classes = query.class && descendantClasses(table, entityKey(query.class));

  let candidates: Iterable<string>;
  const first = exact[0];
  if (first) candidates = table.lookup(first[0], first[1]);
  else if (classes) candidates = [...classes].flatMap((c) => [...table.lookup('class', c)]);
  else if (directory !== undefined) candidates = table.lookupDirectoryPrefix(directory);
  else candidates = [...table.rows()].map((r) => r.key);

  const matches: EntityRow[] = [];
  const seen = new Set<string>();
  for (const key of candidates) {
    if (seen.has(key)) continue;
    seen.add(key);
    const row = table.get(key)!;
    if (!exact.every(([index, value]) => indexValues(row, index).includes(value))) continue;
    if (directory !== undefined && query.recursive && !row.directory.startsWith(directory))
      continue;
    if (classes && !inAny(row, classes)) continue;
    matches.push(row);
  }
  matches.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let entities = matches.map(parse);
  if (query.metadata) {
    const wanted = Object.entries(query.metadata);
    entities = entities.filter((e) => wanted.every(([k, v]) => e.metadata?.[k] === v));
  }
  return query.limit === undefined ? entities : entities.slice(0, query.limit);
}

/**
 * Breadth-first traversal: each vertex at its shortest depth, reached by the smallest-keyed
 * qualifying edge from the previous level (the same choice the SQL backends make).
 */
export function traverseTable(table: Table, options: TraverseOptions): TraverseStep[] {
  const start = entityKey(options.from);
  const direction = options.direction ?? 'out';
  const edgeClasses = options.edgeClass && descendantClasses(table, entityKey(options.edgeClass));
  const vertexClasses =
    options.vertexClass && descendantClasses(table, entityKey(options.vertexClass));
  const reached = new Set([start]);
  const steps: TraverseStep[] = [];
  let frontier = [start];
  for (let depth = 1; depth <= options.depth && frontier.length > 0; depth++) {
    const found = new Map<string, string>();
    const consider = (edgeKey: string, next: string | null): void => {
      if (next === null || reached.has(next)) return;
      const edge = table.get(edgeKey)!;
      if (edgeClasses && !inAny(edge, edgeClasses)) return;
      const vertex = table.get(next);
      if (!vertex || (vertexClasses && !inAny(vertex, vertexClasses))) return;
      const via = found.get(next);
      if (via === undefined || edgeKey < via) found.set(next, edgeKey);
    };
    for (const key of frontier) {
      if (direction !== 'in') {
        for (const e of table.lookup('source', key)) consider(e, table.get(e)!.target);
      }
      if (direction !== 'out') {
        for (const e of table.lookup('target', key)) consider(e, table.get(e)!.source);
      }
    }
    const level = [...found.keys()].sort();
    for (const key of level) {
      const via = found.get(key)!;
      reached.add(key);
      steps.push({
        vertex: parse(table.get(key)!) as Vertex | VertexTemplate,
        depth,
        via: parse(table.get(via)!),
      });
    }
    frontier = level;
  }
  return steps;
}
