/**
 * Any agent serves the cluster: a request about a workload or service another host's agent
 * runs is relayed to that agent over NATS, and its answer streamed back (so `workload logs -f`
 * follows through whichever agent the CLI talks to).
 *
 * Protocol, JSON messages on the cluster's NATS (only members, with the cluster's
 * credentials, can publish there):
 * - request, to `khutulun.<cluster>.api.<host>`:
 *   `{ method, path, body?, reply }` (`body` base64);
 * - answers, to `reply`, in order: `{ type: "head", status, contentType, cancel }`, then
 *   `{ type: "data", data }` (base64) chunks, then `{ type: "end" }` (or `{ type: "error" }`);
 * - a message to `cancel` (the requester went away) aborts the request on the owner.
 *
 * Only the routes that act on one workload or delete a service are relayed
 * ({@link RELAYED_ROUTES}); a relayed request carries `x-khutulun-relayed`, and is never
 * relayed again.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster } from '@khutulun/cluster';
import { ApiRequestError, requestErrors } from './agent-error.js';

/** The header a relayed request carries: its answer is the owner's, never relayed further. */
export const RELAYED_HEADER = 'x-khutulun-relayed';

/** The routes an agent answers for another: method and path. */
export const RELAYED_ROUTES: ReadonlyArray<{ method: string; path: RegExp }> = [
  { method: 'GET', path: /^\/v1\/workloads\/[^/]+\/[^/]+\/logs(\?.*)?$/ },
  { method: 'POST', path: /^\/v1\/workloads\/[^/]+\/[^/]+\/restart(\?.*)?$/ },
  { method: 'DELETE', path: /^\/v1\/services\/[^/]+(\?.*)?$/ },
];

/** How long the owner has to answer a relayed request's head. */
const HEAD_TIMEOUT_MS = 10_000;
/** NATS carries up to 1 MiB per message by default: chunks stay well below. */
const CHUNK_BYTES = 256 * 1024;

type RelayMessage =
  | { type: 'head'; status: number; contentType: string | null; cancel: string }
  | { type: 'data'; data: string }
  | { type: 'end' }
  | { type: 'error'; message: string };

/** The subject an agent takes relayed requests on. */
export function relaySubject(base: string, host: string): string {
  return `${base}.api.${host}`;
}

/**
 * Serves relayed requests for this host with `fetch` (the agent's API app, as on its Unix
 * socket). Returns the function that stops serving.
 */
export function serveRelay(
  nats: Cluster['nats'],
  base: string,
  host: string,
  fetch: (request: Request) => Response | Promise<Response>,
  log: (level: 'warn', message: string) => void,
): () => void {
  const subscription = nats.subscribe(relaySubject(base, host), {
    callback: (error, message) => {
      if (error) return;
      void (async () => {
        let request: { method: string; path: string; body?: string; reply: string };
        try {
          request = message.json();
        } catch {
          return;
        }
        const send = (m: RelayMessage) => nats.publish(request.reply, JSON.stringify(m));
        if (!RELAYED_ROUTES.some((r) => r.method === request.method && r.path.test(request.path))) {
          send({ type: 'error', message: `${request.method} ${request.path} is not relayed` });
          return;
        }
        const abort = new AbortController();
        const cancel = `${request.reply}.cancel`;
        const cancelled = nats.subscribe(cancel, { max: 1, callback: () => abort.abort() });
        try {
          const response = await fetch(
            new Request(`http://relay${request.path}`, {
              method: request.method,
              headers: { 'content-type': 'application/json', [RELAYED_HEADER]: host },
              ...(request.body ? { body: Buffer.from(request.body, 'base64') } : {}),
              signal: abort.signal,
            }),
          );
          send({
            type: 'head',
            status: response.status,
            contentType: response.headers.get('content-type'),
            cancel,
          });
          const reader = response.body?.getReader();
          abort.signal.addEventListener('abort', () => void reader?.cancel().catch(() => {}));
          for (;;) {
            const chunk = reader ? await reader.read() : { done: true as const };
            if (chunk.done) break;
            for (let at = 0; at < chunk.value.length; at += CHUNK_BYTES) {
              const data = Buffer.from(chunk.value.subarray(at, at + CHUNK_BYTES));
              send({ type: 'data', data: data.toString('base64') });
            }
          }
          send({ type: 'end' });
        } catch (error) {
          if (!abort.signal.aborted) {
            log('warn', `relayed ${request.method} ${request.path}: ${(error as Error).message}`);
            send({ type: 'error', message: (error as Error).message });
          }
        } finally {
          cancelled.unsubscribe();
        }
      })();
    },
  });
  return () => subscription.unsubscribe();
}

/**
 * Relays `request` (path and query, method, body) to `host`'s agent and answers with its
 * response, streamed. 503 `host-unreachable` when that agent does not answer in time.
 */
export async function relay(
  nats: Cluster['nats'],
  base: string,
  host: string,
  request: Request,
): Promise<Response> {
  const url = new URL(request.url);
  const body =
    request.method === 'GET' || request.method === 'HEAD'
      ? undefined
      : Buffer.from(await request.arrayBuffer());
  const reply = `${base}.relay.${randomUUID()}`;
  const queue: RelayMessage[] = [];
  let wake: (() => void) | undefined;
  const subscription = nats.subscribe(reply, {
    callback: (error, message) => {
      if (error) return;
      try {
        queue.push(message.json<RelayMessage>());
      } catch {
        return;
      }
      wake?.();
    },
  });
  const next = async (timeoutMs?: number): Promise<RelayMessage | undefined> => {
    while (!queue.length) {
      const woken = new Promise<boolean>((resolve) => {
        wake = () => resolve(true);
        if (timeoutMs !== undefined) setTimeout(() => resolve(false), timeoutMs).unref();
      });
      if (!(await woken)) return undefined;
    }
    return queue.shift();
  };
  nats.publish(
    relaySubject(base, host),
    JSON.stringify({
      method: request.method,
      path: url.pathname + url.search,
      ...(body?.length ? { body: body.toString('base64') } : {}),
      reply,
    }),
  );
  const head = await next(HEAD_TIMEOUT_MS);
  if (head?.type !== 'head') {
    subscription.unsubscribe();
    if (head?.type === 'error') throw requestErrors.badRequest(head.message);
    throw new ApiRequestError({
      code: 'host-unreachable',
      status: 503,
      message: `the agent of host ${host} did not answer`,
      details: { host },
    });
  }
  let done = false;
  const finish = () => {
    done = true;
    subscription.unsubscribe();
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const message = await next();
      if (!message || message.type === 'end') {
        finish();
        controller.close();
      } else if (message.type === 'data') {
        controller.enqueue(Buffer.from(message.data, 'base64'));
      } else {
        finish();
        controller.error(new Error(message.type === 'error' ? message.message : 'bad relay'));
      }
    },
    cancel() {
      if (!done) nats.publish(head.cancel, '');
      finish();
    },
  });
  return new Response(stream, {
    status: head.status,
    headers: head.contentType ? { 'content-type': head.contentType } : {},
  });
}
