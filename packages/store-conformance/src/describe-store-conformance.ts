import type { Entity, FloriaEvent, Store, StoreTransaction } from '@khutulun/floria';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  aClass,
  anEdge,
  anEdgeTemplate,
  aVertex,
  aVertexTemplate,
  collect,
  id,
} from './store-fixtures.js';

/** How a backend's test file plugs into the suite. */
export interface ConformanceOptions {
  /** Opens a fresh, empty store (called before every test). */
  open: () => Promise<Store>;
  /** Releases what `open` made, after the store was closed (e.g. drops a database). */
  cleanup?: (store: Store) => Promise<void>;
  /**
   * Opens a second store instance on the same database as `store`, to prove that a subscriber
   * sees commits made through another instance. Omitted by backends that have no shared database.
   */
  openPeer?: (store: Store) => Promise<Store>;
}

const names = (entities: Entity[]) => entities.map((e) => e.id.name).sort();
const types = (events: FloriaEvent[]) => events.map((e) => `${e.type} ${e.id.name}`);

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  throw new Error('expected a rejection');
}

/**
 * Registers the store conformance suite (vitest `describe`/`it`) for one backend: every
 * contract method, class descendants, containment, edges both ways, traversal depth,
 * direction and filters, cascading delete, transactions (rollback, isolation, serialization),
 * events and sequence numbers, the change feed and subscriptions.
 */
