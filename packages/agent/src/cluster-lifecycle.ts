/**
 * The cluster side of a service's lifecycle, on every agent of a cluster: what happens when a
 * host is lost (its workloads replaced elsewhere, its agent's services taken over), when a host
 * is drained (its workloads moved off), and when a workload moves (the workloads connected to
 * it given its new address). Event-driven: each starts from a cluster event or a request, never
 * from a loop. The host-local steps (start a replacement here, start a connected workload
 * again) are host operations of the service controller, run on the host concerned.
 */

import { dirname } from 'node:path';
import type { ClusterEvent, OwnerToken, ReplacementIntent, WorkloadKey } from '@khutulun/cluster';
import type { Id, Value, Vertex } from '@khutulun/floria';
import type { AgentCluster } from './agent-cluster.js';
import type { AgentServices } from './agent-services.js';
import type { AttributeWriter } from './attribute-writer.js';
import { moveReplacement, placeInCluster } from './cluster-placement.js';
import { type OpContext, opError } from './host-ops.js';
import { placementRequests, type WorkloadPlacement } from './placement-requests.js';
import {
  readRecord,
  readRecords,
  recordId,
  type ServiceRecord,
  serviceDirectories,
} from './service-record.js';
import type { Supervisor } from './supervisor.js';
import { propertyValue, workloadRefOf } from './values.js';
import { type PlannedWorkload, planWorkloads } from './workload-plan.js';

/** What the cluster lifecycle asks of the agent's service controller. */
export interface LifecycleHost {
  /** Runs a host operation on this host (`host-ops.ts`). */
  hostOp(op: string, args: Value, context: OpContext): Promise<Value>;
  /**
   * Finishes a service left half done by another agent: a deploy rolled back, a delete
   * finished (`message` says why, in its event).
   */
  finishInterrupted(record: ServiceRecord, message: string): Promise<void>;
}

/** The cluster side of services' lifecycles on this agent (see the module's comment). */
export class ClusterLifecycle {
  /** Timers of at-most-once replacements waiting out the fencing delay. */
  private readonly waiting = new Set<NodeJS.Timeout>();
  private readonly cluster: AgentCluster;

  constructor(
    private readonly s: AgentServices,
    private readonly attributes: AttributeWriter,
    private readonly supervisor: Supervisor,
    private readonly controller: LifecycleHost,
  ) {
    this.cluster = s.cluster!;
    // The agent whose transaction declared a host lost replaces its workloads and takes over
    // its agent's services. (Intents it does not live to place are taken by the next agent
    // that starts: `resumePending`.)
    this.cluster.onEvent((event) => {
      this.hostEvent(event).catch((error: Error) =>
        s.log('warn', `cluster event ${event.type} of ${event.host}: ${error.message}`),
      );
      if (event.type !== 'host-lost' || event.declaredBy !== s.host) return;
      this.replaceLost(event.host, event.replacements).catch((error: Error) =>
        s.log('error', `replacing the workloads of host ${event.host}: ${error.message}`),
      );
      this.takeOver(event.host).catch((error: Error) =>
        s.log('error', `taking over the services of host ${event.host}: ${error.message}`),
      );
    });
  }

  /**
   * At start: records this host's own join (it came before this agent listened to the
   * cluster's events), and places the replacements whose placing agent did not live to.
   */
  async started(): Promise<void> {
    const joined = this.cluster.cluster.membership.joined;
    await this.s.store.transaction((tx) =>
      tx.emit({
        type: joined.previous?.state === 'lost' ? 'host-returned' : 'host-joined',
        id: hostId(this.s.host),
        data: { host: this.s.host, epoch: joined.host.epoch, address: joined.host.address },
      }),
    );
    const pending = await this.cluster.cluster.registry.pendingReplacements();
    const byHost = new Map<string, ReplacementIntent[]>();
    for (const r of pending) {
      const intent = {
        id: r.id,
        service: r.service,
        workload: r.workload,
        policy: r.policy,
        notBefore: r.notBefore.toISOString(),
      };
      byHost.set(r.lostHost, [...(byHost.get(r.lostHost) ?? []), intent]);
    }
    for (const [host, intents] of byHost) {
      this.replaceLost(host, intents).catch((error: Error) =>
        this.s.log('error', `replacing the workloads of host ${host}: ${error.message}`),
      );
    }
  }

