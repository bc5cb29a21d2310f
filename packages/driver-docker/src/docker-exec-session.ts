/**
 * An exec instance as an `ExecSession`: its hijacked connection split into stdout and stderr
 * (no TTY: Docker frames them) or one terminal stream (TTY), stdin when asked for, and its exit
 * code from the exec's inspect.
 */

import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { ExecOptions, ExecSession } from '@khutulun/driver';
import type { DockerEngine, ExecHandle } from './docker-engine.js';
import { FrameDecoder } from './docker-frames.js';

/** The session of an exec started with its streams attached (`DockerEngine.exec`). */
export async function execSession(
  engine: DockerEngine,
  handle: ExecHandle,
  options: ExecOptions,
): Promise<ExecSession> {
  const tty = options.tty ?? false;
  const stdout = new PassThrough();
  const stderr = tty ? undefined : new PassThrough();
  const decoder = new FrameDecoder();
  handle.stream.on('data', (chunk: Buffer) => {
    if (tty) stdout.write(chunk);
    else
      for (const f of decoder.push(chunk)) (f.stream === 'stderr' ? stderr : stdout)?.write(f.data);
  });
  const ended = new Promise<void>((resolve) => {
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      stdout.end();
      stderr?.end();
      resolve();
    };
    handle.stream.on('end', end);
    handle.stream.on('close', end);
    handle.stream.on('error', end);
  });
  let stdin: PassThrough | undefined;
  if (options.stdin) {
    stdin = new PassThrough();
    stdin.pipe(handle.stream as NodeJS.WritableStream);
  }
  const exit = ended.then(async () => {
    // The exit code is set as the stream closes; a few short retries cover the instant between.
    for (let attempt = 0; attempt < 20; attempt++) {
      const state = await engine.execState(handle.id).catch(() => undefined);
      if (state && !state.running && state.exitCode !== null) return { code: state.exitCode };
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return { code: 255 }; // the daemon never said
  });
  if (tty && options.columns && options.rows)
    await engine.execResize(handle.id, options.columns, options.rows).catch(() => {});
  return {
    stdin,
    stdout,
    stderr,
    exit,
    resize(columns, rows) {
      if (tty) void engine.execResize(handle.id, columns, rows).catch(() => {});
    },
    kill() {
      // The Engine API cannot signal an exec; its process is on this host, so kill it here,
      // once its cgroup shows it is still the container's (the PID may have been reused).
      void engine
        .execState(handle.id)
        .then(async (state) => {
          if (state.running && state.pid > 0 && (await inContainer(state.pid, state.containerId)))
            process.kill(state.pid, 'SIGKILL');
        })
        .catch(() => {})
        .finally(() => handle.stream.destroy());
    },
  };
}

/** Whether a host process is in a container's cgroup (`/proc/PID/cgroup` names its ID). */
async function inContainer(pid: number, containerId: string): Promise<boolean> {
  if (!containerId) return false;
  const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
  return cgroups.includes(containerId);
}
