/**
 * Supervision of the workloads an agent runs: every exit its drivers report goes through the
 * restart policy (immediately the first time, then the built-in plugin's back-off, reset by
 * a stable run), liveness checks at their interval, restarts on request, and the user's
 * event handlers. Operations on one workload are serialised on its queue.
 */
import {
  DriverError,
  type WorkloadExit,
  type WorkloadRef,
  type WorkloadStatus,
} from '@khutulun/driver';
import type { Id, Value, Vertex } from '@khutulun/floria';
import { requestErrors } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import type { AttributeWriter, WriteEvent } from './attribute-writer.js';
import { EventHandlers, type Handler, type HandlerSources, handlersOf } from './event-handlers.js';
import {
  clearFenceRecord,
  fencedRefKeys,
  fenceRefKey,
  readFenceRecord,
} from './fence-watchdog-record.js';
import { type LivenessCheck, runCheck } from './health-checks.js';
import { propertyValue } from './values.js';

/** A run that lasted this long resets the restart back-off. */
const STABLE_MS = 5_000;

/** A workload the agent supervises: what it needs to apply the restart policy and handlers. */
export interface Supervised {
  service: string;
  name: string;
  vertex: Id;
  ref: WorkloadRef;
  restart: string;
  graceMs: number;
  consecutive: number;
  /** The PID of the current run; an exit of another PID is stale. */
  pid: number | undefined;
  /** Restarts so far (the `restarts` attribute). */
  restarts: number;
  startedAt: number;
  stopping: boolean;
  timer?: NodeJS.Timeout;
  /** The liveness check, when the template declares one. */
  liveness?: LivenessCheck;
  /** The current run's own address (a container's `ip_address`), which checks may aim at. */
  address?: string;
  livenessTimer?: NodeJS.Timeout;
  livenessFailures: number;
  /** Aborts a readiness wait when the workload exits during its deploy. */
  readiness?: AbortController;
  /**
   * Exits the exit listener has handed to the policy. The deploy compares it across its last
   * read of the workload: an exit it reads back may be one the listener has taken already,
   * which a kind without PIDs cannot tell apart from a new one.
   */
  exitsHandled: number;
  handlers: Record<string, Handler[]>;
  /** Serialises the operations on this workload. */
  queue: Promise<void>;
  /** In a cluster: stopped because this host was fenced, until it re-joins. */
  fenced?: boolean;
}

/**
 * How long a fenced workload is given to stop before it is killed (within the fencing delay),
 * by the agent and by its fence watchdog alike.
 */
export const FENCE_GRACE_MS = 3_000;

/** The workloads this agent supervises, by `SERVICE/NAME`. */
export class Supervisor {
  private readonly supervised = new Map<string, Supervised>();
  private readonly handlers: EventHandlers;
  /**
   * In a cluster: the workloads (`kind:id`) the fence watchdog stopped while no agent renewed
   * its lease (`fence-watchdog.ts`), as its record said when this agent started. Until the
   * re-join decides, they are fenced, not exited: see {@link supervise}.
   */
  private readonly fencedAway: Set<string>;

  constructor(
    private readonly s: AgentServices,
    private readonly attributes: AttributeWriter,
  ) {
    this.handlers = new EventHandlers(s);
    s.kinds.onExit((exit) => this.onExit(exit));
    this.fencedAway = s.cluster ? fencedRefKeys(readFenceRecord(s.stateDir)) : new Set();
  }

  /** The supervised workloads of a service. */
  ofService(service: string): Supervised[] {
    return [...this.supervised.values()].filter((sup) => sup.service === service);
  }

  /**
   * Holds back supervision of a service's workloads (a delete or rollback is stopping them):
   * no restarts, no back-off timers, no liveness checks from now on.
   */
  hold(service: string, names?: readonly string[]): Supervised[] {
    const held = this.ofService(service).filter((sup) => !names || names.includes(sup.name));
    for (const sup of held) {
      sup.stopping = true;
      if (sup.timer) clearTimeout(sup.timer);
      this.stopLiveness(sup);
    }
    return held;
  }

