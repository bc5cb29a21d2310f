import type { Edge, EdgeTemplate, Entity, Id } from '@khutulun/floria';
import { ENTITY_KINDS } from '@khutulun/floria';
import { StoreError } from './store-error.js';

// A segment may contain any character; escaping `%` and `/` keeps paths and keys unambiguous
// and keeps "subtree of D" a plain prefix match on the path string.
function encodeSegment(segment: string): string {
  if (!segment.includes('%') && !segment.includes('/')) return segment;
  return segment.replaceAll('%', '%25').replaceAll('/', '%2F');
}

/**
 * The directory as one string, `/` for the root and `/a/b/` for `['a', 'b']`: every entity
 * in the subtree of a directory has a path that starts with the directory's path.
 */
export function directoryPath(directory: readonly string[]): string {
  return directory.length === 0 ? '/' : `/${directory.map(encodeSegment).join('/')}/`;
}

/** The unique string key of an entity identity, e.g. `vertex:/services/hello/web`. */
export function entityKey(id: Id): string {
  return `${id.kind}:${directoryPath(id.directory)}${encodeSegment(id.name)}`;
}

/**
 * An entity flattened into the columns the backends index: identity, containment, edge ends,
 * template, class memberships and (for classes) parents, plus the JSON body.
 */
export interface EntityRow {
  key: string;
  kind: string;
  /** {@link directoryPath} of the entity's directory. */
  directory: string;
  name: string;
  parent: string | null;
  source: string | null;
  target: string | null;
  template: string | null;
  /** Keys of the classes the entity is directly in. */
  classes: string[];
  /** Keys of a class's direct parents (empty for other kinds). */
  parents: string[];
  /** The entity as JSON. */
  body: string;
}

/** Throws an `invalid-entity` {@link StoreError} unless `id` is a well-formed {@link Id}. */
export function checkId(id: unknown, backend: string, what: string): asserts id is Id {
  const candidate = id as Partial<Id> | undefined;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    !ENTITY_KINDS.includes(candidate.kind as Entity['id']['kind']) ||
    !Array.isArray(candidate.directory) ||
    !candidate.directory.every((s) => typeof s === 'string') ||
    typeof candidate.name !== 'string' ||
    candidate.name === ''
  ) {
    throw new StoreError('invalid-entity', `${what} is not a valid id: ${JSON.stringify(id)}`, {
      backend,
    });
  }
}

function edgeTarget(entity: Edge | EdgeTemplate): Id | undefined {
  if (entity.id.kind === 'edge') return (entity as Edge).target;
  const selector = (entity as EdgeTemplate).selector;
  return selector?.kind === 'id' ? selector.id : undefined;
}

/** Validates `entity`'s identity and references and flattens it into an {@link EntityRow}. */
export function entityRow(entity: Entity, backend: string): EntityRow {
  checkId(entity?.id, backend, 'entity id');
  const key = entityKey(entity.id);
  const ref = (id: Id | undefined, what: string): string | null => {
    if (id === undefined) return null;
    checkId(id, backend, `${key} ${what}`);
    return entityKey(id);
  };
  const classes = (entity.classes ?? []).map((c, i) => ref(c, `classes[${i}]`) as string);
  let parent: string | null = null;
  let source: string | null = null;
  let target: string | null = null;
  let template: string | null = null;
  let parents: string[] = [];
  switch (entity.id.kind) {
    case 'class':
      parents = ((entity as { parents?: Id[] }).parents ?? []).map(
        (p, i) => ref(p, `parents[${i}]`) as string,
      );
      break;
    case 'vertex-template':
      parent = ref((entity as { parent?: Id }).parent, 'parent');
      break;
    case 'vertex':
      parent = ref((entity as { parent?: Id }).parent, 'parent');
      template = ref((entity as { template?: Id }).template, 'template');
      break;
    case 'edge-template':
    case 'edge': {
      const edge = entity as Edge | EdgeTemplate;
      source = ref(edge.source, 'source');
      target = ref(edgeTarget(edge), 'target');
      if (edge.id.kind === 'edge') template = ref((edge as Edge).template, 'template');
      break;
    }
    case 'plugin':
      break;
  }
  return {
    key,
    kind: entity.id.kind,
    directory: directoryPath(entity.id.directory),
    name: entity.id.name,
    parent,
    source,
    target,
    template,
    classes: [...new Set(classes)],
    parents: [...new Set(parents)],
    body: JSON.stringify(entity),
  };
}
