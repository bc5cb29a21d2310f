import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A running PostgreSQL server: its connection URL (database `postgres`) and how to stop it. */
export interface PostgresServer {
  url: string;
  /** Creates the database `name` (a plain SQL identifier) and resolves with its URL. */
  createDatabase(name: string): Promise<string>;
  /** Drops the database `name`, disconnecting whoever is still connected to it. */
  dropDatabase(name: string): Promise<void>;
  /** Stops the server (if this process started it) and removes its directory. */
  stop(): Promise<void>;
}

/** The database operations of a server at `url`, each on a short connection of its own. */
function databases(url: string): Pick<PostgresServer, 'createDatabase' | 'dropDatabase'> {
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    async createDatabase(name) {
      await admin(`CREATE DATABASE ${name}`);
      const database = new URL(url);
      database.pathname = `/${name}`;
      return database.toString();
    },
    dropDatabase: (name) => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Options for {@link startPostgresServer}. */
export interface PostgresServerOptions {
  /** Where the server binaries are (default `/usr/lib/postgresql/15/bin`, or env `KHUTULUN_POSTGRES_BIN`). */
  binDir?: string;
  /**
   * Trade durability for speed (fsync and synchronous commit off): for tests, where the
   * server's own crash safety is not what is being tested.
   */
  fast?: boolean;
  /** How long to wait for the server to accept connections (default 60 s). */
  timeoutMs?: number;
}

/** The environment variable naming an existing server to use instead of starting one. */
export const TEST_POSTGRES_URL_ENV = 'KHUTULUN_TEST_POSTGRES_URL';

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // PostgreSQL refuses to run as root: run it as the `postgres` system user.
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as');
  }
  return { uid, gid };
}

/**
 * Starts a private PostgreSQL server for tests and benchmarks: `initdb` in a new temporary
 * directory, then `postgres` listening only on a Unix socket in that directory (no TCP port),
 * run as the `postgres` user when we are root. `stop()` shuts it down by PID and deletes the
 * directory. If env `KHUTULUN_TEST_POSTGRES_URL` is set, that server is used instead and
 * `stop()` does nothing.
 */
export async function startPostgresServer(
  options: PostgresServerOptions = {},
): Promise<PostgresServer> {
  const existing = process.env[TEST_POSTGRES_URL_ENV];
  if (existing) return { url: existing, ...databases(existing), stop: async () => undefined };

  const bin =
    options.binDir ?? process.env['KHUTULUN_POSTGRES_BIN'] ?? '/usr/lib/postgresql/15/bin';
  const user = postgresUser();
  const root = mkdtempSync(join(tmpdir(), 'khutulun-pg-'));
  const data = join(root, 'data');
  const socket = join(root, 'run');
  mkdirSync(socket);
  if (user) {
    for (const path of [root, socket]) chownSync(path, user.uid, user.gid);
  }
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  const cleanup = () => rmSync(root, { recursive: true, force: true });

  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...asUser, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
  );
  if (init.status !== 0) {
    cleanup();
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr || init.error}`);
  }

  const port = 5432;
  const settings = ['-c', 'listen_addresses=', '-c', 'max_connections=200'];
  if (options.fast) {
    settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  const server = spawn(
    join(bin, 'postgres'),
    ['-D', data, '-k', socket, '-p', String(port), ...settings],
    {
      ...asUser,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    },
  );
  let log = '';
  const exited = new Promise<void>((resolve) => server.on('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`PostgreSQL did not start in time:\n${log}`)),
        options.timeoutMs ?? 60_000,
      );
      server.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited (${code ?? signal}) while starting:\n${log}`));
      });
    });
  } catch (error) {
    server.kill('SIGKILL');
    await exited;
    cleanup();
    throw error;
  }
  // Keep draining the log so the server never blocks on a full pipe.
  server.stderr.removeAllListeners('data');
  server.stderr.resume();
  server.unref();
  (server.stderr as unknown as { unref?: () => void }).unref?.();

  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const url = `postgresql://postgres@${encodeURIComponent(socket)}:${port}/postgres`;
  return {
    url,
    ...databases(url),
    async stop() {
      // SIGINT: "fast" shutdown, which disconnects clients instead of waiting for them.
      // Waiting for the exit must keep this process alive, however the server was unref'd.
      server.ref();
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // Already gone.
      }
      await exited;
      cleanup();
    },
  };
}
