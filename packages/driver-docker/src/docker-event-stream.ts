/**
 * Docker's `/events` as a subscription that survives the daemon: when the stream ends (the
 * daemon stopped or restarted) it reconnects, and after every (re)connection it calls
 * `connected`, where the driver lists once and compares, because the daemon keeps only its
 * last 256 events and none from before its restart.
 *
 * Waiting for the daemon to come back is event-driven too: an inotify watch on the socket's
 * directory wakes a reconnect when the socket appears. A slow back-off (1 s doubling to 30 s)
 * covers what the watch cannot see (a socket directory made anew); it runs only while the
 * daemon is unreachable, so a connected, idle driver wakes for nothing. A stream that ends
 * soon after it was accepted (a daemon on its way down, a proxy that drops it) counts as
 * unreachable too: only the end of a stream that lived `STABLE_MS` reconnects at once.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { DockerEngine } from './docker-engine.js';

/** One event of `/events` (the fields the driver reads). */
export interface DockerEvent {
  Type: string;
  Action: string;
  id?: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: number;
}

/** Options of a `DockerEventStream`. */
export interface DockerEventStreamOptions {
  engine: DockerEngine;
  filters: Record<string, string[]>;
  onEvent(event: DockerEvent): void;
  /** After each successful (re)subscription: resync. Errors are logged, not fatal. */
  connected(): Promise<void>;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

const MAX_BACKOFF_MS = 30_000;
/** How long a subscription must have lived for its end to reconnect at once. */
const STABLE_MS = 5_000;

/** A reconnecting subscription to the daemon's events. */
export class DockerEventStream {
  readonly #options: DockerEventStreamOptions;
  #abort = new AbortController();
  #closed = false;
  #connecting = false;
  /** A subscription is up (its stream has not ended). */
  #live = false;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = 1_000;
  /** When the current subscription was accepted (ms since the epoch). */
  #connectedAt = 0;
  /** Resolves once the first subscription is up (or the first attempt failed). */
  readonly started: Promise<void>;
  /** How many times it (re)connected; a test hook. */
  connections = 0;

  constructor(options: DockerEventStreamOptions) {
    this.#options = options;
    this.started = this.#connect();
  }

  /** Ends the subscription and any pending reconnect. */
  close(): void {
    this.#closed = true;
    this.#abort.abort();
    this.#stopWaiting();
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#connecting || this.#live) return;
    this.#connecting = true;
    let stream: NodeJS.ReadableStream;
    try {
      this.#abort = new AbortController();
      stream = await this.#options.engine.events(this.#options.filters, this.#abort.signal);
    } catch (error) {
      if (!this.#closed) {
        this.#options.log('warn', `docker: cannot subscribe to events: ${String(error)}`);
        this.#waitForDaemon();
      }
      return;
    } finally {
      // Cleared before the resync: a stream that ends during it reconnects at once.
      this.#connecting = false;
    }
    this.#stopWaiting();
    this.#live = true;
    this.#connectedAt = Date.now();
    this.connections++;
    if (this.connections > 1)
      this.#options.log('info', 'docker: reconnected to the event stream; resyncing');
    this.#read(stream);
    try {
      await this.#options.connected();
    } catch (error) {
      this.#options.log('warn', `docker: resync after connecting failed: ${String(error)}`);
    }
  }

  #read(stream: NodeJS.ReadableStream): void {
    let buffered = '';
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#live = false;
      if (this.#closed) return;
      if (Date.now() - this.#connectedAt >= STABLE_MS) {
        this.#backoffMs = 1_000;
        this.#options.log('warn', 'docker: the event stream ended; reconnecting');
        void this.#connect();
        return;
      }
      // Ended as soon as it was accepted: the daemon answers but drops us, so its socket's
      // reappearance means nothing here; only the back-off wakes the next attempt.
      this.#options.log(
        'warn',
        `docker: the event stream ended at once; reconnecting within ${this.#backoffMs} ms`,
      );
      this.#waitForDaemon({ watchSocket: false });
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        try {
          this.#options.onEvent(JSON.parse(line) as DockerEvent);
        } catch (error) {
          this.#options.log('warn', `docker: bad event ${line}: ${String(error)}`);
        }
      }
    });
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  /**
   * Until the daemon answers again: retry after a back-off, or (`watchSocket`, when it did not
   * answer at all) as soon as its socket appears.
   */
  #waitForDaemon(options: { watchSocket: boolean } = { watchSocket: true }): void {
    if (this.#closed) return;
    const socket = this.#options.engine.socketPath;
    if (options.watchSocket && !this.#watcher) {
      try {
        // Only an event naming the socket wakes it (a nameless one, e.g. an inotify overflow
        // in a busy directory, would make a tight loop of it).
        this.#watcher = watch(dirname(socket), (_event, name) => {
          if (name === basename(socket)) void this.#connect();
        });
        this.#watcher.on('error', () => this.#watcher?.close());
      } catch {
        // no directory to watch: the back-off alone
      }
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
  }

  #stopWaiting(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
