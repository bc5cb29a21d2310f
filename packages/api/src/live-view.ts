/**
 * A live view of the cluster for dashboards: services, workloads and hosts loaded once, then
 * kept current from the event stream (no polling). Views subscribe to it (React's
 * `useSyncExternalStore` fits); each event patches only what it is about, so a state change
 * reaches the screen in one render.
 */
import type { ApiClient } from './api-client.js';
import { type ApiEvent, eventService, eventWorkload } from './events.js';
import type { Health, HostItem, ServiceSummary, WorkloadItem, WorkloadState } from './types.js';

/** How many events the timeline keeps. */
const EVENT_BUFFER = 2000;

/** Workload properties that an event patches into the list item, by property name. */
const PATCHED: Record<string, keyof WorkloadItem> = {
  state: 'state',
  pid: 'pid',
  restarts: 'restarts',
  started_at: 'startedAt',
  host: 'host',
  container_id: 'containerId',
  image: 'image',
  ports: 'ports',
};

/** A snapshot of the live state; a new object whenever anything in it changes. */
export interface LiveState {
  connected: boolean;
  health: Health | undefined;
  services: Map<string, ServiceSummary>;
  /** By `service/name`. */
  workloads: Map<string, WorkloadItem>;
  hosts: HostItem[];
  /** The newest events, oldest first. */
  events: ApiEvent[];
  lastSeq: number;
  /** Bumped when a service's structure (its vertexes and edges) may have changed. */
  structure: Map<string, number>;
  error: string | undefined;
}

/** Applies a `property-changed` event to the workload it is about, in place (if it is one). */
function patchWorkload(workloads: Map<string, WorkloadItem>, event: ApiEvent): void {
  if (event.type !== 'property-changed' || !event.data) return;
  const service = eventService(event);
  const workload = eventWorkload(event);
  const field = PATCHED[event.data.property];
  if (!service || !workload || !field) return;
  const key = workloadKey(service, workload);
  const item = workloads.get(key);
  if (item) workloads.set(key, { ...item, [field]: event.data.new ?? undefined });
}

/** The key of a workload in {@link LiveState.workloads}. */
export function workloadKey(service: string, name: string): string {
  return `${service}/${name}`;
}

/** The live state and its event stream. */
export class LiveView {
  private state: LiveState = {
    connected: false,
    health: undefined,
    services: new Map(),
    workloads: new Map(),
    hosts: [],
    events: [],
    lastSeq: 0,
    structure: new Map(),
    error: undefined,
  };
  private readonly listeners = new Set<() => void>();
  private readonly abort = new AbortController();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stale = new Set<string>();
  private notifyScheduled = false;
  private pending: ApiEvent[] = [];
  private connections = 0;

  constructor(readonly api: ApiClient) {}

  /** Loads everything, then follows the event stream until {@link close}. */
  async start(): Promise<void> {
    try {
      const health = await this.api.health();
      const since = health.lastSeq;
      const [backlog] = await Promise.all([
        this.api.events({ since: Math.max(0, since - 300), limit: 300 }),
        this.reload(),
      ]);
      this.state = { ...this.state, health, events: backlog, lastSeq: since };
      this.notify();
      this.api
        .followEvents(
          {
            since,
            signal: this.abort.signal,
            onConnection: (connected) => {
              this.state = { ...this.state, connected };
              this.notify();
              // After a reconnect, what the stream resumed from is replayed; the lists are read
              // again as well, in case the agent restarted (the first connect needs neither).
              if (connected && this.connections++ > 0) this.scheduleRefresh('*');
            },
          },
          (event) => this.apply(event),
        )
        // The stream gives up only on a refusal (e.g. 401: the session is gone): say so.
        .catch((error: Error) => {
          this.state = { ...this.state, connected: false, error: error.message };
          this.notify();
        });
    } catch (error) {
      this.state = { ...this.state, error: (error as Error).message };
      this.notify();
    }
  }