  /** Cancels the timers of replacements waiting out the fencing delay (the agent stops). */
  close(): void {
    for (const timer of this.waiting) clearTimeout(timer);
    this.waiting.clear();
  }

  /**
   * The agent that declared a host lost takes over the lifecycle of the services that host's
   * agent ran (their records name this host from then on, claimed in one transaction each):
   * a deploy it left half done is rolled back, a delete finished; a running service can be
   * deleted again. The lost agent, if it returns, leaves them alone (they are not its own).
   */
  private async takeOver(lostHost: string): Promise<void> {
    for (const record of await readRecords(this.s.store)) {
      if (record.host !== lostHost) continue;
      const claimed = await this.s.store.transaction(async (tx) => {
        const vertex = (await tx.get(recordId(record.name))) as Vertex | undefined;
        if (!vertex || propertyValue(vertex, 'host') !== lostHost) return false;
        await tx.put({
          ...vertex,
          properties: { ...vertex.properties, host: { value: this.s.host } },
        });
        await tx.emit({
          type: 'service-taken-over',
          id: recordId(record.name),
          data: { from: lostHost, by: this.s.host },
        });
        return true;
      });
      if (!claimed) continue;
      this.s.log('info', `service ${record.name}: taken over from lost host ${lostHost}`);
      if (record.state === 'running') continue;
      await this.controller.finishInterrupted(
        record,
        `the agent of host ${lostHost} was lost during the ${record.state === 'deploying' ? 'deploy; rolled back' : 'delete; finished'}`,
      );
    }
  }

  /**
   * A host joined, was lost or returned: the graph's event stream records it once (the host
   * itself records its join and return, the agent that declared it lost its loss), and the
   * workloads this agent supervises get the notification of the same name (`host-joined`,
   * `host-lost`, `host-returned`) when their Events interface declares it.
   */
  private async hostEvent(event: ClusterEvent): Promise<void> {
    if (
      event.type !== 'host-joined' &&
      event.type !== 'host-lost' &&
      event.type !== 'host-returned'
    )
      return;
    const data: Record<string, Value> = { host: event.host, epoch: event.epoch };
    if (event.type === 'host-lost') {
      data.declaredBy = event.declaredBy;
      data.replacements = event.replacements.length;
    }
    if ('address' in event) data.address = event.address;
    const recorder = event.type === 'host-lost' ? event.declaredBy : event.host;
    if (recorder === this.s.host) {
      await this.s.store.transaction((tx) =>
        tx.emit({ type: event.type, id: hostId(event.host), data }),
      );
    }
    if (event.host !== this.s.host) this.supervisor.notifyAll(event.type, data);
  }

