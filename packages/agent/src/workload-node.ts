/**
 * A workload vertex as its kind's mapping sees it (`WorkloadNode`): its type with every
 * ancestor, its evaluated values, and its artifacts with files resolved.
 */
import type { NodeArtifact, WorkloadKey, WorkloadNode } from '@khutulun/driver';
import type { Id, StoreReader, Value, Vertex } from '@khutulun/floria';
import { isMap, propertyValue } from './values.js';

/**
 * The parents of classes already read, by class key: a deploy reads each class once, however
 * many workloads are in it (classes do not change while a service exists).
 */
export type ClassCache = Map<string, Id[]>;

/** Every class an entity is in: its direct classes and all their ancestors, by name. */
export async function classNames(
  store: StoreReader,
  direct: Id[],
  cache: ClassCache = new Map(),
): Promise<string[]> {
  const seen = new Set<string>();
  const queue = [...direct];
  while (queue.length) {
    const id = queue.shift()!;
    if (seen.has(id.name)) continue;
    seen.add(id.name);
    const key = `${id.directory.join('/')}/${id.name}`;
    let parents = cache.get(key);
    if (!parents) {
      parents = ((await store.get(id)) as { parents?: Id[] } | undefined)?.parents ?? [];
      cache.set(key, parents);
    }
    queue.push(...parents);
  }
  return [...seen];
}

/**
 * Builds the node a kind maps from (its relations are the planner's to fill). `templates` is
 * the service's class directory.
 */
export async function workloadNode(
  store: StoreReader,
  key: WorkloadKey,
  vertex: Vertex,
  templates: string[],
  baseDirectory: string,
  cache: ClassCache = new Map(),
): Promise<WorkloadNode> {
  const properties: Record<string, Value> = {};
  for (const [name, property] of Object.entries(vertex.properties)) {
    // Properties only: attributes are what the drivers and the agent wrote back.
    if (name.startsWith('tosca:') || property.value === undefined) continue;
    if (property.metadata?.['tosca.kind'] === 'attribute') continue;
    properties[name] = property.value;
  }
  const artifacts: Record<string, NodeArtifact> = {};
  const declared = propertyValue(vertex, 'tosca:artifacts');
  for (const [name, a] of Object.entries(isMap(declared) ? declared : {})) {
    if (!isMap(a) || typeof a.type !== 'string') continue;
    const type = `artifact:${a.type}`;
    const file = typeof a.path === 'string' ? a.path : typeof a.file === 'string' ? a.file : '';
    artifacts[name] = {
      type,
      types: await classNames(store, [{ kind: 'class', directory: templates, name: type }], cache),
      file,
      values: a,
    };
  }
  return {
    key,
    types: await classNames(store, vertex.classes, cache),
    properties,
    artifacts,
    relations: [],
    baseDirectory,
  };
}
