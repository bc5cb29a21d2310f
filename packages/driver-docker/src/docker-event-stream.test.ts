/**
 * The reconnecting event subscription, on a stand-in engine (the real daemon's restarts are in
 * `docker-driver.test.ts`): what wakes a reconnect, and that a connected stream needs no timer.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DockerEngine } from './docker-engine.js';
import { type DockerEvent, DockerEventStream } from './docker-event-stream.js';

/** An engine whose `/events` answers only while its socket file exists. */
function standIn(socketPath: string) {
  const streams: PassThrough[] = [];
  let attempts = 0;
  const engine = {
    socketPath,
    async events() {
      attempts++;
      if (!existsSync(socketPath)) throw new Error(`connect ENOENT ${socketPath}`);
      const stream = new PassThrough();
      streams.push(stream);
      return stream;
    },
  } as unknown as DockerEngine;
  return { engine, streams, attempts: () => attempts };
}

const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('DockerEventStream', () => {
  let directory: string;
  let socket: string;
  let stream: DockerEventStream | undefined;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'khutulun-docker-events-'));
    socket = join(directory, 'docker.sock');
  });

  afterEach(() => {
    stream?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('parses events line by line, across chunks, and resyncs after every connection', async () => {
    writeFileSync(socket, '');
    const { engine, streams } = standIn(socket);
    const events: DockerEvent[] = [];
    let resyncs = 0;
    stream = new DockerEventStream({
      engine,
      filters: {},
      onEvent: (e) => events.push(e),
      connected: async () => {
        resyncs++;
      },
      log: () => {},
    });
    await stream.started;
    expect(resyncs).toBe(1);
    const line = JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'a' } });
    streams[0]?.write(`${line}\n${line.slice(0, 10)}`);
    streams[0]?.write(`${line.slice(10)}\n`);
    await until(() => events.length === 2);
    streams[0]?.end();
    await until(() => resyncs === 2);
    expect(stream.connections).toBe(2);
  });

  it('reconnects as soon as the socket appears, long before its back-off', async () => {
    const { engine, streams, attempts } = standIn(socket);
    let resyncs = 0;
    stream = new DockerEventStream({
      engine,
      filters: {},
      onEvent: () => {},
      connected: async () => {
        resyncs++;
      },
      log: () => {},
    });
    await stream.started;
    expect(stream.connections).toBe(0);
    // The first retry is a second away; the socket's appearance wakes one at once.
    await new Promise((r) => setTimeout(r, 100));
    const before = attempts();
    const appeared = Date.now();
    writeFileSync(socket, '');
    await until(() => resyncs === 1, 900);
    expect(Date.now() - appeared).toBeLessThan(900);
    expect(attempts()).toBeGreaterThan(before);
    expect(streams).toHaveLength(1);
  });

  it('backs off, rather than spinning, while each stream ends as soon as it was accepted', async () => {
    writeFileSync(socket, '');
    const { engine, streams, attempts } = standIn(socket);
    stream = new DockerEventStream({
      engine,
      filters: {},
      onEvent: () => {},
      connected: async () => {
        // The daemon drops every subscription at once (the first 50: a spinning stream would
        // otherwise starve the test's own timer).
        if (attempts() < 50) streams.at(-1)?.end();
      },
      log: () => {},
    });
    await stream.started;
    // A reconnect at once would make thousands of attempts here; back-off: 1 s, then 2 s.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(attempts()).toBeGreaterThanOrEqual(2);
    expect(attempts()).toBeLessThanOrEqual(3);
  });
});
