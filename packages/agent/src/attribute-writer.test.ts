import type { Id, Vertex } from '@khutulun/floria';
import { openMemoryStore } from '@khutulun/store-memory';
import { describe, expect, it } from 'vitest';
import { AttributeWriter } from './attribute-writer.js';

const id: Id & { kind: 'vertex' } = {
  kind: 'vertex',
  directory: ['services', 'web', 'instances'],
  name: 'web-1',
};

async function storeWithHost(host: string | undefined) {
  const store = openMemoryStore();
  const vertex: Vertex = {
    id,
    metadata: {},
    classes: [],
    properties: host === undefined ? {} : { host: { value: host } },
  };
  await store.transaction((tx) => tx.put(vertex));
  return store;
}

describe('AttributeWriter: writes fenced by ownership', () => {
  it("writes, with its events, while the workload's host is the writer's (or it has none)", async () => {
    for (const host of ['host-a', undefined]) {
      const store = await storeWithHost(host);
      const writer = new AttributeWriter(store);
      expect(
        await writer.writeAsOwner('host-a', id, { state: 'fenced' }, { type: 'workload-fenced' }),
      ).toBe(true);
      expect(((await store.get(id)) as Vertex).properties.state?.value).toBe('fenced');
      expect((await store.changes(0)).map((e) => e.type)).toContain('workload-fenced');
    }
  });

  it('refuses a write from a host the workload was replaced or moved away from, recording nothing', async () => {
    const store = await storeWithHost('host-b');
    const writer = new AttributeWriter(store);
    const before = (await store.changes(0)).length;
    // One batch: the refused write does not hold back the others in its transaction.
    const other: Id = { ...id, name: 'web-2' };
    await store.transaction((tx) =>
      tx.put({ id: other, metadata: {}, classes: [], properties: {} } as Vertex),
    );
    const [refused, written] = await Promise.all([
      writer.writeAsOwner('host-a', id, { state: 'replaced' }, { type: 'workload-replaced' }),
      writer.writeAsOwner('host-a', other, { state: 'running' }),
    ]);
    expect([refused, written]).toEqual([false, true]);
    const vertex = (await store.get(id)) as Vertex;
    expect(vertex.properties.state).toBeUndefined();
    expect(vertex.properties.host?.value).toBe('host-b');
    const events = (await store.changes(0)).slice(before);
    expect(events.some((e) => e.type === 'workload-replaced')).toBe(false);
    expect(((await store.get(other)) as Vertex).properties.state?.value).toBe('running');
  });
});
