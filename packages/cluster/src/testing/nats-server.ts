import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running `nats-server` with JetStream and user/password authentication. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  url: string;
  port: number;
  user: string;
  password: string;
  /** The configuration file it runs with (authorization, JetStream store directory). */
  configFile: string;
  pid(): number | undefined;
  /** Stops it (SIGTERM, waiting for the exit) and starts it again on the same port and store. */
  restart(downMs?: number): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /** The address to listen on (default `127.0.0.1`; `0.0.0.0` to serve network namespaces). */
  host?: string;
  /** Default: a free port. */
  port?: number;
  /** The binary (default `nats-server` on the PATH, or env `KHUTULUN_NATS_SERVER`). */
  binary?: string;
  /** Serve TLS only, with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no free port');
  return address.port;
}

/**
 * Starts a private `nats-server` for tests and benchmarks: `nats-server -c CONF -p PORT -js
 * -sd DIR` in a new temporary directory, the configuration requiring a user and password.
 * It is stopped by its PID, never by name.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const root = mkdtempSync(join(tmpdir(), 'khutulun-nats-'));
  const port = options.port ?? (await freePort());
  const user = 'khutulun';
  const password = `secret-${process.pid}-${Date.now().toString(36)}`;
  const configFile = join(root, 'nats.conf');
  writeFileSync(
    configFile,
    [
      `listen: "${options.host ?? '127.0.0.1'}:${port}"`,
      'authorization {',
      `  users = [ { user: "${user}", password: "${password}" } ]`,
      '}',
      ...(options.tls
        ? [
            'tls {',
            `  cert_file: "${options.tls.certFile}"`,
            `  key_file: "${options.tls.keyFile}"`,
            '}',
          ]
        : []),
      '',
    ].join('\n'),
  );
  const binary = options.binary ?? process.env['KHUTULUN_NATS_SERVER'] ?? 'nats-server';
  let child: ChildProcess | undefined;

  const launch = async () => {
    const started = spawn(
      binary,
      ['-c', configFile, '-p', String(port), '-js', '-sd', join(root, 'js')],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    child = started;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server did not start:\n${log}`)),
        20_000,
      );
      started.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      started.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code ?? signal}) while starting:\n${log}`));
      });
    });
    // Keep draining the log so the server never blocks on a full pipe.
    started.stderr!.removeAllListeners('data');
    started.stderr!.resume();
  };

  const halt = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.on('exit', resolve));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (error) {
    await halt();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `${options.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`,
    port,
    user,
    password,
    configFile,
    pid: () => child?.pid,
    async restart(downMs = 0) {
      await halt();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await launch();
    },
    async stop() {
      await halt();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
