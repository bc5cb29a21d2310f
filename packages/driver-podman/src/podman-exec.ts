/**
 * A command run inside a container through libpod's exec: the session is created, then
 * started over an upgraded connection that carries stdin one way and the output the other
 * (multiplexed frames, or raw with a TTY). The exit code comes from the session's inspect
 * once the connection ends.
 */
import { PassThrough, Writable } from 'node:stream';
import type { ExecOptions, ExecSession } from '@khutulun/driver';
import type { LibpodClient } from './libpod-client.js';
import { FrameReader } from './stream-frames.js';

/** How long to wait for libpod to record the exit code once the connection ended. */
const EXIT_WAIT_MS = 1_000;
/** How long a killed command has after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * Starts `options.command` in the container. Rejects (with libpod's message) if the session
 * cannot be created or started.
 */
export async function startExec(
  client: LibpodClient,
  containerId: string,
  options: ExecOptions,
): Promise<ExecSession> {
  const tty = options.tty === true;
  const created = await client.call<{ Id: string; message?: string }>(
    'POST',
    `/containers/${containerId}/exec`,
    {
      body: {
        AttachStdin: options.stdin === true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: tty,
        Cmd: options.command,
        Env: Object.entries(options.environment ?? {}).map(([k, v]) => `${k}=${v}`),
      },
    },
  );
  if (created.status !== 201)
    throw new Error(created.body?.message ?? `libpod exec: status ${created.status}`);
  const execId = created.body.Id;
  const start: Record<string, unknown> = { Detach: false, Tty: tty };
  if (tty && options.columns && options.rows) {
    start.h = options.rows;
    start.w = options.columns;
  }
  const socket = await client.hijack(`/exec/${execId}/start`, start);

  const stdout = new PassThrough();
  const stderr = tty ? undefined : new PassThrough();
  if (tty) socket.pipe(stdout);
  else {
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        if (frame.stream === 2) stderr?.write(frame.data);
        else if (frame.stream === 1) stdout.write(frame.data);
      }
    });
    const finish = () => {
      stdout.end();
      stderr?.end();
    };
    socket.once('end', finish);
    socket.once('close', finish);
  }
  socket.on('error', () => {});

  const stdin = options.stdin
    ? new Writable({
        write: (chunk, _encoding, done) => {
          socket.write(chunk, done);
        },
        // Half-closes the connection: the command sees the end of its stdin.
        final: (done) => {
          socket.end();
          done();
        },
      })
    : undefined;

  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const exit = new Promise<{ code: number }>((resolve) => {
    socket.once('close', async () => {
      // The session usually has its exit code when the connection ends; if not yet, it will
      // within moments (a bounded wait after the end, not a poll of a running command).
      const deadline = Date.now() + EXIT_WAIT_MS;
      for (;;) {
        const res = await client
          .call<{ Running: boolean; ExitCode: number }>('GET', `/exec/${execId}/json`)
          .catch(() => undefined);
        if (res?.status !== 200) return resolve({ code: 255 });
        if (!res.body.Running) return resolve({ code: res.body.ExitCode });
        if (Date.now() > deadline) return resolve({ code: 255 });
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });

  return {
    stdin,
    stdout,
    stderr,
    exit,
    resize: (columns, rows) => {
      if (!tty) return;
      void client
        .call('POST', `/exec/${execId}/resize`, { query: { h: rows, w: columns } })
        .catch(() => {});
    },
    kill: () => {
      void terminate(client, execId, closed).finally(() => socket.destroy());
    },
  };
}

/**
 * Ends an exec's command: closing the connection does not (libpod keeps it running), so its
 * process (a host PID, from the session's inspect) gets SIGTERM, then SIGKILL if the session
 * has not ended within the grace.
 */
async function terminate(client: LibpodClient, execId: string, closed: Promise<void>) {
  const pid = async () => {
    const res = await client
      .call<{ Running: boolean; Pid: number }>('GET', `/exec/${execId}/json`)
      .catch(() => undefined);
    return res?.status === 200 && res.body.Running && res.body.Pid > 0 ? res.body.Pid : undefined;
  };
  const signal = (target: number | undefined, name: NodeJS.Signals) => {
    if (!target) return false;
    try {
      process.kill(target, name);
      return true;
    } catch {
      return false;
    }
  };
  if (!signal(await pid(), 'SIGTERM')) return;
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'grace'>((resolve) => {
    timer = setTimeout(() => resolve('grace'), KILL_GRACE_MS);
  });
  const ended = await Promise.race([closed.then(() => 'closed' as const), grace]);
  clearTimeout(timer);
  if (ended === 'grace') signal(await pid(), 'SIGKILL');
}
