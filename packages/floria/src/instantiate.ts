/** Instantiation: templates into vertexes and edges, in one store transaction. */
import type { Dispatcher, HostFunctions } from './dispatch.js';
import { InstantiationError, TargetNotFound } from './errors.js';
import { evaluate, messageOf } from './expression.js';
import { hostFunctions } from './host-functions.js';
import { idFromValue, idKey, makeId } from './id.js';
import type { Edge, EdgeTemplate, Entity, Id, Value, Vertex, VertexTemplate } from './model.js';
import type { Store, StoreTransaction } from './store.js';

/** What to instantiate, where, and with which plugins. */
export interface InstantiateOptions {
  /** Vertex and edge templates, by id or as everything in a directory (subtree with `recursive`). */
  templates: Id[] | { directory: string[]; recursive?: boolean };
  /** The directory that receives the new vertexes and edges. */
  into: string[];
  /** Runs instantiators and finder selectors. */
  dispatcher: Dispatcher;
  /** Overrides of the host functions plugins get (reads and writes go to the transaction). */
  host?: Partial<HostFunctions>;
}

/** What an instantiation made. */
export interface InstantiationResult {
  vertexes: Vertex[];
  edges: Edge[];
}

/**
 * Instantiates templates in one store transaction (nothing is written if anything fails).
 * See the package README for the rules: counts, `<template>-<n>` names, nesting, instantiators
 * and target selection. Rejects with `TargetNotFound` when the selector of an edge template
 * that is not `optional` yields no vertex (an optional one then makes no edge), and with `InstantiationError` for other template problems.
 */
export function instantiate(
  store: Store,
  options: InstantiateOptions,
): Promise<InstantiationResult> {
  return store.transaction((tx) => new Instantiation(tx, options).run());
}

class Instantiation {
  private readonly host: HostFunctions;
  /** Instances made by this run, by template key. */
  private readonly made = new Map<string, Vertex[]>();
  /** Names taken by this run (the transaction knows the rest). */
  private readonly taken = new Set<string>();
  /** Where the search for a free `<base>-<n>` resumes, by kind and base. */
  private readonly nextIndex = new Map<string, number>();
  private readonly result: InstantiationResult = { vertexes: [], edges: [] };
  /** Vertexes made by this run, by key (for containment). */
  private readonly madeVertexes = new Map<string, Vertex>();

  constructor(
    private readonly tx: StoreTransaction,
    private readonly options: InstantiateOptions,
  ) {
    this.host = hostFunctions({
      reader: tx,
      dispatcher: options.dispatcher,
      writer: tx,
      ...(options.host ? { overrides: options.host } : {}),
    });
  }

  async run(): Promise<InstantiationResult> {
    const templates = await this.templates();
    const vertexTemplates: VertexTemplate[] = [];
    for (const template of templates) {
      if (template.id.kind === 'vertex-template') {
        vertexTemplates.push(await this.adapt(template as VertexTemplate));
      }
    }
    for (const template of nestingOrder(vertexTemplates)) await this.instantiateVertexes(template);
    for (const template of templates) {
      if (template.id.kind === 'edge-template')
        await this.instantiateEdges(template as EdgeTemplate);
    }
    return this.result;
  }

  private async templates(): Promise<Entity[]> {
    const { templates } = this.options;
    if (Array.isArray(templates)) {
      const found: Entity[] = [];
      for (const id of templates) {
        const entity = await this.tx.get(id);
        if (!entity) throw new InstantiationError('no such template', id);
        if (entity.id.kind !== 'vertex-template' && entity.id.kind !== 'edge-template') {
          throw new InstantiationError(`a ${entity.id.kind} is not a template`, id);
        }
        found.push(entity);
      }
      return found;
    }
    const where = { directory: templates.directory, recursive: templates.recursive ?? false };
    return [
      ...(await this.tx.query({ kind: 'vertex-template', ...where })),
      ...(await this.tx.query({ kind: 'edge-template', ...where })),
    ];
  }