  /** Forgets a service's workloads (they are gone), or only those named. */
  forget(service: string, names?: readonly string[]): void {
    for (const sup of this.ofService(service)) {
      if (!names || names.includes(sup.name)) this.supervised.delete(`${sup.service}/${sup.name}`);
    }
  }

  /**
   * In a cluster, this host is fenced (it cannot renew its membership, or was declared lost):
   * stops every supervised workload, each within `FENCE_GRACE_MS`, and holds supervision back
   * (no restarts, no liveness checks) until {@link rejoined}. The stops come first, all at
   * once; the `fenced` states are recorded after them, as the database may be out of reach.
   */
  async fence(): Promise<void> {
    const all = [...this.supervised.values()].filter((sup) => !sup.fenced);
    const stopped: Supervised[] = [];
    for (const sup of all) {
      sup.stopping = true;
      sup.fenced = true;
      if (sup.timer) clearTimeout(sup.timer);
      sup.timer = undefined;
      this.stopLiveness(sup);
      this.enqueue(sup, async () => {
        await this.s.kinds
          .driverOf(sup.ref)
          .stop(sup.ref, { graceMs: Math.min(sup.graceMs, FENCE_GRACE_MS) });
        stopped.push(sup);
      });
    }
    await Promise.all(all.map((sup) => sup.queue));
    this.s.log('warn', `cluster: fenced; stopped ${stopped.length} workloads of this host`);
    await Promise.all(
      stopped.map((sup) =>
        this.ownWrite(
          sup.vertex,
          { state: 'fenced', pid: undefined },
          { type: 'workload-fenced' },
        ).catch((error) =>
          this.s.log('warn', `workload ${sup.service}/${sup.name}: ${(error as Error).message}`),
        ),
      ),
    );
  }

  /**
   * This host (re-)joined the cluster with a new epoch. A workload replaced while it was away
   * stays stopped (a running copy, e.g. re-adopted after the agent restarted, is stopped), and
   * is recorded `replaced`; a fenced one the host still owns starts again.
   */
  async rejoined(owned: ReadonlySet<string>, replaced: ReadonlySet<string>): Promise<void> {
    const all = [...this.supervised.values()];
    for (const sup of all) {
      const key = `${sup.service}/${sup.name}`;
      if (replaced.has(key)) {
        this.enqueue(sup, async () => {
          sup.stopping = true;
          sup.fenced = false;
          if (sup.timer) clearTimeout(sup.timer);
          this.stopLiveness(sup);
          await this.s.kinds
            .driverOf(sup.ref)
            .stop(sup.ref, { graceMs: Math.min(sup.graceMs, FENCE_GRACE_MS) });
          sup.pid = undefined;
          await this.ownWrite(
            sup.vertex,
            { state: 'replaced', pid: undefined },
            { type: 'workload-replaced-elsewhere' },
          );
        });
      } else if (sup.fenced && owned.has(key)) {
        this.enqueue(sup, async () => {
          const status = await this.s.kinds.driverOf(sup.ref).restart(sup.ref);
          newRun(sup, status);
          sup.startedAt = Date.now();
          sup.consecutive = 0;
          sup.fenced = false;
          sup.stopping = false;
          await this.ownWrite(sup.vertex, statusValues(status, 'running'), {
            type: 'workload-restarted',
            data: { pid: status.pid ?? null, fenced: true },
          });
          this.scheduleLiveness(sup);
          this.runHandler(sup, 'started', { pid: status.pid ?? null });
        });
      }
    }
    await Promise.all(all.map((sup) => sup.queue));
    // The watchdog's record is handled: what it stopped is now fenced, restarted or replaced.
    this.fencedAway.clear();
    clearFenceRecord(this.s.stateDir);
  }

  /** Waits until every queued supervision step has run (used when stopping the agent). */
  async idle(): Promise<void> {
    await Promise.all([...this.supervised.values()].map((sup) => sup.queue));
  }

