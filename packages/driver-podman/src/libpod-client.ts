/**
 * The driver's way into Podman: libpod's REST API over its Unix socket (`podman system
 * service`), with `node:http` and `socketPath`. No maintained npm client exists; the driver
 * needs a handful of calls, behind this small interface the package owns (so a test double
 * can stand in where the real service cannot run).
 */
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:http';
import type { Duplex, Readable } from 'node:stream';

/** The API version prefix of every call (Podman 4's libpod API). */
export const LIBPOD = '/v4.0.0/libpod';

/** Query parameters of a call; `filters` objects are sent as JSON. */
export type Query = Record<string, string | number | boolean | undefined | object>;

/** A finished call: its status code and its body (parsed JSON, or text when not JSON). */
export interface LibpodResponse<T = unknown> {
  status: number;
  body: T;
}

/** A libpod call that failed (a status of 400 or more, or the socket). */
export class LibpodError extends Error {
  override readonly name = 'LibpodError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the driver asks of libpod. */
export interface LibpodClient {
  /** The socket it talks to. */
  readonly socketPath: string;
  /**
   * Calls the API and resolves with the status and body, whatever the status (the caller
   * decides what a 404 or a 409 means). `body` is sent as JSON, or streamed as is.
   */
  call<T = unknown>(
    method: string,
    path: string,
    options?: { query?: Query; body?: unknown; stream?: Readable; contentType?: string },
  ): Promise<LibpodResponse<T>>;
  /** Opens a streaming GET (events, logs with follow): resolves with the response once it has headers. */
  stream(path: string, query?: Query, signal?: AbortSignal): Promise<IncomingMessage>;
  /**
   * Starts a call whose connection is then the stream itself (exec start): resolves with the
   * raw duplex socket once libpod switched protocols.
   */
  hijack(path: string, body: unknown): Promise<Duplex>;
  /** Ends idle connections. */
  close(): void;
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    params.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function parse(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The libpod client over `node:http` and a Unix socket. */
export class HttpLibpodClient implements LibpodClient {
  readonly socketPath: string;
  /** Keep-alive connections for the many short calls of a deploy. */
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  call<T = unknown>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown; stream?: Readable; contentType?: string } = {},
  ): Promise<LibpodResponse<T>> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      let payload: string | undefined;
      if (options.stream) headers['content-type'] = options.contentType ?? 'application/x-tar';
      else if (options.body !== undefined) {
        payload = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      const req = request(
        {
          socketPath: this.socketPath,
          agent: this.#agent,
          method,
          path: `${LIBPOD}${path}${queryString(options.query)}`,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('error', reject);
          res.once('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: parse(Buffer.concat(chunks).toString('utf8')) as T,
            }),
          );
        },
      );
      req.once('error', (cause) =>
        reject(
          new LibpodError(method, path, 0, `libpod ${method} ${path}: ${cause.message}`, { cause }),
        ),
      );
      if (options.stream) options.stream.pipe(req);
      else req.end(payload);
    });
  }

  stream(path: string, query?: Query, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        method: 'GET',
        path: `${LIBPOD}${path}${queryString(query)}`,
        ...(signal ? { signal } : {}),
      });
      req.once('response', (res) => {
        if ((res.statusCode ?? 0) < 400) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          const body = parse(Buffer.concat(chunks).toString('utf8')) as { message?: string };
          reject(
            new LibpodError(
              'GET',
              path,
              res.statusCode ?? 0,
              body?.message ?? `status ${res.statusCode}`,
            ),
          );
        });
      });
      req.once('error', (cause) =>
        reject(new LibpodError('GET', path, 0, `libpod GET ${path}: ${cause.message}`, { cause })),
      );
      req.end();
    });
  }

  hijack(path: string, body: unknown): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = request({
        socketPath: this.socketPath,
        method: 'POST',
        path: `${LIBPOD}${path}`,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
          connection: 'Upgrade',
          upgrade: 'tcp',
        },
      });
      req.once('upgrade', (_res, socket, head) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const parsed = parse(text) as { message?: string } | string | undefined;
          const message = typeof parsed === 'object' ? parsed?.message : parsed;
          reject(
            new LibpodError(
              'POST',
              path,
              res.statusCode ?? 0,
              message || `status ${res.statusCode}`,
            ),
          );
        });
      });
      req.once('error', (cause) =>
        reject(
          new LibpodError('POST', path, 0, `libpod POST ${path}: ${cause.message}`, { cause }),
        ),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The message of a libpod error body (`{ message, cause }`), or the text. */
export function errorMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body)
    return String((body as { message: unknown }).message);
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/**
 * A client whose connection failures (the service not answering: status 0) become the error
 * `unreachable` makes, so that callers see one kind of error for an engine that is down.
 */
export function guardLibpod(
  client: LibpodClient,
  unreachable: (error: LibpodError) => Error,
): LibpodClient {
  const guard = (error: unknown): never => {
    if (error instanceof LibpodError && error.status === 0) throw unreachable(error);
    throw error;
  };
  return {
    socketPath: client.socketPath,
    call: <T>(method: string, path: string, options?: Parameters<LibpodClient['call']>[2]) =>
      client.call<T>(method, path, options).catch(guard),
    stream: (path, query, signal) => client.stream(path, query, signal).catch(guard),
    hijack: (path, body) => client.hijack(path, body).catch(guard),
    close: () => client.close(),
  };
}
