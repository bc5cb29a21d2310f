/**
 * A small typed client of the agent's API over `fetch`: the browser's, Node's, or
 * {@link unixSocketFetch} for the agent's Unix socket (`@khutulun/api/node`).
 */
import { type ApiEvent, parseEvent } from './events.js';
import { ServerSentEventParser } from './server-sent-events.js';
import type {
  Accepted,
  CompileResult,
  Deleted,
  DeployProgress,
  DeployRequest,
  Diagnostic,
  ErrorBody,
  ExecQuery,
  Health,
  HostItem,
  LogsQuery,
  PluginRequest,
  PluginSummary,
  ServiceDetail,
  ServiceGraph,
  ServiceSummary,
  ToscaRequest,
  ValidateResult,
  WorkloadDetail,
  WorkloadItem,
} from './types.js';

const API_ERROR = Symbol.for('khutulun.api-error');

/** An error answer of the agent (any non-2xx), with its parsed body. */
export class ApiError extends Error {
  readonly [API_ERROR] = true;
  override readonly name = 'ApiError';
  /** The error body's `code` (`service-not-found`, `tosca-invalid`, ...), or `http-STATUS`. */
  readonly code: string;
  readonly diagnostics: Diagnostic[];

  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.error.message);
    this.code = body.error.code;
    this.diagnostics = body.error.diagnostics ?? [];
  }
}

/** Whether a value is an {@link ApiError} (by brand: it may come from another copy of this package). */
export function isApiError(value: unknown): value is ApiError {
  return typeof value === 'object' && value !== null && API_ERROR in value;
}

/** How to reach the agent. */
export interface ApiClientOptions {
  /** The API's origin (`https://host:8443`); empty for the page's own origin. */
  baseUrl?: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Sent with every request, e.g. `authorization`. */
  headers?: Record<string, string>;
}

/** What {@link ApiClient.followEvents} reports besides events. */
export interface FollowOptions {
  /** Only events with `seq` above this; default: only new events. */
  since?: number;
  service?: string;
  signal?: AbortSignal;
  /** Called with `true` when the stream is open and `false` when it dropped (it reconnects). */
  onConnection?: (open: boolean) => void;
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

/** The agent's API, one typed method per route. */
export class ApiClient {
  private readonly base: string;
  private readonly fetcher: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(options: ApiClientOptions = {}) {
    this.base = (options.baseUrl ?? '').replace(/\/$/, '');
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.headers = options.headers ?? {};
  }

  health(): Promise<Health> {
    return this.json('GET', '/v1/health');
  }

  hosts(): Promise<HostItem[]> {
    return this.json('GET', '/v1/hosts');
  }

  services(): Promise<ServiceSummary[]> {
    return this.json('GET', '/v1/services');
  }

  service(name: string): Promise<ServiceDetail> {
    return this.json('GET', `/v1/services/${enc(name)}`);
  }

  outputs(name: string): Promise<Record<string, unknown>> {
    return this.json('GET', `/v1/services/${enc(name)}/outputs`);
  }

  /** Deploys and waits for the result (`wait` true), or answers at once (`wait` false: 202). */
  deploy(request: DeployRequest & { wait: false }): Promise<Accepted>;
  deploy(request: DeployRequest): Promise<ServiceDetail>;
  deploy(request: DeployRequest): Promise<ServiceDetail | Accepted> {
    return this.json('POST', '/v1/services', { body: request });
  }

  /**
   * Deploys, reporting each step as it happens, and resolves with the deployed service; an
   * agent error (TOSCA diagnostics, a failed step) rejects with an {@link ApiError}.
   */
  async deployWithProgress(
    request: DeployRequest,
    onProgress: (progress: DeployProgress) => void,
    signal?: AbortSignal,
  ): Promise<ServiceDetail> {
    const response = await this.request('POST', '/v1/services', {
      body: { ...request, wait: true },
      accept: 'text/event-stream',
      ...(signal ? { signal } : {}),
    });
    let result: ServiceDetail | undefined;
    let failure: ApiError | undefined;
    const parser = new ServerSentEventParser((message) => {
      if (message.event === 'progress') onProgress(JSON.parse(message.data) as DeployProgress);
      else if (message.event === 'result') result = JSON.parse(message.data) as ServiceDetail;
      else if (message.event === 'error') {
        const body = JSON.parse(message.data) as ErrorBody;
        failure = new ApiError(errorStatus(body.error.code), body);
      }
    });
    await readText(response, (chunk) => parser.push(chunk));
    if (failure) throw failure;
    if (!result) throw new Error('the deploy stream ended without a result');
    return result;
  }

  /** Deletes a service: all its workloads, ports and files. */
  deleteService(name: string, wait: false): Promise<Accepted>;
  deleteService(name: string, wait?: true): Promise<Deleted>;
  deleteService(name: string, wait = true): Promise<Deleted | Accepted> {
    return this.json('DELETE', `/v1/services/${enc(name)}`, { query: { wait } });
  }

  /**
   * The workloads (of one service, or all). With `usage`, each running workload this agent
   * or its cluster runs carries `memoryMb`, and `cpuPercent` once the agent read it before.
   */
  workloads(service?: string, options: { usage?: boolean } = {}): Promise<WorkloadItem[]> {
    return this.json('GET', '/v1/workloads', {
      query: { service, ...(options.usage ? { usage: true } : {}) },
    });
  }

