/** Update: evaluate property updaters and validators, collecting every problem. */
import type { Dispatcher, HostFunctions } from './dispatch.js';
import { isFloriaError } from './errors.js';
import { evaluate, messageOf } from './expression.js';
import { hostFunctions, overlayReader } from './host-functions.js';
import { idKey } from './id.js';
import type { Entity, Id, Properties, Value } from './model.js';
import type { Query, Store, StoreTransaction } from './store.js';
import { valuesEqual } from './value.js';

/** Which entities to update, and with which plugins. */
export interface UpdateOptions {
  /** These entities, or ... */
  ids?: Id[];
  /** ... those the query selects. */
  query?: Query;
  /** Runs updaters and validators. */
  dispatcher: Dispatcher;
  /** Overrides of the host functions plugins get (graph changes are refused during update). */
  host?: Partial<HostFunctions>;
}

/** One thing wrong with one property (or, with an empty path, with the entity itself). */
export interface Problem {
  entity: Id;
  /** `[property]`; empty when the entity itself is missing. */
  path: string[];
  /** What failed: the updater, the validator, a change of a read-only property, or the lookup. */
  stage: 'updater' | 'validator' | 'read-only' | 'missing';
  message: string;
  /** The innermost failing call, when a plugin function failed. */
  plugin?: string;
  function?: string;
}

/** What an update did and found. */
export interface UpdateResult {
  problems: Problem[];
  /** The entities whose property values changed (and were written). */
  changed: Id[];
}

/**
 * Updates entities in one store transaction: for each, properties in name order, evaluates
 * the `updater` into a new value and then the `validator` against it. Never throws for bad
 * data: every failure becomes a `Problem` and the property keeps its old value, while the
 * other properties are still written. A read-only property that has a value keeps it.
 */
export function update(store: Store, options: UpdateOptions): Promise<UpdateResult> {
  if (!options.ids && !options.query) {
    return Promise.reject(new TypeError('update needs ids or a query'));
  }
  return store.transaction((tx) => updateIn(tx, options));
}

async function updateIn(tx: StoreTransaction, options: UpdateOptions): Promise<UpdateResult> {
  const result: UpdateResult = { problems: [], changed: [] };
  const entities: Entity[] = [];
  for (const id of options.ids ?? []) {
    const entity = await tx.get(id);
    if (entity) entities.push(entity);
    else
      result.problems.push({ entity: id, path: [], stage: 'missing', message: 'no such entity' });
  }
  if (options.query) entities.push(...(await tx.query(options.query)));
  const seen = new Set<string>();
  for (const entity of entities) {
    // An entity named twice (in `ids` and by the query) is updated once.
    const key = idKey(entity.id);
    if (seen.has(key) || !('properties' in entity)) continue;
    seen.add(key);
    const working = structuredClone(entity);
    if (await updateEntity(tx, working, working.properties, options, result.problems)) {
      await tx.put(working);
      result.changed.push(entity.id);
    }
  }
  return result;
}

/** Updates `properties` (of `working`) in place; returns whether any value changed. */
async function updateEntity(
  tx: StoreTransaction,
  working: Entity,
  properties: Properties,
  options: UpdateOptions,
  problems: Problem[],
): Promise<boolean> {
  const key = idKey(working.id);
  // Plugins reading this entity see its values as they are being updated.
  const reader = overlayReader(tx, (id) => (idKey(id) === key ? working : undefined));
  const host = hostFunctions({
    reader,
    dispatcher: options.dispatcher,
    ...(options.host ? { overrides: options.host } : {}),
  });
  const problem = (path: string[], stage: Problem['stage'], message: string, error?: unknown) => {
    const found: Problem = { entity: working.id, path, stage, message };
    if (isFloriaError(error, 'evaluation-failed')) {
      const { plugin, functionName } = error as { plugin?: string; functionName?: string };
      if (plugin !== undefined) found.plugin = plugin;
      if (functionName !== undefined) found.function = functionName;
    }
    problems.push(found);
  };
  let changed = false;
  for (const name of Object.keys(properties).sort()) {
    const property = properties[name];
    if (!property) continue;
    const path = [name];
    const context = { site: { entity: working.id, path }, dispatcher: options.dispatcher, host };
    const old = property.value;
    let next = old;
    if (property.updater) {
      try {
        next = await evaluate(property.updater, context);
      } catch (error) {
        problem(path, 'updater', messageOf(error), error);
        continue;
      }
      if (property.readOnly && old !== undefined && !valuesEqual(old, next as Value)) {
        problem(
          path,
          'read-only',
          `read-only: keeps ${JSON.stringify(old)}, not ${JSON.stringify(next)}`,
        );
        continue;
      }
    }
    if (property.validator) {
      setValue(properties, name, next);
      let messages: string[];
      try {
        messages = verdict(await evaluate(property.validator, context));
      } catch (error) {
        problem(path, 'validator', messageOf(error), error);
        setValue(properties, name, old);
        continue;
      }
      if (messages.length > 0) {
        for (const message of messages) problem(path, 'validator', message);
        setValue(properties, name, old);
        continue;
      }
    }
    setValue(properties, name, next);
    if (old === undefined ? next !== undefined : next === undefined || !valuesEqual(old, next)) {
      changed = true;
    }
  }
  return changed;
}

function setValue(properties: Properties, name: string, value: Value | undefined): void {
  const property = properties[name];
  if (!property) return;
  if (value === undefined) delete property.value;
  else property.value = value;
}

/** A validator's result as problem messages (none means valid). */
function verdict(result: Value): string[] {
  if (result === true) return [];
  if (result === false) return ['invalid value'];
  if (typeof result === 'string') return [result];
  if (Array.isArray(result) && result.every((item) => typeof item === 'string')) {
    return result as string[];
  }
  return [
    `the validator returned ${JSON.stringify(result)}, not true, false, a string or a list of strings`,
  ];
}

/**
 * The names of the read-only properties whose value `next` would change (a read-only
 * property may go from unset to set once, never after): for an API or a plugin host to
 * refuse direct writes the way `update` refuses updater results.
 */
export function readOnlyChanges(previous: Entity | undefined, next: Entity): string[] {
  if (!previous || !('properties' in previous) || !('properties' in next)) return [];
  const changed: string[] = [];
  for (const [name, before] of Object.entries(previous.properties)) {
    if (!before.readOnly || before.value === undefined) continue;
    const after = next.properties[name]?.value;
    if (after === undefined || !valuesEqual(before.value, after)) changed.push(name);
  }
  return changed.sort();
}
