import type {
  Class,
  Edge,
  EdgeTemplate,
  FloriaEvent,
  Id,
  Store,
  Vertex,
  VertexTemplate,
} from '@khutulun/floria';

/** An id of `kind` in `directory` (default: the root). */
export function id<K extends Id['kind']>(
  kind: K,
  name: string,
  directory: string[] = [],
): Id & { kind: K } {
  return { kind, directory, name };
}

/** A class with parents. */
export function aClass(name: string, parents: string[] = [], directory: string[] = []): Class {
  return {
    id: id('class', name, directory),
    metadata: {},
    classes: [],
    parents: parents.map((p) => id('class', p, directory)),
  };
}

/** A vertex with optional classes, parent, properties and directory. */
export function aVertex(
  name: string,
  options: Partial<Pick<Vertex, 'parent' | 'template' | 'properties' | 'metadata'>> & {
    classes?: string[];
    directory?: string[];
  } = {},
): Vertex {
  const vertex: Vertex = {
    id: id('vertex', name, options.directory ?? []),
    metadata: options.metadata ?? {},
    classes: (options.classes ?? []).map((c) => id('class', c)),
    properties: options.properties ?? {},
  };
  if (options.parent) vertex.parent = options.parent;
  if (options.template) vertex.template = options.template;
  return vertex;
}

/** An edge from `source` to `target` (vertex names in the root directory unless ids). */
export function anEdge(
  name: string,
  source: string | Id,
  target: string | Id,
  classes: string[] = [],
): Edge {
  const end = (v: string | Id): Id => (typeof v === 'string' ? id('vertex', v) : v);
  return {
    id: id('edge', name),
    metadata: {},
    classes: classes.map((c) => id('class', c)),
    source: end(source),
    target: end(target),
    properties: {},
  };
}

/** A vertex template, optionally nested. */
export function aVertexTemplate(name: string, parent?: string): VertexTemplate {
  const template: VertexTemplate = {
    id: id('vertex-template', name),
    metadata: {},
    classes: [],
    properties: { size: { value: 1 } },
  };
  if (parent) template.parent = id('vertex-template', parent);
  return template;
}

/** An edge template between two vertex templates, with an id selector. */
export function anEdgeTemplate(name: string, source: string, target: string): EdgeTemplate {
  return {
    id: id('edge-template', name),
    metadata: {},
    classes: [],
    source: id('vertex-template', source),
    selector: { kind: 'id', id: id('vertex-template', target) },
    properties: {},
  };
}

/**
 * Subscribes and collects events; `until(n)` resolves once `n` have arrived (or rejects after
 * a generous timeout with what did arrive, so a failure says what was missing).
 */
export function collect(store: Store, since: number) {
  const events: FloriaEvent[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const stop = store.subscribe(since, (event) => {
    events.push(event);
    if (waiter && events.length >= waiter.n) waiter.resolve();
  });
  return {
    events,
    stop,
    until(n: number, timeoutMs = 20_000): Promise<FloriaEvent[]> {
      if (events.length >= n) return Promise.resolve(events);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`got ${events.length} of ${n} events: ${JSON.stringify(events)}`)),
          timeoutMs,
        );
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(events);
          },
        };
      });
    },
  };
}
