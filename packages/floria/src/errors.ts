/**
 * Floria's runtime errors: a few named classes, each branded with a stable `code` and carrying
 * structured fields and `cause`. Identify them with `isFloriaError` (by brand, never by
 * `instanceof`): they cross plugin and process boundaries, where class identity is lost.
 */
import type { CallSite } from './dispatch.js';
import type { Id, Selector } from './model.js';

/** The codes Floria's errors carry. */
export type FloriaErrorCode =
  | 'access-denied'
  | 'evaluation-failed'
  | 'unknown-function'
  | 'target-not-found'
  | 'instantiation-failed'
  | 'invalid-id'
  | 'serialization-failed'
  | 'permission-denied';

/** The brand every Floria error carries, so it can be recognized after serialization. */
export interface FloriaErrorShape {
  code: FloriaErrorCode;
  message: string;
}

/**
 * Whether `error` is a Floria error (optionally: with this `code`). Works on plain objects
 * that came back through JSON, as long as they kept `code` and `message`.
 */
export function isFloriaError<C extends FloriaErrorCode>(
  error: unknown,
  code?: C,
): error is FloriaErrorShape & { code: C } {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; message?: unknown };
  if (typeof candidate.code !== 'string' || typeof candidate.message !== 'string') return false;
  return code === undefined ? FLORIA_ERROR_CODES.has(candidate.code) : candidate.code === code;
}

const FLORIA_ERROR_CODES: ReadonlySet<string> = new Set<FloriaErrorCode>([
  'access-denied',
  'evaluation-failed',
  'unknown-function',
  'target-not-found',
  'instantiation-failed',
  'invalid-id',
  'serialization-failed',
  'permission-denied',
]);

function describeId(id: Id): string {
  return `${id.kind}:${[...id.directory, id.name].join('/')}`;
}

/** A read or write outside the directory subtree a caller is allowed. */
export class AccessDenied extends Error {
  readonly code = 'access-denied' as const;
  override readonly name = 'AccessDenied';
  constructor(
    readonly id: Id,
    readonly scope: string[],
    readonly operation: string,
  ) {
    super(`${operation} of ${describeId(id)} is outside the allowed scope /${scope.join('/')}`);
  }
}

/** Evaluating an expression failed; names the call site and the innermost failing call. */
export class EvaluationError extends Error {
  readonly code = 'evaluation-failed' as const;
  override readonly name = 'EvaluationError';
  constructor(
    message: string,
    readonly site: CallSite,
    readonly plugin?: string,
    readonly functionName?: string,
    options?: { cause?: unknown },
  ) {
    const where = `${describeId(site.entity)}${site.path ? ` at ${site.path.join('.')}` : ''}`;
    const what = plugin !== undefined ? ` in ${plugin}:${functionName}` : '';
    super(`${where}${what}: ${message}`, options);
  }
}

/** A dispatcher was asked for a plugin function it does not have. */
export class UnknownFunction extends Error {
  readonly code = 'unknown-function' as const;
  override readonly name = 'UnknownFunction';
  constructor(
    readonly plugin: string,
    readonly functionName: string,
  ) {
    super(`unknown function ${plugin}:${functionName}`);
  }
}

/** An edge template's selector found no target vertex at instantiation. */
export class TargetNotFound extends Error {
  readonly code = 'target-not-found' as const;
  override readonly name = 'TargetNotFound';
  constructor(
    readonly edgeTemplate: Id,
    readonly selector: Selector,
    readonly source: Id,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `edge template ${describeId(edgeTemplate)}: no target for selector ${describeSelector(selector)} from ${describeId(source)}: ${detail}`,
      options,
    );
  }
}

function describeSelector(selector: Selector): string {
  if (selector.kind === 'id') return `id ${describeId(selector.id)}`;
  const { plugin, function: name, arguments: args } = selector.call;
  // Literal arguments say what was looked for; anything else is left out.
  const literal = args.every((a) => a.kind === 'literal')
    ? JSON.stringify(args.map((a) => (a as { value: unknown }).value))
    : undefined;
  const shown = literal && literal.length > 240 ? `${literal.slice(0, 237)}...` : literal;
  return `finder ${plugin}:${name}${shown ? ` ${shown}` : ''}`;
}

/** Instantiation failed for a reason other than a missing target (bad template, bad count, ...). */
export class InstantiationError extends Error {
  readonly code = 'instantiation-failed' as const;
  override readonly name = 'InstantiationError';
  constructor(
    message: string,
    readonly template: Id,
    options?: { cause?: unknown },
  ) {
    super(`template ${describeId(template)}: ${message}`, options);
  }
}

/** A string that is not a valid id key, or an id with invalid parts. */
export class InvalidId extends Error {
  readonly code = 'invalid-id' as const;
  override readonly name = 'InvalidId';
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid id ${JSON.stringify(input)}: ${reason}`);
  }
}

/** Data that cannot be serialized (or bytes that cannot be deserialized) in a format. */
export class SerializationError extends Error {
  readonly code = 'serialization-failed' as const;
  override readonly name = 'SerializationError';
  constructor(
    message: string,
    readonly format: string,
    options?: { cause?: unknown },
  ) {
    super(`${format}: ${message}`, options);
  }
}

/** A plugin called a host function it was not granted (or that this kind of call lacks). */
export class PermissionDenied extends Error {
  readonly code = 'permission-denied' as const;
  override readonly name = 'PermissionDenied';
  constructor(
    readonly hostFunction: string,
    reason: string,
  ) {
    super(`host function ${hostFunction} denied: ${reason}`);
  }
}