  /** Cancels back-off and liveness timers (the agent is stopping; workloads keep running). */
  close(): void {
    for (const sup of this.supervised.values()) {
      if (sup.timer) clearTimeout(sup.timer);
      this.stopLiveness(sup);
    }
  }

  supervise(
    service: string,
    vertex: Vertex,
    status: WorkloadStatus,
    sources: HandlerSources,
  ): Supervised {
    const key = `${service}/${vertex.id.name}`;
    const existing = this.supervised.get(key);
    if (existing) {
      newRun(existing, status);
      existing.startedAt = Date.now();
      return existing;
    }
    const sup: Supervised = {
      service,
      name: vertex.id.name,
      vertex: vertex.id,
      ref: status.ref,
      restart: String(propertyValue(vertex, 'restart') ?? 'on-failure'),
      graceMs: Math.round(Number(propertyValue(vertex, 'stop_grace_period') ?? 10) * 1000),
      consecutive: 0,
      pid: status.pid,
      ...(typeof status.attributes?.ip_address === 'string'
        ? { address: status.attributes.ip_address }
        : {}),
      restarts: Number(propertyValue(vertex, 'restarts') ?? 0) || 0,
      startedAt: status.startedAt ? Date.parse(status.startedAt) : Date.now(),
      stopping: false,
      livenessFailures: 0,
      exitsHandled: 0,
      handlers: handlersOf(vertex, sources),
      queue: Promise.resolve(),
    };
    this.supervised.set(key, sup);
    if (status.state !== 'running' && this.fencedAway.has(fenceRefKey(status.ref))) {
      // Stopped by the fence watchdog while no agent ran: not an exit for the restart policy
      // (which would start it before the re-join says whether it was replaced meanwhile), but
      // a fenced workload, which `rejoined` starts again if this host still owns it.
      sup.fenced = true;
      sup.stopping = true;
      this.enqueue(sup, () =>
        this.ownWrite(
          sup.vertex,
          { state: 'fenced', pid: undefined },
          { type: 'workload-fenced', data: { by: 'fence-watchdog' } },
        ),
      );
    }
    return sup;
  }

  private onExit(exit: WorkloadExit): void {
    const sup = this.supervised.get(`${exit.ref.key.service}/${exit.ref.key.name}`);
    if (!sup || exit.requested || sup.ref.id !== exit.ref.id) return;
    this.stopLiveness(sup);
    if (sup.readiness) {
      sup.readiness.abort(
        new DriverError(`workload ${sup.name} exited before it was ready`, {
          code: 'exited',
          driver: exit.ref.kind,
          workload: exit.ref.key,
        }),
      );
    }
    if (sup.stopping) return;
    sup.exitsHandled++;
    this.enqueue(sup, () => this.handleExit(sup, exit));
  }

  /** Runs the liveness check at its interval, while the workload runs (none declared: nothing). */
  scheduleLiveness(sup: Supervised): void {
    const liveness = sup.liveness;
    if (!liveness || sup.stopping) return;
    this.stopLiveness(sup);
    sup.livenessTimer = setTimeout(() => {
      sup.livenessTimer = undefined;
      this.enqueue(sup, async () => {
        if (sup.stopping || sup.timer) return;
        const driver = this.s.kinds.driverOf(sup.ref);
        const healthy = await runCheck(
          liveness.check,
          { driver, ref: sup.ref },
          liveness.timeoutMs,
        );
        sup.livenessFailures = healthy ? 0 : sup.livenessFailures + 1;
        if (sup.livenessFailures < liveness.failures) return this.scheduleLiveness(sup);
        sup.livenessFailures = 0;
        // Unhealthy: stopped by the agent, then treated as a failed exit by the restart policy.
        await this.ownWrite(
          sup.vertex,
          { state: 'unhealthy' },
          { type: 'workload-unhealthy', data: { failures: liveness.failures } },
        );
        const pid = sup.pid;
        await driver.stop(sup.ref, { graceMs: sup.graceMs });
        await this.handleExit(sup, {
          exitCode: 1,
          reason: 'liveness',
          ...(pid === undefined ? {} : { pid }),
        });
      });
    }, liveness.intervalMs);
  }