  /**
   * Replaces the workloads of a lost host: the graph says at once that they are lost; each is
   * then placed on another host (at-most-once ones once their fencing delay has passed) and
   * started there by its new owner's agent.
   */
  private async replaceLost(lostHost: string, intents: ReplacementIntent[]): Promise<void> {
    const lost = new Map<Id, Record<string, Value | undefined>>();
    for (const intent of intents) {
      const { instances } = serviceDirectories(intent.service);
      const id: Id = { kind: 'vertex', directory: instances, name: intent.workload };
      if (await this.s.store.get(id)) lost.set(id, { state: 'lost', pid: undefined });
    }
    await Promise.all(
      [...lost].map(([id, values]) =>
        this.attributes.write(id, values, { type: 'workload-lost', data: { host: lostHost } }),
      ),
    );
    await Promise.all(
      intents.map(async (intent) => {
        const wait = Date.parse(intent.notBefore) - Date.now();
        if (wait > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              this.waiting.delete(timer);
              resolve();
            }, wait + 50);
            this.waiting.add(timer);
          });
        }
        await this.replaceOne(lostHost, intent).catch((error: Error) =>
          this.s.log(
            'warn',
            `workload ${intent.service}/${intent.workload} (lost with ${lostHost}) was not replaced: ${error.message}`,
          ),
        );
      }),
    );
  }

  /**
   * Places one replacement intent and has its new owner start it. A host that cannot start it
   * (the start fails there, it does not answer, or it is declared lost meanwhile) is left out
   * and the intent placed again on the next host, until one runs it or none is left: then
   * `workload-replace-failed` says why each host did not (as Nomad reports a placement).
   */
  private async replaceOne(lostHost: string, intent: ReplacementIntent): Promise<void> {
    const cluster = this.cluster;
    const { service, workload } = intent;
    const record = await readRecord(this.s.store, service);
    const { instances } = serviceDirectories(service);
    const vertex = (await this.s.store.get({
      kind: 'vertex',
      directory: instances,
      name: workload,
    })) as Vertex | undefined;
    if (!record || !vertex || record.state !== 'running') {
      // Deleted, or its deploy is failing and rolls back: nothing to replace.
      await cluster.cluster.registry.discardReplacement(intent.id);
      return;
    }
    const request = {
      name: workload,
      node: vertex.template?.name ?? workload,
      kind: String(propertyValue(vertex, 'kind')),
      policy: intent.policy,
      replacement: intent.id,
      ...(await this.fitOf(service, vertex)),
    };
    const key = { service, workload };
    /** The hosts that failed to start it, with why. */
    const failed = new Map<string, string>();
    /** The host the intent is placed on, whose start failed: the next placement moves it. */
    let from: OwnerToken | undefined;
    let host: string | undefined;
    const fail = async (message: string, reasons: ReadonlyMap<string, string>) => {
      await this.attributes.write(
        vertex.id,
        { state: 'lost', ...(from ? { host: lostHost, pid: undefined } : {}) },
        {
          type: 'workload-replace-failed',
          data: { message, reasons: Object.fromEntries(reasons) },
        },
      );
    };
    // Each round places it on a host not tried yet; a placement refused for a stale epoch (the
    // chosen host re-joined or was lost since the snapshot) is made again, a few times.
    for (let stale = 0; !host; ) {
      let chosen: string;
      try {
        chosen = from
          ? await moveReplacement(cluster, service, request, from, failed)
          : (await placeInCluster(cluster, service, [request])).get(workload)!;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'stale-epoch') {
          if (from) {
            // `from` lost it meanwhile (declared lost: its loss's intent replaces it).
            const owner = await this.ownerOf(from.host, key);
            if (!owner) return this.handedOn(lostHost, from.host, intent);
            from = owner;
          } else if (!(await this.isPending(intent.id))) {
            // Another agent placed it first: its replacement is that agent's.
            return;
          }
          if (++stale <= 3) continue;
        }
        if (from) {
          // No host left: the intent goes back to unplaced, as its host's loss left it.
          await cluster.cluster.registry
            .unplaceReplacement(key, intent.id, from)
            .catch((e: Error) =>
              this.s.log('warn', `replacement ${intent.id}: not given back: ${e.message}`),
            );
        }
        const reasons = new Map(failed);
        const details = (error as { details?: { reasons?: Record<string, string> } }).details;
        for (const [h, reason] of Object.entries(details?.reasons ?? {}))
          if (!reasons.has(h)) reasons.set(h, reason);
        await fail((error as Error).message, reasons);
        throw error;
      }
      try {
        await this.onHost(chosen, 'replace', {
          service,
          workload,
          lostHost,
          replacement: intent.id,
        });
        host = chosen;
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'deploy-failed';
        const message = (error as Error).message;
        failed.set(chosen, `${code}: ${message}`);
        await this.attributes.write(
          vertex.id,
          { state: 'lost', pid: undefined },
          {
            type: 'workload-replace-attempt-failed',
            data: { host: chosen, code, message },
          },
        );
        const owner = await this.ownerOf(chosen, key);
        // Declared lost meanwhile: its loss recorded a new intent for the workload, which the
        // agent that declared it replaces (at-most-once after the fencing delay again).
        if (!owner) return this.handedOn(lostHost, chosen, intent);
        // What the failed start left there goes first (a created workload, its supervision,
        // its ports), so that it never runs on two hosts.
        const released = await this.onHost(chosen, 'stop', {
          service,
          names: [workload],
          movedRefs: [],
        }).then(
          () => true,
          (e: Error) => {
            this.s.log(
              'warn',
              `workload ${service}/${workload}: not released on ${chosen}: ${e.message}`,
            );
            return false;
          },
        );
        if (!released && intent.policy === 'at-most-once') {
          // Unconfirmed, it may still start there: not elsewhere too. If that host is
          // declared lost, its loss replaces it after the fencing delay.
          const reason = `the replacement could not be released on ${chosen}, so it is not started elsewhere (at-most-once)`;
          await fail(reason, failed);
          throw new Error(reason);
        }
        from = owner;
      }
    }
    const epoch = (await cluster.hosts()).find((h) => h.name === host)?.epoch ?? 0;
    await cluster.cluster.events
      .publish(
        {
          type: 'workload-replaced',
          host,
          epoch,
          service,
          workload,
          replacement: intent.id,
          at: new Date().toISOString(),
        },
        `workload-replaced:${intent.id}`,
      )
      .catch((error: Error) => this.s.log('warn', `workload-replaced: ${error.message}`));
    await this.rewireConnected(service, workload);
  }

  /** `host`'s token for a workload it owns and runs, or undefined (lost, moved, gone). */
  private async ownerOf(host: string, key: WorkloadKey): Promise<OwnerToken | undefined> {
    const owner = (await this.cluster.cluster.registry.workloadsOf(host)).find(
      (o) => o.service === key.service && o.workload === key.workload && o.state === 'running',
    );
    const current = (await this.cluster.hosts()).find((h) => h.name === host);
    if (!owner || !current || current.state === 'lost' || current.epoch !== owner.ownerEpoch)
      return undefined;
    return { host, epoch: owner.ownerEpoch };
  }

  /** Whether a replacement intent is still to be placed. */
  private async isPending(id: number): Promise<boolean> {
    return (await this.cluster.cluster.registry.pendingReplacements()).some((r) => r.id === id);
  }

  /**
   * The host a replacement was placed on was declared lost before it ran it: that loss
   * recorded a new intent for the workload, replaced by the agent that declared it. Said in
   * the log; the attempt's `workload-replace-attempt-failed` is on the workload already.
   */
  private handedOn(lostHost: string, host: string, intent: ReplacementIntent): void {
    this.s.log(
      'info',
      `workload ${intent.service}/${intent.workload} (lost with ${lostHost}): host ${host} was lost before it started; the replacement of that loss takes it`,
    );
  }

  /**
   * After a workload moved to another host, starts again the workloads connected to it (on
   * their own hosts), so that they are given its new address; one that fails is logged.
   */
  private async rewireConnected(
    service: string,
    moved: string,
    known: { plan?: PlannedWorkload[]; skip?: string } = {},
  ): Promise<void> {
    const { skip } = known;
    let plan = known.plan;
    if (!plan) {
      const record = await readRecord(this.s.store, service);
      if (record?.state !== 'running') return;
      plan = await planWorkloads(
        this.s.store,
        this.s.kinds,
        serviceDirectories(service),
        service,
        dirname(record.source),
      );
    }
    const lost = new Set(
      (await this.cluster.hosts()).filter((h) => h.state === 'lost').map((h) => h.name),
    );
    for (const w of plan) {
      if (w.name === moved || !w.connections.some((c) => c.target === moved)) continue;
      const vertex = (await this.s.store.get(w.vertex)) as Vertex | undefined;
      const host = vertex ? propertyValue(vertex, 'host') : undefined;
      // A workload on a lost host, or on the host being drained (it moves next), is not.
      if (typeof host !== 'string' || lost.has(host) || host === skip) continue;
      const args = { service, workload: w.name };
      try {
        await this.onHost(host, 'rewire', args);
      } catch (error) {
        this.s.log(
          'warn',
          `workload ${service}/${w.name} was not given the new address of ${moved}: ${(error as Error).message}`,
        );
      }
    }
  }

  /**
   * Moves every workload off a draining host (the host is already `draining`, so placement
   * takes none there): service by service, dependencies first, each started on its new host
   * (ready) before its old copy stops. Resolves with the moves made; the first that fails
   * stops the drain (what moved stays moved).
   */
  async drain(host: string): Promise<Array<{ service: string; workload: string; to: string }>> {
    const cluster = this.cluster;
    const owned = (await cluster.cluster.registry.workloadsOf(host)).filter(
      (o) => o.state === 'running',
    );
    const moves: Array<{ service: string; workload: string; to: string }> = [];
    for (const service of new Set(owned.map((o) => o.service))) {
      const record = await readRecord(this.s.store, service);
      if (record?.state !== 'running') continue;
      const dirs = serviceDirectories(service);
      const plan = await planWorkloads(
        this.s.store,
        this.s.kinds,
        dirs,
        service,
        dirname(record.source),
      );
      const names = new Set(owned.filter((o) => o.service === service).map((o) => o.workload));
      for (const w of startOrder(plan).filter((x) => names.has(x.name))) {
        const owner = owned.find((o) => o.service === service && o.workload === w.name)!;
        const vertex = (await this.s.store.get(w.vertex)) as Vertex;
        const oldRef = workloadRefOf(propertyValue(vertex, 'ref'));
        const placed = await placeInCluster(cluster, service, [
          {
            name: w.name,
            node: vertex.template?.name ?? w.name,
            kind: w.kind,
            policy: owner.policy,
            ...(await this.fitOf(service, vertex)),
          },
        ]);
        const to = placed.get(w.name)!;
        const args = { service, workload: w.name, from: host, reason: 'drain' };
        await this.onHost(to, 'replace', args);
        const stop = {
          service,
          names: [w.name],
          movedRefs: (oldRef ? [oldRef] : []) as unknown as Value,
        };
        await this.onHost(host, 'stop', stop);
        await this.rewireConnected(service, w.name, { plan, skip: host });
        moves.push({ service, workload: w.name, to });
      }
    }
    return moves;
  }

  /**
   * What one workload asks of placement when it is placed alone (a replacement, a move): its
   * allocation, node filter and Placement policies, checked against what every host runs
   * (the registry's owner records: service, node template, resources).
   */
  private async fitOf(service: string, vertex: Vertex): Promise<WorkloadPlacement> {
    const dirs = serviceDirectories(service);
    // Every workload of the service, as a policy without targets covers them all.
    const workloads = (
      (await this.s.store.query({ kind: 'vertex', directory: dirs.instances })) as Vertex[]
    ).filter((v) => !v.parent && propertyValue(v, 'kind') !== undefined);
    const requests = await placementRequests(
      this.s.store,
      workloads.map((v) => ({ vertex: v.id, name: v.id.name })),
      dirs,
    );
    return requests.get(vertex.id.name) ?? {};
  }

  /**
   * Runs a host operation on `host`: here, or on its agent over NATS; it fails the same way
   * either way (`opError`).
   */
  private onHost(host: string, op: string, args: Record<string, Value>): Promise<Value> {
    return host === this.s.host
      ? this.controller.hostOp(op, args, noContext()).catch((error: unknown) => {
          throw opError(error);
        })
      : this.cluster.call(host, op, args);
  }
}

/** The context of a host operation run here, for this agent itself. */
function noContext(): OpContext {
  return { signal: new AbortController().signal, progress: () => {} };
}

/** A service's workloads in an order that starts each after what it depends on. */
function startOrder(plan: readonly PlannedWorkload[]): PlannedWorkload[] {
  const byName = new Map(plan.map((w) => [w.name, w]));
  const out: PlannedWorkload[] = [];
  const seen = new Set<string>();
  const visit = (w: PlannedWorkload) => {
    if (seen.has(w.name)) return;
    seen.add(w.name);
    for (const d of w.after) {
      const dependency = byName.get(d);
      if (dependency) visit(dependency);
    }
    out.push(w);
  };
  for (const w of plan) visit(w);
  return out;
}

/** The id cluster host events are recorded under in the graph's event stream. */
export function hostId(host: string): Id {
  return { kind: 'vertex', directory: ['khutulun', 'hosts'], name: host };
}
