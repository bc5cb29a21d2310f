import type { NodeRelation, PortBinding, Protocol } from '@khutulun/driver';
import type { Edge, Expression, Id, StoreReader, Value, Vertex } from '@khutulun/floria';
import { DeployError } from './agent-error.js';
import { envName, isMap, propertyValue } from './values.js';
import type { WorkloadKinds } from './workload-kinds.js';
import { type ClassCache, classNames, workloadNode } from './workload-node.js';

/** The profile's name as it appears in compiled class names. */
export const PROFILE = 'io.khutulun.core';

const PORT_CLASS = `capability:${PROFILE}/Port`;
const DEPENDS_ON_CLASS = `relationship:${PROFILE}/DependsOn`;
const CONNECTS_TO_CLASS = `relationship:${PROFILE}/ConnectsTo`;

/** A port capability of a workload, as the profile declares it. */
export interface PlannedPort {
  capability: Id;
  name: string;
  protocol: Protocol;
  fixedPort?: number;
  /** The port inside the workload's network namespace (containers); default the host port. */
  target?: number;
  expose: boolean;
}

/** A connection (ConnectsTo) from a workload to a port of another. */
export interface PlannedConnection {
  edge: Id;
  target: string;
  port: string;
  prefix: string;
}

/** One workload of a service, with what the deploy needs to run it in order. */
export interface PlannedWorkload {
  vertex: Id;
  name: string;
  /** The kind that runs it (`process`, `podman`, ...). */
  kind: string;
  ports: PlannedPort[];
  /** Names of the workloads it starts after (DependsOn and everything derived from it). */
  after: string[];
  connections: PlannedConnection[];
  /** Its requirements that other workloads fulfil (e.g. a container's pod). */
  relations: NodeRelation[];
}

/**
 * Reads a service's instance graph into the workloads to run: every top-level vertex that a
 * registered kind runs (by its node types), its Port capabilities (child vertexes) and its
 * DependsOn / ConnectsTo edges (to a workload, or to a capability of one).
 */
export async function planWorkloads(
  store: StoreReader,
  kinds: WorkloadKinds,
  dirs: { instances: string[]; templates: string[] },
  service: string,
  baseDirectory: string,
  cache: ClassCache = new Map(),
): Promise<PlannedWorkload[]> {
  const cls = (name: string): Id => ({ kind: 'class', directory: dirs.templates, name });
  const vertexes = (await store.query({ kind: 'vertex', directory: dirs.instances })) as Vertex[];
  const byId = new Map(vertexes.map((v) => [key(v.id), v]));
  const workloads: PlannedWorkload[] = [];
  for (const vertex of vertexes) {
    if (vertex.parent || vertex.metadata['tosca.entity'] !== 'node') continue;
    const node = await workloadNode(
      store,
      { service, name: vertex.id.name },
      vertex,
      dirs.templates,
      baseDirectory,
      cache,
    );
    const kind = kinds.kindOf(node);
    if (!kind) continue;
    const ports: PlannedPort[] = [];
    for (const child of (await store.children(vertex.id)) as Vertex[]) {
      if (!(await store.isInClass(child.id, cls(PORT_CLASS)))) continue;
      const protocol = propertyValue(child, 'protocol') === 'udp' ? 'udp' : 'tcp';
      const fixed = propertyValue(child, 'fixed_port');
      const target = propertyValue(child, 'target');
      ports.push({
        capability: child.id,
        name: child.metadata['tosca.name'] ?? child.id.name,
        protocol,
        ...(typeof fixed === 'number' ? { fixedPort: fixed } : {}),
        ...(typeof target === 'number' ? { target } : {}),
        expose: propertyValue(child, 'expose') === true,
      });
    }
    workloads.push({
      vertex: vertex.id,
      name: vertex.id.name,
      kind: kind.kind,
      ports,
      after: [],
      connections: [],
      relations: [],
    });
  }
  const byName = new Map(workloads.map((w) => [w.name, w]));
  for (const workload of workloads) {
    for (const edge of (await store.edgesOut(workload.vertex)) as Edge[]) {
      const target = byId.get(key(edge.target)) ?? ((await store.get(edge.target)) as Vertex);
      const owner = target?.parent ? byName.get(target.parent.name) : byName.get(edge.target.name);
      if (!owner) continue;
      workload.relations.push({
        name: edge.metadata['tosca.name'] ?? edge.id.name,
        types: await classNames(store, edge.classes, cache),
        target: owner.name,
      });
      if (!(await store.isInClass(edge.id, cls(DEPENDS_ON_CLASS)))) continue;
      if (!workload.after.includes(owner.name)) workload.after.push(owner.name);
      if (await store.isInClass(edge.id, cls(CONNECTS_TO_CLASS))) {
        const prefix = propertyValue(edge, 'environment_prefix');
        workload.connections.push({
          edge: edge.id,
          target: owner.name,
          port: target?.metadata['tosca.name'] ?? '',
          prefix:
            typeof prefix === 'string' && prefix
              ? prefix
              : envName(target?.metadata['tosca.node'] ?? owner.name),
        });
      }
    }
  }
  checkAcyclic(workloads);
  return workloads;
}

/**
 * The environment a workload gets from its ports and connections: `PORT` / `PORT_<NAME>` (the
 * port it listens on: inside its namespace for containers), and `<PREFIX>_HOST`, `_PORT`,
 * `_ADDRESS` of each connection, with the target host's address.
 */
