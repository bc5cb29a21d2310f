/** Reading a container's state as Docker reports it: times, running, exit codes. */
import { constants } from 'node:os';
import type { ContainerInfo } from './docker-engine.js';

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name]),
);

/** Nanoseconds since the epoch of an RFC 3339 time with up to 9 fraction digits; 0 if unset. */
export function nanos(time: string | undefined): bigint {
  if (!time || time.startsWith('0001-')) return 0n;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  if (!m) return 0n;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return 0n;
  const fraction = BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9));
  return BigInt(seconds) * 1_000_000n + fraction;
}

/** The time as given, or undefined for Docker's zero time (`0001-01-01T00:00:00Z`). */
export function isoTime(time: string | undefined): string | undefined {
  return nanos(time) > 0n ? time : undefined;
}

/** Whether the container has a live process (running, restarting or paused). */
export function isRunning(info: ContainerInfo): boolean {
  return info.State.Running || info.State.Restarting || info.State.Paused;
}

/** Docker reports a death by signal n as exit code 128 + n. */
export function signalOf(exitCode: number): string | undefined {
  return exitCode > 128 && exitCode < 128 + 65 ? SIGNAL_NAMES.get(exitCode - 128) : undefined;
}

/** A time in nanoseconds as the logs API's `since` (`seconds.nanoseconds`), just after it. */
export function sinceParameter(ns: bigint): string {
  const next = ns + 1n;
  return `${next / 1_000_000_000n}.${(next % 1_000_000_000n).toString().padStart(9, '0')}`;
}
