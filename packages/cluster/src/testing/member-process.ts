/**
 * A cluster member as a child process, for tests and benchmarks: run it (in a network
 * namespace, with `ip netns exec NS node member-process.js CONFIG`) and read what happens to
 * it as JSON lines on its stdout. SIGTERM leaves cleanly; SIGKILL is a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { JoinClusterOptions } from '../membership.js';

/** What the member process reports, one JSON object per line. `at` is `Date.now()`. */
export type MemberReport =
  | { kind: 'joined'; epoch: number; at: number }
  | {
      kind: 'event';
      event: import('../cluster-events.js').ClusterEvent;
      sequence: number;
      at: number;
    }
  | { kind: 'fenced'; reason: import('../membership.js').FenceReason; at: number }
  | { kind: 'rejoined'; result: import('../host-registry.js').JoinResult; at: number }
  | { kind: 'failed'; message: string; at: number };

/** A member process started by {@link startMemberProcess}. */
export interface MemberProcess {
  name: string;
  pid: number;
  reports: MemberReport[];
  /** Resolves with the first report (already received or to come) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (report: MemberReport) => boolean, timeoutMs?: number): Promise<MemberReport>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<void>;
}

/**
 * Starts a member process joining with `options` (JSON-serialisable: no callbacks), in
 * network namespace `namespace` if given.
 */
export async function startMemberProcess(
  options: Omit<JoinClusterOptions, 'onFenced' | 'onRejoined'>,
  namespace?: string,
): Promise<MemberProcess> {
  // Run as compiled JavaScript, also when this module was loaded from its TypeScript source
  // (as Vitest does): Node 20 runs no TypeScript.
  const script = fileURLToPath(import.meta.url).replace(
    /\/src\/testing\/([^/]+)\.ts$/,
    '/lib/testing/$1.js',
  );
  const node = [process.execPath, script, JSON.stringify(options)];
  const child: ChildProcess = namespace
    ? spawn('ip', ['netns', 'exec', namespace, ...node], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(node[0]!, node.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const reports: MemberReport[] = [];
  const waiters = new Set<{
    match: (r: MemberReport) => boolean;
    resolve: (r: MemberReport) => void;
  }>();
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let report: MemberReport;
    try {
      report = JSON.parse(line) as MemberReport;
    } catch {
      return;
    }
    reports.push(report);
    for (const waiter of waiters) {
      if (waiter.match(report)) {
        waiters.delete(waiter);
        waiter.resolve(report);
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const member: MemberProcess = {
    name: options.host.name,
    pid: child.pid!,
    reports,
    exited,
    waitFor(match, timeoutMs = 15_000) {
      const found = reports.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (report: MemberReport) => {
            clearTimeout(timer);
            resolve(report);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `member ${options.host.name}: no matching report in ${timeoutMs} ms; got ${JSON.stringify(reports.map((r) => r.kind))}; stderr: ${stderr}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  await member.waitFor((r) => r.kind === 'joined' || r.kind === 'failed', 30_000);
  const failed = reports.find((r) => r.kind === 'failed');
  if (failed && failed.kind === 'failed') {
    await member.stop('SIGKILL');
    throw new Error(`member ${options.host.name} failed to join: ${failed.message}`);
  }
  return member;
}

async function main(config: string): Promise<void> {
  const { joinCluster } = await import('../membership.js');
  const report = (value: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify({ ...value, at: Date.now() })}\n`);
  };
  let cluster: Awaited<ReturnType<typeof joinCluster>>;
  try {
    cluster = await joinCluster({
      ...(JSON.parse(config) as JoinClusterOptions),
      eventsFrom: 'all',
      onFenced: (reason) => report({ kind: 'fenced', reason }),
      onRejoined: (result) => report({ kind: 'rejoined', result }),
      onEvent: (event, sequence) => report({ kind: 'event', event, sequence }),
    });
  } catch (error) {
    report({ kind: 'failed', message: String((error as Error)?.message ?? error) });
    process.exit(1);
  }
  report({ kind: 'joined', epoch: cluster.membership.epoch });
  process.on('SIGTERM', () => {
    void cluster.close().finally(() => process.exit(0));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2]) {
  await main(process.argv[2]);
}
