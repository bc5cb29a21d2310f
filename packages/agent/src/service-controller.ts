import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { rm, rmdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { DeployProgress } from '@khutulun/api';
import type { JoinResult } from '@khutulun/cluster';
import {
  isDriverError,
  type PortBinding,
  type WorkloadDriver,
  type WorkloadKind,
  type WorkloadRef,
  type WorkloadSpec,
} from '@khutulun/driver';
import type { Entity, FloriaEvent, Id, Value, Vertex } from '@khutulun/floria';
import { DeployError, requestErrors } from './agent-error.js';
import type { AgentServices, UpdateProblem } from './agent-services.js';
import { AttributeWriter } from './attribute-writer.js';
import { ClusterLifecycle } from './cluster-lifecycle.js';
import { placeInCluster, releaseOwners } from './cluster-placement.js';
import type { HandlerSources } from './event-handlers.js';
import { healthCheckOf, livenessOf, waitHealthy } from './health-checks.js';
import type { OpContext } from './host-ops.js';
import { placementRequests } from './placement-requests.js';
import { runPrestart } from './prestart.js';
import {
  readRecord,
  readRecords,
  recordId,
  recordVertex,
  type ServiceRecord,
  serviceDirectories,
} from './service-record.js';
import { uploadsPath } from './state-dir.js';
import { type Supervised, Supervisor, statusValues } from './supervisor.js';
import { isMap, propertyValue, workloadRefOf } from './values.js';
import { type ClassCache, workloadNode } from './workload-node.js';
import {
  type PlannedWorkload,
  planWorkloads,
  policyTriggers,
  portEnvironment,
  replacementPolicies,
  restartOverrides,
} from './workload-plan.js';
import { cleanupWorkload, dataRoot, prepareWorkload } from './workload-setup.js';

/** One step of a deploy's progress, as streamed to the client: the API's own type. */
export type { DeployProgress };

/** What to deploy. */
export interface DeployRequest {
  name?: string;
  /** A local path (file, CSAR or directory) the agent reads. */
  source: string;
  inputs?: Record<string, Value>;
}

/** Where a deploy's workloads are: their reserved ports, and their hosts' addresses by name. */
interface Placement {
  reserved: ReadonlyMap<string, PortBinding[]>;
  addressOf: ReadonlyMap<string, string>;
}

const SERVICE_NAME = /^[a-z0-9]([a-z0-9._-]{0,62})$/;
const ROLLBACK_GRACE_MS = 2_000;

/**
 * The agent's service logic on one host: deploys (all or nothing), deletes (nothing left
 * behind), supervision of exits (restart policy, event handlers) and recovery after a crash.
 */
export class ServiceController {
  private readonly busy = new Set<string>();

  private readonly attributes: AttributeWriter;
  private readonly supervisor: Supervisor;
  /** In a cluster: host loss, take-over, drain and rewiring (`cluster-lifecycle.ts`). */
  private readonly lifecycle: ClusterLifecycle | undefined;

  constructor(private readonly s: AgentServices) {
    this.attributes = new AttributeWriter(s.store);
    this.supervisor = new Supervisor(s, this.attributes);
    s.cluster?.handle({
      fenced: () => this.supervisor.fence(),
      rejoined: (result) => this.rejoined(result),
    });
    this.lifecycle = s.cluster
      ? new ClusterLifecycle(s, this.attributes, this.supervisor, this)
      : undefined;
  }

  /** A workload of a running service, with its service's plan (refused otherwise). */
  private async runningWorkload(service: string, name: string) {
    const record = await readRecord(this.s.store, service);
    if (record?.state !== 'running') {
      throw requestErrors.conflict('service-not-running', `service "${service}" is not running`, {
        service,
      });
    }
    const baseDir = dirname(record.source);
    const dirs = serviceDirectories(service);
    const classes: ClassCache = new Map();
    const plan = await planWorkloads(this.s.store, this.s.kinds, dirs, service, baseDir, classes);
    const w = plan.find((x) => x.name === name);
    if (!w) throw requestErrors.notFound('workload-not-found', `no workload ${service}/${name}`);
    return { baseDir, dirs, classes, plan, w };
  }

  /** What the graph holds of a service's workloads: their ports, and their hosts' addresses. */
  private async placementFromGraph(
    plan: readonly PlannedWorkload[],
  ): Promise<{ reserved: Map<string, PortBinding[]>; addressOf: Map<string, string> }> {
    const addresses = new Map((await this.s.cluster!.hosts()).map((h) => [h.name, h.address]));
    const reserved = new Map<string, PortBinding[]>();
    const addressOf = new Map<string, string>();
    for (const other of plan) {
      const vertex = (await this.s.store.get(other.vertex)) as Vertex | undefined;
      const ports = vertex ? propertyValue(vertex, 'ports') : undefined;
      const host = vertex ? propertyValue(vertex, 'host') : undefined;
      if (isMap(ports)) {
        reserved.set(
          other.name,
          Object.entries(ports).map(([port, value]) => ({
            name: port,
            port: Number(value),
            protocol: 'tcp' as const,
          })),
        );
      }
      if (typeof host === 'string' && addresses.has(host))
        addressOf.set(other.name, addresses.get(host)!);
    }
    return { reserved, addressOf };
  }

  /**
   * Starts again here a workload connected to one that moved to another host (replaced or
   * drained), with what it is given rendered anew (the target's new address and port): its
   * old run is deleted, its ports and data stay.
   */
  private async rewireHere(service: string, name: string, context: OpContext): Promise<void> {
    const { baseDir, dirs, classes, plan, w } = await this.runningWorkload(service, name);
    const { reserved, addressOf } = await this.placementFromGraph(plan);
    const mine = await this.s.network.list({ service, name });
    reserved.set(
      name,
      w.ports.flatMap((p) => {
        const r = mine.find((x) => x.name === p.name);
        if (!r) return [];
        return [
          {
            name: p.name,
            port: r.port,
            protocol: p.protocol,
            ...(p.target === undefined ? {} : { target: p.target }),
            ...(r.exposed ? {} : { hostAddress: this.s.address }),
          },
        ];
      }),
    );
    addressOf.set(name, this.s.address);
    const vertex = (await this.s.store.get(w.vertex)) as Vertex;
    const ref = workloadRefOf(propertyValue(vertex, 'ref'));
    const [sup] = this.supervisor.hold(service, [name]);
    if (ref) {
      await this.s.kinds
        .driverOf(ref)
        .delete(ref, { graceMs: sup?.graceMs ?? 10_000 })
        .catch((error) => {
          if (!isDriverError(error) || error.code !== 'not-found') throw error;
        });
    }
    this.supervisor.forget(service, [name]);
    await this.startWorkload(
      { service, baseDir, classes },
      { baseDir, triggers: await policyTriggers(this.s.store, dirs.instances) },
      w,
      { reserved, addressOf },
      context.signal,
      context.progress,
    );
    await this.attributes.write(w.vertex, {}, { type: 'workload-rewired' });
  }

  /**
   * Starts here a workload whose host was lost: its ports are reserved on this host (exposed
   * where other workloads connect to them), the graph's addresses and ports for it are
   * rewritten (the workloads connected to it keep what they were started with until they
   * restart), and it starts as in a deploy, answering once it is ready.
   */
  private async startReplacement(
    service: string,
    name: string,
    args: Record<string, Value>,
    context: OpContext,
  ): Promise<void> {
    const { baseDir, dirs, classes, plan, w } = await this.runningWorkload(service, name);
    const { reserved, addressOf } = await this.placementFromGraph(plan);
    const connected = plan.flatMap((v) =>
      v.connections.filter((c) => c.target === name && v.name !== name).map((c) => c.port),
    );
    await this.s.network.release({ service, name });
    reserved.set(name, await this.reservePorts(service, w, connected));
    addressOf.set(name, this.s.address);
    await this.attributes.write(w.vertex, { host: this.s.host, state: 'pending', pid: undefined });
    await this.writePorts(plan, reserved, addressOf);
    const { floria, store, dispatcher } = this.s;
    const updated = await Promise.all([
      floria.update(store, { query: { kind: 'vertex', directory: dirs.instances }, dispatcher }),
      floria.update(store, { query: { kind: 'edge', directory: dirs.instances }, dispatcher }),
    ]);
    throwProblems(updated.flatMap((u) => u.problems));
    const sup = await this.startWorkload(
      { service, baseDir, classes },
      { baseDir, triggers: await policyTriggers(store, dirs.instances) },
      w,
      { reserved, addressOf },
      context.signal,
      context.progress,
    );
    if (args.reason === 'drain') {
      // Moved off a draining host: not a replacement of a lost copy.
      await this.attributes.write(
        w.vertex,
        { host: this.s.host },
        { type: 'workload-moved', data: { from: args.from ?? null } },
      );
      return;
    }
    const data = { lostHost: args.lostHost ?? null, replacement: args.replacement ?? null };
    await this.attributes.write(
      w.vertex,
      { host: this.s.host },
      { type: 'workload-replaced', data },
    );
    this.supervisor.runHandler(sup, 'replaced', data);
  }

  /**
   * In a cluster, this host (re-)joined with a new epoch: fenced workloads it still owns start
   * again, and those replaced while it was away stay stopped.
   */
  private async rejoined(result: JoinResult): Promise<void> {
    const key = (k: { service: string; workload: string }) => `${k.service}/${k.workload}`;
    await this.supervisor.rejoined(
      new Set(result.owned.map(key)),
      new Set(result.replaced.map(key)),
    );
  }

  /**
   * Deploys a service; resolves with its name once every workload is ready. An uploaded
   * source (under the state directory's `uploads`) belongs to the service from then on; a
   * failed deploy removes it.
   */
  async deploy(
    request: DeployRequest,
    progress: (p: DeployProgress) => void = () => {},
  ): Promise<string> {
    // A CSAR archive is unpacked first: what runs from it are then ordinary files.
    const source = await this.unpacked(request.source);
    try {
      return await this.deployOnce({ ...request, source }, progress);
    } catch (error) {
      // Unless another service owns it (someone named its path): then it is not ours to drop.
      const records = await readRecords(this.s.store);
      for (const path of new Set([request.source, source])) {
        if (!records.some((r) => r.source === path)) await this.discardUpload(path);
      }
      throw error;
    }
  }

  /**
   * The directory a CSAR archive is unpacked into (`uploads/<upload>/csar` beside an upload,
   * else `uploads/extract-XXXX/csar`), which the service then owns like an upload; any other
   * source as it is.
   */
  private async unpacked(source: string): Promise<string> {
    const uploads = uploadsPath(this.s.stateDir);
    const uploaded = dirname(dirname(source)) === uploads;
    // Only an archive is written out: for anything else, nothing is made.
    const home = uploaded ? dirname(source) : join(uploads, `extract-${randomUUID()}`);
    const directory = join(home, 'csar');
    const result = await this.s.unpack(source, directory).catch((error: Error) => ({
      archive: true as const,
      error: error.message,
    }));
    if (result.archive && !('error' in result)) return directory;
    if (!uploaded) await rm(home, { recursive: true, force: true });
    if (!result.archive) return source;
    throw new DeployError({
      code: 'tosca-invalid',
      status: 422,
      message: `the CSAR ${basename(source)} cannot be unpacked: ${result.error}`,
      details: { source },
    });
  }

  /** Removes an uploaded source's directory (a path the agent did not write is left alone). */
  private async discardUpload(source: string): Promise<void> {
    const uploads = uploadsPath(this.s.stateDir);
    if (dirname(dirname(source)) === uploads)
      await rm(dirname(source), { recursive: true, force: true });
  }

  private async deployOnce(
    request: DeployRequest,
    progress: (p: DeployProgress) => void,
  ): Promise<string> {
    let name = serviceNameOf(request);
    const compileAs = (service: string) =>
      this.s.compile({
        source: request.source,
        inputs: request.inputs ?? {},
        directory: serviceDirectories(service).templates,
      });
    let compiled = await compileAs(name);
    // Unnamed, a service takes its template's `metadata.template_name` when it has one.
    const named = request.name ? undefined : templateName(compiled.templates);
    if (named && named !== name && SERVICE_NAME.test(named)) {
      name = named;
      compiled = await compileAs(name);
    }
    if (!SERVICE_NAME.test(name)) {
      throw requestErrors.badRequest(`invalid service name ${JSON.stringify(name)}`, { name });
    }
    const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length || !compiled.templates) {
      throw new DeployError({
        code: 'tosca-invalid',
        status: 422,
        message: `the TOSCA service does not compile: ${errors[0]?.message ?? 'no templates'}`,
        details: { service: name },
        diagnostics: compiled.diagnostics as unknown as Record<string, Value>[],
      });
    }
    const exists = () =>
      requestErrors.conflict('service-exists', `service "${name}" already exists`, {
        service: name,
      });
    // Claimed before the first await, so two concurrent deploys of one name cannot both pass.
    if (this.busy.has(name)) throw exists();
    this.busy.add(name);
    try {
      if (await readRecord(this.s.store, name)) throw exists();
      progress({ service: name, step: 'compiled' });
      const record: ServiceRecord = {
        name,
        state: 'deploying',
        source: request.source,
        inputs: request.inputs ?? {},
        createdAt: new Date().toISOString(),
        workloads: [],
        ...(this.s.cluster ? { host: this.s.host } : {}),
      };
      await this.s.store.transaction(async (tx) => {
        // In a cluster, agents share the store: the name is checked again where it is claimed
        // (write transactions are serialised), so of two agents deploying one name at once,
        // exactly one wins and the other answers 409.
        if (this.s.cluster && (await tx.get(recordId(name)))) throw exists();
        await tx.put(recordVertex(record));
        for (const template of compiled.templates ?? []) await tx.put(template);
        await tx.emit({ type: 'service-deploying', id: recordId(name) });
      });
      progress({ service: name, step: 'stored' });
      try {
        await this.runDeploy(name, dirname(request.source), progress);
      } catch (error) {
        progress({ service: name, step: 'rollback', message: (error as Error).message });
        await this.rollback(name);
        await this.s.store.transaction((tx) =>
          tx.emit({
            type: 'service-deploy-failed',
            id: recordId(name),
            data: { message: (error as Error).message },
          }),
        );
        throw asDeployError(name, error);
      }
      progress({ service: name, step: 'done' });
      return name;
    } finally {
      this.busy.delete(name);
    }
  }

  private async runDeploy(
    name: string,
    baseDir: string,
    progress: (p: DeployProgress) => void,
  ): Promise<void> {
    const { store, floria, dispatcher } = this.s;
    const dirs = serviceDirectories(name);
    await floria.instantiate(store, {
      templates: { directory: dirs.templates },
      into: dirs.instances,
      dispatcher,
    });
    progress({ service: name, step: 'instantiated' });
    const classes: ClassCache = new Map();
    const plan = await planWorkloads(store, this.s.kinds, dirs, name, baseDir, classes);

    // Where each workload runs: its owner host, and the address connections to it are given.
    const hostOf = new Map<string, string>();
    const addressOf = new Map<string, string>();
    if (this.s.cluster) {
      const records = await this.s.cluster.hosts();
      const guarantees = await replacementPolicies(store, plan, dirs.instances, dirs.templates);
      const hosts = await this.placeInCluster(name, plan, guarantees);
      for (const w of plan) {
        const host = hosts.get(w.name)!;
        hostOf.set(w.name, host);
        addressOf.set(w.name, records.find((h) => h.name === host)?.address ?? this.s.address);
      }
    } else {
      await Promise.all(
        plan.map(async (w) => {
          const host = await this.s.policies.place({
            service: name,
            workload: w.name,
            hosts: [this.s.host],
          });
          if (host !== this.s.host) {
            throw new DeployError({
              code: 'placement-failed',
              status: 500,
              message: `workload ${w.name} was placed on unknown host ${JSON.stringify(host)}`,
              details: { workload: w.name, host },
            });
          }
          hostOf.set(w.name, host);
          addressOf.set(w.name, this.s.address);
        }),
      );
    }
    await this.attributes.writeMany(
      new Map(
        plan.map((w) => [
          w.vertex,
          { host: hostOf.get(w.name)!, kind: w.kind, state: 'pending', restarts: 0 },
        ]),
      ),
    );
    progress({ service: name, step: 'placed' });

    const overrides = await restartOverrides(store, plan, dirs.instances, dirs.templates);
    await this.attributes.writeMany(
      new Map([...overrides].map(([id, restart]) => [id, { restart }])),
    );

    // Ports first, for every workload, all at once, each on its owner's host (the network
    // driver commits concurrent reservations together, and its check of the socket tables is
    // cheapest before the service's own processes and probes fill them), then properties are
    // evaluated with the ports in place. A port another host's workload connects to is
    // exposed on its host's firewall.
    const crossHost = crossHostPorts(plan, hostOf);
    const reserved = new Map<string, PortBinding[]>();
    const reservations = await Promise.allSettled(
      plan.map(async (w) => {
        const expose = [...(crossHost.get(w.name) ?? [])];
        const bindings = this.isHere(hostOf.get(w.name)!)
          ? await this.reservePorts(name, w, expose)
          : ((await this.s.cluster!.call(hostOf.get(w.name)!, 'reserve', {
              service: name,
              workload: w as unknown as Value,
              expose,
            })) as unknown as PortBinding[]);
        reserved.set(w.name, bindings);
      }),
    );
    const refused = reservations.find((r) => r.status === 'rejected');
    if (refused) throw (refused as PromiseRejectedResult).reason;
    await this.writePorts(plan, reserved, addressOf);
    const updated = await Promise.all([
      floria.update(store, { query: { kind: 'vertex', directory: dirs.instances }, dispatcher }),
      floria.update(store, { query: { kind: 'edge', directory: dirs.instances }, dispatcher }),
    ]);
    throwProblems(updated.flatMap((u) => u.problems));

    const sources = { baseDir, triggers: await policyTriggers(store, dirs.instances) };

    // Each workload starts as soon as everything it depends on is ready; independent
    // branches run in parallel. The first failure aborts the others' waits.
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // one readiness wait per workload listens to it
    const done = new Map<string, Promise<void>>();
    const byName = new Map(plan.map((w) => [w.name, w]));
    const start = (w: PlannedWorkload): Promise<void> => {
      let p = done.get(w.name);
      if (!p) {
        p = (async () => {
          await Promise.all(w.after.map((d) => start(byName.get(d)!)));
          if (abort.signal.aborted) throw abort.signal.reason;
          const host = hostOf.get(w.name)!;
          if (this.isHere(host)) {
            await this.startWorkload(
              { service: name, baseDir, classes },
              sources,
              w,
              { reserved, addressOf },
              abort.signal,
              progress,
            );
          } else {
            // On its owner's agent, which answers once the workload is ready.
            await this.s.cluster!.call(
              host,
              'start',
              {
                service: name,
                baseDir,
                workload: w as unknown as Value,
                reserved: Object.fromEntries(reserved) as unknown as Value,
                addresses: Object.fromEntries(addressOf),
              },
              { signal: abort.signal, progress },
            );
          }
        })();
        p.catch((error) => abort.abort(error));
        done.set(w.name, p);
      }
      return p;
    };
    // Wait for every branch to settle, not only for the first failure: a rollback must see
    // every process the deploy started.
    const results = await Promise.allSettled(plan.map(start));
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;

    await store.transaction(async (tx) => {
      const vertex = (await tx.get(recordId(name))) as Vertex;
      await tx.put({
        ...vertex,
        properties: {
          ...vertex.properties,
          state: { value: 'running' },
          workloads: { value: plan.map((w) => w.name) },
        },
      });
      await tx.emit({ type: 'service-deployed', id: recordId(name) });
    });
  }

  /** Places a service's workloads against the cluster's hosts and records their owners. */
  private async placeInCluster(
    service: string,
    plan: PlannedWorkload[],
    guarantees: ReadonlyMap<string, string>,
  ): Promise<Map<string, string>> {
    // The TOSCA host requirement's allocation and node filter, and the Placement policies.
    const placements = await placementRequests(this.s.store, plan, serviceDirectories(service));
    const workloads = await Promise.all(
      plan.map(async (w) => {
        const vertex = (await this.s.store.get(w.vertex)) as Vertex | undefined;
        const policy = guarantees.get(w.name) === 'at-most-once' ? 'at-most-once' : undefined;
        return {
          name: w.name,
          node: vertex?.template?.name ?? w.name,
          kind: w.kind,
          ...(policy ? { policy: policy as 'at-most-once' } : {}),
          ...placements.get(w.name),
        };
      }),
    );
    return placeInCluster(this.s.cluster!, service, workloads);
  }

  /**
   * Reserves a workload's ports on this host, exposing those that ask for it and those named
   * in `alsoExpose` (another host's workload connects to them).
   */
  private async reservePorts(
    service: string,
    w: PlannedWorkload,
    alsoExpose: readonly string[] = [],
  ): Promise<PortBinding[]> {
    const bindings: PortBinding[] = [];
    for (const planned of w.ports) {
      const p = alsoExpose.includes(planned.name) ? { ...planned, expose: true } : planned;
      const r = await this.s.network.reserve({
        owner: { service, name: w.name },
        name: p.name,
        protocol: p.protocol,
        ...(p.fixedPort === undefined ? {} : { port: p.fixedPort }),
      });
      if (p.expose) await this.s.network.expose(r);
      // An exposed port is published on every address (the firewall lets it in); any other
      // only on this host's address, as the engines' port forwarding bypasses the firewall.
      bindings.push({
        name: p.name,
        port: r.port,
        protocol: p.protocol,
        ...(p.target === undefined ? {} : { target: p.target }),
        ...(p.expose ? {} : { hostAddress: this.s.address }),
      });
    }
    return bindings;
  }

  /**
   * Writes the reserved ports into the capabilities, and into the connections' relationships,
   * each with the address of the host its workload runs on.
   */
  private async writePorts(
    plan: PlannedWorkload[],
    reserved: Map<string, PortBinding[]>,
    addressOf: ReadonlyMap<string, string>,
  ): Promise<void> {
    const address = (workload: string) => addressOf.get(workload) ?? this.s.address;
    const values = new Map<Id, Record<string, Value | undefined>>();
    for (const w of plan) {
      const bindings = reserved.get(w.name) ?? [];
      // The workload's ports by name, the same for every kind (drivers' own views aside).
      if (bindings.length)
        values.set(w.vertex, { ports: Object.fromEntries(bindings.map((b) => [b.name, b.port])) });
      for (const p of w.ports) {
        const b = reserved.get(w.name)?.find((x) => x.name === p.name);
        if (b) values.set(p.capability, { port: b.port, address: address(w.name) });
      }
      for (const c of w.connections) {
        const b = reserved.get(c.target)?.find((x) => x.name === c.port);
        if (b) values.set(c.edge, { port: b.port, address: address(c.target) });
      }
    }
    await this.attributes.writeMany(values);
  }

  private async startWorkload(
    deploy: { service: string; baseDir: string; classes: ClassCache },
    sources: HandlerSources,
    w: PlannedWorkload,
    where: Placement,
    signal: AbortSignal,
    progress: (p: DeployProgress) => void,
  ): Promise<Supervised> {
    const { service } = deploy;
    const vertex = (await this.s.store.get(w.vertex)) as Vertex;
    const ports = where.reserved.get(w.name) ?? [];
    const { kind, driver, spec } = await this.specOf(deploy, vertex, w, ports, where);
    progress({ service, step: 'start', workload: w.name, state: 'starting' });
    await runPrestart({
      stateDir: this.s.stateDir,
      kind,
      driver,
      spec,
      steps: propertyValue(vertex, 'prestart'),
      signal,
    });
    const status = await driver.create(spec);
    // What the kind could not do as asked (e.g. limits without cgroup v2) is said, not hidden.
    const warnings = status.attributes.warnings;
    for (const warning of Array.isArray(warnings) ? warnings : []) {
      this.s.log('warn', `workload ${service}/${w.name}: ${String(warning)}`);
      progress({ service, step: 'warning', workload: w.name, message: String(warning) });
    }
    const sup = this.supervisor.supervise(service, vertex, status, sources);
    sup.stopping = true; // no restarts until the deploy has succeeded
    const started = this.attributes.write(w.vertex, statusValues(status, 'starting'), {
      type: 'workload-started',
      data: { pid: status.pid ?? null },
    });
    const inside =
      typeof status.attributes.ip_address === 'string' ? status.attributes.ip_address : undefined;
    const readiness = healthCheckOf(
      propertyValue(vertex, 'readiness'),
      ports,
      this.s.address,
      inside,
    );
    const timeoutMs = readinessTimeout(vertex) ?? 30_000;
    // A readiness wait ends early when the workload exits (the exit handler aborts it).
    sup.readiness = new AbortController();
    const waiting = AbortSignal.any([signal, sup.readiness.signal]);
    // The readiness wait does not wait for that commit; `workload-ready` still follows it.
    await Promise.all([
      started,
      readiness
        ? waitHealthy(readiness, { driver, ref: status.ref }, { timeoutMs, signal: waiting })
        : Promise.resolve(),
    ]);
    sup.readiness = undefined;
    sup.stopping = false;
    const handled = sup.exitsHandled;
    sup.liveness = livenessOf(propertyValue(vertex, 'liveness'), ports, this.s.address, inside);
    await this.attributes.write(w.vertex, { state: 'running' }, { type: 'workload-ready' });
    // An exit while the deploy held supervision back is handled now, by the policy. One that
    // came since is the listener's (handled twice, it would restart a running workload again).
    const now = await driver.read(status.ref);
    if (now && now.state !== 'running') {
      if (sup.exitsHandled === handled) {
        this.supervisor.enqueue(sup, () =>
          this.supervisor.handleExit(sup, {
            ...(now.exitCode === undefined ? {} : { exitCode: now.exitCode }),
            ...(now.signal === undefined ? {} : { signal: now.signal }),
            ...(status.pid === undefined ? {} : { pid: status.pid }),
          }),
        );
      }
    } else this.supervisor.scheduleLiveness(sup);
    progress({
      service,
      step: 'ready',
      workload: w.name,
      state: 'running',
      ...(status.pid ? { pid: status.pid } : {}),
    });
    this.supervisor.runHandler(sup, 'started', { pid: status.pid ?? null });
    this.supervisor.runHandler(sup, 'ready', {});
    return sup;
  }

  /**
   * A workload's spec: its kind maps the node's evaluated values; the agent adds what every
   * kind shares (ports, their environment, files, directories, limits, labels).
   */
  private async specOf(
    deploy: { service: string; baseDir: string; classes: ClassCache },
    vertex: Vertex,
    w: PlannedWorkload,
    ports: PortBinding[],
    where: Placement,
  ): Promise<{ kind: WorkloadKind; driver: WorkloadDriver; spec: WorkloadSpec }> {
    const { service } = deploy;
    const key = { service, name: w.name };
    const dirs = serviceDirectories(service);
    const node = await workloadNode(
      this.s.store,
      key,
      vertex,
      dirs.templates,
      deploy.baseDir,
      deploy.classes,
    );
    node.relations = w.relations;
    const kind = this.s.kinds.kindOf(node)!;
    const driver = this.s.kinds.driver(kind.kind);
    const mapped = kind.map(node);
    if (mapped.problems.length) {
      const p = mapped.problems[0]!;
      throw new DeployError({
        code: 'invalid-workload',
        status: 422,
        message: `workload ${w.name}: ${p.path.length ? `${p.path.join('.')}: ` : ''}${p.message}`,
        details: { service, workload: w.name, problems: mapped.problems as unknown as Value },
      });
    }
    const prepared = await prepareWorkload({
      stateDir: this.s.stateDir,
      host: this.s.host,
      key,
      properties: node.properties,
      ownFileSystem: kind.ownFileSystem,
    });
    const properties = { ...mapped.properties };
    // On the host's file system, a workload starts in its data root unless told otherwise, so
    // that its files and directories are found by their relative paths.
    if (!kind.ownFileSystem && properties.working_directory === undefined)
      properties.working_directory = dataRoot(this.s.stateDir, key);
    const own = isMap(properties.environment) ? properties.environment : {};
    properties.environment = {
      ...prepared.environment,
      // On the host's network, the address its ports are reached at (what connections to it
      // are given): a server listens there. (In a container's own namespace it listens on
      // every address, and the engine publishes its ports on this one.)
      ...(kind.ownFileSystem ? {} : { KHUTULUN_ADDRESS: this.s.address }),
      ...portEnvironment(
        w,
        where.reserved,
        (target) => where.addressOf.get(target) ?? this.s.address,
      ),
      ...own,
    };
    const spec: WorkloadSpec = {
      key,
      properties,
      ports,
      labels: prepared.labels,
      mounts: prepared.mounts,
      ...(prepared.limits ? { limits: prepared.limits } : {}),
    };
    return { kind, driver, spec };
  }

  /** Deletes a service: stops its workloads, releases its ports, removes its entities. */
  async remove(name: string): Promise<void> {
    const record = await readRecord(this.s.store, name);
    if (!record) {
      throw requestErrors.notFound('service-not-found', `no service named "${name}"`, {
        service: name,
      });
    }
    if (!this.runsHere(record)) {
      throw requestErrors.conflict(
        'service-elsewhere',
        `service "${name}" is run by the agent of host ${record.host}: delete it there`,
        { service: name, host: record.host ?? null },
      );
    }
    if (this.busy.has(name)) {
      throw requestErrors.conflict(
        'service-busy',
        `service "${name}" is being deployed or deleted`,
        {
          service: name,
        },
      );
    }
    this.busy.add(name);
    try {
      await this.s.store.transaction(async (tx) => {
        const vertex = (await tx.get(recordId(name))) as Vertex;
        await tx.put({
          ...vertex,
          properties: { ...vertex.properties, state: { value: 'deleting' } },
        });
        await tx.emit({ type: 'service-deleting', id: recordId(name) });
      });
      try {
        await this.teardown(name, undefined);
      } catch (error) {
        throw new DeployError({
          code: 'delete-failed',
          status: 500,
          message: `delete of ${name} did not finish: ${(error as Error).message}`,
          details: { service: name },
          cause: error,
        });
      }
      await this.s.store.transaction((tx) =>
        tx.emit({ type: 'service-deleted', id: recordId(name) }),
      );
    } finally {
      this.busy.delete(name);
    }
  }

  private async rollback(name: string): Promise<void> {
    await this.teardown(name, ROLLBACK_GRACE_MS);
  }

  /**
   * Stops and deletes every workload of a service, dependants first, each on its owner's host
   * (by the refs stored with them, and any the drivers hold under its name, e.g. from a create
   * the agent did not live to record); then every host removes the service's files and
   * directories (those not kept) and releases its ports; then its entities go. In a cluster, a
   * host that is lost is skipped: its own agent removes what it finds of a service that no
   * longer exists when it returns.
   */
  private async teardown(name: string, graceOverride: number | undefined): Promise<void> {
    const record = await readRecord(this.s.store, name);
    const { instances } = serviceDirectories(name);
    const vertexes = (await this.s.store.query({
      kind: 'vertex',
      directory: instances,
    })) as Vertex[];
    const workloads = vertexes.filter((v) => !v.parent && propertyValue(v, 'kind') !== undefined);
    const hostOf = new Map<string, string>();
    for (const v of workloads) {
      const host = propertyValue(v, 'host');
      hostOf.set(v.id.name, typeof host === 'string' ? host : this.s.host);
    }
    let hosts = new Set([this.s.host, ...hostOf.values()]);
    if (this.s.cluster) {
      const lost = new Set(
        (await this.s.cluster.hosts()).filter((h) => h.state === 'lost').map((h) => h.name),
      );
      for (const host of lost) {
        if (hosts.has(host))
          this.s.log('warn', `service ${name}: host ${host} is lost; its workloads are left to it`);
      }
      hosts = new Set([...hosts].filter((h) => !lost.has(h)));
    }
    const on = (host: string, op: 'stop' | 'release', args: Record<string, Value>) =>
      this.isHere(host)
        ? op === 'stop'
          ? this.stopHere(name, args.names as string[], args.graceMs as number | undefined)
          : this.releaseHere(name)
        : this.s.cluster!.call(host, op, { service: name, ...args }).then(() => {});
    // Dependants first: a workload stops before what it depends on (reverse start order).
    for (const wave of await this.stopOrder(name, [...hostOf.keys()])) {
      const byHost = new Map<string, string[]>();
      for (const workload of wave) {
        const host = hostOf.get(workload)!;
        if (hosts.has(host)) byHost.set(host, [...(byHost.get(host) ?? []), workload]);
      }
      await Promise.all(
        [...byHost].map(([host, names]) =>
          on(host, 'stop', {
            names,
            ...(graceOverride === undefined ? {} : { graceMs: graceOverride }),
          }),
        ),
      );
    }
    await Promise.all([...hosts].map((host) => on(host, 'release', {})));
    if (this.s.cluster) await this.s.cluster.cluster.registry.releaseService(name);
    const { root } = serviceDirectories(name);
    await this.s.store.transaction(async (tx) => {
      const entities = await tx.query({ directory: root, recursive: true });
      // Edges first, then vertexes and templates: deleting a vertex also removes its edges.
      const order = (e: Entity) => (e.id.kind === 'edge' || e.id.kind === 'edge-template' ? 0 : 1);
      for (const entity of entities.sort((a, b) => order(a) - order(b))) await tx.delete(entity.id);
      await tx.delete(recordId(name));
    });
    if (record) await this.discardUpload(record.source);
  }

  /**
   * Stops and deletes these workloads of a service on this host (by the refs stored with them,
   * or by their keys in the drivers' lists), holding back their supervision first.
   */
  private async stopHere(
    service: string,
    names: string[],
    graceMs?: number,
    moved?: { refs: WorkloadRef[] },
  ): Promise<void> {
    const mine = this.supervisor.hold(service, names);
    const { instances } = serviceDirectories(service);
    const refs = new Map<string, WorkloadRef>();
    // A workload moved to another host: the graph already holds its new copy's ref, so the
    // old copy is addressed by the ref it had here (and by its key in the drivers' lists).
    for (const ref of moved?.refs ?? []) refs.set(`${ref.kind}:${ref.id}`, ref);
    for (const name of moved ? [] : names) {
      const vertex = await this.s.store.get({ kind: 'vertex', directory: instances, name });
      const ref = vertex ? workloadRefOf(propertyValue(vertex, 'ref')) : undefined;
      if (ref) refs.set(`${ref.kind}:${ref.id}`, ref);
    }
    for (const st of await this.s.kinds.list()) {
      if (st.ref.key.service === service && names.includes(st.ref.key.name))
        refs.set(`${st.ref.kind}:${st.ref.id}`, st.ref);
    }
    await Promise.all(
      [...refs.values()].map(async (ref) => {
        const sup = mine.find((m) => m.name === ref.key.name);
        const driver = this.s.kinds.driverOf(ref);
        const before = await driver.read(ref).catch(() => undefined);
        try {
          await driver.delete(ref, { graceMs: graceMs ?? sup?.graceMs ?? 10_000 });
        } catch (error) {
          // Gone meanwhile (e.g. with the pod it was in): what delete was for.
          if (!isDriverError(error) || error.code !== 'not-found') throw error;
        }
        if (sup && before?.state === 'running') this.supervisor.runHandler(sup, 'stopped', {});
      }),
    );
    if (moved) {
      // Gone from this host: its supervision and its ports here go with it.
      this.supervisor.forget(service, names);
      for (const name of names) await this.s.network.release({ service, name });
    }
  }

  /**
   * Removes what a service holds on this host once its workloads stopped: any workload the
   * drivers still hold under its name (a create the agent did not live to record), the files
   * and directories of its workloads (those not kept), its ports, and its owner records.
   */
  private async releaseHere(service: string): Promise<void> {
    this.supervisor.hold(service);
    for (const st of await this.s.kinds.list()) {
      if (st.ref.key.service !== service) continue;
      await this.s.kinds
        .driverOf(st.ref)
        .delete(st.ref, { graceMs: ROLLBACK_GRACE_MS })
        .catch((error) => {
          if (!isDriverError(error) || error.code !== 'not-found') throw error;
        });
    }
    const { instances } = serviceDirectories(service);
    const vertexes = (await this.s.store.query({
      kind: 'vertex',
      directory: instances,
    })) as Vertex[];
    for (const v of vertexes.filter((x) => !x.parent && propertyValue(x, 'kind') !== undefined)) {
      const kind = propertyValue(v, 'kind');
      const offered = this.s.kinds.offered().find((k) => k.kind === kind);
      await cleanupWorkload({
        stateDir: this.s.stateDir,
        key: { service, name: v.id.name },
        properties: valuesOf(v),
        ownFileSystem: offered ? this.s.kinds.ownFileSystem(offered.kind) : false,
      });
    }
    // The service's data directory goes with its last workload's (kept ones keep it).
    await rmdir(join(this.s.stateDir, 'data', service)).catch(() => {});
    this.supervisor.forget(service);
    const owners = new Set(
      (await this.s.network.list())
        .filter((r) => r.owner.service === service)
        .map((r) => r.owner.name),
    );
    for (const owner of owners) await this.s.network.release({ service, name: owner });
    if (this.s.cluster) await releaseOwners(this.s.cluster, service);
  }

  /**
   * Groups a service's workloads into waves to stop, dependants before their dependencies (a
   * pod's containers before the pod). Workloads the graph does not order go in the first wave.
   */
  private async stopOrder(service: string, names: string[]): Promise<string[][]> {
    const { instances } = serviceDirectories(service);
    const after = new Map<string, string[]>();
    for (const name of names) {
      const id: Id = { kind: 'vertex', directory: instances, name };
      const targets = new Set<string>();
      for (const edge of await this.s.store.edgesOut(id).catch(() => [])) {
        // To a workload, or to a capability of one (a child vertex: its parent owns it).
        const t = (edge as { target: Id }).target;
        const target = (await this.s.store.get(t)) as Vertex | undefined;
        const owner = target?.parent?.name ?? t.name;
        if (owner !== name) targets.add(owner);
      }
      after.set(name, [...targets]);
    }
    const waves: string[][] = [];
    let left = [...names];
    while (left.length) {
      // Stoppable now: nothing left depends on it.
      const wave = left.filter((r) => !left.some((o) => o !== r && after.get(o)?.includes(r)));
      const next = wave.length ? wave : left; // a cycle: stop the rest together
      waves.push(next);
      left = left.filter((r) => !next.includes(r));
    }
    return waves;
  }

  /**
   * After a restart: rolls back deploys that were interrupted, finishes interrupted deletes,
   * removes workloads and ports of no service (orphans), and re-adopts the running ones,
   * applying the restart policy to those that ended while no agent watched.
   */
  async recover(): Promise<void> {
    const statuses = await this.s.kinds.adopt();
    const records = await readRecords(this.s.store);
    const known = new Set(records.map((r) => r.name));
    // In a cluster, the other agents' services are theirs to roll back, finish or re-adopt.
    for (const record of records.filter((r) => this.runsHere(r))) {
      if (record.state !== 'running') {
        await this.finishInterrupted(
          record,
          record.state === 'deploying'
            ? 'the agent stopped during the deploy; rolled back'
            : 'the agent stopped during the delete; finished',
        );
      }
    }
    // Orphans: workloads of no service, or of a service that does not list them (e.g. a
    // prestart step the agent did not live to remove).
    const listed = new Set(
      (await readRecords(this.s.store)).flatMap((r) => r.workloads.map((w) => `${r.name}/${w}`)),
    );
    for (const st of statuses) {
      const { service, name } = st.ref.key;
      if (!known.has(service) && this.s.kinds.sharedEngine(st.ref.kind)) {
        // In an engine other agents may share: perhaps theirs, so never ours to remove.
        this.s.log(
          'warn',
          `${st.ref.kind} workload ${service}/${name} (${st.ref.id}) is labelled for this host but belongs to no service of this agent; left alone`,
        );
        continue;
      }
      const deploying = records.some((r) => r.name === service && r.state !== 'running');
      if (!known.has(service) || (!deploying && !listed.has(`${service}/${name}`))) {
        await this.s.kinds.driverOf(st.ref).delete(st.ref, { graceMs: ROLLBACK_GRACE_MS });
      } else if (this.s.cluster && !deploying && (await this.ownerElsewhere(service, name))) {
        // Replaced or moved while this agent was away: another host runs it now, so this
        // host's copy (stopped by the fence) and its ports here go.
        this.s.log('info', `workload ${service}/${name} runs elsewhere now; removing this copy`);
        await this.s.kinds.driverOf(st.ref).delete(st.ref, { graceMs: ROLLBACK_GRACE_MS });
        await this.s.network.release({ service, name });
      }
    }
    for (const r of await this.s.network.list()) {
      if (!known.has(r.owner.service)) await this.s.network.release(r.owner);
    }
    // In a cluster, this host re-adopts the workloads it owns, whichever agent deployed them.
    for (const record of await readRecords(this.s.store)) {
      if (record.state !== 'running') continue;
      if (!this.s.cluster && !this.runsHere(record)) continue;
      const dirs = serviceDirectories(record.name);
      for (const name of record.workloads) {
        const vertex = (await this.s.store.get({
          kind: 'vertex',
          directory: dirs.instances,
          name,
        })) as Vertex | undefined;
        if (!vertex) continue;
        if (this.s.cluster && propertyValue(vertex, 'host') !== this.s.host) continue;
        // By the ref stored with it; by its key only if none was stored.
        const stored = workloadRefOf(propertyValue(vertex, 'ref'));
        const status = statuses.find((st) =>
          stored
            ? st.ref.kind === stored.kind && st.ref.id === stored.id
            : st.ref.key.service === record.name && st.ref.key.name === name,
        );
        if (!status) {
          // Removed by hand (or by the engine): nothing to re-adopt or restart from.
          await this.attributes.write(
            vertex.id,
            { state: 'failed', pid: undefined },
            {
              type: 'workload-lost',
              data: {
                message: `the ${stored?.kind ?? 'workload'} driver has no such workload${stored ? ` (${stored.id})` : ''}`,
              },
            },
          );
          continue;
        }
        const sup = this.supervisor.supervise(record.name, vertex, status, {
          baseDir: dirname(record.source),
          triggers: await policyTriggers(this.s.store, dirs.instances),
        });
        if (status.state === 'running') {
          await this.attributes.write(vertex.id, statusValues(status, 'running'));
          // Checked where the deploy checked it: a container at its own address and inside
          // port (a published port may be answered by the engine's proxy, alive or not).
          const targets = await this.portTargets(vertex);
          const ports = (await this.s.network.list({ service: record.name, name })).map((r) => {
            const target = targets.get(r.name);
            return {
              name: r.name,
              port: r.port,
              protocol: r.protocol,
              ...(target === undefined ? {} : { target }),
            };
          });
          const inside =
            typeof status.attributes.ip_address === 'string'
              ? status.attributes.ip_address
              : undefined;
          try {
            sup.liveness = livenessOf(
              propertyValue(vertex, 'liveness'),
              ports,
              this.s.address,
              inside,
            );
          } catch {
            sup.liveness = undefined;
          }
          this.supervisor.scheduleLiveness(sup);
        } else {
          this.supervisor.enqueue(sup, () =>
            this.supervisor.handleExit(sup, {
              ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
              ...(status.signal === undefined ? {} : { signal: status.signal }),
            }),
          );
        }
      }
    }
    // Workloads replaced while this host was away (declared lost while its agent was down)
    // were re-adopted above: the join at start says which, and they are stopped.
    if (this.s.cluster) {
      await this.rejoined(this.s.cluster.cluster.membership.joined);
      await this.lifecycle?.started();
    }
  }

  /** Waits until every queued supervision step has run (used when stopping the agent). */
  async idle(): Promise<void> {
    await this.supervisor.idle();
  }

  /** The `target` (port inside a container) of each of a workload's Port capabilities, by name. */
  private async portTargets(vertex: Vertex): Promise<Map<string, number>> {
    const targets = new Map<string, number>();
    for (const child of (await this.s.store.children(vertex.id)) as Vertex[]) {
      const target = propertyValue(child, 'target');
      if (typeof target === 'number')
        targets.set(child.metadata['tosca.name'] ?? child.id.name, target);
    }
    return targets;
  }

  /** Cancels back-off and liveness timers (the agent is stopping; workloads keep running). */
  close(): void {
    this.lifecycle?.close();
    this.supervisor.close();
  }

  /**
   * Finishes a service left half done (by this agent before a restart, or by a lost one whose
   * services this agent took over): a deploy is rolled back, a delete finished, then recorded
   * with `message`. Skipped while the service is busy here.
   */
  async finishInterrupted(record: ServiceRecord, message: string): Promise<void> {
    if (this.busy.has(record.name)) return;
    this.busy.add(record.name);
    try {
      const deploying = record.state === 'deploying';
      if (deploying) this.s.log('info', `rolling back the interrupted deploy of ${record.name}`);
      await this.teardown(record.name, deploying ? ROLLBACK_GRACE_MS : undefined);
      await this.s.store.transaction((tx) =>
        tx.emit({
          type: deploying ? 'service-deploy-failed' : 'service-deleted',
          id: recordId(record.name),
          data: { message },
        }),
      );
    } finally {
      this.busy.delete(record.name);
    }
  }

  /** Moves every workload off a draining host (`cluster-lifecycle.ts`). */
  drain(host: string): Promise<Array<{ service: string; workload: string; to: string }>> {
    if (!this.lifecycle) throw new Error('drain needs a cluster');
    return this.lifecycle.drain(host);
  }

  /**
   * Restarts a workload on request (`workload restart`): stops it and starts it again,
   * counting the restart. Refused while its service is being deployed or deleted.
   */
  async restartWorkload(service: string, name: string): Promise<void> {
    if (this.busy.has(service)) {
      throw requestErrors.conflict(
        'workload-busy',
        `workload ${service}/${name} cannot be restarted while its service is being deployed or deleted`,
        { service, name },
      );
    }
    await this.supervisor.restart(service, name);
  }

  /** Whether the graph says another host runs this workload. */
  private async ownerElsewhere(service: string, name: string): Promise<boolean> {
    const { instances } = serviceDirectories(service);
    const vertex = await this.s.store.get({ kind: 'vertex', directory: instances, name });
    const host = vertex ? propertyValue(vertex, 'host') : undefined;
    return typeof host === 'string' && host !== this.s.host;
  }

  /** Whether `host` is this agent's host (always, on the embedded single host). */
  private isHere(host: string): boolean {
    return !this.s.cluster || host === this.s.host;
  }

  /**
   * Runs a host operation another agent asks of this one (`host-ops.ts`): the driver
   * operations of the workloads this host owns, for the agent running their service's
   * lifecycle. `reserve` a workload's ports; `start` it (answered once it is ready); `stop`
   * some of a service's workloads; `release` what the service holds here; `replace`: start
   * here a workload whose host was lost.
   */
  async hostOp(op: string, args: Value, context: OpContext): Promise<Value> {
    const a = (isMap(args) ? args : {}) as Record<string, Value>;
    const service = String(a.service);
    if (op === 'reserve') {
      const w = a.workload as unknown as PlannedWorkload;
      return (await this.reservePorts(
        service,
        w,
        (a.expose ?? []) as string[],
      )) as unknown as Value;
    }
    if (op === 'start') {
      const w = a.workload as unknown as PlannedWorkload;
      const baseDir = String(a.baseDir);
      const { instances } = serviceDirectories(service);
      await this.startWorkload(
        { service, baseDir, classes: new Map() },
        { baseDir, triggers: await policyTriggers(this.s.store, instances) },
        w,
        {
          reserved: new Map(Object.entries(a.reserved as Record<string, unknown>)) as Map<
            string,
            PortBinding[]
          >,
          addressOf: new Map(Object.entries(a.addresses as Record<string, string>)),
        },
        context.signal,
        context.progress,
      );
      return null;
    }
    if (op === 'stop') {
      await this.stopHere(
        service,
        (a.names ?? []) as string[],
        typeof a.graceMs === 'number' ? a.graceMs : undefined,
        Array.isArray(a.movedRefs) ? { refs: a.movedRefs as unknown as WorkloadRef[] } : undefined,
      );
      return null;
    }
    if (op === 'release') {
      await this.releaseHere(service);
      return null;
    }
    if (op === 'rewire') {
      await this.rewireHere(service, String(a.workload), context);
      return null;
    }
    if (op === 'replace') {
      await this.startReplacement(service, String(a.workload), a as Record<string, Value>, context);
      return null;
    }
    throw requestErrors.badRequest(`unknown host operation ${JSON.stringify(op)}`);
  }

  /**
   * Whether this agent runs a service's lifecycle: always on the embedded single host; in a
   * cluster, the services it deployed (a record without a host belongs to no cluster agent).
   */
  runsHere(record: ServiceRecord): boolean {
    return !this.s.cluster || record.host === this.s.host;
  }

  /** Whether a service is being deployed or deleted right now. */
  isBusy(name: string): boolean {
    return this.busy.has(name);
  }
}

