/**
 * The one runtime error of the cluster package, branded so that it is recognised across
 * package copies, realms and process boundaries (where `instanceof` fails).
 */

/** The brand every `ClusterError` carries (a registered symbol: equal across package copies). */
export const CLUSTER_ERROR: unique symbol = Symbol.for('khutulun.cluster-error');

/**
 * Why a cluster operation failed. Stable strings: the agent maps them to API responses.
 * - `stale-epoch`: a write carried an owner epoch that is no longer current (the fencing
 *   token was refused): the host was declared lost or re-joined since, or the workload moved.
 * - `unknown-host`: no host record with that name.
 * - `unknown-workload`: no owner record for that service and workload.
 * - `too-early`: an at-most-once replacement was placed before its fencing delay had passed.
 * - `unavailable`: PostgreSQL or NATS could not be reached within the retry budget.
 */
export type ClusterErrorCode =
  | 'stale-epoch'
  | 'unknown-host'
  | 'unknown-workload'
  | 'too-early'
  | 'unavailable';

/** The structured fields of a `ClusterError`. */
export interface ClusterErrorDetails {
  code: ClusterErrorCode;
  /** The host the operation was about. */
  host?: string;
  /** For `stale-epoch`: the epoch the write carried, and the current one (if the host exists). */
  epoch?: number;
  currentEpoch?: number;
  /** The workload the operation was about. */
  workload?: { service: string; workload: string };
  cause?: unknown;
}

/** A cluster operation failed. Recognise it with `isClusterError`, never `instanceof`. */
export class ClusterError extends Error {
  readonly [CLUSTER_ERROR] = true;
  override readonly name = 'ClusterError';
  readonly code: ClusterErrorCode;
  readonly host?: string;
  readonly epoch?: number;
  readonly currentEpoch?: number;
  readonly workload?: { service: string; workload: string };

  constructor(message: string, details: ClusterErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    if (details.host !== undefined) this.host = details.host;
    if (details.epoch !== undefined) this.epoch = details.epoch;
    if (details.currentEpoch !== undefined) this.currentEpoch = details.currentEpoch;
    if (details.workload) this.workload = details.workload;
  }
}

/**
 * True for a `ClusterError` from any copy of this package, and for one that crossed a process
 * boundary as plain data (`{ name: 'ClusterError', code, message }`).
 */
export function isClusterError(error: unknown): error is ClusterError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { [CLUSTER_ERROR]?: unknown })[CLUSTER_ERROR] === true) return true;
  const e = error as { name?: unknown; code?: unknown };
  return e.name === 'ClusterError' && typeof e.code === 'string';
}
