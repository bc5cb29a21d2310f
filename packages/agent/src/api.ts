import type { Value } from '@khutulun/floria';
import { Hono } from 'hono';
import { isAgentError, requestErrors } from './agent-error.js';

/** What the API needs from the running agent. */
export interface ApiContext {
  host: string;
  stateDir: string;
  startedAt: string;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

/**
 * Builds the HTTP/JSON API (see API.md). Errors from every route become the one error body
 * here, in `onError`, and nowhere else.
 */
export function createApi(context: ApiContext): Hono {
  const app = new Hono();

  if (context.token) {
    const expected = `Bearer ${context.token}`;
    app.use('*', async (c, next) => {
      if (c.req.header('authorization') !== expected) throw requestErrors.unauthorized();
      await next();
    });
  }

  app.get('/v1/health', (c) =>
    c.json({
      ok: true,
      version: '0.1.0',
      host: context.host,
      pid: process.pid,
      stateDir: context.stateDir,
    }),
  );

  app.notFound(() => {
    throw requestErrors.notFound('not-found', 'no such route');
  });

  app.onError((error, c) => {
    const body = errorBody(error);
    return c.json(body, (isAgentError(error) ? error.status : 500) as 500);
  });

  return app;
}

/** The API's error body for any thrown value (also sent as the last SSE `error` event). */
export function errorBody(error: unknown): { error: Record<string, Value> } {
  if (isAgentError(error)) {
    const body: Record<string, Value> = { code: error.code, message: error.message };
    if (error.details) body.details = error.details;
    if (error.diagnostics?.length) body.diagnostics = error.diagnostics;
    if (error.cause !== undefined) body.cause = causeOf(error.cause);
    return { error: body };
  }
  return { error: { code: 'internal', message: messageOf(error) } };
}

function causeOf(cause: unknown): Value {
  if (typeof cause === 'object' && cause !== null) {
    const c = cause as { code?: unknown; message?: unknown };
    return {
      code: typeof c.code === 'string' ? c.code : 'error',
      message: typeof c.message === 'string' ? c.message : String(cause),
    };
  }
  return { code: 'error', message: String(cause) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
