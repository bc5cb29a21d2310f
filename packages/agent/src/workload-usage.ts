/**
 * What workloads use (`GET /v1/workloads?usage=true`, for `khutulun top` and the dashboards):
 * CPU percent and memory, asked of each workload's driver only when a client asks, never on
 * a timer. CPU percent is the CPU time used between this reading and the previous one, over
 * the time between them, so the first reading of a workload has memory only.
 *
 * In a cluster, each host's agent measures its own workloads: the agent answering asks the
 * others (relayed, once) and takes their figures for their workloads.
 */
import type { WorkloadItem } from '@khutulun/api';
import type { Vertex } from '@khutulun/floria';
import type { AgentServices } from './agent-services.js';
import { RELAYED_HEADER } from './api-relay.js';
import { storedRef } from './workload-views.js';

/** How many drivers are asked at once (a Podman or Docker call each). */
const CONCURRENCY = 16;
/** A reading older than this is forgotten (its workload is gone or nobody asks). */
const FORGET_MS = 10 * 60_000;

interface Reading {
  cpuSeconds: number;
  at: number;
}

/** The previous reading of each workload, for CPU percent; one per agent. */
export class UsageReadings {
  readonly #last = new Map<string, Reading>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Fills `cpuPercent` and `memoryMb` of the items this host runs (their drivers asked), and,
   * unless `relayed`, of other hosts' items (their agents asked). Figures it cannot read stay
   * absent: usage never fails a list.
   */
  async fill(
    s: AgentServices,
    workloads: { item: WorkloadItem; vertex: Vertex }[],
    request: Request,
  ): Promise<void> {
    const items = workloads.map((w) => w.item);
    const local = workloads.filter((w) => !s.cluster || w.item.host === s.host);
    await eachLimited(local, CONCURRENCY, (w) => this.#measure(s, w.item, w.vertex));
    if (s.cluster && !request.headers.has(RELAYED_HEADER)) {
      const hosts = new Set(items.map((i) => i.host).filter((h) => h !== s.host));
      await Promise.all([...hosts].map((host) => fromHost(s, host, items, request)));
    }
    const stale = this.now() - FORGET_MS;
    for (const [key, reading] of this.#last) if (reading.at < stale) this.#last.delete(key);
  }

  async #measure(s: AgentServices, item: WorkloadItem, vertex: Vertex): Promise<void> {
    try {
      const ref = storedRef(item.service, vertex);
      const usage = await s.kinds.driverOf(ref).usage?.(ref);
      const key = `${item.service}/${item.name}`;
      if (!usage) {
        this.#last.delete(key);
        return;
      }
      const at = this.now();
      item.memoryMb = usage.memoryBytes / 2 ** 20;
      const previous = this.#last.get(key);
      this.#last.set(key, { cpuSeconds: usage.cpuSeconds, at });
      const seconds = previous ? (at - previous.at) / 1000 : 0;
      const used = previous ? usage.cpuSeconds - previous.cpuSeconds : -1;
      // A restart starts the count again (used < 0): that reading gives no percent.
      if (seconds > 0 && used >= 0) item.cpuPercent = (used / seconds) * 100;
    } catch {
      // Not started yet, gone meanwhile, or the engine did not answer: no figures.
    }
  }
}

/** Another host's figures for its workloads, by the same request relayed to its agent. */
async function fromHost(
  s: AgentServices,
  host: string,
  items: WorkloadItem[],
  request: Request,
): Promise<void> {
  try {
    const answer = await s.cluster!.relay(host, new Request(request.url, { method: 'GET' }));
    if (!answer.ok) return;
    const theirs = (await answer.json()) as WorkloadItem[];
    const byKey = new Map(theirs.map((i) => [`${i.service}/${i.name}`, i]));
    for (const item of items) {
      if (item.host !== host) continue;
      const figures = byKey.get(`${item.service}/${item.name}`);
      if (figures?.cpuPercent !== undefined) item.cpuPercent = figures.cpuPercent;
      if (figures?.memoryMb !== undefined) item.memoryMb = figures.memoryMb;
    }
  } catch {
    // The host does not answer: its workloads show no figures.
  }
}

async function eachLimited<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
