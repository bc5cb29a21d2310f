/**
 * Floria's core (instantiate, update, events, access scopes) against a real store, written
 * once and run against the memory, SQLite and PostgreSQL stores (the `*.test.ts` beside it).
 */
import {
  call,
  type Edge,
  type EdgeTemplate,
  type Entity,
  EventRouter,
  type FloriaEvent,
  FunctionRegistry,
  type Id,
  idKey,
  instantiate,
  isFloriaError,
  list,
  literal,
  makeId,
  registerBuiltinFunctions,
  ScopedStore,
  type Store,
  update,
  type Value,
  type Vertex,
  type VertexTemplate,
} from '@khutulun/floria';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const TEMPLATES = ['services', 'shop', 'templates'];
const INTO = ['services', 'shop', 'instances'];

const vt = (name: string, extra: Partial<VertexTemplate> = {}): VertexTemplate => ({
  id: makeId('vertex-template', TEMPLATES, name),
  metadata: {},
  classes: [],
  properties: {},
  ...extra,
});

const et = (
  name: string,
  source: string,
  selector: EdgeTemplate['selector'],
  extra: Partial<EdgeTemplate> = {},
): EdgeTemplate => ({
  id: makeId('edge-template', TEMPLATES, name),
  metadata: {},
  classes: [],
  source: makeId('vertex-template', TEMPLATES, source),
  selector,
  properties: {},
  ...extra,
});

const instance = (name: string) => makeId('vertex', INTO, name);
const names = (entities: Entity[]) => entities.map((entity) => entity.id.name).sort();

async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** Everything the store holds, for "nothing was written" checks. */
async function snapshot(store: Store) {
  return {
    entities: names(await store.query({})),
    lastSeq: await store.lastSeq(),
  };
}

/** How to get stores of one backend. */
export interface ScenarioBackend {
  /** A new, empty store. */
  open(): Promise<Store>;
  /** Another store instance on the same data (as a restarted process would open it), if persistent. */
  reopen?(store: Store): Promise<Store>;
}

