/**
 * Health checks, once for every kind: a TCP connect or an HTTP GET from the host to the
 * workload's reserved port (at its host's address), or a command run inside the workload
 * through its driver's `exec`. Readiness probes only while a deploy waits for it, with a
 * growing interval; liveness runs at the interval the template declares, and only then.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import {
  DriverError,
  type PortBinding,
  type WorkloadDriver,
  type WorkloadRef,
} from '@khutulun/driver';
import type { Value } from '@khutulun/floria';
import { isMap } from './values.js';

/** One check, resolved against the workload's reserved ports. */
export type HealthCheck =
  | { type: 'tcp'; host: string; port: number }
  | { type: 'http'; host: string; port: number; path: string }
  | { type: 'command'; command: string[] };

/** A liveness check with its schedule. */
export interface LivenessCheck {
  check: HealthCheck;
  intervalMs: number;
  timeoutMs: number;
  failures: number;
}

/**
 * Reads a `Readiness` or `HealthCheck` value: `port` (a Port capability name) with an
 * optional HTTP `path`, `tcp_port` (a fixed port), or `command`. Undefined when it declares
 * none. Throws a message when it names a port the workload does not have.
 */
export function healthCheckOf(
  value: Value | undefined,
  ports: PortBinding[],
  address: string,
  inside?: string,
): HealthCheck | undefined {
  if (!isMap(value)) return undefined;
  if (typeof value.port === 'string') {
    const binding = ports.find((p) => p.name === value.port);
    if (!binding) throw new Error(`the health check names port ${value.port}, which it has not`);
    // A workload with an address of its own (a container's IP) is checked there, at the port
    // it listens on: a published port may be answered by the engine's proxy before the
    // workload listens (docker-proxy accepts at once).
    const target = inside
      ? { host: inside, port: binding.target ?? binding.port }
      : { host: address, port: binding.port };
    return typeof value.path === 'string'
      ? { type: 'http', ...target, path: value.path }
      : { type: 'tcp', ...target };
  }
  if (typeof value.tcp_port === 'number')
    return { type: 'tcp', host: address, port: value.tcp_port };
  if (Array.isArray(value.command) && value.command.length)
    return { type: 'command', command: value.command.map(String) };
  return undefined;
}

/** Reads a liveness `HealthCheck`, with its interval, timeout and failure count. */
export function livenessOf(
  value: Value | undefined,
  ports: PortBinding[],
  address: string,
  inside?: string,
): LivenessCheck | undefined {
  const check = healthCheckOf(value, ports, address, inside);
  if (!check || !isMap(value)) return undefined;
  const seconds = (v: Value | undefined, fallback: number) =>
    typeof v === 'number' && v > 0 ? v * 1000 : fallback;
  return {
    check,
    intervalMs: seconds(value.interval, 10_000),
    timeoutMs: seconds(value.timeout, 5_000),
    failures: typeof value.failures === 'number' && value.failures > 0 ? value.failures : 3,
  };
}

/** Runs one check once; true when healthy. Never throws. */
export async function runCheck(
  check: HealthCheck,
  target: { driver: WorkloadDriver; ref: WorkloadRef },
  timeoutMs: number,
): Promise<boolean> {
  switch (check.type) {
    case 'tcp':
      return tcp(check.host, check.port, timeoutMs);
    case 'http':
      return http(check.host, check.port, check.path, timeoutMs);
    case 'command':
      return command(check.command, target, timeoutMs);
  }
}

function tcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function http(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

async function command(
  argv: string[],
  target: { driver: WorkloadDriver; ref: WorkloadRef },
  timeoutMs: number,
): Promise<boolean> {
  const { driver, ref } = target;
  if (!driver.exec) return false;
  try {
    const session = await driver.exec(ref, { command: argv });
    session.stdout.resume();
    session.stderr?.resume();
    const timer = setTimeout(() => session.kill(), timeoutMs);
    const { code } = await session.exit;
    clearTimeout(timer);
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * Waits until a check passes: probes at a growing interval (from 10 ms for TCP and HTTP, 50 ms
 * for a command, doubling up to 500 ms), only while awaited. Rejects with `not-ready` after
 * `timeoutMs`, or with the signal's reason.
 */
export async function waitHealthy(
  check: HealthCheck,
  target: { driver: WorkloadDriver; ref: WorkloadRef },
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<void> {
  const end = Date.now() + options.timeoutMs;
  let delay = check.type === 'command' ? 50 : 10;
  for (;;) {
    if (options.signal.aborted) throw options.signal.reason;
    if (await runCheck(check, target, Math.min(5_000, Math.max(100, end - Date.now())))) return;
    if (Date.now() >= end) {
      throw new DriverError(
        `workload ${target.ref.key.name} was not ready within ${options.timeoutMs} ms (${describe(check)})`,
        { code: 'not-ready', driver: target.ref.kind, workload: target.ref.key },
      );
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(delay, Math.max(0, end - Date.now())));
      function done() {
        options.signal.removeEventListener('abort', done);
        clearTimeout(timer);
        resolve();
      }
      options.signal.addEventListener('abort', done, { once: true });
    });
    delay = Math.min(delay * 2, 500);
  }
}

/** A check in words, for messages. */
export function describe(check: HealthCheck): string {
  switch (check.type) {
    case 'tcp':
      return `TCP ${check.host}:${check.port}`;
    case 'http':
      return `HTTP GET http://${check.host}:${check.port}${check.path}`;
    case 'command':
      return `command ${check.command.join(' ')}`;
  }
}