  stopLiveness(sup: Supervised): void {
    if (sup.livenessTimer) clearTimeout(sup.livenessTimer);
    sup.livenessTimer = undefined;
  }

  enqueue(sup: Supervised, work: () => Promise<void>): void {
    sup.queue = sup.queue
      .then(work)
      .catch((error) =>
        this.s.log('warn', `workload ${sup.service}/${sup.name}: ${(error as Error).message}`),
      );
  }

  async handleExit(
    sup: Supervised,
    exit: { exitCode?: number; signal?: string; pid?: number; reason?: string },
  ): Promise<void> {
    if (sup.stopping) return;
    if (exit.pid !== undefined && exit.pid !== sup.pid) return; // an earlier run, or handled
    sup.pid = undefined;
    const failed = exit.signal !== undefined || (exit.exitCode ?? 1) !== 0;
    const restart = sup.restart === 'always' || (sup.restart === 'on-failure' && failed);
    const exitData = {
      code: exit.exitCode ?? null,
      signal: exit.signal ?? null,
      pid: exit.pid ?? null,
      ...(exit.reason ? { reason: exit.reason } : {}),
    };
    const exitValues = { exit_code: exit.exitCode, signal: exit.signal, pid: undefined };
    // Handlers run after the write, so that what they read is the state after the exit.
    if (!restart) {
      await this.ownWrite(
        sup.vertex,
        { ...exitValues, state: failed ? 'failed' : 'exited' },
        { type: 'workload-exited', data: exitData },
      );
      this.runHandler(sup, 'exited', exitData);
      return;
    }
    const uptimeMs = Date.now() - sup.startedAt;
    if (uptimeMs >= STABLE_MS) sup.consecutive = 0;
    const delayMs = await this.s.policies.restartDelay({ restarts: sup.consecutive, uptimeMs });
    sup.consecutive++;
    if (delayMs <= 0) {
      const status = await this.restartOrFail(sup, exitData);
      if (!status) return;
      sup.startedAt = Date.now();
      sup.restarts++;
      await this.ownWrite(
        sup.vertex,
        { ...exitValues, ...statusValues(status, 'running'), restarts: sup.restarts },
        { type: 'workload-exited', data: exitData },
        { type: 'workload-restarted', data: { pid: status.pid ?? null } },
      );
      this.runHandler(sup, 'exited', exitData);
      this.runHandler(sup, 'started', { pid: status.pid ?? null });
      return;
    }
    await this.ownWrite(
      sup.vertex,
      { ...exitValues, state: 'restarting' },
      { type: 'workload-exited', data: exitData },
      { type: 'workload-restarting', data: { delayMs, restarts: sup.consecutive } },
    );
    this.runHandler(sup, 'exited', exitData);
    this.runHandler(sup, 'restarting', { delayMs, restarts: sup.consecutive });
    sup.timer = setTimeout(() => {
      sup.timer = undefined;
      this.enqueue(sup, async () => {
        if (sup.stopping) return;
        const status = await this.restartOrFail(sup, exitData);
        if (!status) return;
        sup.startedAt = Date.now();
        await this.ownWrite(
          sup.vertex,
          { ...statusValues(status, 'running'), restarts: ++sup.restarts },
          { type: 'workload-restarted', data: { pid: status.pid ?? null } },
        );
        this.runHandler(sup, 'started', { pid: status.pid ?? null });
      });
    }, delayMs);
  }

