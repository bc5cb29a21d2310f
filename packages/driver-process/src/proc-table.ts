/**
 * Reading the kernel's process table (/proc): how the driver recognises its shims and
 * workloads after an agent restart, and tells a live process from a zombie or a reused PID.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat the driver uses. */
export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z, T, ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

/** Reads /proc/PID/stat; `undefined` when there is no such process. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
  };
}

/** True when the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** A process with its command line (arguments split). */
export interface ProcEntry extends ProcStat {
  argv: string[];
}

/** Every live (non-zombie) process on the host, with its command line. */
export function scanProcesses(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    let argv: string[] = [];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').slice(0, -1);
    } catch {
      continue;
    }
    entries.push({ ...stat, argv });
  }
  return entries;
}

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on every Linux ABI Node runs on). */
const TICKS_PER_SECOND = 100;

/** The CPU seconds (its own and its waited-for children's) and resident bytes of one process. */
function processUsage(pid: number): { cpuSeconds: number; memoryBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime: fields 14-17 of stat(5), 11-14 after the command name.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    return { cpuSeconds: ticks / TICKS_PER_SECOND, memoryBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** The children of a process (every thread's), from /proc/PID/task/TID/children. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1')
          .split(' ')
          .filter(Boolean)
          .map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/**
 * What a process and every process under it use now: CPU seconds and resident bytes summed
 * over the tree (`undefined` when the process is gone). Reads only that tree, not all of /proc.
 */
export function treeUsage(pid: number): { cpuSeconds: number; memoryBytes: number } | undefined {
  const root = processUsage(pid);
  if (!root) return undefined;
  const total = { ...root };
  const seen = new Set([pid]);
  const pending = childrenOf(pid);
  for (let child = pending.pop(); child !== undefined; child = pending.pop()) {
    if (seen.has(child)) continue;
    seen.add(child);
    const usage = processUsage(child);
    if (!usage) continue;
    total.cpuSeconds += usage.cpuSeconds;
    total.memoryBytes += usage.memoryBytes;
    pending.push(...childrenOf(child));
  }
  return total;
}
