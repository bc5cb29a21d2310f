/**
 * The agent's runtime errors. Each carries a stable `code` (the API's error code), the HTTP
 * status it maps to, structured `details` and a `cause`. They are recognised by a brand
 * (`isAgentError`), not by `instanceof`, because they cross module and process boundaries.
 */
import type { Value } from '@khutulun/floria';

const BRAND = Symbol.for('khutulun.agent.error');

/** A TOSCA diagnostic as the API returns it (the compiler's shape, kept as plain data). */
export type ApiDiagnostic = Record<string, Value>;

/** Fields shared by every agent error. */
export interface AgentErrorFields {
  code: string;
  status: number;
  message: string;
  details?: Record<string, Value>;
  diagnostics?: ApiDiagnostic[];
  cause?: unknown;
}

/** Base of the agent's errors; see the subclasses for the cases the API distinguishes. */
export class AgentError extends Error {
  readonly [BRAND] = true;
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, Value> | undefined;
  readonly diagnostics: ApiDiagnostic[] | undefined;

  constructor(fields: AgentErrorFields) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.code = fields.code;
    this.status = fields.status;
    this.details = fields.details;
    this.diagnostics = fields.diagnostics;
  }
}

/** A request the API refuses: bad input (400), missing thing (404), conflict (409), auth (401). */
export class ApiRequestError extends AgentError {}

/** A deploy or delete that failed after work began; a deploy's partial work was rolled back. */
export class DeployError extends AgentError {}

/** The agent could not start (another agent holds the state directory, bad options...). */
export class AgentStartError extends AgentError {}

/** Whether `error` is one of the agent's errors (by brand, across realms and copies). */
export function isAgentError(error: unknown): error is AgentError {
  return (
    typeof error === 'object' && error !== null && (error as { [BRAND]?: boolean })[BRAND] === true
  );
}

/** Shorthands for the request errors the routes raise. */
export const requestErrors = {
  badRequest: (message: string, details?: Record<string, Value>) =>
    new ApiRequestError({ code: 'bad-request', status: 400, message, details }),
  notFound: (code: string, message: string, details?: Record<string, Value>) =>
    new ApiRequestError({ code, status: 404, message, details }),
  conflict: (code: string, message: string, details?: Record<string, Value>) =>
    new ApiRequestError({ code, status: 409, message, details }),
  notImplemented: (code: string, message: string, details?: Record<string, Value>) =>
    new ApiRequestError({ code, status: 501, message, details }),
  unauthorized: () =>
    new ApiRequestError({
      code: 'unauthorized',
      status: 401,
      message: 'a valid bearer token is required',
    }),
};
