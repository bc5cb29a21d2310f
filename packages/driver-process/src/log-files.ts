/**
 * A workload's output from its log files (`logs/stdout.log`, `logs/stderr.log`): what exists,
 * or its last lines, then, when following, what is appended, learnt through inotify on the
 * log directory (one watch, no polling).
 */
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogChunk, LogOptions } from '@khutulun/driver';

/** The largest piece read (and yielded) at once. */
const CHUNK = 64 * 1024;

type Stream = LogChunk['stream'];

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The offset where the last `lines` lines of a file of `size` bytes start, read backwards in
 * chunks (a log may be large; only its end is read). A final line without a newline counts.
 */
async function tailOffset(handle: FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  let end = size;
  let found = 0;
  // The file's final newline ends the last line; it does not start another.
  let skipLast = true;
  const buffer = Buffer.alloc(CHUNK);
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const { bytesRead } = await handle.read(buffer, 0, end - start, start);
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buffer[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast) {
        skipLast = false;
        continue;
      }
      found += 1;
      if (found === lines) return start + i + 1;
    }
    end = start;
  }
  return 0;
}

/** Reads `[from, to)` of a file in chunks of at most `CHUNK` bytes. */
async function* readRange(file: string, from: number, to: number): AsyncGenerator<Uint8Array> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if (errno(error) === 'ENOENT') return;
    throw error;
  }
  try {
    let position = from;
    while (position < to) {
      const buffer = Buffer.alloc(Math.min(CHUNK, to - position));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * The output of a workload whose logs are in `logDirectory`: each stream's existing output
 * (stdout first, then stderr: the files do not record how they interleaved), or with `tail`
 * each stream's last `tail` lines; then, with `follow`, appended output in the order it is
 * noticed, until `signal` aborts, the iteration is ended, or the directory is removed.
 */
export async function* readLogFiles(
  logDirectory: string,
  options: LogOptions = {},
): AsyncGenerator<LogChunk> {
  const which = options.stream ?? 'both';
  const streams: Stream[] = which === 'both' ? ['stdout', 'stderr'] : [which];
  const fileOf = (stream: Stream) => join(logDirectory, `${stream}.log`);
  const signal = options.signal;
  if (signal?.aborted) return;

  // Watch before the first read: output appended in between is then still noticed.
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  let pending = false;
  let gone = false;
  const nudge = () => {
    pending = true;
    wake?.();
  };
  const onAbort = () => wake?.();
  if (options.follow) {
    try {
      watcher = watch(logDirectory, { persistent: true }, (event, filename) => {
        // The directory itself renamed or removed (the workload was deleted).
        if (event === 'rename' && !filename) gone = true;
        nudge();
      });
      watcher.on('error', () => {
        gone = true;
        wake?.();
      });
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  }

  try {
    const offsets = new Map<Stream, number>();
    for (const stream of streams) {
      const file = fileOf(stream);
      const size = (await sizeOf(file)) ?? 0;
      let from = 0;
      if (options.tail !== undefined && size > 0) {
        const handle = await open(file, 'r');
        try {
          from = await tailOffset(handle, size, options.tail);
        } finally {
          await handle.close();
        }
      }
      for await (const data of readRange(file, from, size)) yield { stream, data };
      offsets.set(stream, size);
    }
    if (!watcher) return;

    while (!signal?.aborted && !gone) {
      if (!pending) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      pending = false;
      for (const stream of streams) {
        const file = fileOf(stream);
        const size = await sizeOf(file);
        if (size === undefined) {
          // The log directory went with the workload.
          if ((await sizeOf(logDirectory)) === undefined) gone = true;
          continue;
        }
        let from = offsets.get(stream) ?? 0;
        // Truncated or replaced (a fresh create of the key): read it from its start.
        if (size < from) from = 0;
        offsets.set(stream, size);
        for await (const data of readRange(file, from, size)) yield { stream, data };
      }
    }
  } finally {
    watcher?.close();
    signal?.removeEventListener('abort', onAbort);
  }
}
