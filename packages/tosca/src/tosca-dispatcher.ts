import type {
  Dispatcher,
  Entity,
  Expression,
  FunctionCall,
  HostFunctions,
  Id,
  Properties,
  Value,
} from '@khutulun/floria';
import { evaluatePure, isFunctionError, PURE_FUNCTIONS } from './builtin-functions.js';

/** A run-time evaluation failure of a `tosca` function, with the call it came from. */
export class ToscaFunctionError extends Error {
  /** Brand: identifies the error across process and plugin boundaries. */
  readonly code = 'TOSCA_FUNCTION_ERROR';
  constructor(
    readonly fn: string,
    message: string,
    readonly site?: Id,
    options?: { cause?: unknown },
  ) {
    super(`tosca:${fn}: ${message}`, options);
    this.name = 'ToscaFunctionError';
  }
}

/** Whether an error is a `ToscaFunctionError` (by its brand, which survives any boundary). */
export function isToscaFunctionError(e: unknown): e is ToscaFunctionError {
  return (e as { code?: unknown } | null)?.code === 'TOSCA_FUNCTION_ERROR';
}

/**
 * The run-time side of the `tosca` plugin: evaluates the calls the compiler leaves in the
 * graph (`get_attribute`, `get_property`, `get_input`, `concat`, `find_target`...) over the
 * Floria graph through the host functions, following the TOSCA path grammar (SELF, SOURCE,
 * TARGET, CAPABILITY, RELATIONSHIP, requirement names, indexes, ALL).
 */
export function createToscaDispatcher(): Dispatcher {
  return {
    async dispatch(call: FunctionCall, host: HostFunctions): Promise<Value> {
      if (call.plugin !== 'tosca')
        throw new ToscaFunctionError(
          call.function,
          `not a tosca call (plugin ${call.plugin})`,
          call.site.entity,
        );
      const args = call.arguments as Value[];
      const fn = call.function;
      try {
        if (fn in PURE_FUNCTIONS) return evaluatePure(fn, args);
        switch (fn) {
          case 'get_attribute':
          case 'get_property':
          case 'available_allocation':
            return await getValue(fn, args, call, host);
          case 'get_input':
            return await getInput(args, call, host);
          case 'find_target':
            return await findTarget(args[0] ?? {}, call, host);
          case 'node_index':
            return await nodeIndex(call, host);
          case 'relationship_index':
            return await relationshipIndex(call, host);
          case 'get_artifact': {
            const [first, name] = args;
            const entity = await start(first, call, host);
            const arts =
              entity && 'properties' in entity
                ? (entity.properties['tosca:artifacts']?.value as Record<string, Value> | undefined)
                : undefined;
            const art = typeof name === 'string' ? arts?.[name] : undefined;
            if (!art)
              throw new ToscaFunctionError(fn, `no artifact ${String(name)}`, call.site.entity);
            return (
              (art as Record<string, Value>).path ?? (art as Record<string, Value>).file ?? null
            );
          }
          default:
            throw new ToscaFunctionError(fn, 'unknown function', call.site.entity);
        }
      } catch (e) {
        if (isToscaFunctionError(e)) throw e;
        if (isFunctionError(e))
          throw new ToscaFunctionError(fn, e.message, call.site.entity, { cause: e });
        throw new ToscaFunctionError(fn, (e as Error).message, call.site.entity, { cause: e });
      }
    },
  };
}

async function getInput(args: Value[], call: FunctionCall, host: HostFunctions): Promise<Value> {
  const [name, ...indexes] = args;
  const dir = call.site.entity.directory;
  const services = await host.query({
    kind: 'vertex',
    directory: dir,
    metadata: { 'tosca.entity': 'service' },
    limit: 1,
  });
  const templates = services.length
    ? services
    : await host.query({
        kind: 'vertex-template',
        directory: dir,
        metadata: { 'tosca.entity': 'service' },
        limit: 1,
      });
  const service = templates[0];
  const prop =
    service && 'properties' in service ? service.properties[`input:${String(name)}`] : undefined;
  if (!prop)
    throw new ToscaFunctionError('get_input', `no input ${String(name)}`, call.site.entity);
  return walk(prop.value ?? null, indexes, 'get_input', call);
}

