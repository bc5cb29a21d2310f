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
