import type { PortBinding, Protocol } from '@khutulun/driver';
import type { Edge, Entity, Expression, Id, StoreReader, Value, Vertex } from '@khutulun/floria';
import { DeployError } from './agent-error.js';

/** The profile's name as it appears in compiled class names. */
export const PROFILE = 'io.khutulun.core';

const PROCESS_CLASS = `node:${PROFILE}/Process`;
const PORT_CLASS = `capability:${PROFILE}/Port`;
const DEPENDS_ON_CLASS = `relationship:${PROFILE}/DependsOn`;
const CONNECTS_TO_CLASS = `relationship:${PROFILE}/ConnectsTo`;

/** A port capability of a workload, as the profile declares it. */
export interface PlannedPort {
  capability: Id;
  name: string;
  protocol: Protocol;
  fixedPort?: number;
  expose: boolean;
}

/** A connection (ConnectsTo) from a workload to a port of another. */
export interface PlannedConnection {
  edge: Id;
  target: string;
  port: string;
  prefix: string;
}

/** One process of a service, with what the deploy needs to run it in order. */
export interface PlannedWorkload {
  vertex: Id;
  name: string;
  ports: PlannedPort[];
  /** Names of the workloads it starts after (DependsOn and ConnectsTo). */
  after: string[];
  connections: PlannedConnection[];
}

/**
 * Reads a service's instance graph into the workloads to run: every vertex in the profile's
 * Process class (or a subclass), its Port capabilities (child vertexes) and its DependsOn /
 * ConnectsTo edges (to a capability whose parent is the target workload).
 */
export async function planWorkloads(
  store: StoreReader,
  instances: string[],
  templates: string[],
): Promise<PlannedWorkload[]> {
  const cls = (name: string): Id => ({ kind: 'class', directory: templates, name });
  const vertexes = (await store.query({ kind: 'vertex', directory: instances })) as Vertex[];
  const byId = new Map(vertexes.map((v) => [key(v.id), v]));
  const workloads: PlannedWorkload[] = [];
  for (const vertex of vertexes) {
    if (vertex.parent || !(await store.isInClass(vertex.id, cls(PROCESS_CLASS)))) continue;
    const ports: PlannedPort[] = [];
    for (const child of (await store.children(vertex.id)) as Vertex[]) {
      if (!(await store.isInClass(child.id, cls(PORT_CLASS)))) continue;
      const protocol = propertyValue(child, 'protocol') === 'udp' ? 'udp' : 'tcp';
      const fixed = propertyValue(child, 'fixed_port');
      ports.push({
        capability: child.id,
        name: child.metadata['tosca.name'] ?? child.id.name,
        protocol,
        ...(typeof fixed === 'number' ? { fixedPort: fixed } : {}),
        expose: propertyValue(child, 'expose') === true,
      });
    }
    workloads.push({ vertex: vertex.id, name: vertex.id.name, ports, after: [], connections: [] });
  }
  const byName = new Map(workloads.map((w) => [w.name, w]));
  for (const workload of workloads) {
    for (const edge of (await store.edgesOut(workload.vertex)) as Edge[]) {
      if (!(await store.isInClass(edge.id, cls(DEPENDS_ON_CLASS)))) continue;
      const target = byId.get(key(edge.target)) ?? ((await store.get(edge.target)) as Vertex);
      const owner = target?.parent ? byName.get(target.parent.name) : byName.get(edge.target.name);
      if (!owner) continue;
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

/** `NAME` in upper case with every character other than A-Z and 0-9 as `_`. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The value of a property of an entity that has properties. */
export function propertyValue(entity: Entity, property: string): Value | undefined {
  return 'properties' in entity ? entity.properties[property]?.value : undefined;
}

/** The environment a workload gets from its ports and connections. */
export function portEnvironment(
  workload: PlannedWorkload,
  reserved: Map<string, PortBinding[]>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const binding of reserved.get(workload.name) ?? []) {
    if (binding.name === 'port') env.PORT = String(binding.port);
  }
  for (const connection of workload.connections) {
    const binding = reserved.get(connection.target)?.find((b) => b.name === connection.port);
    if (!binding) continue;
    env[`${connection.prefix}_HOST`] = '127.0.0.1';
    env[`${connection.prefix}_PORT`] = String(binding.port);
    env[`${connection.prefix}_ADDRESS`] = `127.0.0.1:${binding.port}`;
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
  const cls: Id = { kind: 'class', directory: templates, name: `policy:${PROFILE}/Restart` };
  const overrides = new Map<Id, string>();
  for (const policy of (await store.query({ kind: 'vertex', directory: instances })) as Vertex[]) {
    if (!(await store.isInClass(policy.id, cls))) continue;
    const restart = propertyValue(policy, 'restart');
    const targets = propertyValue(policy, 'tosca:targets');
    if (typeof restart !== 'string' || !Array.isArray(targets)) continue;
    for (const w of plan) {
      const vertex = (await store.get(w.vertex)) as Vertex | undefined;
      if (vertex?.template && targets.includes(vertex.template.name))
        overrides.set(w.vertex, restart);
    }
  }
  return overrides;
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
    if (!Array.isArray(targets) || !isRecord(defined)) continue;
    for (const trigger of Object.values(defined)) {
      if (!isRecord(trigger) || typeof trigger.event !== 'string') continue;
      const operations = (Array.isArray(trigger.action) ? trigger.action : []).flatMap((a) => {
        const call = isRecord(a) ? a.call_operation : undefined;
        if (typeof call === 'string') return [call];
        return isRecord(call) && typeof call.operation === 'string' ? [call.operation] : [];
      });
      triggers.push({
        targets: targets.map(String),
        event: trigger.event,
        operations,
        ...(isRecord(trigger.condition)
          ? { condition: trigger.condition as unknown as Expression }
          : {}),
      });
    }
  }
  return triggers;
}

function isRecord(v: Value | undefined): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
