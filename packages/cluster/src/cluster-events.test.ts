import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterEvent, ClusterEvents } from './cluster-events.js';
import { connectNats } from './nats-connection.js';
import { type NatsServer, startNatsServer } from './testing/nats-server.js';

let nats: NatsServer;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const joined = (host: string, epoch: number): ClusterEvent => ({
  type: 'host-joined',
  host,
  epoch,
  address: '10.0.0.1',
  at: new Date().toISOString(),
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('cluster events on JetStream', () => {
  it('stores each decision once by its id, and resumes a subscriber after the last sequence it handled, across a server restart', async () => {
    const nc = await connectNats({ servers: nats.url, user: nats.user, password: nats.password });
    const events = await ClusterEvents.open(nc, { cluster: 'events-test' });
    // Opening again (another agent) keeps the stream.
    await ClusterEvents.open(nc, { cluster: 'events-test' });
    expect(await events.publish(joined('a', 1), 'host-joined:a:1')).toEqual({
      sequence: 1,
      duplicate: false,
    });
    expect(await events.publish(joined('a', 1), 'host-joined:a:1')).toEqual({
      sequence: 1,
      duplicate: true,
    });
    await events.publish(joined('b', 1), 'host-joined:b:1');
    await events.publish(joined('c', 1), 'host-joined:c:1');

    const all: string[] = [];
    const fromAll = await events.subscribe((e, seq) => {
      all.push(`${seq} ${e.host}`);
    }, 'all');
    const resumed: string[] = [];
    const afterOne = await events.subscribe(
      (e, seq) => {
        resumed.push(`${seq} ${e.host}`);
      },
      { afterSequence: 1 },
    );
    const fresh: string[] = [];
    const fromNew = await events.subscribe((e, seq) => {
      fresh.push(`${seq} ${e.host}`);
    }, 'new');
    await until(() => all.length === 3 && resumed.length === 2);
    expect(all).toEqual(['1 a', '2 b', '3 c']);
    expect(resumed).toEqual(['2 b', '3 c']);

    // The server restarts: the stream is on disk, the subscribers resume where they were.
    await nats.restart();
    await until(() => !nc.isClosed() && nc.info !== undefined);
    let published = false;
    while (!published) {
      try {
        await events.publish(joined('d', 1), 'host-joined:d:1');
        published = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await until(() => all.length === 4 && resumed.length === 3 && fresh.length === 1);
    expect(all.at(-1)).toBe('4 d');
    expect(resumed.at(-1)).toBe('4 d');
    expect(fresh).toEqual(['4 d']);
    await Promise.all([fromAll.stop(), afterOne.stop(), fromNew.stop()]);
    await nc.close();
  });
});
