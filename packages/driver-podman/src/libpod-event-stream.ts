/**
 * One long-lived libpod event stream (`GET /events?stream=true`, NDJSON). When it connects
 * (the first time and after every reconnect) the owner resyncs; when it ends (the service
 * stopped or restarted) it reconnects with backoff, and only then: connected and idle, it
 * runs nothing.
 */
import type { LibpodClient, Query } from './libpod-client.js';
import type { LibpodEvent } from './libpod-types.js';

/** What the stream reports to its owner. */
export interface EventStreamHandlers {
  /** Each event, in order. */
  event(event: LibpodEvent): void;
  /** The stream is connected (events from now on arrive): list once and compare. */
  connected(): void;
  /** The stream ended or could not connect (it retries). */
  disconnected?(error?: unknown): void;
}

/** Options of a `LibpodEventStream`. */
export interface EventStreamOptions {
  /** libpod's event filters, e.g. `{ type: ['container'], label: ['k=v'] }`. */
  filters: Query;
  /** The first and the longest wait between reconnects (default 100 ms and 2 s). */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** A libpod event stream that reconnects until closed. */
export class LibpodEventStream {
  readonly #client: LibpodClient;
  readonly #handlers: EventStreamHandlers;
  readonly #filters: Query;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  #delay: number;
  #abort: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(client: LibpodClient, handlers: EventStreamHandlers, options: EventStreamOptions) {
    this.#client = client;
    this.#handlers = handlers;
    this.#filters = options.filters;
    this.#minDelay = options.minDelayMs ?? 100;
    this.#maxDelay = options.maxDelayMs ?? 2_000;
    this.#delay = this.#minDelay;
    this.#connect();
  }

  #connect(): void {
    if (this.#closed) return;
    const abort = new AbortController();
    this.#abort = abort;
    let ended = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      if (this.#closed) return;
      this.#handlers.disconnected?.(error);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#connect();
      }, this.#delay);
      this.#delay = Math.min(this.#delay * 2, this.#maxDelay);
    };
    this.#client
      .stream('/events', { stream: true, filters: this.#filters }, abort.signal)
      .then((res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
            const line = buffer.slice(0, i).trim();
            buffer = buffer.slice(i + 1);
            if (!line) continue;
            let event: LibpodEvent;
            try {
              event = JSON.parse(line) as LibpodEvent;
            } catch {
              continue;
            }
            this.#handlers.event(event);
          }
        });
        res.once('end', () => end());
        res.once('close', () => end());
        res.once('error', end);
        this.#delay = this.#minDelay;
        this.#handlers.connected();
      }, end);
  }

  /** Drops the connection and reconnects (e.g. after a failed resync). */
  reconnect(): void {
    this.#abort?.abort();
  }

  /** Ends the stream for good. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort?.abort();
  }
}