/** Fails the deploy with the first property problem (outputs aside: they are evaluated when read). */
function throwProblems(problems: UpdateProblem[]): void {
  const p = problems.find((x) => !x.path[0]?.startsWith('output:'));
  if (!p) return;
  throw new DeployError({
    code: 'deploy-failed',
    status: 500,
    message: `property ${p.path.join('.')} of ${p.entity.name}: ${p.message}`,
    details: { step: 'update', workload: p.entity.name },
  });
}

/** The event stream's filter for one service: its record and everything in its directory. */
export function isAboutService(event: FloriaEvent, service: string): boolean {
  const d = event.id.directory;
  if (d[0] === 'services' && d[1] === service) return true;
  return d[0] === 'khutulun' && d[1] === 'services' && event.id.name === service;
}

/** A compiled service's `metadata.template_name`, if it is a string. */
function templateName(templates: Entity[] | undefined): string | undefined {
  const service = templates?.find((t) => t.metadata['tosca.entity'] === 'service');
  const metadata = service ? propertyValue(service, 'tosca:metadata') : undefined;
  const name = isMap(metadata) ? metadata.template_name : undefined;
  return typeof name === 'string' ? name : undefined;
}

/**
 * The name a deploy request gives its service before compiling: `name`, else the source's
 * base name (the template's `metadata.template_name` wins over the latter once compiled).
 */