  close(): void {
    this.abort.abort();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  snapshot = (): LiveState => this.state;

  /** Reloads the lists now (after an action whose events may take a moment). */
  async reload(): Promise<void> {
    // Events received before the request are in its answer; later ones are applied again on
    // top of it (the answer may predate them).
    const received = this.pending.at(-1)?.seq ?? this.state.lastSeq;
    const [services, workloads, hosts] = await Promise.all([
      this.api.services(),
      this.api.workloads(),
      this.api.hosts(),
    ]);
    const fresh = new Map(workloads.map((w) => [workloadKey(w.service, w.name), w]));
    const later = this.state.events.filter((e) => e.seq > received);
    for (const event of later) patchWorkload(fresh, event);
    this.state = {
      ...this.state,
      services: new Map(services.map((s) => [s.name, s])),
      workloads: fresh,
      hosts,
      error: undefined,
    };
    for (const service of new Set(later.map(eventService))) {
      if (service) this.patchReady(service, fresh);
    }
    this.notify();
  }

  /** Queues an event; the queue is applied once per frame (see {@link flush}). */
  private apply(event: ApiEvent): void {
    this.pending.push(event);
    this.notify();
  }

  /**
   * Applies the queued events in one step: one copy of the workloads and the timeline however
   * many events arrived since the last frame (a burst then costs one render and little
   * garbage).
   */
  private flush(): void {
    if (!this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    const kept = this.state.events.length + batch.length - EVENT_BUFFER;
    const events = [...(kept > 0 ? this.state.events.slice(kept) : this.state.events), ...batch];
    let workloads: Map<string, WorkloadItem> | undefined;
    let structure: Map<string, number> | undefined;
    const recount = new Set<string>();
    for (const event of batch) {
      const service = eventService(event);
      const workload = eventWorkload(event);
      if (service && workload && event.type === 'property-changed' && event.data) {
        const field = PATCHED[event.data.property];
        if (field && (workloads ?? this.state.workloads).has(workloadKey(service, workload))) {
          workloads ??= new Map(this.state.workloads);
          patchWorkload(workloads, event);
          if (field === 'state') recount.add(service);
        }
      }
      if (service) {
        if (event.type === 'added' || event.type === 'removed') {
          structure ??= new Map(this.state.structure);
          structure.set(service, (structure.get(service) ?? 0) + 1);
          this.scheduleRefresh(service);
        } else if (event.type.startsWith('service-')) {
          this.scheduleRefresh(service);
        }
      }
    }
    this.state = {
      ...this.state,
      events: events.length > EVENT_BUFFER ? events.slice(-EVENT_BUFFER) : events,
      workloads: workloads ?? this.state.workloads,
      structure: structure ?? this.state.structure,
      lastSeq: batch.at(-1)!.seq,
    };
    for (const service of recount) this.patchReady(service, this.state.workloads);
  }

  /** Recounts a service's running workloads after a state change, without a request. */
  private patchReady(service: string, workloads: Map<string, WorkloadItem>): void {
    const summary = this.state.services.get(service);
    if (!summary) return;
    let ready = 0;
    let total = 0;
    for (const w of workloads.values()) {
      if (w.service !== service) continue;
      total++;
      if ((w.state as WorkloadState) === 'running') ready++;
    }
    const state =
      summary.state === 'running' || summary.state === 'degraded'
        ? ready === total
          ? 'running'
          : 'degraded'
        : summary.state;
    const services = new Map(this.state.services);
    services.set(service, { ...summary, ready, workloads: total, state });
    this.state = { ...this.state, services };
  }

  /** Coalesces structural changes (a deploy adds hundreds of entities) into one reload. */
  private scheduleRefresh(service: string): void {
    this.stale.add(service);
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.stale.clear();
      this.reload().catch((error: Error) => {
        this.state = { ...this.state, error: error.message };
        this.notify();
      });
    }, 150);
  }

  /**
   * Tells the listeners at most once per animation frame however many events arrive (in a
   * browser; elsewhere once per microtask), so a burst costs one render, not one per event.
   */
  private notify(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    const run = () => {
      this.notifyScheduled = false;
      this.flush();
      for (const listener of this.listeners) listener();
    };
    if (typeof requestAnimationFrame === 'function') requestAnimationFrame(run);
    else queueMicrotask(run);
  }
}