  /**
   * Restarts a workload on request (`workload restart`): stops it (its handlers see
   * `stopped`), starts it again, and counts the restart.
   */
  async restart(service: string, name: string): Promise<void> {
    const sup = this.supervised.get(`${service}/${name}`);
    if (!sup) {
      throw requestErrors.conflict(
        'workload-busy',
        `workload ${service}/${name} is not running under this agent`,
        { service, name },
      );
    }
    let failure: unknown;
    this.enqueue(sup, async () => {
      try {
        sup.stopping = true;
        if (sup.timer) clearTimeout(sup.timer);
        sup.timer = undefined;
        this.stopLiveness(sup);
        const driver = this.s.kinds.driverOf(sup.ref);
        await driver.stop(sup.ref, { graceMs: sup.graceMs });
        this.runHandler(sup, 'stopped', {});
        const status = await driver.restart(sup.ref);
        newRun(sup, status);
        sup.startedAt = Date.now();
        sup.consecutive = 0;
        sup.stopping = false;
        await this.ownWrite(
          sup.vertex,
          { ...statusValues(status, 'running'), restarts: ++sup.restarts },
          { type: 'workload-restarted', data: { pid: status.pid ?? null, requested: true } },
        );
        this.scheduleLiveness(sup);
        this.runHandler(sup, 'started', { pid: status.pid ?? null });
      } catch (error) {
        sup.stopping = false;
        failure = error;
      }
    });
    await sup.queue;
    if (failure) throw failure;
  }

  /** Restarts a workload; if the driver cannot, records it as failed (no retry loop). */
  private async restartOrFail(
    sup: Supervised,
    exitData: Record<string, Value>,
  ): Promise<WorkloadStatus | undefined> {
    try {
      const status = await this.s.kinds.driverOf(sup.ref).restart(sup.ref);
      newRun(sup, status);
      this.scheduleLiveness(sup);
      return status;
    } catch (error) {
      await this.ownWrite(
        sup.vertex,
        { state: 'failed', pid: undefined },
        {
          type: 'workload-restart-failed',
          data: { ...exitData, message: (error as Error).message },
        },
      );
      return undefined;
    }
  }

  /** Runs the workload's handlers of an event, detached from its supervision. */
  /**
   * Writes a supervised workload's attributes. In a cluster, only while the graph says this
   * host runs it: a write from a copy that was replaced or moved meanwhile (a fenced agent, a
   * returning one) is refused, and logged.
   */
  private async ownWrite(
    id: Id,
    values: Record<string, Value | undefined>,
    ...events: WriteEvent[]
  ): Promise<void> {
    if (!this.s.cluster) return this.attributes.write(id, values, ...events);
    const written = await this.attributes.writeAsOwner(this.s.host, id, values, ...events);
    if (!written) {
      this.s.log(
        'info',
        `workload ${id.name}: another host runs it now; this host's ${events[0]?.type ?? 'write'} was not recorded`,
      );
    }
  }

  /** Runs the handlers of `event` of every supervised workload that has any. */
  notifyAll(event: string, data: Record<string, Value>): void {
    for (const sup of this.supervised.values()) {
      if (sup.handlers[event]?.length) this.runHandler(sup, event, data);
    }
  }

  runHandler(sup: Supervised, event: string, data: Record<string, Value>): void {
    this.handlers.run(sup, sup.handlers[event], event, data);
  }
}

/**
 * The attributes a status writes: the driver's own (e.g. `container_id`, `image`, `ports`,
 * `directory`), the ref the agent addresses the workload by from then on, and the state.
 */
export function statusValues(
  status: WorkloadStatus,
  state: string,
): Record<string, Value | undefined> {
  const { ports: _driversPorts, ...attributes } = status.attributes;
  return {
    ...attributes,
    pid: status.pid,
    state,
    started_at: status.startedAt,
    kind: status.ref.kind,
    ref: status.ref as unknown as Value,
  };
}

/**
 * Takes a new run's ref and PID; a liveness check aimed at the workload's own address (a
 * container's, which a restart may change) follows it to the new run's `ip_address`.
 */
export function newRun(sup: Supervised, status: WorkloadStatus): void {
  const before = sup.address;
  sup.ref = status.ref;
  sup.pid = status.pid;
  const address = status.attributes?.ip_address;
  sup.address = typeof address === 'string' ? address : undefined;
  const check = sup.liveness?.check;
  if (
    sup.liveness &&
    check &&
    check.type !== 'command' &&
    before !== undefined &&
    sup.address !== undefined &&
    check.host === before &&
    before !== sup.address
  )
    sup.liveness = { ...sup.liveness, check: { ...check, host: sup.address } };
}