function serviceNameOf(request: DeployRequest): string {
  return request.name ?? defaultName(request.source);
}

function defaultName(source: string): string {
  const base = basename(source).replace(/\.(tar\.gz|tgz)$/, '');
  return base
    .slice(0, base.length - extname(base).length)
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-');
}

/** A vertex's property values (TOSCA's own aside). */
function valuesOf(vertex: Vertex): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [k, p] of Object.entries(vertex.properties))
    if (!k.startsWith('tosca:') && p.value !== undefined) out[k] = p.value;
  return out;
}

function readinessTimeout(vertex: Vertex): number | undefined {
  const readiness = propertyValue(vertex, 'readiness');
  return isMap(readiness) && typeof readiness.timeout === 'number'
    ? readiness.timeout * 1000
    : undefined;
}

function asDeployError(service: string, error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'status' in error && 'code' in error)
    return error;
  const driver = isDriverError(error) ? error : undefined;
  return new DeployError({
    code: 'deploy-failed',
    status: 500,
    message: `deploy of ${service} failed and was rolled back: ${(error as Error).message}`,
    details: {
      service,
      ...(driver ? { driverCode: driver.code, driver: driver.driver } : {}),
      ...(driver?.workload ? { workload: driver.workload.name } : {}),
    },
    cause: error,
  });
}

/**
 * The ports each workload must expose because a workload on another host connects to them
 * (by workload name, the port names).
 */
function crossHostPorts(
  plan: readonly PlannedWorkload[],
  hostOf: ReadonlyMap<string, string>,
): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const w of plan) {
    for (const c of w.connections) {
      if (hostOf.get(c.target) === hostOf.get(w.name)) continue;
      const ports = out.get(c.target) ?? new Set<string>();
      ports.add(c.port);
      out.set(c.target, ports);
    }
  }
  return out;
}
