/**
 * A client of the agent's HTTP/JSON API, over its Unix socket or over TCP (with TLS and a
 * bearer token). The CLI talks to the agent only through this.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { type ServerSentEvent, ServerSentEventParser } from '@khutulun/api';
import { CliError } from './cli-error.js';

/** Where the agent's API is. */
export type AgentEndpoint =
  | { kind: 'unix'; socketPath: string }
  | { kind: 'tcp'; url: URL; token?: string; caFile?: string };

/** A short human description of an endpoint, for messages. */
export function describeEndpoint(endpoint: AgentEndpoint): string {
  return endpoint.kind === 'unix' ? endpoint.socketPath : endpoint.url.origin;
}

/** Options of one API request. */
export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

/** The agent's API, as the CLI uses it. */
export class AgentClient {
  constructor(readonly endpoint: AgentEndpoint) {}

  /** Sends a request and returns the parsed JSON answer (undefined for an empty body). */
  async json<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { body } = await this.send(method, path, options, 'application/json');
    const text = body.toString('utf8');
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new CliError(
        'agent',
        `the agent's answer to ${method} ${path} is not JSON`,
        {},
        { cause },
      );
    }
  }

  /** Sends a request and returns the answer as text (for logs). */
  async text(method: string, path: string, options: RequestOptions = {}): Promise<string> {
    const { body } = await this.send(method, path, options, 'text/plain, */*');
    return body.toString('utf8');
  }

  /** Whether an agent answers at the endpoint at all (any HTTP answer counts). */
  async reachable(): Promise<boolean> {
    try {
      await this.open('GET', '/v1/health', {}, 'application/json').then((res) => res.resume());
      return true;
    } catch (error) {
      if (error instanceof CliError && error.kind === 'agent-unreachable') return false;
      throw error;
    }
  }

  /**
   * Streams a response's body to `onChunk` until the agent ends it or `signal` aborts (which
   * resolves normally: the user asked to stop).
   */
  async stream(
    method: string,
    path: string,
    onChunk: (chunk: string) => void,
    options: RequestOptions = {},
    accept = 'text/plain, */*',
  ): Promise<void> {
    let res: http.IncomingMessage;
    try {
      res = await this.open(method, path, options, accept);
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    }
    if ((res.statusCode ?? 500) >= 300) {
      throw responseError(method, path, res.statusCode ?? 500, await readAll(res));
    }
    res.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      const stop = () => {
        res.destroy();
        resolve();
      };
      options.signal?.addEventListener('abort', stop, { once: true });
      res.on('data', (chunk: string) => onChunk(chunk));
      res.on('end', () => resolve());
      res.on('error', (error) => (options.signal?.aborted ? resolve() : reject(this.lost(error))));
      res.on('close', () => {
        options.signal?.removeEventListener('abort', stop);
        resolve();
      });
    });
  }

  /** Follows a server-sent event stream (GET, or POST with a body), calling `onEvent` for each message. */
  async events(
    method: string,
    path: string,
    onEvent: (event: ServerSentEvent) => void,
    options: RequestOptions = {},
  ): Promise<void> {
    const parser = new ServerSentEventParser(onEvent);
    await this.stream(method, path, (chunk) => parser.push(chunk), options, 'text/event-stream');
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    accept: string,
  ): Promise<{ status: number; body: Buffer }> {
    const res = await this.open(method, path, options, accept);
    const body = await readAll(res);
    const status = res.statusCode ?? 500;
    if (status >= 300) throw responseError(method, path, status, body);
    return { status, body };
  }

  private open(
    method: string,
    path: string,
    options: RequestOptions,
    accept: string,
  ): Promise<http.IncomingMessage> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) search.set(key, String(value));
    }
    const target = search.size > 0 ? `${path}?${search}` : path;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      let req: http.ClientRequest;
      const onResponse = (res: http.IncomingMessage) => resolve(res);
      if (this.endpoint.kind === 'unix') {
        req = http.request(
          { socketPath: this.endpoint.socketPath, path: target, method, headers },
          onResponse,
        );
      } else {
        const { url, token, caFile } = this.endpoint;
        if (token) headers.authorization = `Bearer ${token}`;
        const base = url.pathname.replace(/\/$/, '');
        const requestOptions: https.RequestOptions = {
          host: url.hostname,
          port: url.port,
          path: base + target,
          method,
          headers,
        };
        if (url.protocol === 'https:') {
          if (caFile) requestOptions.ca = readFileSync(caFile);
          req = https.request(requestOptions, onResponse);
        } else {
          req = http.request(requestOptions, onResponse);
        }
      }
      if (options.signal) {
        const signal = options.signal;
        if (signal.aborted) req.destroy();
        signal.addEventListener('abort', () => req.destroy(), { once: true });
      }
      req.on('error', (error) => reject(this.lost(error)));
      req.end(payload);
    });
  }

  private lost(error: Error & { code?: string }): CliError {
    const where = describeEndpoint(this.endpoint);
    const unreachable = [
      'ENOENT',
      'ENOTDIR',
      'ECONNREFUSED',
      'ECONNRESET',
      'EHOSTUNREACH',
      'ENOTFOUND',
    ];
    if (error.code === 'EACCES') {
      return new CliError(
        'failure',
        `permission denied on the agent's socket ${where} (it is the agent user's; run as that user, or use --state-dir)`,
        { where },
        { cause: error },
      );
    }
    if (error.code && unreachable.includes(error.code)) {
      return new CliError(
        'agent-unreachable',
        `no agent answers at ${where} (${error.code})`,
        { where },
        { cause: error },
      );
    }
    return new CliError(
      'agent',
      `talking to the agent at ${where}: ${error.message}`,
      { where },
      { cause: error },
    );
  }
}

