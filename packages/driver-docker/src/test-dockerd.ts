/**
 * A private, real `dockerd` for tests (as RUNTIMES.md describes): its own data root, exec root,
 * socket and pidfile in a temporary directory, stopped by its PID, never by name.
 *
 * Networking stays off the machine's shared state: no iptables rules, no IP forwarding, and
 * a bridge of its own (a fresh name and subnet, made here and deleted on stop) instead of the
 * shared `docker0`, so that several test daemons (and anyone else's) never collide. Published
 * ports then go through docker-proxy, which is what loopback clients reach.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

/** A running test daemon. */
export interface TestDockerd {
  readonly socketPath: string;
  readonly directory: string;
  /** The daemon's PID (changes on `restart`). */
  readonly pid: number;
  /** Stops the daemon (SIGTERM, waited for) and starts it again on the same directories. */
  restart(options?: { between?: () => Promise<void> }): Promise<void>;
  /** Stops the daemon by its PID (SIGTERM, waited for). */
  stopDaemon(): Promise<void>;
  /** Kills the daemon (SIGKILL by its PID, as in a crash) and waits until it is gone. */
  killDaemon(): Promise<void>;
  /** Starts the daemon again after `stopDaemon` or `killDaemon`. */
  startDaemon(): Promise<void>;
  /** Stops the daemon and removes its directories and bridge. */
  close(): Promise<void>;
  /** The daemon's log so far (for failure messages). */
  log(): string;
}

/** Options of `startTestDockerd`. */
export interface TestDockerdOptions {
  /** Keep containers running while the daemon is down (`--live-restore`). */
  liveRestore?: boolean;
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** One Engine API call on the socket; resolves with the parsed JSON body (or undefined). */
function api(socketPath: string, method: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        try {
          resolve(body ? JSON.parse(body) : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** PIDs of the processes whose command line names `directory` (shims of its daemon), with their descendants. */
function processesUnder(directory: string): number[] {
  const children = new Map<number, number[]>();
  const roots: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${directory}/`)) roots.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const visit = (pid: number) => {
    out.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const root of roots) visit(root);
  return out;
}

/** A /24 in 10.200.0.0/13 that no route of the machine uses. */
function freeSubnet(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  for (;;) {
    const bytes = randomBytes(2);
    const prefix = `10.${200 + ((bytes[0] ?? 0) % 8)}.${bytes[1] ?? 0}`;
    if (!routes.includes(`${prefix}.`)) return prefix;
  }
}

/** Starts a private dockerd and resolves once `/_ping` answers. */
export async function startTestDockerd(options: TestDockerdOptions = {}): Promise<TestDockerd> {
  // Short paths: containerd's sockets live under the exec root (108-byte limit).
  const directory = mkdtempSync('/tmp/kh-dockerd-');
  const socketPath = join(directory, 'docker.sock');
  const bridge = `khd${randomBytes(4).toString('hex')}`;
  const subnet = freeSubnet();
  execFileSync('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
  execFileSync('ip', ['link', 'set', bridge, 'up']);
  const args = [
    '--storage-driver=overlay2',
    `--data-root=${join(directory, 'data')}`,
    `--exec-root=${join(directory, 'exec')}`,
    `--host=unix://${socketPath}`,
    `--pidfile=${join(directory, 'dockerd.pid')}`,
    '--iptables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    `--bridge=${bridge}`,
    ...(options.liveRestore ? ['--live-restore'] : []),
  ];
  const logFile = join(directory, 'dockerd.log');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const startDaemon = async () => {
    const out = openSync(logFile, 'a');
    const started = spawn('dockerd', args, { stdio: ['ignore', out, out], detached: true });
    child = started;
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    const deadline = Date.now() + 60_000;
    while (!(await ping(socketPath))) {
      if (started.exitCode !== null || Date.now() > deadline)
        throw new Error(`dockerd did not start:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const signalDaemon = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.pid === undefined) return;
    process.kill(running.pid, signal);
    await exited;
    child = undefined;
  };
  const stopDaemon = () => signalDaemon('SIGTERM');
  const killDaemon = async () => {
    await signalDaemon('SIGKILL');
    // Its containerd dies with it (parent-death signal), but this machine's PID 1 reaps
    // orphans lazily: a zombie still "runs" for dockerd's pidfile check, which would then wait
    // for it forever. Once it is dead or a zombie, its pidfile goes, as after a reboot.
    const pidFile = join(directory, 'exec', 'containerd', 'containerd.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
    const deadline = Date.now() + 10_000;
    while (pid > 0 && Date.now() < deadline) {
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      if (!stat || / Z /.test(stat.slice(stat.lastIndexOf(')')))) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    rmSync(pidFile, { force: true });
  };

  await startDaemon();
  return {
    socketPath,
    directory,
    get pid() {
      return child?.pid ?? -1;
    },
    startDaemon,
    stopDaemon,
    killDaemon,
    async restart(restartOptions = {}) {
      await stopDaemon();
      await restartOptions.between?.();
      await startDaemon();
    },
    async close() {
      // Live restore keeps containers through a daemon stop: remove them first.
      if (child && child.exitCode === null) {
        const containers = (await api(socketPath, 'GET', '/containers/json?all=1').catch(
          () => [],
        )) as { Id: string }[] | undefined;
        for (const c of containers ?? [])
          await api(socketPath, 'DELETE', `/containers/${c.Id}?force=1&v=1`).catch(() => {});
      }
      await stopDaemon();
      // Whatever is left of this daemon (shims and their containers) is ours: end it by PID.
      for (const pid of processesUnder(directory)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      try {
        execFileSync('ip', ['link', 'del', bridge]);
      } catch {
        // already gone
      }
      // A clean shutdown unmounts everything; anything left mounted is unmounted first.
      try {
        const mounts = readFileSync('/proc/self/mounts', 'utf8')
          .split('\n')
          .map((line) => line.split(' ')[1] ?? '')
          .filter((m) => m.startsWith(`${directory}/`))
          .sort((a, b) => b.length - a.length);
        for (const m of mounts) execFileSync('umount', ['-l', m]);
      } catch {
        // best effort
      }
      if (existsSync(directory)) rmSync(directory, { recursive: true, force: true });
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}
