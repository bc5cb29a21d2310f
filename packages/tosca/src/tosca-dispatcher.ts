import type { Dispatcher, Entity, FunctionCall, HostFunctions, Id, Value } from '@khutulun/floria';
import { evaluatePure, FunctionError, PURE_FUNCTIONS } from './builtin-functions.js';

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

type Current = { entity: Entity } | { list: Entity[] };

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
            return await getValue(fn, args, call, host);
          case 'get_input':
            return await getInput(args, call, host);
          case 'find_target':
            return await findTarget(args[0] ?? {}, call, host);
          case 'node_index':
          case 'relationship_index': {
            const self = await host.getEntity(call.site.entity);
            const idx = self?.metadata['floria.index'] ?? self?.metadata['tosca.index'];
            return idx === undefined ? 0 : Number(idx);
          }
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
        if (e instanceof ToscaFunctionError) throw e;
        if (e instanceof FunctionError)
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

async function getValue(
  fn: string,
  args: Value[],
  call: FunctionCall,
  host: HostFunctions,
): Promise<Value> {
  const [first, ...rest] = args;
  const origin = await start(first, call, host);
  if (!origin) throw new ToscaFunctionError(fn, `${String(first)} not found`, call.site.entity);
  let cur: Current = { entity: origin };
  let i = 0;
  const fanOut = async (step: (e: Entity) => Promise<Entity[]>): Promise<Current> => {
    const from = 'entity' in cur ? [cur.entity] : cur.list;
    const next: Entity[] = [];
    for (const e of from) next.push(...(await step(e)));
    return { list: next };
  };
  const one = (c: Current): Current =>
    'list' in c && c.list.length === 1 && c.list[0] ? { entity: c.list[0] } : c;
  for (;;) {
    const tok = rest[i];
    if (tok === 'CAPABILITY') {
      const name = rest[i + 1];
      cur = one(
        await fanOut(async (e) => {
          if ('target' in e && name === undefined) {
            const t = await host.getEntity(e.target);
            return t ? [t] : [];
          }
          const children = await host.query({
            kind: e.id.kind === 'vertex' ? 'vertex' : 'vertex-template',
            parent: e.id,
            metadata: { 'tosca.name': String(name) },
          });
          return children;
        }),
      );
      i += name === undefined ? 1 : 2;
      continue;
    }
    if (
      tok === 'RELATIONSHIP' ||
      (typeof tok === 'string' &&
        i + 1 < rest.length &&
        (typeof rest[i + 1] === 'number' || rest[i + 1] === 'ALL') &&
        tok !== 'TARGET' &&
        tok !== 'SOURCE')
    ) {
      const req = tok === 'RELATIONSHIP' ? rest[i + 1] : tok;
      const sel = tok === 'RELATIONSHIP' ? rest[i + 2] : rest[i + 1];
      const relOnly = tok === 'RELATIONSHIP';
      cur = await fanOut(async (e) => {
        const edges = await host.query({
          kind: e.id.kind === 'vertex' ? 'edge' : 'edge-template',
          source: e.id,
          metadata: { 'tosca.requirement': String(req) },
        });
        edges.sort(
          (a, b) => Number(a.metadata['tosca.index'] ?? 0) - Number(b.metadata['tosca.index'] ?? 0),
        );
        const picked =
          sel === 'ALL'
            ? edges
            : typeof sel === 'number'
              ? edges[sel]
                ? [edges[sel] as Entity]
                : []
              : edges.slice(0, 1);
        if (relOnly) return picked;
        const targets: Entity[] = [];
        for (const edge of picked) {
          const t =
            'target' in edge
              ? edge.target
              : 'selector' in edge && edge.selector.kind === 'id'
                ? edge.selector.id
                : undefined;
          const te = t ? await nodeOf(await host.getEntity(t), host) : undefined;
          if (te) targets.push(te);
        }
        return targets;
      });
      if (sel !== 'ALL') cur = one(cur);
      i += tok === 'RELATIONSHIP' ? (typeof sel === 'number' || sel === 'ALL' ? 3 : 2) : 2;
      continue;
    }
    if (tok === 'TARGET' || tok === 'SOURCE') {
      cur = one(
        await fanOut(async (e) => {
          if (!('source' in e)) return [];
          if (tok === 'SOURCE') {
            const s = await host.getEntity(e.source);
            return s ? [s] : [];
          }
          const t =
            'target' in e
              ? e.target
              : 'selector' in e && e.selector.kind === 'id'
                ? e.selector.id
                : undefined;
          const te = t ? await nodeOf(await host.getEntity(t), host) : undefined;
          return te ? [te] : [];
        }),
      );
      i += 1;
      continue;
    }
    break;
  }
  const name = rest[i];
  if (typeof name !== 'string')
    throw new ToscaFunctionError(
      fn,
      'the path does not name a property or attribute',
      call.site.entity,
    );
  const indexes = rest.slice(i + 1);
  const read = (e: Entity): Value => {
    const p = 'properties' in e ? e.properties[name] : undefined;
    if (!p)
      throw new ToscaFunctionError(
        fn,
        `${e.id.name} has no ${fn === 'get_property' ? 'property' : 'attribute'} ${name}`,
        call.site.entity,
      );
    return walk(p.value ?? null, indexes, fn, call);
  };
  return 'entity' in cur ? read(cur.entity) : cur.list.map(read);
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

async function findTarget(spec: Value, call: FunctionCall, host: HostFunctions): Promise<Value> {
  const s = (spec && typeof spec === 'object' && !Array.isArray(spec) ? spec : {}) as Record<
    string,
    Value
  >;
  const dir = call.site.entity.directory;
  const query: Parameters<HostFunctions['query']>[0] = {
    kind: 'vertex',
    metadata: { 'tosca.entity': 'capability' },
  };
  if (typeof s.capability_type === 'string')
    query.class = { kind: 'class', directory: dir, name: `capability:${s.capability_type}` };
  if (typeof s.capability === 'string')
    query.metadata = { 'tosca.entity': 'capability', 'tosca.name': s.capability };
  const caps = await host.query(query);
  const out: Value[] = [];
  for (const c of caps) {
    if (typeof s.node_type === 'string' && 'parent' in c && c.parent) {
      const parent = await host.getEntity(c.parent);
      const want = `node:${s.node_type}`;
      if (!parent?.classes.some((k) => k.name === want)) continue;
    }
    out.push(c.id as unknown as Value);
  }
  return out;
}
