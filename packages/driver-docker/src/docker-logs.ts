/**
 * A container's output from the json-file log: demultiplexed, by stream, with its last lines,
 * and, following, across the container's restarts until aborted: when a run ends, it waits
 * for the next start (an event, not a poll) and reads on after the latest message it gave
 * (by the messages' own timestamps, with `since`, so nothing repeats).
 */
import type { Readable } from 'node:stream';
import type { LogChunk, LogOptions } from '@khutulun/driver';
import { isRunning, nanos, sinceParameter } from './container-state.js';
import type { DockerEngine } from './docker-engine.js';
import { FrameDecoder } from './docker-frames.js';

/** What `readLogs` needs from its driver. */
export interface LogWaits {
  /** Resolves at the container's next `start` or `destroy` event, or when `signal` aborts. */
  nextStart(signal: AbortSignal | undefined): { promise: Promise<void>; cancel(): void };
  /** Whether the driver was closed (following then ends). */
  closed(): boolean;
  /** Runs an Engine API call, turning its failure into the driver's error. */
  call<T>(doing: string, work: () => Promise<T>): Promise<T>;
}

/** The output of container `id` (which exists), per `options`. */
export async function* readLogs(
  engine: DockerEngine,
  id: string,
  options: LogOptions,
  waits: LogWaits,
): AsyncIterable<LogChunk> {
  const which = options.stream ?? 'both';
  const { signal } = options;
  // The daemon counts `tail` over both streams; for one stream the last lines are kept here.
  const serverTail = which === 'both' ? options.tail : undefined;
  const clientTail = which === 'both' ? undefined : options.tail;
  let lastNs = -1n;
  const fresh = (decoder: FrameDecoder, chunk: Buffer): LogChunk[] => {
    const out: LogChunk[] = [];
    for (const frame of decoder.push(chunk)) {
      const space = frame.data.indexOf(0x20);
      // The file is not in time order across the two streams: no filtering here (`since`
      // does it on a resumed read), only the latest time seen.
      const at = nanos(frame.data.subarray(0, space).toString('latin1'));
      if (at > lastNs) lastNs = at;
      out.push({ stream: frame.stream, data: frame.data.subarray(space + 1) });
    }
    return out;
  };
  const read = (follow: boolean, tail?: number) =>
    waits.call('reading its logs', () =>
      engine.logs(id, {
        stdout: which !== 'stderr',
        stderr: which !== 'stdout',
        follow,
        timestamps: true,
        ...(tail !== undefined ? { tail } : {}),
        ...(lastNs >= 0n ? { since: sinceParameter(lastNs) } : {}),
      }),
    );
  if (clientTail !== undefined) {
    // What exists now, of which the last lines; then (following) what comes after them.
    const backlog = await read(false);
    if (Buffer.isBuffer(backlog)) yield* fresh(new FrameDecoder(), backlog).slice(-clientTail);
    if (!options.follow) return;
  }
  for (let first = true; ; first = false) {
    const source = await read(options.follow ?? false, first ? serverTail : undefined);
    if (Buffer.isBuffer(source)) {
      yield* fresh(new FrameDecoder(), source);
      return;
    }
    const readable = source as Readable;
    const decoder = new FrameDecoder();
    const abort = () => readable.destroy();
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      for await (const chunk of readable as AsyncIterable<Buffer>) yield* fresh(decoder, chunk);
    } catch (error) {
      if (!signal?.aborted) throw error;
    } finally {
      signal?.removeEventListener('abort', abort);
      abort();
    }
    if (!options.follow || signal?.aborted || waits.closed()) return;
    // The run ended: wait for the next start (or the container's removal, or the abort).
    const next = waits.nextStart(signal);
    try {
      const now = await engine.inspectContainer(id).catch(() => undefined);
      if (!now) return;
      if (!isRunning(now)) await next.promise;
    } finally {
      next.cancel();
    }
    if (signal?.aborted || waits.closed()) return;
    if (!(await engine.inspectContainer(id).catch(() => undefined))) return;
  }
}