export function describeFloriaScenarios(backend: string, { open, reopen }: ScenarioBackend): void {
  describe(`Floria core on the ${backend} store`, () => {
    let store: Store;
    let registry: FunctionRegistry;

    beforeEach(async () => {
      store = await open();
      registry = registerBuiltinFunctions(new FunctionRegistry());
    });

    afterEach(async () => {
      await store.close();
    });

    /** Instantiates every template of the shop directory into the instances directory. */
    const instantiateAll = () =>
      instantiate(store, { templates: { directory: TEMPLATES }, into: INTO, dispatcher: registry });

    const shop = async () => {
      const compute = makeId('class', ['types'], 'compute');
      const root = makeId('class', ['types'], 'root');
      await store.transaction(async (tx) => {
        await tx.put({ id: root, metadata: {}, classes: [], parents: [] });
        await tx.put({ id: compute, metadata: {}, classes: [], parents: [root] });
        await tx.put(
          vt('web', {
            count: { initial: 2 },
            classes: [compute],
            metadata: { tier: 'front' },
            properties: { port: { value: 8080, metadata: { unit: 'port' } } },
            eventHandlers: [{ events: ['custom'], plugin: 'test', function: 'seen' }],
          }),
        );
        await tx.put(vt('sidecar', { parent: makeId('vertex-template', TEMPLATES, 'web') }));
        await tx.put(vt('db', { properties: { port: { value: 5432 } } }));
        await tx.put(
          et(
            'uses',
            'web',
            { kind: 'id', id: makeId('vertex-template', TEMPLATES, 'db') },
            {
              properties: { weight: { value: 1 } },
            },
          ),
        );
      });
      return { compute, root };
    };

    describe('instantiate', () => {
      it('makes counted, nested, named instances and edges by selector, with their events', async () => {
        const { compute } = await shop();
        const before = await store.lastSeq();
        const made = await instantiateAll();
        expect(names(made.vertexes)).toEqual(['db-1', 'sidecar-1', 'sidecar-2', 'web-1', 'web-2']);
        expect(names(made.edges)).toEqual(['uses-1', 'uses-2']);

        const web1 = (await store.get(instance('web-1'))) as Vertex;
        expect(web1).toMatchObject({
          template: makeId('vertex-template', TEMPLATES, 'web'),
          classes: [compute],
          metadata: { tier: 'front' },
          properties: { port: { value: 8080, metadata: { unit: 'port' } } },
        });
        expect(web1.parent).toBeUndefined();
        expect(await store.isInClass(web1.id, makeId('class', ['types'], 'root'))).toBe(true);

        const sidecarParents = (
          await store.query({
            kind: 'vertex',
            template: makeId('vertex-template', TEMPLATES, 'sidecar'),
          })
        )
          .map((sidecar) => idKey((sidecar as Vertex).parent as Id))
          .sort();
        expect(sidecarParents).toEqual([idKey(instance('web-1')), idKey(instance('web-2'))]);
        expect(names(await store.children(instance('web-2')))).toHaveLength(1);

        const edges = (await store.edgesIn(instance('db-1'))) as Edge[];
        expect(edges.map((edge) => idKey(edge.source)).sort()).toEqual([
          idKey(instance('web-1')),
          idKey(instance('web-2')),
        ]);
        expect(edges[0]?.properties).toEqual({ weight: { value: 1 } });

        const added = (await store.changes(before)).filter((event) => event.type === 'added');
        expect(added).toHaveLength(7);
      });

      it('takes templates by id, and numbers a second instantiation on', async () => {
        await shop();
        const web = makeId('vertex-template', TEMPLATES, 'web');
        await instantiate(store, { templates: [web], into: INTO, dispatcher: registry });
        const again = await instantiate(store, {
          templates: [web],
          into: INTO,
          dispatcher: registry,
        });
        expect(names(again.vertexes)).toEqual(['web-3', 'web-4']);
      });

      it('resolves an id selector to existing instances when the template is not instantiated now', async () => {
        await shop();
        await instantiate(store, {
          templates: [makeId('vertex-template', TEMPLATES, 'db')],
          into: INTO,
          dispatcher: registry,
        });
        const made = await instantiate(store, {
          templates: [
            makeId('vertex-template', TEMPLATES, 'web'),
            makeId('edge-template', TEMPLATES, 'uses'),
          ],
          into: INTO,
          dispatcher: registry,
        });
        expect(made.edges.map((edge) => idKey(edge.target))).toEqual([
          idKey(instance('db-1')),
          idKey(instance('db-1')),
        ]);
      });

      it('a missing target names the edge template and the selector, and nothing is written', async () => {
        await shop();
        await store.put(
          et('backup', 'db', { kind: 'id', id: makeId('vertex-template', ['elsewhere'], 'vault') }),
        );
        const before = await snapshot(store);
        const error = await rejection(instantiateAll());
        expect(isFloriaError(error, 'target-not-found')).toBe(true);
        expect(error.edgeTemplate).toEqual(makeId('edge-template', TEMPLATES, 'backup'));
        expect(error.selector).toEqual({
          kind: 'id',
          id: makeId('vertex-template', ['elsewhere'], 'vault'),
        });
        expect(String(error.message)).toMatch(/backup.*vault/);
        expect(await snapshot(store)).toEqual(before);
      });

      it('a missing vertex target is reported too', async () => {
        await shop();
        await store.put(
          et('logs', 'db', { kind: 'id', id: makeId('vertex', ['infra'], 'syslog') }),
        );
        const error = await rejection(instantiateAll());
        expect(error).toMatchObject({ code: 'target-not-found' });
        expect(String(error.message)).toMatch(/no vertex vertex:infra\/syslog/);
      });

      it('a finder call chooses targets (ids or id keys) with the source as call site', async () => {
        await shop();
        const syslog = makeId('vertex', ['infra'], 'syslog');
        const metrics = makeId('vertex', ['infra'], 'metrics');
        for (const id of [syslog, metrics]) {
          await store.put({ id, metadata: { role: 'sink' }, classes: [], properties: {} });
        }
        const sites: Value[] = [];
        registry.register('test:sinks', async (args, { call: c, host }) => {
          sites.push(idKey(c.site.entity));
          const found = await host.query({ kind: 'vertex', metadata: { role: args[0] as string } });
          return found.map((entity, index) => (index === 0 ? idKey(entity.id) : { ...entity.id }));
        });
        await store.put(
          et('ships', 'db', { kind: 'finder', call: call('test:sinks', [literal('sink')]) }),
        );
        const made = await instantiateAll();
        const ships = made.edges.filter((edge) => edge.id.name.startsWith('ships'));
        expect(ships.map((edge) => idKey(edge.target)).sort()).toEqual([
          idKey(metrics),
          idKey(syslog),
        ]);
        expect(sites).toEqual([idKey(instance('db-1'))]);
      });

      it('a finder that finds nothing, or fails, is a missing target', async () => {
        await shop();
        registry.register('test:none', () => []);
        await store.put(et('ships', 'db', { kind: 'finder', call: call('test:none') }));
        const before = await snapshot(store);
        const error = await rejection(instantiateAll());
        expect(error).toMatchObject({ code: 'target-not-found' });
        expect(String(error.message)).toMatch(/finder test:none/);
        expect(await snapshot(store)).toEqual(before);

        registry.register('test:none', () => {
          throw new Error('directory offline');
        });
        const failed = await rejection(instantiateAll());
        expect(failed).toMatchObject({ code: 'target-not-found' });
        expect(String(failed.message)).toMatch(/directory offline/);
      });

      it('an optional edge template makes no edge where nothing is found, but still fails on a failing finder', async () => {
        await shop();
        registry.register('test:none', () => []);
        await store.put(
          et('ships', 'db', { kind: 'finder', call: call('test:none') }, { optional: true }),
        );
        await store.put(vt('spare', { count: { initial: 0 } }));
        await store.put(
          et(
            'backs',
            'db',
            { kind: 'id', id: makeId('vertex-template', TEMPLATES, 'spare') },
            { optional: true },
          ),
        );
        const made = await instantiateAll();
        expect(names(made.edges)).toEqual(['uses-1', 'uses-2']);

        registry.register('test:none', () => {
          throw new Error('directory offline');
        });
        const failed = await rejection(instantiateAll());
        expect(failed).toMatchObject({ code: 'target-not-found' });
        expect(String(failed.message)).toMatch(/directory offline/);
      });

      it('an instantiator adapts its template for this instantiation only', async () => {
        await shop();
        registry.register('site:adapt', (args) => {
          const template = args[0] as unknown as VertexTemplate;
          return {
            ...template,
            count: { initial: 3 },
            properties: { ...template.properties, port: { value: 9000 } },
          } as unknown as Value;
        });
        const web = makeId('vertex-template', TEMPLATES, 'web');
        const stored = (await store.get(web)) as VertexTemplate;
        await store.put({ ...stored, instantiator: { plugin: 'site', function: 'adapt' } });
        const made = await instantiate(store, {
          templates: [web],
          into: INTO,
          dispatcher: registry,
        });
        expect(made.vertexes.map((vertex) => vertex.properties['port']?.value)).toEqual([
          9000, 9000, 9000,
        ]);
        expect(((await store.get(web)) as VertexTemplate).properties['port']?.value).toBe(8080);
      });

      it('a failing instantiator writes nothing and names the template', async () => {
        await shop();
        registry.register('site:adapt', () => {
          throw new Error('no capacity');
        });
        const db = makeId('vertex-template', TEMPLATES, 'db');
        const stored = (await store.get(db)) as VertexTemplate;
        await store.put({ ...stored, instantiator: { plugin: 'site', function: 'adapt' } });
        const before = await snapshot(store);
        const error = await rejection(instantiateAll());
        expect(error).toMatchObject({ code: 'instantiation-failed', template: db });
        expect(String(error.message)).toMatch(/no capacity/);
        expect(await snapshot(store)).toEqual(before);
      });

      it('plugins get the host function overrides the caller passes', async () => {
        await shop();
        const logged: string[] = [];
        registry.register('site:adapt', (_args, { host }) => {
          host.log('info', 'adapting');
          return null;
        });
        const db = makeId('vertex-template', TEMPLATES, 'db');
        await store.put({
          ...((await store.get(db)) as VertexTemplate),
          instantiator: { plugin: 'site', function: 'adapt' },
        });
        await instantiate(store, {
          templates: [db],
          into: INTO,
          dispatcher: registry,
          host: { log: (level, message) => logged.push(`${level}: ${message}`) },
        });
        expect(logged).toEqual(['info: adapting']);
      });

      it('an id selector picks the nearest instances: those in the same container as the source', async () => {
        const web = makeId('vertex-template', TEMPLATES, 'web');
        const port = makeId('vertex-template', TEMPLATES, 'web/capabilities/port');
        await store.put(vt('web', { count: { initial: 2 } }));
        await store.put(vt('web/capabilities/port', { parent: web }));
        await store.put(vt('sidecar', { parent: web }));
        await store.put(vt('monitor'));
        await store.put(et('sidecar/requirements/0/proxy', 'sidecar', { kind: 'id', id: port }));
        await store.put(et('monitor/requirements/0/watch', 'monitor', { kind: 'id', id: port }));
        const made = await instantiateAll();
        const parentOf = new Map(
          made.vertexes.map((vertex) => [
            idKey(vertex.id),
            vertex.parent ? idKey(vertex.parent) : '',
          ]),
        );
        const proxies = made.edges.filter((edge) => edge.id.name.includes('proxy'));
        expect(proxies).toHaveLength(2);
        for (const edge of proxies) {
          expect(parentOf.get(idKey(edge.target))).toBe(parentOf.get(idKey(edge.source)));
        }
        const watches = made.edges.filter((edge) => edge.id.name.includes('watch'));
        expect(watches.map((edge) => edge.target.name).sort()).toEqual([
          'web/capabilities/port-1',
          'web/capabilities/port-2',
        ]);
      });

      it('a nested template whose parent is instantiated zero times makes nothing', async () => {
        await store.put(vt('web', { count: { initial: 0 } }));
        await store.put(vt('sidecar', { parent: makeId('vertex-template', TEMPLATES, 'web') }));
        const made = await instantiateAll();
        expect(made.vertexes).toEqual([]);
        await expect(
          instantiate(store, {
            templates: [makeId('vertex-template', TEMPLATES, 'sidecar')],
            into: INTO,
            dispatcher: registry,
          }),
        ).rejects.toMatchObject({
          code: 'instantiation-failed',
          message: expect.stringMatching(/no instances/),
        });
      });

      // Each case prepares templates; they are instantiated by directory, or by the ids given.
      it.each<[string, (ids: { web: Id }) => Promise<void>, RegExp, Id[]?]>([
        [
          'a nesting cycle',
          async ({ web }) => {
            await store.put(vt('web', { parent: makeId('vertex-template', TEMPLATES, 'sidecar') }));
            await store.put(vt('sidecar', { parent: web }));
          },
          /nesting cycle/,
        ],
        [
          'an instantiator returning something else',
          async () => {
            registry.register('site:adapt', () => 'not a template');
            await store.put(vt('web', { instantiator: { plugin: 'site', function: 'adapt' } }));
          },
          /not a vertex template/,
        ],
        [
          'a finder returning something else',
          async () => {
            registry.register('test:find', () => [42]);
            await store.put(vt('web'));
            await store.put(et('uses', 'web', { kind: 'finder', call: call('test:find') }));
          },
          /42, which is not an id/,
        ],
        [
          'a selector naming a class',
          async () => {
            await store.put(vt('web'));
            await store.put(et('uses', 'web', { kind: 'id', id: makeId('class', [], 'x') }));
          },
          /neither a vertex nor a vertex template/,
        ],
        [
          'a template id that is not a template',
          async () => {
            await store.put({
              id: makeId('vertex', TEMPLATES, 'web'),
              metadata: {},
              classes: [],
              properties: {},
            });
          },
          /a vertex is not a template/,
          [makeId('vertex', TEMPLATES, 'web')],
        ],
      ])('refuses %s and writes nothing', async (_name, prepare, message, ids) => {
        await prepare({ web: makeId('vertex-template', TEMPLATES, 'web') });
        const templates = ids ?? { directory: TEMPLATES };
        const before = await snapshot(store);
        await expect(
          instantiate(store, { templates, into: INTO, dispatcher: registry }),
        ).rejects.toThrow(message);
        expect(await snapshot(store)).toEqual(before);
      });

      it('refuses bad counts, and allows zero', async () => {
        await store.put(vt('none', { count: { initial: 0 } }));
        const made = await instantiateAll();
        expect(made.vertexes).toEqual([]);
        await store.put(vt('too-many', { count: { initial: 5, max: 3 } }));
        await expect(instantiateAll()).rejects.toMatchObject({ code: 'instantiation-failed' });
      });
    });

    describe('update', () => {
      it('evaluates updaters then validators, collects every problem, and writes the rest', async () => {
        const db = makeId('vertex', INTO, 'db-1');
        const web = makeId('vertex', INTO, 'web-1');
        await store.put({
          id: db,
          metadata: {},
          classes: [],
          properties: { host: { value: 'db.local' }, port: { value: 5432 } },
        });
        const inRange = call('floria:in_range', [call('floria:value'), literal([1, 65535])]);
        await store.put({
          id: web,
          metadata: {},
          classes: [],
          properties: {
            url: {
              updater: call('floria:concat', [
                literal('postgres://'),
                call('floria:get_property', [literal(idKey(db)), literal('host')]),
                literal(':'),
                call('floria:get_property', [literal(idKey(db)), literal('port')]),
              ]),
            },
            port: {
              value: 80,
              updater: call('floria:sum', [call('floria:value'), literal(70000)]),
              validator: inRange,
            },
            replicas: { value: 2, validator: list(literal('too few'), literal('and odd')) },
            broken: { value: 'old', updater: call('nowhere:nothing') },
            named: {
              value: 'ok',
              validator: call('floria:pattern', [call('floria:value'), literal('[a-z]+')]),
            },
          },
        });
        const before = await store.lastSeq();
        const result = await update(store, {
          ids: [web, makeId('vertex', INTO, 'ghost')],
          dispatcher: registry,
        });

        const summary = result.problems.map((p) => [
          p.entity.name,
          p.path.join('.'),
          p.stage,
          p.message,
        ]);
        expect(summary).toEqual([
          ['ghost', '', 'missing', 'no such entity'],
          ['web-1', 'broken', 'updater', expect.stringMatching(/unknown function nowhere:nothing/)],
          ['web-1', 'port', 'validator', 'invalid value'],
          ['web-1', 'replicas', 'validator', 'too few'],
          ['web-1', 'replicas', 'validator', 'and odd'],
        ]);
        expect(result.problems[1]).toMatchObject({ plugin: 'nowhere', function: 'nothing' });
        expect(result.changed).toEqual([web]);

        const stored = (await store.get(web)) as Vertex;
        expect(stored.properties['url']?.value).toBe('postgres://db.local:5432');
        expect(stored.properties['port']?.value).toBe(80);
        expect(stored.properties['broken']?.value).toBe('old');
        expect(stored.properties['url']?.updater).toBeDefined();

        const changes = (await store.changes(before)).filter(
          (event) => event.type === 'property-changed',
        );
        expect(changes.map((event) => event.data)).toEqual([
          { property: 'url', new: 'postgres://db.local:5432' },
        ]);
      });

      it('sets a read-only property once, then reports attempts to change it', async () => {
        const v = makeId('vertex', INTO, 'v');
        registry.register('test:input', () => input);
        let input: Value = 'first';
        await store.put({
          id: v,
          metadata: {},
          classes: [],
          properties: { id: { updater: call('test:input'), readOnly: true } },
        });
        expect((await update(store, { ids: [v], dispatcher: registry })).problems).toEqual([]);
        input = 'second';
        const result = await update(store, { ids: [v], dispatcher: registry });
        expect(result.problems).toMatchObject([{ path: ['id'], stage: 'read-only' }]);
        expect(result.changed).toEqual([]);
        expect(((await store.get(v)) as Vertex).properties['id']?.value).toBe('first');
        input = 'first';
        expect((await update(store, { ids: [v], dispatcher: registry })).problems).toEqual([]);
      });

      it('updates what a query selects, reading earlier results in the same update', async () => {
        for (const name of ['a', 'b']) {
          await store.put({
            id: makeId('vertex', INTO, name),
            metadata: { role: 'counter' },
            classes: [],
            properties: {
              n: { value: 1, updater: call('floria:sum', [call('floria:value'), literal(1)]) },
            },
          });
        }
        await store.put({
          id: makeId('vertex', INTO, 'other'),
          metadata: {},
          classes: [],
          properties: { n: { value: 1, updater: literal(100) } },
        });
        const result = await update(store, {
          query: { kind: 'vertex', metadata: { role: 'counter' } },
          dispatcher: registry,
        });
        expect(result.changed.map((id) => id.name).sort()).toEqual(['a', 'b']);
        expect(
          ((await store.get(makeId('vertex', INTO, 'other'))) as Vertex).properties['n']?.value,
        ).toBe(1);
      });

      it('refuses graph changes from updaters', async () => {
        registry.register('test:sneaky', async (_args, { host }) => {
          await host.delete(makeId('vertex', INTO, 'v'));
          return 1;
        });
        const v = makeId('vertex', INTO, 'v');
        await store.put({
          id: v,
          metadata: {},
          classes: [],
          properties: { x: { updater: call('test:sneaky') } },
        });
        const result = await update(store, { ids: [v], dispatcher: registry });
        expect(result.problems[0]?.message).toMatch(/denied/);
        expect(await store.get(v)).toBeDefined();
      });
    });

    describe('events', () => {
      const routers: EventRouter[] = [];
      afterEach(() => {
        for (const router of routers.splice(0)) router.stop();
      });

      const startRouter = (since: number, handled: number[], errors: unknown[] = []) => {
        const router = new EventRouter({
          store,
          dispatcher: registry,
          since,
          onHandled: (seq) => {
            handled.push(seq);
          },
          onError: (error) => errors.push(error),
        });
        routers.push(router);
        router.start();
        return router;
      };

      it('calls the handlers of the entity and of its template, with the event and graph changes', async () => {
        const calls: Array<[string, string, Value[]]> = [];
        registry.register('test:seen', (args, { call: c }) => {
          const event = args[0] as unknown as FloriaEvent;
          calls.push(['seen', `${event.type}:${event.id.name}`, args.slice(1) as Value[]]);
          expect(c.event?.seq).toBe(event.seq);
        });
        registry.register('test:mirror', async (args, { host }) => {
          const event = args[0] as unknown as FloriaEvent;
          calls.push(['mirror', `${event.type}:${event.id.name}`, args.slice(1) as Value[]]);
          const data = event.data as { new: Value };
          await host.put({
            id: makeId('vertex', INTO, 'mirror'),
            metadata: {},
            classes: [],
            properties: { copy: { value: data.new } },
          });
          const seen = await host.getEntity(makeId('vertex', INTO, 'mirror'));
          expect(seen).toBeDefined();
        });
        const template = vt('watched', {
          eventHandlers: [
            {
              events: ['property-changed'],
              plugin: 'test',
              function: 'mirror',
              arguments: [call('floria:self')],
            },
            { events: [], plugin: 'test', function: 'seen' },
          ],
        });
        await store.put(template);
        const handled: number[] = [];
        const router = startRouter(await store.lastSeq(), handled);
        await instantiate(store, { templates: [template.id], into: INTO, dispatcher: registry });
        const watched = (await store.get(instance('watched-1'))) as Vertex;
        await store.put({ ...watched, properties: { size: { value: 3 } } });
        await router.whenHandled(await store.lastSeq());

        const self = { kind: 'vertex', directory: INTO, name: 'watched-1' };
        expect(calls).toEqual([
          ['seen', 'added:watched-1', []],
          ['seen', 'updated:watched-1', []],
          ['mirror', 'property-changed:watched-1', [self]],
          ['seen', 'property-changed:watched-1', []],
        ]);
        // Copied handlers (instance) and declared ones (template) are called once each.
        expect(calls.filter(([, what]) => what === 'added:watched-1')).toHaveLength(1);
        expect(
          ((await store.get(makeId('vertex', INTO, 'mirror'))) as Vertex).properties['copy']?.value,
        ).toBe(3);
        expect(handled).toEqual([...handled].sort((a, b) => a - b));
        expect(handled.at(-1)).toBe(router.lastHandled);
      });

      it('calls the removed handlers of a deleted vertex with the vertex as it was', async () => {
        const removed: Array<[string, Value]> = [];
        registry.register('test:gone', (args) => {
          const event = args[0] as unknown as FloriaEvent;
          const entity = (event.data as unknown as { entity: Vertex }).entity;
          removed.push([
            `${event.type}:${event.id.name}`,
            entity.properties['port']?.value ?? null,
          ]);
        });
        const doomed: Vertex = {
          id: instance('doomed'),
          metadata: {},
          classes: [],
          properties: { port: { value: 8080 } },
          eventHandlers: [{ events: ['removed'], plugin: 'test', function: 'gone' }],
        };
        await store.put(doomed);
        const router = startRouter(0, []);
        await store.delete(doomed.id);
        await router.whenHandled(await store.lastSeq());
        expect(removed).toEqual([['removed:doomed', 8080]]);
      });

      it('a restarted router resumes after the last handled event: nothing missed, nothing twice', async () => {
        const seen: number[] = [];
        registry.register('test:count', (args) => {
          seen.push((args[0] as unknown as FloriaEvent).seq);
        });
        const counted = (name: string): Vertex => ({
          id: makeId('vertex', INTO, name),
          metadata: {},
          classes: [],
          properties: {},
          eventHandlers: [{ events: ['added', 'custom'], plugin: 'test', function: 'count' }],
        });
        const handled: number[] = [];
        let router = startRouter(0, handled);
        await store.put(counted('a'));
        await router.whenHandled(await store.lastSeq());
        router.stop();
        const saved = handled.at(-1) ?? 0;

        // While no router runs, changes keep coming.
        await store.put(counted('b'));
        await store.transaction((tx) =>
          tx.emit({ type: 'custom', id: makeId('vertex', INTO, 'a') }),
        );

        router = startRouter(saved, handled);
        await store.put(counted('c'));
        await router.whenHandled(await store.lastSeq());
        expect(seen).toHaveLength(4);
        expect(new Set(seen).size).toBe(4);
        expect(seen).toEqual([...seen].sort((a, b) => a - b));
      });

      // Only persistent backends can be reopened (the memory store dies with its process).
      if (reopen) {
        it('a router of a restarted process resumes from the saved sequence number (persistent stores)', async () => {
          const seen: string[] = [];
          registry.register('test:count', (args) => {
            const event = args[0] as unknown as FloriaEvent;
            seen.push(`${event.type}:${event.id.name}`);
          });
          const counted = (name: string): Vertex => ({
            id: makeId('vertex', INTO, name),
            metadata: {},
            classes: [],
            properties: {},
            eventHandlers: [{ events: ['added'], plugin: 'test', function: 'count' }],
          });
          let saved = 0;
          const first = new EventRouter({
            store,
            dispatcher: registry,
            onHandled: (seq) => {
              saved = seq;
            },
          });
          first.start();
          await store.put(counted('before'));
          await first.whenHandled(await store.lastSeq());
          first.stop();
          await store.put(counted('while-down'));

          const again = await reopen(store);
          try {
            const second = new EventRouter({ store: again, dispatcher: registry, since: saved });
            second.start();
            await again.put(counted('after'));
            await second.whenHandled(await again.lastSeq());
            second.stop();
          } finally {
            await again.close();
          }
          expect(seen).toEqual(['added:before', 'added:while-down', 'added:after']);
        });
      }

      it('a failing handler becomes a handler-failed event; its writes are dropped; the router goes on', async () => {
        registry.register('test:fail', async (_args, { host }) => {
          await host.put({
            id: makeId('vertex', INTO, 'half-done'),
            metadata: {},
            classes: [],
            properties: {},
          });
          throw new Error('disk full');
        });
        const later: string[] = [];
        registry.register('test:later', (args) => {
          later.push((args[0] as unknown as FloriaEvent).id.name);
        });
        const failing: Vertex = {
          id: makeId('vertex', INTO, 'failing'),
          metadata: {},
          classes: [],
          properties: {},
          eventHandlers: [{ events: [], plugin: 'test', function: 'fail' }],
        };
        const errors: unknown[] = [];
        const router = startRouter(0, [], errors);
        await store.put(failing);
        await store.put({
          ...failing,
          id: makeId('vertex', INTO, 'fine'),
          eventHandlers: [{ events: ['added'], plugin: 'test', function: 'later' }],
        });
        await router.whenHandled(await store.lastSeq());
        // The handler-failed event itself was handled too (and its failure not re-emitted).
        await router.whenHandled(await store.lastSeq());

        expect(later).toEqual(['fine']);
        expect(await store.get(makeId('vertex', INTO, 'half-done'))).toBeUndefined();
        const failures = (await store.changes(0)).filter(
          (event) => event.type === 'handler-failed',
        );
        expect(failures).toHaveLength(1);
        expect(failures[0]?.data).toMatchObject({
          plugin: 'test',
          function: 'fail',
          message: 'disk full',
          event: { type: 'added' },
        });
        expect(errors.length).toBeGreaterThanOrEqual(1);
      });

      it('routes events about edges to the edge handlers and those of its template', async () => {
        const seen: string[] = [];
        registry.register('test:edge', (args) => {
          const event = args[0] as unknown as FloriaEvent;
          seen.push(`${event.type}:${event.id.name}`);
        });
        await store.put(vt('web'));
        await store.put(vt('db'));
        await store.put(
          et(
            'uses',
            'web',
            { kind: 'id', id: makeId('vertex-template', TEMPLATES, 'db') },
            {
              eventHandlers: [{ events: ['added', 'custom'], plugin: 'test', function: 'edge' }],
            },
          ),
        );
        const router = startRouter(await store.lastSeq(), []);
        const made = await instantiateAll();
        const edge = made.edges[0] as Edge;
        await store.transaction((tx) =>
          tx.emit({ type: 'custom', id: edge.id, data: { why: 'test' } }),
        );
        await router.whenHandled(await store.lastSeq());
        expect(seen).toEqual(['added:uses-1', 'custom:uses-1']);
      });

      it('each router handles only the entities it accepts (one router per host)', async () => {
        const seen: string[] = [];
        registry.register('test:where', (args, { call: c }) => {
          seen.push(`${String(args[1])}:${c.site.entity.name}`);
        });
        const onHost = (host: string) =>
          new EventRouter({
            store,
            dispatcher: registry,
            since: 0,
            accepts: (entity) => entity.metadata['host'] === host,
          });
        const routers = [onHost('alpha'), onHost('beta')];
        for (const router of routers) router.start();
        const placed: Array<[string, string]> = [
          ['a1', 'alpha'],
          ['b1', 'beta'],
          ['a2', 'alpha'],
        ];
        for (const [name, host] of placed) {
          await store.put({
            id: makeId('vertex', INTO, name),
            metadata: { host },
            classes: [],
            properties: {},
            eventHandlers: [
              {
                events: ['added'],
                plugin: 'test',
                function: 'where',
                arguments: [literal(host)],
              },
            ],
          });
        }
        const last = await store.lastSeq();
        await Promise.all(routers.map((router) => router.whenHandled(last)));
        for (const router of routers) router.stop();
        expect(seen.sort()).toEqual(['alpha:a1', 'alpha:a2', 'beta:b1']);
      });

      it('a handler whose arguments fail to evaluate fails like a handler', async () => {
        let called = false;
        registry.register('test:never', () => {
          called = true;
        });
        const router = startRouter(0, []);
        await store.put({
          id: makeId('vertex', INTO, 'bad-args'),
          metadata: {},
          classes: [],
          properties: {},
          eventHandlers: [
            {
              events: ['added'],
              plugin: 'test',
              function: 'never',
              arguments: [call('nowhere:x')],
            },
          ],
        });
        await router.whenHandled(await store.lastSeq());
        await router.whenHandled(await store.lastSeq());
        expect(called).toBe(false);
        const failures = (await store.changes(0)).filter(
          (event) => event.type === 'handler-failed',
        );
        expect(failures.map((event) => event.data)).toMatchObject([
          { function: 'never', message: expect.stringMatching(/nowhere:x/) },
        ]);
      });
    });

    it('instances need not keep matching their templates', async () => {
      await shop();
      const web = makeId('vertex-template', TEMPLATES, 'web');
      await instantiate(store, { templates: [web], into: INTO, dispatcher: registry });
      const template = (await store.get(web)) as VertexTemplate;
      await store.put({ ...template, properties: { port: { value: 1 } }, classes: [] });
      const vertex = (await store.get(instance('web-1'))) as Vertex;
      expect(vertex.properties['port']?.value).toBe(8080);
      await store.put({ ...vertex, properties: { other: { value: 'mine' } }, classes: [] });
      expect(((await store.get(instance('web-1'))) as Vertex).properties).toEqual({
        other: { value: 'mine' },
      });
      expect(((await store.get(instance('web-2'))) as Vertex).properties['port']?.value).toBe(8080);
    });

    describe('access scopes', () => {
      it('a ScopedStore sees and writes only its subtree', async () => {
        const inside = makeId('vertex', ['tenants', 'a', 'apps'], 'web');
        const outside = makeId('vertex', ['tenants', 'b'], 'db');
        const root = makeId('vertex', [], 'top');
        for (const id of [inside, outside, root]) {
          await store.put({ id, metadata: { all: 'yes' }, classes: [], properties: {} });
        }
        const scoped = new ScopedStore(store, ['tenants', 'a']);
        expect(await scoped.get(inside)).toBeDefined();
        expect(await scoped.get(outside)).toBeUndefined();
        expect(names(await scoped.query({ metadata: { all: 'yes' } }))).toEqual(['web']);
        expect(names(await scoped.query({ directory: ['tenants'], recursive: true }))).toEqual([
          'web',
        ]);
        expect(await scoped.query({ directory: ['tenants', 'b'] })).toEqual([]);
        expect(await scoped.query({ directory: [] })).toEqual([]);

        const denied = await rejection(
          scoped.put({ id: outside, metadata: {}, classes: [], properties: {} }),
        );
        expect(isFloriaError(denied, 'access-denied')).toBe(true);
        expect(denied).toMatchObject({ id: outside, scope: ['tenants', 'a'] });
        await expect(scoped.delete(outside)).rejects.toMatchObject({ code: 'access-denied' });
        const edge: Edge = {
          id: makeId('edge', ['tenants', 'a'], 'reaches-out'),
          metadata: {},
          classes: [],
          source: inside,
          target: outside,
          properties: {},
        };
        await expect(scoped.put(edge)).rejects.toMatchObject({
          code: 'access-denied',
          id: outside,
        });
        await expect(
          scoped.transaction(async (tx) => {
            await tx.put({
              id: makeId('vertex', ['tenants', 'a'], 'ok'),
              metadata: {},
              classes: [],
              properties: {},
            });
            await tx.emit({ type: 'custom', id: outside });
          }),
        ).rejects.toMatchObject({ code: 'access-denied' });
        expect(await store.get(makeId('vertex', ['tenants', 'a'], 'ok'))).toBeUndefined();
        expect(await store.get(outside)).toBeDefined();

        const feed = await scoped.changes(0);
        expect(feed.map((event) => event.id.name)).toEqual(['web']);
        expect((await scoped.changes(0, 1)).map((event) => event.id.name)).toEqual(['web']);
      });

      it('a ScopedStore leaves outside vertexes out of graph reads', async () => {
        const a = makeId('vertex', ['tenants', 'a'], 'app');
        const b = makeId('vertex', ['tenants', 'a'], 'cache');
        const foreign = makeId('vertex', ['tenants', 'b'], 'db');
        for (const id of [a, b, foreign])
          await store.put({ id, metadata: {}, classes: [], properties: {} });
        await store.put({
          id: makeId('vertex', ['tenants', 'a'], 'child'),
          metadata: {},
          classes: [],
          parent: a,
          properties: {},
        });
        const link = (name: string, directory: string[], source: Id, target: Id): Edge => ({
          id: makeId('edge', directory, name),
          metadata: {},
          classes: [],
          source,
          target,
          properties: {},
        });
        await store.put(link('to-cache', ['tenants', 'a'], a, b));
        await store.put(link('to-foreign', ['tenants', 'b'], a, foreign));
        await store.put(link('from-foreign', ['tenants', 'b'], foreign, a));
        const scoped = new ScopedStore(store, ['tenants', 'a']);
        expect(names(await scoped.edgesOut(a))).toEqual(['to-cache']);
        expect(await scoped.edgesIn(a)).toEqual([]);
        expect(await scoped.edgesOut(foreign)).toEqual([]);
        expect(names(await scoped.children(a))).toEqual(['child']);
        const steps = await scoped.traverse({ from: a, depth: 2, direction: 'both' });
        expect(steps.map((step) => step.vertex.id.name)).toEqual(['cache']);
        expect(await scoped.traverse({ from: foreign, depth: 1 })).toEqual([]);
        expect(await scoped.isInClass(foreign, makeId('class', [], 'any'))).toBe(false);
      });

      it('a ScopedStore delivers only its subtree from the change feed, and close stops it', async () => {
        const scoped = new ScopedStore(store, ['tenants', 'a']);
        const seen: string[] = [];
        let resolveSeen: () => void = () => {};
        const gotTwo = new Promise<void>((resolve) => {
          resolveSeen = resolve;
        });
        scoped.subscribe(0, (event) => {
          seen.push(event.id.name);
          if (seen.length === 2) resolveSeen();
        });
        await store.put({
          id: makeId('vertex', ['tenants', 'b'], 'x'),
          metadata: {},
          classes: [],
          properties: {},
        });
        await store.put({
          id: makeId('vertex', ['tenants', 'a'], 'y'),
          metadata: {},
          classes: [],
          properties: {},
        });
        await store.put({
          id: makeId('vertex', ['tenants', 'a', 'deep'], 'z'),
          metadata: {},
          classes: [],
          properties: {},
        });
        await gotTwo;
        expect(seen).toEqual(['y', 'z']);
        await scoped.close();
        await store.put({
          id: makeId('vertex', ['tenants', 'a'], 'after'),
          metadata: {},
          classes: [],
          properties: {},
        });
        // Delivery to a live subscriber is asynchronous: wait for one that is still subscribed.
        await new Promise<void>((resolve) => {
          const stop = store.subscribe(0, (event) => {
            if (event.id.name === 'after') {
              stop();
              resolve();
            }
          });
        });
        expect(seen).toEqual(['y', 'z']);
      });

      it('instantiating through a scope into a directory outside it is refused, and writes nothing', async () => {
        await shop();
        const scoped = new ScopedStore(store, ['services', 'shop']);
        const before = await snapshot(store);
        await expect(
          instantiate(scoped, {
            templates: { directory: TEMPLATES },
            into: ['services', 'other'],
            dispatcher: registry,
          }),
        ).rejects.toMatchObject({ code: 'access-denied' });
        expect(await snapshot(store)).toEqual(before);
        const made = await instantiate(scoped, {
          templates: { directory: TEMPLATES },
          into: INTO,
          dispatcher: registry,
        });
        expect(made.vertexes).toHaveLength(5);
      });
    });
  });
}