async function start(
  first: Value | undefined,
  call: FunctionCall,
  host: HostFunctions,
): Promise<Entity | undefined> {
  const self = await host.getEntity(call.site.entity);
  if (first === 'SELF') return self;
  if (first === 'SOURCE' || first === 'TARGET') {
    if (!self || !('source' in self))
      throw new ToscaFunctionError(
        String(first),
        `${first} is only meaningful in a relationship`,
        call.site.entity,
      );
    if (first === 'SOURCE') return host.getEntity(self.source);
    const target = 'target' in self ? self.target : undefined;
    if (!target) return undefined;
    return nodeOf(await host.getEntity(target), host);
  }
  if (typeof first !== 'string')
    throw new ToscaFunctionError(
      'path',
      'a TOSCA path starts with SELF, SOURCE, TARGET or a node name',
      call.site.entity,
    );
  const dir = call.site.entity.directory;
  const kind =
    call.site.entity.kind === 'vertex' || call.site.entity.kind === 'edge'
      ? 'vertex'
      : 'vertex-template';
  if (kind === 'vertex-template') return host.getEntity({ kind, directory: dir, name: first });
  const found = await host.query({
    kind: 'vertex',
    template: { kind: 'vertex-template', directory: dir, name: first },
    limit: 1,
  });
  if (found[0]) return found[0];
  const anywhere = await host.query({
    kind: 'vertex',
    template: { kind: 'vertex-template', directory: dir, name: first },
    recursive: true,
    limit: 1,
  });
  return anywhere[0];
}

/** A capability vertex's containing node; other entities are returned as they are. */
async function nodeOf(e: Entity | undefined, host: HostFunctions): Promise<Entity | undefined> {
  if (e && e.metadata['tosca.entity'] === 'capability' && 'parent' in e && e.parent)
    return host.getEntity(e.parent);
  return e;
}

/** Picks instance(s) by a TOSCA path index: a number, ALL, or absent (the first). */
function pick<T>(items: T[], idx: Value | undefined): T[] {
  if (idx === 'ALL') return items;
  const i = typeof idx === 'number' ? idx : 0;
  return items[i] === undefined ? [] : [items[i] as T];
}

const isIdx = (v: Value | undefined) =>
  v === 'ALL' || (typeof v === 'number' && Number.isInteger(v));

/**
 * Follows a TOSCA path (specification 10.3) to the entities it ends in: node, capability or
 * relationship contexts, fanning out at ALL, then reads the named property and its indexes.
 */