export function portEnvironment(
  workload: PlannedWorkload,
  reserved: ReadonlyMap<string, PortBinding[]>,
  addressOf: (workload: string) => string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const binding of reserved.get(workload.name) ?? []) {
    const inside = String(binding.target ?? binding.port);
    env[binding.name === 'port' ? 'PORT' : `PORT_${envName(binding.name)}`] = inside;
  }
  for (const connection of workload.connections) {
    const binding = reserved.get(connection.target)?.find((b) => b.name === connection.port);
    if (!binding) continue;
    const address = addressOf(connection.target);
    env[`${connection.prefix}_HOST`] = address;
    env[`${connection.prefix}_PORT`] = String(binding.port);
    env[`${connection.prefix}_ADDRESS`] = `${address}:${binding.port}`;
  }
  return env;
}

function checkAcyclic(workloads: PlannedWorkload[]): void {
  const byName = new Map(workloads.map((w) => [w.name, w]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw new DeployError({
        code: 'dependency-cycle',
        status: 422,
        message: `the workloads depend on each other in a cycle: ${[...path, name].join(' -> ')}`,
        details: { cycle: [...path, name] },
      });
    }
    state.set(name, 'visiting');
    for (const next of byName.get(name)?.after ?? []) visit(next, [...path, name]);
    state.set(name, 'done');
  };
  for (const w of workloads) visit(w.name, []);
}

function key(id: Id): string {
  return `${id.kind}:${id.directory.join('/')}/${id.name}`;
}

/**
 * The restart policies that `Restart` policies impose on their target workloads (by the
 * node template names in `tosca:targets`): vertex id -> policy.
 */
export async function restartOverrides(
  store: StoreReader,
  plan: PlannedWorkload[],
  instances: string[],
  templates: string[],
): Promise<Map<Id, string>> {
  const byName = await policyValues(store, plan, instances, templates, 'Restart', 'restart');
  return new Map(
    plan.filter((w) => byName.has(w.name)).map((w) => [w.vertex, byName.get(w.name)!]),
  );
}

/**
 * The replacement guarantee of each workload (by name) that a `Replacement` policy sets
 * (`at-least-once` or `at-most-once`; a policy without targets sets it for every workload).
 */
export function replacementPolicies(
  store: StoreReader,
  plan: PlannedWorkload[],
  instances: string[],
  templates: string[],
): Promise<Map<string, string>> {
  return policyValues(store, plan, instances, templates, 'Replacement', 'guarantee', true);
}

/**
 * The value of `property` that policies of the profile's type `type` set on each workload
 * they target (by workload name); with `everyWhenUntargeted`, a policy without targets sets
 * it on every workload.
 */
async function policyValues(
  store: StoreReader,
  plan: PlannedWorkload[],
  instances: string[],
  templates: string[],
  type: string,
  property: string,
  everyWhenUntargeted = false,
): Promise<Map<string, string>> {
  const cls: Id = { kind: 'class', directory: templates, name: `policy:${PROFILE}/${type}` };
  const values = new Map<string, string>();
  for (const policy of (await store.query({ kind: 'vertex', directory: instances })) as Vertex[]) {
    if (!(await store.isInClass(policy.id, cls))) continue;
    const value = propertyValue(policy, property);
    const targets = propertyValue(policy, 'tosca:targets');
    if (typeof value !== 'string') continue;
    const every = everyWhenUntargeted && (!Array.isArray(targets) || targets.length === 0);
    if (!every && !Array.isArray(targets)) continue;
    for (const w of plan) {
      const vertex = (await store.get(w.vertex)) as Vertex | undefined;
      if (every || (vertex?.template && (targets as Value[]).includes(vertex.template.name)))
        values.set(w.name, value);
    }
  }
  return values;
}

/** A trigger of a TOSCA policy: on `event` of one of its target workloads, call operations. */
export interface PolicyTrigger {
  /** The node template names the policy targets. */
  targets: string[];
  /** The workload event (`started`, `ready`, `exited`, `restarting`, `stopped`). */
  event: string;
  /** `INTERFACE.OPERATION` names to call on the target (from `call_operation` activities). */
  operations: string[];
  /** Evaluated on the workload's vertex when the event happens; the trigger fires if true. */
  condition?: Expression;
}

/** The triggers of every policy of a service (`tosca:triggers` of its policy vertexes). */
export async function policyTriggers(
  store: StoreReader,
  instances: string[],
): Promise<PolicyTrigger[]> {
  const policies = (await store.query({
    kind: 'vertex',
    directory: instances,
    metadata: { 'tosca.entity': 'policy' },
  })) as Vertex[];
  const triggers: PolicyTrigger[] = [];
  for (const policy of policies) {
    const targets = propertyValue(policy, 'tosca:targets');
    const defined = propertyValue(policy, 'tosca:triggers');
    if (!Array.isArray(targets) || !isMap(defined)) continue;
    for (const trigger of Object.values(defined)) {
      if (!isMap(trigger) || typeof trigger.event !== 'string') continue;
      const operations = (Array.isArray(trigger.action) ? trigger.action : []).flatMap((a) => {
        const call = isMap(a) ? a.call_operation : undefined;
        if (typeof call === 'string') return [call];
        return isMap(call) && typeof call.operation === 'string' ? [call.operation] : [];
      });
      triggers.push({
        targets: targets.map(String),
        event: trigger.event,
        operations,
        ...(isMap(trigger.condition)
          ? { condition: trigger.condition as unknown as Expression }
          : {}),
      });
    }
  }
  return triggers;
}
