import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PostgresServer } from '@khutulun/store-postgres';

/** A PostgreSQL server started again by {@link restartPostgres}, to stop before the original's `stop()`. */
export interface RestartedPostgres {
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Restarts, in place, a server that `startPostgresServer({ fast: true })` started: a fast
 * shutdown (SIGINT to the postmaster, by the PID in its data directory), `downMs` of
 * nothing, then `postgres` again on the same data directory, socket and settings. Relies on
 * that helper's layout (`<root>/run` the socket directory in the URL, `<root>/data`).
 */
export async function restartPostgres(
  server: PostgresServer,
  downMs = 0,
): Promise<RestartedPostgres> {
  const socket = decodeURIComponent(new URL(server.url).hostname);
  const data = join(dirname(socket), 'data');
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGINT');
  while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
  if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
  const bin = process.env['KHUTULUN_POSTGRES_BIN'] ?? '/usr/lib/postgresql/15/bin';
  const asUser =
    process.getuid?.() === 0 ? { uid: statSync(data).uid, gid: statSync(data).gid } : {};
  const child = spawn(
    join(bin, 'postgres'),
    ['-D', data, '-k', socket, '-p', new URL(server.url).port || '5432'].concat(
      [
        'listen_addresses=',
        'max_connections=200',
        'fsync=off',
        'synchronous_commit=off',
        'full_page_writes=off',
      ].flatMap((setting) => ['-c', setting]),
    ),
    { ...asUser, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`PostgreSQL did not restart:\n${log}`)),
      60_000,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL exited (${code ?? signal}) while restarting:\n${log}`));
    });
  });
  child.stderr!.removeAllListeners('data');
  child.stderr!.resume();
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