export function describeStoreConformance(name: string, options: ConformanceOptions): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;
    const extra: Store[] = [];

    beforeEach(async () => {
      store = await options.open();
    });

    afterEach(async () => {
      for (const peer of extra.splice(0)) await peer.close();
      await store.close();
      await options.cleanup?.(store);
    });

    describe('entities', () => {
      it('round-trips an entity exactly and reports a missing one as undefined', async () => {
        const vertex = aVertex('web', {
          directory: ['services', 'hello'],
          metadata: { owner: 'ops' },
          classes: ['server'],
          properties: {
            port: { value: 8080, readOnly: true, metadata: { unit: 'tcp' } },
            tags: { value: ['a', { nested: [1, 2.5, null, true] }] },
            name: {
              updater: {
                kind: 'call',
                plugin: 'core',
                function: 'concat',
                arguments: [{ kind: 'literal', value: 'x' }],
                lazy: true,
              },
            },
          },
        });
        await store.put(vertex);
        expect(await store.get(vertex.id)).toEqual(vertex);
        expect(await store.get(id('vertex', 'web', ['services']))).toBeUndefined();
        expect(await store.get(id('edge', 'web', ['services', 'hello']))).toBeUndefined();
      });

      it('keeps entities of different kinds, directories and odd names apart', async () => {
        const odd = aVertex('a/b%c', { directory: ['x/y', ''] });
        await store.put(odd);
        await store.put(aVertex('c', { directory: ['x', 'y', 'a', 'b'] }));
        await store.put(aClass('c'));
        expect(await store.get(odd.id)).toEqual(odd);
        expect((await store.get(id('class', 'c')))?.id.kind).toBe('class');
        expect(await store.query({ directory: ['x/y'], recursive: true })).toEqual([odd]);
      });

      it('replaces an entity on put and deletes it (true once, then false)', async () => {
        await store.put(aVertex('a', { metadata: { v: '1' } }));
        await store.put(aVertex('a', { metadata: { v: '2' } }));
        expect((await store.get(id('vertex', 'a')))?.metadata).toEqual({ v: '2' });
        expect(await store.delete(id('vertex', 'a'))).toBe(true);
        expect(await store.get(id('vertex', 'a'))).toBeUndefined();
        expect(await store.delete(id('vertex', 'a'))).toBe(false);
      });

      it('refuses a malformed entity with an invalid-entity error and stores nothing', async () => {
        const bad = { id: { kind: 'vertex', directory: [], name: '' }, metadata: {}, classes: [] };
        expect(await codeOf(store.put(bad as unknown as Entity))).toBe('invalid-entity');
        const badEdge = { ...anEdge('e', 'a', 'b'), source: { kind: 'nope' } };
        expect(await codeOf(store.put(badEdge as unknown as Entity))).toBe('invalid-entity');
        expect(await store.query({})).toEqual([]);
        expect(await store.lastSeq()).toBe(0);
      });

      it('does not let a caller change stored entities by mutating returned objects', async () => {
        await store.put(aVertex('a', { properties: { p: { value: [1] } } }));
        const got = (await store.get(id('vertex', 'a'))) as ReturnType<typeof aVertex>;
        (got.properties['p']!.value as number[]).push(2);
        got.metadata['x'] = 'y';
        expect(await store.get(id('vertex', 'a'))).toEqual(
          aVertex('a', { properties: { p: { value: [1] } } }),
        );
      });
    });

    describe('queries', () => {
      beforeEach(async () => {
        await store.transaction(async (tx) => {
          await tx.put(aVertex('root1'));
          await tx.put(aVertex('a1', { directory: ['a'], metadata: { tier: 'web', zone: 'x' } }));
          await tx.put(aVertex('a2', { directory: ['a'], metadata: { tier: 'db', zone: 'x' } }));
          await tx.put(aVertex('ab1', { directory: ['a', 'b'], metadata: { tier: 'web' } }));
          await tx.put(aVertex('abc1', { directory: ['a', 'b', 'c'] }));
          await tx.put(aVertex('ax1', { directory: ['ax'] }));
          await tx.put(aClass('k', [], ['a']));
          await tx.put(aVertex('i1', { directory: ['a'], template: id('vertex-template', 't') }));
        });
      });

      it('selects a directory, or its whole subtree with recursive (not a sibling prefix)', async () => {
        expect(names(await store.query({ directory: ['a'] }))).toEqual(['a1', 'a2', 'i1', 'k']);
        expect(names(await store.query({ directory: ['a'], recursive: true }))).toEqual([
          'a1',
          'a2',
          'ab1',
          'abc1',
          'i1',
          'k',
        ]);
        expect(names(await store.query({ directory: ['a', 'b'], recursive: true }))).toEqual([
          'ab1',
          'abc1',
        ]);
        expect(names(await store.query({ directory: [] }))).toEqual(['root1']);
        expect(await store.query({ directory: [], recursive: true })).toHaveLength(8);
      });

      it('selects by kind, metadata entries, template, and honours limit', async () => {
        expect(names(await store.query({ kind: 'class' }))).toEqual(['k']);
        expect(names(await store.query({ kind: 'vertex', directory: ['a'] }))).toEqual([
          'a1',
          'a2',
          'i1',
        ]);
        expect(names(await store.query({ metadata: { tier: 'web' } }))).toEqual(['a1', 'ab1']);
        expect(names(await store.query({ metadata: { tier: 'web', zone: 'x' } }))).toEqual(['a1']);
        expect(await store.query({ metadata: { tier: 'none' } })).toEqual([]);
        expect(names(await store.query({ template: id('vertex-template', 't') }))).toEqual(['i1']);
        expect(await store.query({ kind: 'vertex', limit: 3 })).toHaveLength(3);
        const limited = await store.query({ kind: 'vertex', metadata: { zone: 'x' }, limit: 1 });
        expect(limited).toHaveLength(1);
        expect(['a1', 'a2']).toContain(limited[0]!.id.name);
      });
    });

    describe('classes', () => {
      beforeEach(async () => {
        await store.transaction(async (tx) => {
          // thing <- machine <- server <- web-server; thing <- service; both <- hybrid
          await tx.put(aClass('thing'));
          await tx.put(aClass('machine', ['thing']));
          await tx.put(aClass('server', ['machine']));
          await tx.put(aClass('web-server', ['server']));
          await tx.put(aClass('service', ['thing']));
          await tx.put(aClass('hybrid', ['server', 'service']));
          await tx.put(aClass('unrelated'));
          await tx.put(aVertex('w', { classes: ['web-server'] }));
          await tx.put(aVertex('m', { classes: ['machine'] }));
          await tx.put(aVertex('h', { classes: ['hybrid'] }));
          await tx.put(aVertex('u', { classes: ['unrelated'] }));
          await tx.put(aVertex('none'));
        });
      });

      it('selects entities in a class or any of its descendants', async () => {
        expect(names(await store.query({ class: id('class', 'thing'), kind: 'vertex' }))).toEqual([
          'h',
          'm',
          'w',
        ]);
        expect(names(await store.query({ class: id('class', 'server') }))).toEqual(['h', 'w']);
        expect(names(await store.query({ class: id('class', 'service') }))).toEqual(['h']);
        expect(names(await store.query({ class: id('class', 'web-server') }))).toEqual(['w']);
        expect(await store.query({ class: id('class', 'missing') })).toEqual([]);
      });

      it('answers isInClass through ancestors, and not for siblings or descendants', async () => {
        expect(await store.isInClass(id('vertex', 'w'), id('class', 'thing'))).toBe(true);
        expect(await store.isInClass(id('vertex', 'w'), id('class', 'web-server'))).toBe(true);
        expect(await store.isInClass(id('vertex', 'h'), id('class', 'service'))).toBe(true);
        expect(await store.isInClass(id('vertex', 'm'), id('class', 'server'))).toBe(false);
        expect(await store.isInClass(id('vertex', 'w'), id('class', 'service'))).toBe(false);
        expect(await store.isInClass(id('vertex', 'none'), id('class', 'thing'))).toBe(false);
        expect(await store.isInClass(id('vertex', 'ghost'), id('class', 'thing'))).toBe(false);
      });

      it('follows a class re-parented later, and membership changed by a later put', async () => {
        await store.put(aClass('unrelated', ['service']));
        expect(await store.isInClass(id('vertex', 'u'), id('class', 'thing'))).toBe(true);
        await store.put(aVertex('w', { classes: [] }));
        expect(await store.isInClass(id('vertex', 'w'), id('class', 'thing'))).toBe(false);
        expect(names(await store.query({ class: id('class', 'thing') }))).toEqual(['h', 'm', 'u']);
      });
    });

    describe('containment and edges', () => {
      beforeEach(async () => {
        await store.transaction(async (tx) => {
          await tx.put(aClass('link'));
          await tx.put(aClass('hosted-on', ['link']));
          await tx.put(aVertex('host'));
          await tx.put(aVertex('app', { parent: id('vertex', 'host') }));
          await tx.put(aVertex('cfg', { parent: id('vertex', 'app') }));
          await tx.put(aVertex('db'));
          await tx.put(anEdge('app-db', 'app', 'db', ['link']));
          await tx.put(anEdge('app-host', 'app', 'host', ['hosted-on']));
          await tx.put(anEdge('host-db', 'host', 'db'));
          await tx.put(anEdge('cfg-db', 'cfg', 'db'));
        });
      });

      it('lists direct children only', async () => {
        expect(names(await store.children(id('vertex', 'host')))).toEqual(['app']);
        expect(names(await store.children(id('vertex', 'app')))).toEqual(['cfg']);
        expect(await store.children(id('vertex', 'db'))).toEqual([]);
        expect(names(await store.query({ parent: id('vertex', 'host') }))).toEqual(['app']);
      });

      it('lists edges out and in, optionally by class (with descendants)', async () => {
        expect(names(await store.edgesOut(id('vertex', 'app')))).toEqual(['app-db', 'app-host']);
        expect(names(await store.edgesIn(id('vertex', 'db')))).toEqual([
          'app-db',
          'cfg-db',
          'host-db',
        ]);
        expect(names(await store.edgesIn(id('vertex', 'host')))).toEqual(['app-host']);
        expect(
          names(await store.edgesOut(id('vertex', 'app'), { class: id('class', 'link') })),
        ).toEqual(['app-db', 'app-host']);
        expect(
          names(await store.edgesOut(id('vertex', 'app'), { class: id('class', 'hosted-on') })),
        ).toEqual(['app-host']);
        expect(
          await store.edgesIn(id('vertex', 'db'), { class: id('class', 'hosted-on') }),
        ).toEqual([]);
        expect(
          names(await store.query({ source: id('vertex', 'app'), target: id('vertex', 'db') })),
        ).toEqual(['app-db']);
      });

      it('keeps both directions consistent when an edge is re-pointed', async () => {
        await store.put(anEdge('app-db', 'app', 'host'));
        expect(names(await store.edgesIn(id('vertex', 'db')))).toEqual(['cfg-db', 'host-db']);
        expect(names(await store.edgesIn(id('vertex', 'host')))).toEqual(['app-db', 'app-host']);
      });

      it('deletes a vertex with its edges in and out and its children, recursively, with events', async () => {
        const since = await store.lastSeq();
        expect(await store.delete(id('vertex', 'app'))).toBe(true);
        expect(names(await store.query({ kind: 'vertex' }))).toEqual(['db', 'host']);
        expect(names(await store.query({ kind: 'edge' }))).toEqual(['host-db']);
        const events = await store.changes(since);
        expect(events.every((e) => e.type === 'removed')).toBe(true);
        expect(names(events.map((e) => ({ id: e.id }) as Entity))).toEqual([
          'app',
          'app-db',
          'app-host',
          'cfg',
          'cfg-db',
        ]);
        expect(events.at(-1)!.id.name).toBe('app');
      });

      it('deletes a vertex template with its nested templates and edge templates', async () => {
        await store.transaction(async (tx) => {
          await tx.put(aVertexTemplate('server'));
          await tx.put(aVertexTemplate('nic', 'server'));
          await tx.put(aVertexTemplate('disk'));
          await tx.put(anEdgeTemplate('server-disk', 'server', 'disk'));
          await tx.put(anEdgeTemplate('disk-server', 'disk', 'server'));
        });
        expect(names(await store.edgesIn(id('vertex-template', 'server')))).toEqual([
          'disk-server',
        ]);
        await store.delete(id('vertex-template', 'server'));
        expect(names(await store.query({ kind: 'vertex-template' }))).toEqual(['disk']);
        expect(await store.query({ kind: 'edge-template' })).toEqual([]);
      });
    });

    describe('traversal', () => {
      // a -> b -> c -> d -> e, a -> x (class "other"), d -> a (a cycle back), y -> a;
      // b is "special", c is not; "fast" edges are a->b, b->c.
      beforeEach(async () => {
        await store.transaction(async (tx) => {
          await tx.put(aClass('link'));
          await tx.put(aClass('fast', ['link']));
          await tx.put(aClass('node'));
          await tx.put(aClass('special', ['node']));
          for (const v of ['a', 'c', 'd', 'e', 'y'])
            await tx.put(aVertex(v, { classes: ['node'] }));
          await tx.put(aVertex('b', { classes: ['special'] }));
          await tx.put(aVertex('x'));
          await tx.put(anEdge('ab', 'a', 'b', ['fast']));
          await tx.put(anEdge('bc', 'b', 'c', ['fast']));
          await tx.put(anEdge('cd', 'c', 'd', ['link']));
          await tx.put(anEdge('de', 'd', 'e'));
          await tx.put(anEdge('ax', 'a', 'x'));
          await tx.put(anEdge('da', 'd', 'a'));
          await tx.put(anEdge('ya', 'y', 'a'));
        });
      });

      const steps = (s: Awaited<ReturnType<Store['traverse']>>) =>
        s.map((step) => `${step.vertex.id.name}@${step.depth} via ${step.via.id.name}`);

      it('follows edges out to a depth, each vertex once at its shortest depth, start excluded', async () => {
        expect(steps(await store.traverse({ from: id('vertex', 'a'), depth: 1 }))).toEqual([
          'b@1 via ab',
          'x@1 via ax',
        ]);
        expect(steps(await store.traverse({ from: id('vertex', 'a'), depth: 3 }))).toEqual([
          'b@1 via ab',
          'x@1 via ax',
          'c@2 via bc',
          'd@3 via cd',
        ]);
        expect(steps(await store.traverse({ from: id('vertex', 'a'), depth: 10 }))).toEqual([
          'b@1 via ab',
          'x@1 via ax',
          'c@2 via bc',
          'd@3 via cd',
          'e@4 via de',
        ]);
      });

      it('follows edges in, or both ways', async () => {
        expect(
          steps(await store.traverse({ from: id('vertex', 'a'), depth: 2, direction: 'in' })),
        ).toEqual(['d@1 via da', 'y@1 via ya', 'c@2 via cd']);
        expect(
          steps(await store.traverse({ from: id('vertex', 'c'), depth: 1, direction: 'both' })),
        ).toEqual(['b@1 via bc', 'd@1 via cd']);
        expect(
          steps(await store.traverse({ from: id('vertex', 'c'), depth: 2, direction: 'both' })).map(
            (s) => s.slice(0, 3),
          ),
        ).toEqual(['b@1', 'd@1', 'a@2', 'e@2']);
      });

      it('follows only edges in the edge class (or its descendants)', async () => {
        expect(
          steps(
            await store.traverse({
              from: id('vertex', 'a'),
              depth: 5,
              edgeClass: id('class', 'fast'),
            }),
          ),
        ).toEqual(['b@1 via ab', 'c@2 via bc']);
        expect(
          steps(
            await store.traverse({
              from: id('vertex', 'a'),
              depth: 5,
              edgeClass: id('class', 'link'),
            }),
          ),
        ).toEqual(['b@1 via ab', 'c@2 via bc', 'd@3 via cd']);
      });

      it('reaches and continues through only vertexes in the vertex class', async () => {
        expect(
          steps(
            await store.traverse({
              from: id('vertex', 'a'),
              depth: 5,
              vertexClass: id('class', 'node'),
            }),
          ),
        ).toEqual(['b@1 via ab', 'c@2 via bc', 'd@3 via cd', 'e@4 via de']);
        expect(
          steps(
            await store.traverse({
              from: id('vertex', 'a'),
              depth: 5,
              vertexClass: id('class', 'special'),
            }),
          ),
        ).toEqual(['b@1 via ab']);
      });

      it('returns the full vertex and edge entities, and nothing from an unknown vertex', async () => {
        const [first] = await store.traverse({ from: id('vertex', 'a'), depth: 1 });
        expect(first!.vertex).toEqual(aVertex('b', { classes: ['special'] }));
        expect(first!.via).toEqual(anEdge('ab', 'a', 'b', ['fast']));
        expect(await store.traverse({ from: id('vertex', 'ghost'), depth: 3 })).toEqual([]);
      });

      it('traverses templates through edge templates with id selectors', async () => {
        await store.transaction(async (tx) => {
          for (const t of ['t1', 't2', 't3']) await tx.put(aVertexTemplate(t));
          await tx.put(anEdgeTemplate('t1-t2', 't1', 't2'));
          await tx.put(anEdgeTemplate('t2-t3', 't2', 't3'));
        });
        expect(
          steps(await store.traverse({ from: id('vertex-template', 't1'), depth: 2 })),
        ).toEqual(['t2@1 via t1-t2', 't3@2 via t2-t3']);
      });
    });

    describe('transactions', () => {
      it('commits everything a transaction wrote, with its events, and returns its result', async () => {
        const result = await store.transaction(async (tx) => {
          await tx.put(aVertex('a'));
          await tx.put(aVertex('b'));
          await tx.emit({ type: 'hello', id: id('vertex', 'a'), data: { n: 1 } });
          return 42;
        });
        expect(result).toBe(42);
        expect(names(await store.query({}))).toEqual(['a', 'b']);
        expect(types(await store.changes(0))).toEqual(['added a', 'added b', 'hello a']);
      });

      it('rolls back every write and event when the work throws, and rethrows its error', async () => {
        await store.put(aVertex('keep', { metadata: { v: '1' } }));
        const before = await store.lastSeq();
        const boom = new Error('boom');
        await expect(
          store.transaction(async (tx) => {
            await tx.put(aVertex('new'));
            await tx.put(aVertex('keep', { metadata: { v: '2' } }));
            await tx.emit({ type: 'custom', id: id('vertex', 'new') });
            expect(names(await tx.query({}))).toEqual(['keep', 'new']);
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(names(await store.query({}))).toEqual(['keep']);
        expect((await store.get(id('vertex', 'keep')))?.metadata).toEqual({ v: '1' });
        expect(await store.lastSeq()).toBe(before);
        expect(await store.changes(before)).toEqual([]);
      });

      it('rolls back a cascading delete when the work throws', async () => {
        await store.transaction(async (tx) => {
          await tx.put(aVertex('p'));
          await tx.put(aVertex('q', { parent: id('vertex', 'p') }));
          await tx.put(anEdge('pq', 'p', 'q'));
        });
        await expect(
          store.transaction(async (tx) => {
            await tx.delete(id('vertex', 'p'));
            expect(await tx.query({})).toEqual([]);
            throw new Error('undo');
          }),
        ).rejects.toThrow('undo');
        expect(names(await store.query({}))).toEqual(['p', 'pq', 'q']);
      });

      it('sees its own writes inside, while outside reads see them only after commit', async () => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let inside!: () => void;
        const started = new Promise<void>((resolve) => {
          inside = resolve;
        });
        const running = store.transaction(async (tx) => {
          await tx.put(aVertex('a'));
          expect(await tx.get(id('vertex', 'a'))).toBeDefined();
          expect(names(await tx.query({ kind: 'vertex' }))).toEqual(['a']);
          inside();
          await gate;
        });
        await started;
        expect(await store.get(id('vertex', 'a'))).toBeUndefined();
        expect(await store.query({ kind: 'vertex' })).toEqual([]);
        release();
        await running;
        expect(await store.get(id('vertex', 'a'))).toBeDefined();
      });

      it('serializes concurrent transactions (read-modify-write loses no update)', async () => {
        await store.put(aVertex('counter', { properties: { n: { value: 0 } } }));
        const bump = () =>
          store.transaction(async (tx) => {
            const v = (await tx.get(id('vertex', 'counter'))) as ReturnType<typeof aVertex>;
            await new Promise((resolve) => setTimeout(resolve, 1));
            const n = v.properties['n']!.value as number;
            await tx.put(aVertex('counter', { properties: { n: { value: n + 1 } } }));
          });
        await Promise.all(Array.from({ length: 20 }, bump));
        const v = (await store.get(id('vertex', 'counter'))) as ReturnType<typeof aVertex>;
        expect(v.properties['n']!.value).toBe(20);
        const changed = (await store.changes(0)).filter((e) => e.type === 'property-changed');
        expect(changed.map((e) => (e.data as { new: number }).new)).toEqual(
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
      });

      it('keeps going after a failed transaction', async () => {
        await expect(store.transaction(async () => Promise.reject(new Error('x')))).rejects.toThrow(
          'x',
        );
        await store.put(aVertex('after'));
        expect(names(await store.query({}))).toEqual(['after']);
      });

      it('refuses a nested transaction on the same store, and a transaction object used after its end', async () => {
        let leaked!: StoreTransaction;
        await store.transaction(async (tx) => {
          leaked = tx;
          expect(await codeOf(store.transaction(async () => undefined))).toBe('nested-transaction');
        });
        expect(await codeOf(leaked.put(aVertex('late')))).toBe('transaction-closed');
        expect(await codeOf(leaked.get(id('vertex', 'late')))).toBe('transaction-closed');
        expect(await store.query({})).toEqual([]);
      });

      it('refuses every operation after close with a store-closed error', async () => {
        await store.put(aVertex('a'));
        await store.close();
        expect(await codeOf(store.get(id('vertex', 'a')))).toBe('store-closed');
        expect(await codeOf(store.query({}))).toBe('store-closed');
        expect(await codeOf(store.put(aVertex('b')))).toBe('store-closed');
        expect(await codeOf(store.changes(0))).toBe('store-closed');
        expect(await codeOf(store.lastSeq())).toBe('store-closed');
      });

      it('loads many entities at once with putMany, with the events of single puts', async () => {
        await store.put(aVertex('v0', { metadata: { old: 'yes' } }));
        const before = await store.lastSeq();
        await store.transaction(async (tx) => {
          const bulk = tx as StoreTransaction & { putMany?: (e: Entity[]) => Promise<void> };
          expect(typeof bulk.putMany).toBe('function');
          await bulk.putMany!([
            ...Array.from({ length: 50 }, (_, i) => aVertex(`v${i}`)),
            anEdge('e', 'v1', 'v2'),
            aVertex('v1', { metadata: { again: 'yes' } }),
          ]);
        });
        expect(await store.query({ kind: 'vertex' })).toHaveLength(50);
        expect((await store.get(id('vertex', 'v1')))?.metadata).toEqual({ again: 'yes' });
        const events = types(await store.changes(before));
        expect(events[0]).toBe('updated v0');
        expect(events.slice(1, 51)).toEqual(
          Array.from({ length: 50 }, (_, i) => `added v${i}`)
            .slice(1)
            .concat('added e'),
        );
        expect(events.slice(51)).toEqual(['updated v1']);
      });
    });

    describe('events and the change feed', () => {
      it('numbers events strictly increasing and records added, updated, property-changed, removed', async () => {
        await store.put(
          aVertex('a', { properties: { p: { value: 1 }, q: { value: 'x' }, r: { value: true } } }),
        );
        await store.put(
          aVertex('a', { properties: { p: { value: 2 }, q: { value: 'x' }, s: { value: [1] } } }),
        );
        await store.delete(id('vertex', 'a'));
        const events = await store.changes(0);
        expect(types(events)).toEqual([
          'added a',
          'updated a',
          'property-changed a',
          'property-changed a',
          'property-changed a',
          'removed a',
        ]);
        for (let i = 1; i < events.length; i++)
          expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
        expect(events[0]!.seq).toBeGreaterThan(0);
        const changed = events.filter((e) => e.type === 'property-changed').map((e) => e.data);
        expect(changed).toEqual(
          expect.arrayContaining([
            { property: 'p', old: 1, new: 2 },
            { property: 'r', old: true },
            { property: 's', new: [1] },
          ]),
        );
        expect(changed).toHaveLength(3);
        for (const e of events) {
          expect(e.id).toEqual(id('vertex', 'a'));
          expect(Number.isNaN(Date.parse(e.time))).toBe(false);
        }
        expect(await store.lastSeq()).toBe(events.at(-1)!.seq);
      });

      it('carries each removed entity, as it was, in its removed event (cascades too)', async () => {
        const host = aVertex('host', {
          metadata: { zone: 'a' },
          properties: { cpus: { value: 4 }, tags: { value: ['x', { y: 1.5 }] } },
        });
        const app = aVertex('app', { parent: host.id });
        const link = anEdge('app-host', 'app', 'host');
        await store.transaction(async (tx) => {
          for (const entity of [host, app, link]) await tx.put(entity);
        });
        const since = await store.lastSeq();
        await store.delete(host.id);
        const events = await store.changes(since);
        expect(events.every((e) => e.type === 'removed')).toBe(true);
        expect(events.map((e) => e.data)).toEqual(
          expect.arrayContaining([{ entity: link }, { entity: app }, { entity: host }]),
        );
        expect(events).toHaveLength(3);
        expect(events.at(-1)!.data).toEqual({ entity: host });
      });

      it('records events as they were when written, whatever the caller changes later', async () => {
        const list = [1];
        const vertex = aVertex('a', { properties: { l: { value: list } } });
        const data = { n: 1 };
        await store.transaction(async (tx) => {
          await tx.put(vertex);
          const next = [...list, 2];
          await tx.put(aVertex('a', { properties: { l: { value: next } } }));
          next.push(99);
          await tx.emit({ type: 'note', id: vertex.id, data });
          list.push(99);
          vertex.id.name = 'renamed';
          data.n = 2;
        });
        const events = await store.changes(0);
        expect(types(events)).toEqual(['added a', 'updated a', 'property-changed a', 'note a']);
        expect(events[2]!.data).toEqual({ property: 'l', old: [1], new: [1, 2] });
        expect(events[3]!.data).toEqual({ n: 1 });
        expect(await store.get(id('vertex', 'a'))).toEqual(
          aVertex('a', { properties: { l: { value: [1, 2] } } }),
        );
      });

      it('records nothing for a put that changes nothing', async () => {
        await store.put(aVertex('a', { properties: { p: { value: { x: 1, y: 2 } } } }));
        const seq = await store.lastSeq();
        await store.put(aVertex('a', { properties: { p: { value: { y: 2, x: 1 } } } }));
        expect(await store.lastSeq()).toBe(seq);
      });

      it('serves changes from a sequence number, with a limit', async () => {
        expect(await store.lastSeq()).toBe(0);
        expect(await store.changes(0)).toEqual([]);
        for (const n of ['a', 'b', 'c', 'd']) await store.put(aVertex(n));
        const all = await store.changes(0);
        expect(types(all)).toEqual(['added a', 'added b', 'added c', 'added d']);
        expect(types(await store.changes(all[1]!.seq))).toEqual(['added c', 'added d']);
        expect(types(await store.changes(all[0]!.seq, 2))).toEqual(['added b', 'added c']);
        expect(await store.changes(all[3]!.seq)).toEqual([]);
      });

      it('stores custom events with their data', async () => {
        await store.transaction((tx) =>
          tx.emit({ type: 'restarted', id: id('vertex', 'ghost'), data: { code: 3, why: ['x'] } }),
        );
        const [event] = await store.changes(0);
        expect(event).toMatchObject({
          type: 'restarted',
          id: id('vertex', 'ghost'),
          data: { code: 3, why: ['x'] },
        });
      });

      it('delivers the backlog then live events to a subscriber, in order, without duplicates', async () => {
        for (const n of ['a', 'b', 'c']) await store.put(aVertex(n));
        const [first] = await store.changes(0);
        const sub = collect(store, first!.seq);
        const writes = (async () => {
          for (const n of ['d', 'e', 'f', 'g']) await store.put(aVertex(n));
          await store.transaction(async (tx) => {
            await tx.put(aVertex('h'));
            await tx.emit({ type: 'custom', id: id('vertex', 'h') });
          });
        })();
        await writes;
        const events = await sub.until(8);
        expect(types(events)).toEqual([
          'added b',
          'added c',
          'added d',
          'added e',
          'added f',
          'added g',
          'added h',
          'custom h',
        ]);
        await store.put(aVertex('i'));
        await sub.until(9);
        sub.stop();
        await store.put(aVertex('j'));
        // A later subscriber proves j was committed; the stopped one must not have seen it.
        const late = collect(store, 0);
        await late.until(10);
        late.stop();
        expect(types(sub.events)).toHaveLength(9);
        const seqs = sub.events.map((e) => e.seq);
        expect(new Set(seqs).size).toBe(seqs.length);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      });

      it('does not deliver rolled-back events, and keeps delivering to other listeners when one throws', async () => {
        const thrower = collect(store, 0);
        const stopBad = store.subscribe(0, () => {
          throw new Error('listener failure');
        });
        await expect(
          store.transaction(async (tx) => {
            await tx.put(aVertex('ghost'));
            throw new Error('rollback');
          }),
        ).rejects.toThrow('rollback');
        await store.put(aVertex('real'));
        await store.put(aVertex('real2'));
        expect(types(await thrower.until(2))).toEqual(['added real', 'added real2']);
        stopBad();
        thrower.stop();
      });

      it('gives many concurrent subscribers the same complete sequence', async () => {
        const subs = Array.from({ length: 5 }, (_, i) => collect(store, i === 0 ? 0 : 0));
        await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(aVertex(`v${i}`))));
        const all = await store.changes(0);
        for (const sub of subs) {
          expect((await sub.until(10)).map((e) => e.seq)).toEqual(all.map((e) => e.seq));
          sub.stop();
        }
      });

      if (options.openPeer) {
        const openPeer = options.openPeer;
        it('delivers commits made through another store instance on the same database', async () => {
          const peer = await openPeer(store);
          extra.push(peer);
          await store.put(aVertex('mine'));
          const sub = collect(store, 0);
          await sub.until(1);
          await peer.put(aVertex('theirs'));
          await peer.transaction(async (tx) => {
            await tx.put(aVertex('theirs2'));
            await tx.emit({ type: 'custom', id: id('vertex', 'theirs2') });
          });
          // Nothing committed through `store` since: only the peer's commits can wake it.
          expect(types(await sub.until(4))).toHaveLength(4);
          await store.put(aVertex('mine2'));
          expect(types(await sub.until(5))).toEqual([
            'added mine',
            'added theirs',
            'added theirs2',
            'custom theirs2',
            'added mine2',
          ]);
          expect(await peer.get(id('vertex', 'mine2'))).toBeDefined();
          sub.stop();
        });

        it('serializes transactions across store instances (no lost update)', async () => {
          const peer = await openPeer(store);
          extra.push(peer);
          await store.put(aVertex('counter', { properties: { n: { value: 0 } } }));
          const bump = (s: Store) =>
            s.transaction(async (tx) => {
              const v = (await tx.get(id('vertex', 'counter'))) as ReturnType<typeof aVertex>;
              const n = v.properties['n']!.value as number;
              await tx.put(aVertex('counter', { properties: { n: { value: n + 1 } } }));
            });
          await Promise.all(Array.from({ length: 10 }, (_, i) => bump(i % 2 ? store : peer)));
          const v = (await store.get(id('vertex', 'counter'))) as ReturnType<typeof aVertex>;
          expect(v.properties['n']!.value).toBe(10);
        });
      }
    });
  });
}