async function getValue(
  fn: string,
  args: Value[],
  call: FunctionCall,
  host: HostFunctions,
): Promise<Value> {
  const fail = (message: string) => new ToscaFunctionError(fn, message, call.site.entity);
  const [first, ...rest] = args;
  let i = 0;
  let all = false;
  let current: Entity[];
  const self = await host.getEntity(call.site.entity);
  const site = call.site.entity;
  const instanceKind =
    site.kind === 'vertex' || site.kind === 'edge' ? 'vertex' : 'vertex-template';
  const edgeKind = instanceKind === 'vertex' ? 'edge' : 'edge-template';
  if (first === 'SELF') current = self ? [self] : [];
  else if (first === 'SOURCE' || first === 'TARGET') {
    // TOSCA 1.3 form, same as SELF, SOURCE|TARGET.
    current = self ? [self] : [];
    i = -1;
  } else if (typeof first === 'string') {
    const template = { kind: 'vertex-template' as const, directory: site.directory, name: first };
    const instances =
      instanceKind === 'vertex'
        ? await host.query({ kind: 'vertex', template })
        : [await host.getEntity(template)].filter((e): e is Entity => e !== undefined);
    instances.sort((a, b) => a.id.name.localeCompare(b.id.name, 'en', { numeric: true }));
    if (isIdx(rest[0])) {
      all ||= rest[0] === 'ALL';
      current = pick(instances, rest[0]);
      i = 1;
    } else current = pick(instances, undefined);
  } else throw fail('a TOSCA path starts with SELF, SOURCE, TARGET or a node template name');
  if (current.length === 0) throw fail(`${String(first)} not found`);
  const tokens = i === -1 ? [first, ...rest] : rest;
  if (i === -1) i = 0;
  const step = async (f: (e: Entity) => Promise<Entity[]>) => {
    const next: Entity[] = [];
    for (const e of current) next.push(...(await f(e)));
    current = next;
  };
  const targetOf = (e: Entity) =>
    'target' in e
      ? e.target
      : 'selector' in e && e.selector.kind === 'id'
        ? e.selector.id
        : undefined;
  for (;;) {
    const tok = tokens[i];
    const isEdge = current[0] !== undefined && 'source' in current[0];
    if (!isEdge && tok === 'RELATIONSHIP') {
      const req = tokens[i + 1];
      const idx = isIdx(tokens[i + 2]) ? tokens[i + 2] : undefined;
      all ||= idx === 'ALL';
      await step(async (e) => {
        const edges = await host.query({
          kind: edgeKind,
          source: e.id,
          metadata: { 'tosca.requirement': String(req) },
        });
        edges.sort(
          (a, b) =>
            Number(a.metadata['tosca.index'] ?? 0) - Number(b.metadata['tosca.index'] ?? 0) ||
            a.id.name.localeCompare(b.id.name, 'en', { numeric: true }),
        );
        return pick(edges, idx);
      });
      i += idx === undefined ? 2 : 3;
    } else if (!isEdge && tok === 'CAPABILITY') {
      const name = tokens[i + 1];
      await step((e) =>
        host.query({ kind: instanceKind, parent: e.id, metadata: { 'tosca.name': String(name) } }),
      );
      i += 2;
      if (tokens[i] === 'RELATIONSHIP') {
        const idx = isIdx(tokens[i + 1]) ? tokens[i + 1] : undefined;
        all ||= idx === 'ALL';
        await step(async (c) => pick(await host.query({ kind: edgeKind, target: c.id }), idx));
        i += idx === undefined ? 1 : 2;
      }
    } else if (isEdge && (tok === 'SOURCE' || tok === 'TARGET')) {
      await step(async (e) => {
        const id = tok === 'SOURCE' ? (e as { source: Id }).source : targetOf(e);
        const found = id ? await nodeOf(await host.getEntity(id), host) : undefined;
        return found ? [found] : [];
      });
      i += 1;
    } else if (isEdge && tok === 'CAPABILITY') {
      await step(async (e) => {
        const id = targetOf(e);
        const found = id ? await host.getEntity(id) : undefined;
        return found ? [found] : [];
      });
      i += 1;
    } else break;
    if (current.length === 0) throw fail(`the path ${JSON.stringify(args)} leads nowhere`);
  }
  const name = tokens[i];
  if (typeof name !== 'string') throw fail('the path does not name a property or attribute');
  const indexes = tokens.slice(i + 1);
  const read = async (e: Entity): Promise<Value> => {
    const p = 'properties' in e ? e.properties[name] : undefined;
    if (!p)
      throw fail(
        `${e.id.name} has no ${fn === 'get_attribute' ? 'attribute' : 'property'} ${name}`,
      );
    const v = walk(p.value ?? null, indexes, fn, call);
    if (fn !== 'available_allocation') return v;
    // What is left of the property once the relationships into it took their allocations.
    if (typeof v !== 'number') throw fail(`${name} of ${e.id.name} is not a number`);
    let used = 0;
    for (const edge of await host.query({ kind: edgeKind, target: e.id })) {
      const amount = (edge as { properties?: Properties }).properties?.['tosca:allocation']?.value;
      const a =
        amount && typeof amount === 'object' && !Array.isArray(amount) ? amount[name] : undefined;
      if (typeof a === 'number') used += a;
    }
    return v - used;
  };
  if (all) {
    const out: Value[] = [];
    for (const e of current) out.push(await read(e));
    return out;
  }
  return read(current[0] as Entity);
}

function walk(v: Value, indexes: Value[], fn: string, call: FunctionCall): Value {
  let cur: Value = v;
  for (const idx of indexes) {
    if (Array.isArray(cur) && typeof idx === 'number') cur = cur[idx] ?? null;
    else if (cur && typeof cur === 'object' && !Array.isArray(cur) && typeof idx === 'string')
      cur = cur[idx] ?? null;
    else
      throw new ToscaFunctionError(
        fn,
        `cannot index ${JSON.stringify(cur)} with ${JSON.stringify(idx)}`,
        call.site.entity,
      );
  }
  return cur;
}

/**
 * Finds targets for a dangling requirement among every capability vertex in the graph (other
 * services included): of the capability type (or a descendant), on a node of the node type
 * (or a descendant), passing the node_filter evaluated with SELF the candidate node. With
 * `node_template` (a requirement naming a node template whose filter needs run-time values),
 * only the nodes of that template, beside the requirement's own node's template, qualify.
 */