  /** Lets a self-adaptive template's instantiator return the version to instantiate. */
  private async adapt(template: VertexTemplate): Promise<VertexTemplate> {
    const instantiator = template.instantiator;
    if (!instantiator) return template;
    let adapted: Value;
    try {
      adapted = await this.options.dispatcher.dispatch(
        {
          plugin: instantiator.plugin,
          function: instantiator.function,
          arguments: [template as unknown as Value],
          site: { entity: template.id },
        },
        this.host,
      );
    } catch (error) {
      throw new InstantiationError(
        `instantiator ${instantiator.plugin}:${instantiator.function} failed: ${messageOf(error)}`,
        template.id,
        { cause: error },
      );
    }
    if (adapted === null || adapted === undefined) return template;
    if (
      typeof adapted !== 'object' ||
      Array.isArray(adapted) ||
      typeof adapted.properties !== 'object'
    ) {
      throw new InstantiationError(
        `instantiator ${instantiator.plugin}:${instantiator.function} returned something that is not a vertex template`,
        template.id,
      );
    }
    // The instantiator adapts the content; the identity stays the template's.
    return { ...(adapted as unknown as VertexTemplate), id: template.id };
  }

  private async instancesOf(template: Id): Promise<Vertex[]> {
    const made = this.made.get(idKey(template));
    if (made) return made;
    return (await this.tx.query({ kind: 'vertex', template })) as Vertex[];
  }

  private async instantiateVertexes(template: VertexTemplate): Promise<void> {
    const count = template.count?.initial ?? 1;
    const { min, max } = template.count ?? {};
    if (
      !Number.isInteger(count) ||
      count < 0 ||
      (min !== undefined && count < min) ||
      (max !== undefined && count > max)
    ) {
      throw new InstantiationError(`bad count ${JSON.stringify(template.count)}`, template.id);
    }
    let parents: Array<Vertex | undefined> = [undefined];
    if (template.parent) {
      parents = await this.instancesOf(template.parent);
      // A parent instantiated now with count 0 simply has no children.
      if (parents.length === 0 && !this.made.has(idKey(template.parent))) {
        throw new InstantiationError(
          `its parent template ${idKey(template.parent)} has no instances`,
          template.id,
        );
      }
    }
    const instances: Vertex[] = [];
    for (const parent of parents) {
      for (let index = 0; index < count; index++) {
        const vertex: Vertex = {
          id: await this.freshId('vertex', template.id.name),
          metadata: structuredClone(template.metadata ?? {}),
          classes: structuredClone(template.classes ?? []),
          template: template.id,
          properties: structuredClone(template.properties ?? {}),
        };
        if (parent) vertex.parent = parent.id;
        if (template.eventHandlers) vertex.eventHandlers = structuredClone(template.eventHandlers);
        await this.tx.put(vertex);
        instances.push(vertex);
        this.madeVertexes.set(idKey(vertex.id), vertex);
        this.result.vertexes.push(vertex);
      }
    }
    this.made.set(idKey(template.id), instances);
  }

  private async instantiateEdges(template: EdgeTemplate): Promise<void> {
    for (const source of await this.instancesOf(template.source)) {
      for (const target of await this.targets(template, source)) {
        const edge: Edge = {
          id: await this.freshId('edge', template.id.name),
          metadata: structuredClone(template.metadata ?? {}),
          classes: structuredClone(template.classes ?? []),
          template: template.id,
          source: source.id,
          target,
          properties: structuredClone(template.properties ?? {}),
        };
        if (template.eventHandlers) edge.eventHandlers = structuredClone(template.eventHandlers);
        await this.tx.put(edge);
        this.result.edges.push(edge);
      }
    }
  }