  workload(service: string, name: string): Promise<WorkloadDetail> {
    return this.json('GET', workloadPath(service, name));
  }

  /** Restarts a workload (stop, then start with the same spec). */
  restart(service: string, name: string): Promise<WorkloadItem> {
    return this.json('POST', `${workloadPath(service, name)}/restart`);
  }

  /** A workload's logs as text (whole, or `tail` lines). */
  async logs(service: string, name: string, query: LogsQuery = {}): Promise<string> {
    const response = await this.request('GET', `${workloadPath(service, name)}/logs`, {
      query: { ...query, follow: false },
      accept: 'text/plain',
    });
    return response.text();
  }

  /** Follows a workload's logs, calling `onText` with each piece, until `signal` aborts. */
  async followLogs(
    service: string,
    name: string,
    query: Omit<LogsQuery, 'follow'>,
    onText: (text: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      const response = await this.request('GET', `${workloadPath(service, name)}/logs`, {
        query: { ...query, follow: true },
        accept: 'text/plain',
        signal,
      });
      await readText(response, onText);
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }

  /** The path and query of a workload's exec WebSocket (resolve it against a `ws:`/`wss:` origin). */
  execPath(service: string, name: string, query: ExecQuery): string {
    return `${workloadPath(service, name)}/exec?${search({
      command: query.command,
      tty: query.tty,
      cols: query.cols,
      rows: query.rows,
    })}`;
  }

  events(options: { since?: number; limit?: number; service?: string } = {}): Promise<ApiEvent[]> {
    return this.json('GET', '/v1/events', { query: options });
  }

  /**
   * Follows the live event stream until `signal` aborts. When the connection drops it
   * reconnects once it can, resuming after the last event it delivered (no gaps, no
   * repeats): a reconnect on an event, never a timer while connected.
   */
  async followEvents(options: FollowOptions, onEvent: (event: ApiEvent) => void): Promise<void> {
    let since = options.since;
    let delay = 250;
    const { signal } = options;
    while (!signal?.aborted) {
      try {
        const response = await this.request('GET', '/v1/events/stream', {
          query: { since, service: options.service },
          accept: 'text/event-stream',
          ...(signal ? { signal } : {}),
        });
        options.onConnection?.(true);
        delay = 250;
        const parser = new ServerSentEventParser((message) => {
          const event = parseEvent(message.data);
          since = event.seq;
          onEvent(event);
        });
        await readText(response, (chunk) => parser.push(chunk));
      } catch (error) {
        if (signal?.aborted) return;
        if (isApiError(error) && error.status < 500) throw error;
      }
      if (signal?.aborted) return;
      options.onConnection?.(false);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 5000);
    }
  }

  graph(service: string): Promise<ServiceGraph> {
    return this.json('GET', `/v1/graph/services/${enc(service)}`);
  }

  validate(request: ToscaRequest): Promise<ValidateResult> {
    return this.json('POST', '/v1/tosca/validate', { body: request });
  }

  compile(request: ToscaRequest): Promise<CompileResult> {
    return this.json('POST', '/v1/tosca/compile', { body: request });
  }

  plugins(): Promise<PluginSummary[]> {
    return this.json('GET', '/v1/plugins');
  }

  registerPlugin(request: PluginRequest): Promise<PluginSummary> {
    return this.json('POST', '/v1/plugins', { body: request });
  }

  /** Sends a request and parses its JSON answer; a non-2xx answer rejects with {@link ApiError}. */
  async json<T>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query; signal?: AbortSignal } = {},
  ): Promise<T> {
    const response = await this.request(method, path, { ...options, accept: 'application/json' });
    const text = await response.text();
    return (text.trim() === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Sends a request; a non-2xx answer rejects with {@link ApiError}. */
  async request(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query; accept?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const query = options.query ? search(options.query) : '';
    const headers: Record<string, string> = { ...this.headers, accept: options.accept ?? '*/*' };
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    const response = await this.fetcher(`${this.base}${path}${query ? `?${query}` : ''}`, init);
    if (!response.ok) throw new ApiError(response.status, await errorOf(response));
    return response;
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function workloadPath(service: string, name: string): string {
  return `/v1/workloads/${enc(service)}/${enc(name)}`;
}

/** A query string; undefined values are left out, arrays repeat their key. */
function search(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  return params.toString();
}

async function errorOf(response: Response): Promise<ErrorBody> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as Partial<ErrorBody>;
    if (parsed.error && typeof parsed.error.message === 'string') return parsed as ErrorBody;
  } catch {
    // Not JSON: the text is the message.
  }
  return { error: { code: `http-${response.status}`, message: text || response.statusText } };
}

/** The HTTP status an error code is answered with (for errors that arrive in a stream). */
function errorStatus(code: string): number {
  if (code === 'tosca-invalid' || code === 'dependency-cycle') return 422;
  if (code === 'service-exists' || code === 'service-busy') return 409;
  if (code === 'bad-request') return 400;
  return 500;
}

/** Reads a response body as text, piece by piece, until it ends. */
async function readText(response: Response, onText: (text: string) => void): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text) onText(text);
    }
    const rest = decoder.decode();
    if (rest) onText(rest);
  } finally {
    reader.releaseLock();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
