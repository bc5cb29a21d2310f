/**
 * The one runtime error of the driver contracts, branded so that it is recognised across
 * package copies, realms and process boundaries (where `instanceof` fails).
 */
import type { WorkloadKey } from './workload-driver.js';

/** The brand every `DriverError` carries (a registered symbol: equal across package copies). */
export const DRIVER_ERROR: unique symbol = Symbol.for('khutulun.driver-error');

/**
 * Why a driver operation failed. Stable strings: the agent maps them to API responses.
 * - `invalid-spec`: the spec failed `check`; `problems` lists why.
 * - `not-found`: no workload (or reservation) with that key or ref.
 * - `already-exists`: `create` for a key whose workload is still running.
 * - `start-failed`: the workload could not be started (the cause says why).
 * - `not-ready`: readiness did not succeed within its timeout.
 * - `exited`: the workload exited while the operation waited for it (e.g. before ready).
 * - `stop-failed`: the workload survived SIGKILL (e.g. in uninterruptible sleep).
 * - `port-taken`: a specific port was asked for and is in use (by the OS or another owner).
 * - `ports-exhausted`: no free port left in the configured range.
 * - `firewall-failed`: a firewall command (firewall-cmd, nft) failed; `command` names it.
 * - `io-failed`: reading or writing the driver's state directory or ledger failed.
 */
export type DriverErrorCode =
  | 'invalid-spec'
  | 'not-found'
  | 'already-exists'
  | 'start-failed'
  | 'not-ready'
  | 'exited'
  | 'stop-failed'
  | 'port-taken'
  | 'ports-exhausted'
  | 'firewall-failed'
  | 'io-failed';

/** A problem with a spec, returned as data by `check` (never thrown for bad input). */
export interface Problem {
  /** The property path the problem is about, e.g. `['environment', 'PORT']`; `[]` for the whole spec. */
  path: string[];
  message: string;
}

/** The structured fields of a `DriverError`. */
export interface DriverErrorDetails {
  code: DriverErrorCode;
  /** The driver kind that failed, e.g. `process` or `ports`. */
  driver: string;
  workload?: WorkloadKey;
  /** For `invalid-spec`. */
  problems?: Problem[];
  /** For failures of an external command: the exact, shell-quoted command line. */
  command?: string;
  cause?: unknown;
}

/** A driver operation failed. Recognise it with `isDriverError`, never `instanceof`. */
export class DriverError extends Error {
  readonly [DRIVER_ERROR] = true;
  override readonly name = 'DriverError';
  readonly code: DriverErrorCode;
  readonly driver: string;
  readonly workload?: WorkloadKey;
  readonly problems?: Problem[];
  readonly command?: string;

  constructor(message: string, details: DriverErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.driver = details.driver;
    if (details.workload) this.workload = details.workload;
    if (details.problems) this.problems = details.problems;
    if (details.command) this.command = details.command;
  }
}

/**
 * True for a `DriverError` from any copy of this package, and for one that crossed a process
 * boundary as plain data (`{ name: 'DriverError', code, driver, message }`).
 */
export function isDriverError(error: unknown): error is DriverError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { [DRIVER_ERROR]?: unknown })[DRIVER_ERROR] === true) return true;
  const e = error as { name?: unknown; code?: unknown; driver?: unknown };
  return e.name === 'DriverError' && typeof e.code === 'string' && typeof e.driver === 'string';
}
