/**
 * The fence watchdog's files under the state directory (`<state>/cluster/`) and the record of
 * what it stopped, which the next agent reads when it recovers. Kept apart from the watchdog
 * itself so that the agent's supervision reads it without loading the watchdog.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkloadRef } from '@khutulun/driver';

/** Where the watchdog of a state directory keeps its socket, PID, log and record. */
export interface FenceWatchdogPaths {
  directory: string;
  /** The Unix socket the agent holds its lease on (mode 0600). */
  socket: string;
  /** The running watchdog's PID. */
  pid: string;
  /** Its log (appended). */
  log: string;
  /** What it stopped when the lease expired ({@link FenceRecord}). */
  record: string;
}

/** The watchdog's files of a state directory. */
export function fenceWatchdogPaths(stateDir: string): FenceWatchdogPaths {
  const directory = join(stateDir, 'cluster');
  return {
    directory,
    socket: join(directory, 'fence-watchdog.sock'),
    pid: join(directory, 'fence-watchdog.pid'),
    log: join(directory, 'fence-watchdog.log'),
    record: join(directory, 'fenced-workloads.json'),
  };
}

/**
 * What the watchdog stopped when the agent's lease expired: the workloads, by the refs their
 * drivers gave. Fences add to it until an agent that re-joined the cluster has handled it
 * (and removed it).
 */
export interface FenceRecord {
  /** ISO 8601 time of the latest fence. */
  fencedAt: string;
  /** The lease bound in force then, in milliseconds. */
  leaseMs: number;
  /** Every workload it stopped (it was running when the lease expired). */
  stopped: WorkloadRef[];
  /** Workloads it could not stop, with the driver's message. */
  failed: Array<{ ref: WorkloadRef; message: string }>;
}

/** The record of a state directory, if there is one (and it reads). */
export function readFenceRecord(stateDir: string): FenceRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(fenceWatchdogPaths(stateDir).record, 'utf8'));
    if (!record || !Array.isArray(record.stopped)) return undefined;
    return { failed: [], ...record } as FenceRecord;
  } catch {
    return undefined;
  }
}

/**
 * Adds a fence to the record (a record no agent has handled yet keeps its workloads), written
 * whole or not at all (a temporary file renamed over it).
 */
export function addToFenceRecord(stateDir: string, fence: FenceRecord): FenceRecord {
  const paths = fenceWatchdogPaths(stateDir);
  const previous = readFenceRecord(stateDir);
  const key = (ref: WorkloadRef) => `${ref.kind}:${ref.id}`;
  const stopped = new Map((previous?.stopped ?? []).map((ref) => [key(ref), ref]));
  for (const ref of fence.stopped) stopped.set(key(ref), ref);
  const merged: FenceRecord = {
    fencedAt: fence.fencedAt,
    leaseMs: fence.leaseMs,
    stopped: [...stopped.values()],
    failed: fence.failed,
  };
  mkdirSync(paths.directory, { recursive: true, mode: 0o700 });
  const temporary = `${paths.record}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(merged, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, paths.record);
  return merged;
}

/** Removes the record (an agent handled it). */
export function clearFenceRecord(stateDir: string): void {
  rmSync(fenceWatchdogPaths(stateDir).record, { force: true });
}

/** The keys (`kind:id`) of the workloads a record says the watchdog stopped. */
export function fencedRefKeys(record: FenceRecord | undefined): Set<string> {
  return new Set((record?.stopped ?? []).map((ref) => fenceRefKey(ref)));
}

/** How a record names a workload: its kind and its driver's id. */
export function fenceRefKey(ref: WorkloadRef): string {
  return `${ref.kind}:${ref.id}`;
}
