/**
 * Node-only transports, for the CLI and the terminal dashboard: a `fetch` over the agent's
 * Unix socket (Node's own `fetch` cannot reach one), and over HTTPS with the agent's own CA.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/**
 * A `fetch` that sends every request to the HTTP server on `socketPath` (the URL's host is
 * ignored; its path and query are used). The body streams (SSE, followed logs) and an abort
 * signal closes the connection.
 */
export function unixSocketFetch(socketPath: string): typeof fetch {
  return nodeFetch({ socketPath });
}

/** A `fetch` over HTTPS that trusts `ca` (PEM), e.g. an agent's self-signed certificate. */
export function httpsFetch(ca: string | Buffer): typeof fetch {
  return nodeFetch({ ca });
}

function nodeFetch(target: { socketPath?: string; ca?: string | Buffer }): typeof fetch {
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(
        typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
        'http://agent',
      );
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => {
        headers[key] = value;
      });
      const body = typeof init.body === 'string' ? init.body : undefined;
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const options: https.RequestOptions = {
        path: url.pathname + url.search,
        method: init.method ?? 'GET',
        headers,
      };
      if (target.socketPath) options.socketPath = target.socketPath;
      else {
        options.host = url.hostname;
        options.port = url.port;
      }
      if (target.ca) options.ca = target.ca;
      const secure = !target.socketPath && url.protocol === 'https:';
      const request = (secure ? https : http).request(options, (response) => {
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(response.headers)) {
          if (value !== undefined) responseHeaders.set(key, String(value));
        }
        const status = response.statusCode ?? 500;
        const stream = Readable.toWeb(response) as unknown as ReadableStream<Uint8Array>;
        resolve(
          new Response(status === 204 || status === 304 ? null : stream, {
            status,
            headers: responseHeaders,
          }),
        );
      });
      const signal = init.signal;
      if (signal) {
        if (signal.aborted) request.destroy(new DOMException('aborted', 'AbortError'));
        signal.addEventListener(
          'abort',
          () => request.destroy(new DOMException('aborted', 'AbortError')),
          { once: true },
        );
      }
      request.on('error', reject);
      request.end(body);
    });
}