  /** The target vertexes of the edges from `source`; empty only for an optional template. */
  private async targets(template: EdgeTemplate, source: Vertex): Promise<Id[]> {
    const { selector } = template;
    const missing = (detail: string, cause?: unknown) =>
      new TargetNotFound(template.id, selector, source.id, detail, cause ? { cause } : undefined);
    let candidates: Id[];
    if (selector.kind === 'id') {
      candidates = [selector.id];
    } else {
      let found: Value;
      try {
        found = await evaluate(selector.call, {
          site: { entity: source.id },
          dispatcher: this.options.dispatcher,
          host: this.host,
        });
      } catch (error) {
        throw missing(`the finder failed: ${messageOf(error)}`, error);
      }
      const values = Array.isArray(found) ? found : [found];
      candidates = [];
      for (const value of values) {
        const id = idFromValue(value);
        if (!id) throw missing(`the finder returned ${JSON.stringify(value)}, which is not an id`);
        candidates.push(id);
      }
    }
    const targets: Id[] = [];
    for (const candidate of candidates) {
      if (candidate.kind === 'vertex-template') {
        const instances = await this.instancesOf(candidate);
        if (instances.length === 0) {
          if (template.optional) continue;
          throw missing(`template ${idKey(candidate)} has no instances`);
        }
        targets.push(...this.nearest(source, instances).map((instance) => instance.id));
      } else if (candidate.kind === 'vertex') {
        if (!(await this.tx.get(candidate))) throw missing(`no vertex ${idKey(candidate)}`);
        targets.push(candidate);
      } else {
        throw missing(`${idKey(candidate)} is neither a vertex nor a vertex template`);
      }
    }
    if (targets.length === 0 && !template.optional)
      throw missing('the finder found nothing, and the edge template is not optional');
    return targets;
  }

  /**
   * The instances among `candidates` that share the nearest containing vertex with `source`
   * (the source itself first, then its parent, and so on up): a sidecar's edge to "the web
   * server's port" reaches its own web server's port, not every web server's. Candidates
   * sharing no container with the source are all taken.
   */
  private nearest(source: Vertex, candidates: Vertex[]): Vertex[] {
    const chains = candidates.map((candidate) => ({
      candidate,
      ancestors: this.ancestors(candidate),
    }));
    for (const container of [idKey(source.id), ...this.ancestors(source)]) {
      const near = chains.filter(({ ancestors }) => ancestors.includes(container));
      if (near.length > 0) return near.map(({ candidate }) => candidate);
    }
    return candidates;
  }

  /** Keys of the containing vertexes of a vertex made now, nearest first. */
  private ancestors(vertex: Vertex): string[] {
    const keys: string[] = [];
    const seen = new Set<string>();
    for (let parent = vertex.parent; parent; ) {
      const key = idKey(parent);
      if (seen.has(key)) break;
      seen.add(key);
      keys.push(key);
      parent = this.madeVertexes.get(key)?.parent;
    }
    return keys;
  }

  /** `<base>-<n>` with the smallest n >= 1 not yet used in the target directory. */
  private async freshId<K extends 'vertex' | 'edge'>(
    kind: K,
    base: string,
  ): Promise<Id & { kind: K }> {
    const counter = `${kind}:${base}`;
    for (let n = this.nextIndex.get(counter) ?? 1; ; n++) {
      const id = makeId(kind, this.options.into, `${base}-${n}`);
      const key = idKey(id);
      if (this.taken.has(key) || (await this.tx.get(id))) continue;
      this.taken.add(key);
      this.nextIndex.set(counter, n + 1);
      return id;
    }
  }
}

/** Parents before children; a nesting cycle among the templates is an `InstantiationError`. */
function nestingOrder(templates: VertexTemplate[]): VertexTemplate[] {
  const byKey = new Map(templates.map((template) => [idKey(template.id), template]));
  const state = new Map<string, 'visiting' | 'done'>();
  const ordered: VertexTemplate[] = [];
  const visit = (template: VertexTemplate) => {
    const key = idKey(template.id);
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') throw new InstantiationError('nesting cycle', template.id);
    state.set(key, 'visiting');
    const parent = template.parent ? byKey.get(idKey(template.parent)) : undefined;
    if (parent) visit(parent);
    state.set(key, 'done');
    ordered.push(template);
  };
  for (const template of templates) visit(template);
  return ordered;
}