async function readAll(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function responseError(method: string, path: string, status: number, body: Buffer): CliError {
  return agentErrorFromBody(body.toString('utf8'), status, `${method} ${path}`);
}

/**
 * Turns an agent error body (`{ error: { code, message, details, diagnostics, cause } }`,
 * or any text) into a CliError whose lines show the diagnostics and causes.
 */
export function agentErrorFromBody(body: string, status: number, where: string): CliError {
  const text = body.trim();
  let message = text || `HTTP ${status}`;
  let code: string | undefined;
  let lines: string[] | undefined;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const error = (
      typeof parsed.error === 'object' && parsed.error !== null ? parsed.error : parsed
    ) as Record<string, unknown>;
    if (typeof error.message === 'string') message = error.message;
    else if (typeof parsed.error === 'string') message = parsed.error;
    if (typeof error.code === 'string') code = error.code;
    lines = [...(diagnosticLines(error.diagnostics) ?? []), ...causeLines(error, status >= 500)];
  } catch {
    // Not JSON: keep the text as the message.
  }
  return new CliError('agent', message, {
    status,
    ...(code ? { code } : {}),
    where,
    ...(lines && lines.length > 0 ? { lines } : {}),
  });
}

/**
 * The `cause` (and with `withDetails` the `details`) of an agent error body, as indented
 * lines. Details say where a failure happened (step, workload); for a request error such as
 * a 404 they only repeat the message.
 */
function causeLines(error: Record<string, unknown>, withDetails: boolean): string[] {
  const lines: string[] = [];
  const details = error.details;
  if (withDetails && typeof details === 'object' && details !== null) {
    for (const [key, value] of Object.entries(details)) {
      lines.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    }
  }
  let cause = error.cause as Record<string, unknown> | undefined;
  for (let depth = 0; cause && typeof cause === 'object' && depth < 5; depth++) {
    if (typeof cause.message === 'string') lines.push(`  caused by: ${cause.message}`);
    cause = cause.cause as Record<string, unknown> | undefined;
  }
  return lines;
}

/**
 * Formats TOSCA diagnostics as `file:line:col: severity CODE: message`, the form editors and
 * CI annotators understand.
 */
function diagnosticLines(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((d: unknown) => {
    if (typeof d === 'string') return d;
    const diag = (d ?? {}) as Record<string, unknown>;
    if (typeof diag.formatted === 'string') return diag.formatted;
    const location = (diag.location ?? diag) as Record<string, unknown>;
    const file = location.file ?? location.path ?? '';
    const line = location.line ?? '';
    const column = location.column ?? location.col ?? '';
    const place = file ? `${file}:${line}:${column}: ` : '';
    const severity = typeof diag.severity === 'string' ? diag.severity : 'error';
    const code = typeof diag.code === 'string' ? ` ${diag.code}` : '';
    return `${place}${severity}${code}: ${String(diag.message ?? JSON.stringify(d))}`;
  });
}