async function findTarget(spec: Value, call: FunctionCall, host: HostFunctions): Promise<Value> {
  const s = (spec && typeof spec === 'object' && !Array.isArray(spec) ? spec : {}) as Record<
    string,
    Value
  >;
  const metadata: Record<string, string> = { 'tosca.entity': 'capability' };
  if (typeof s.capability === 'string') metadata['tosca.name'] = s.capability;
  const caps = await host.query({ kind: 'vertex', metadata });
  const out: Value[] = [];
  const ancestry = new Map<string, Promise<Set<string>>>();
  const classNames = (e: Entity): Promise<Set<string>> => {
    const key = `${e.id.directory.join('/')}|${e.classes.map((c) => c.name).join(',')}`;
    let found = ancestry.get(key);
    if (!found) {
      found = classClosure(e.classes, host);
      ancestry.set(key, found);
    }
    return found;
  };
  let templateDirectory: string | undefined;
  if (typeof s.node_template === 'string') {
    const source = await host.getEntity(call.site.entity);
    const template = source && 'template' in source ? source.template : undefined;
    templateDirectory = (template?.directory ?? call.site.entity.directory).join('/');
  }
  for (const c of caps) {
    if (!('parent' in c) || !c.parent || c.parent.name === call.site.entity.name) continue;
    if (
      typeof s.capability_type === 'string' &&
      !(await classNames(c)).has(`capability:${s.capability_type}`)
    )
      continue;
    const node = await host.getEntity(c.parent);
    if (!node) continue;
    if (templateDirectory !== undefined) {
      const template = 'template' in node ? node.template : undefined;
      if (!template || template.name !== s.node_template) continue;
      if (template.directory.join('/') !== templateDirectory) continue;
    }
    if (typeof s.node_type === 'string' && !(await classNames(node)).has(`node:${s.node_type}`))
      continue;
    if (s.node_filter !== undefined && !(await passes(s.node_filter, node, host))) continue;
    out.push(c.id as unknown as Value);
  }
  return out;
}

/** The names of classes and all their ancestors. */
async function classClosure(classes: Id[], host: HostFunctions): Promise<Set<string>> {
  const names = new Set<string>();
  const queue = [...classes];
  for (let id = queue.shift(); id; id = queue.shift()) {
    if (names.has(id.name)) continue;
    names.add(id.name);
    const cls = await host.getEntity(id);
    if (cls && 'parents' in cls) queue.push(...cls.parents);
  }
  return names;
}

/** Evaluates an embedded node_filter (`{ $expression }` clauses) with SELF the candidate node. */
async function passes(filter: Value, node: Entity, host: HostFunctions): Promise<boolean> {
  const clauses = Array.isArray(filter) ? filter : [filter];
  for (const clause of clauses) {
    const e =
      clause && typeof clause === 'object' && !Array.isArray(clause)
        ? clause.$expression
        : undefined;
    // A clause folded at compile time is its literal verdict.
    if (e === undefined) {
      if (clause !== true && clause !== null) return false;
      continue;
    }
    try {
      if ((await host.evaluate(e as unknown as Expression, { entity: node.id })) !== true)
        return false;
    } catch {
      return false;
    }
  }
  return true;
}

const byNumericName = (a: Entity, b: Entity) =>
  a.id.name.localeCompare(b.id.name, 'en', { numeric: true });

/** The 0-based rank of the node, among the representations of its template. */
async function nodeIndex(call: FunctionCall, host: HostFunctions): Promise<Value> {
  let e = await host.getEntity(call.site.entity);
  if (e && 'source' in e) e = await host.getEntity(e.source);
  else if (e && e.metadata['tosca.entity'] === 'capability' && 'parent' in e && e.parent)
    e = await host.getEntity(e.parent);
  if (!e) throw new ToscaFunctionError('node_index', 'no node here', call.site.entity);
  if (!('template' in e) || !e.template) return 0;
  const siblings = await host.query({ kind: 'vertex', template: e.template });
  return Math.max(
    0,
    siblings.sort(byNumericName).findIndex((v) => v.id.name === e?.id.name),
  );
}

/** The 0-based rank of the relationship, among those its requirement made from the same node. */
async function relationshipIndex(call: FunctionCall, host: HostFunctions): Promise<Value> {
  const e = await host.getEntity(call.site.entity);
  if (!e || !('source' in e))
    throw new ToscaFunctionError(
      'relationship_index',
      'only meaningful in a relationship',
      call.site.entity,
    );
  if (!('template' in e) || !e.template) return 0;
  const siblings = await host.query({ kind: 'edge', source: e.source, template: e.template });
  return Math.max(
    0,
    siblings.sort(byNumericName).findIndex((x) => x.id.name === e.id.name),
  );
}
