/**
 * The CLI's runtime errors. Each carries the exit code it maps to and is identified by a
 * brand rather than `instanceof`, so errors built by other module copies still match.
 */

const BRAND = Symbol.for('khutulun.cli.error');

/** Why a command failed: the user misused it (exit 2), or the work itself failed (exit 1). */
export type CliErrorKind = 'usage' | 'failure' | 'agent-unreachable' | 'agent';

/** Extra structured facts about a failure (an HTTP status, the agent's error code, ...). */
export interface CliErrorDetails {
  /** HTTP status of the agent's answer, for `agent` errors. */
  status?: number;
  /** The agent's stable error code, for `agent` errors. */
  code?: string;
  /** Where the failure happened: a file, a socket path, a URL. */
  where?: string;
  /** Diagnostics or other lines to print after the message. */
  lines?: string[];
}

/**
 * A failure the CLI reports as a message, never as a stack trace. `usage` maps to exit code
 * 2; every other kind to 1.
 */
export class CliError extends Error {
  readonly [BRAND] = true;
  override readonly name = 'CliError';

  constructor(
    readonly kind: CliErrorKind,
    message: string,
    readonly details: CliErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The process exit code this error maps to. */
  get exitCode(): number {
    return this.kind === 'usage' ? 2 : 1;
  }
}

/** Whether `value` is a {@link CliError} (by brand). */
export function isCliError(value: unknown): value is CliError {
  return typeof value === 'object' && value !== null && BRAND in value;
}

/** A misuse of the command: bad arguments, a missing file. Exit code 2. */
export function usageError(message: string, details?: CliErrorDetails): CliError {
  return new CliError('usage', message, details);
}
