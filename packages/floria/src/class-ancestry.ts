/** Class ancestry: an entity in class C is in every ancestor of C. */
import { idKey } from './id.js';
import type { Entity, Id } from './model.js';

/** Anything that can look up an entity by id (a store, a transaction, or a map's getter). */
export interface EntityLookup {
  get(id: Id): Promise<Entity | undefined> | Entity | undefined;
}

/**
 * The given classes and all their ancestors, each once, nearest first (breadth-first).
 * Cycle-safe: a class met again is not followed again. A class that does not exist is kept
 * (it is still a tag) but has no ancestors.
 */
export async function classAncestors(lookup: EntityLookup, classes: readonly Id[]): Promise<Id[]> {
  const seen = new Set<string>();
  const result: Id[] = [];
  let frontier = [...classes];
  while (frontier.length > 0) {
    const next: Id[] = [];
    for (const cls of frontier) {
      const key = idKey(cls);
      if (seen.has(key)) continue;
      seen.add(key);
      result.push(cls);
      const entity = await lookup.get(cls);
      if (entity?.id.kind === 'class' && 'parents' in entity) next.push(...entity.parents);
    }
    frontier = next;
  }
  return result;
}

/** Every class `entity` is in: its direct classes and all their ancestors. */
export function allClasses(lookup: EntityLookup, entity: Entity): Promise<Id[]> {
  return classAncestors(lookup, entity.classes);
}

/** Whether `entity` is in `cls`, directly or through the ancestors of its classes. */
export async function entityIsInClass(
  lookup: EntityLookup,
  entity: Entity,
  cls: Id,
): Promise<boolean> {
  const key = idKey(cls);
  return (await allClasses(lookup, entity)).some((c) => idKey(c) === key);
}
