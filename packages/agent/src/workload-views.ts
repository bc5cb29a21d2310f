/**
 * How the API shows workloads: list items and the full view, read from the graph (the
 * attributes drivers wrote back, and the ref each workload is addressed by) and from its
 * driver's own description of what it made.
 */
import type {
  JsonValue,
  WorkloadDetail,
  WorkloadFile,
  WorkloadItem,
  WorkloadState,
} from '@khutulun/api';
import type { WorkloadRef } from '@khutulun/driver';
import type { Value, Vertex } from '@khutulun/floria';
import { requestErrors } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import { readRecord, type ServiceRecord, serviceDirectories } from './service-record.js';
import { isMap, workloadRefOf } from './values.js';
import { dataRoot } from './workload-setup.js';

/**
 * A workload's vertex by its name (`server-1`), or by its node template's name (`server`)
 * when the service has exactly one instance of it.
 */
export async function workloadVertex(
  s: AgentServices,
  service: string,
  name: string,
): Promise<Vertex> {
  const record = await readRecord(s.store, service);
  const names = record?.workloads ?? [];
  const alike = names.filter((n) => n.replace(/-\d+$/, '') === name);
  const resolved = names.includes(name) ? name : alike.length === 1 ? alike[0]! : undefined;
  const vertex = resolved
    ? ((await s.store.get({
        kind: 'vertex',
        directory: serviceDirectories(service).instances,
        name: resolved,
      })) as Vertex | undefined)
    : undefined;
  if (!vertex) {
    throw requestErrors.notFound('workload-not-found', `no workload ${service}/${name}`, {
      service,
      name,
    });
  }
  return vertex;
}

/** The ref a workload is addressed by (its `ref` attribute); 409 while it has none yet. */
export function storedRef(service: string, vertex: Vertex): WorkloadRef {
  const ref = workloadRefOf(vertex.properties.ref?.value);
  if (ref) return ref;
  throw requestErrors.conflict(
    'workload-not-started',
    `workload ${service}/${vertex.id.name} has not been started yet`,
    { service, name: vertex.id.name },
  );
}

/** The list items of a service's workloads. */
export async function workloadItems(
  s: AgentServices,
  record: ServiceRecord,
): Promise<WorkloadItem[]> {
  return (await workloadVertexes(s, record)).map((vertex) => workloadItem(s, record.name, vertex));
}

/** The vertexes of a service's workloads, in the record's order (those that exist). */
export async function workloadVertexes(s: AgentServices, record: ServiceRecord): Promise<Vertex[]> {
  const { instances } = serviceDirectories(record.name);
  const vertexes: Vertex[] = [];
  for (const name of record.workloads) {
    const vertex = (await s.store.get({ kind: 'vertex', directory: instances, name })) as
      | Vertex
      | undefined;
    if (vertex) vertexes.push(vertex);
  }
  return vertexes;
}

/** One workload as `workload list` shows it: every kind's fields, and its kind's own. */
export function workloadItem(s: AgentServices, service: string, vertex: Vertex): WorkloadItem {
  const v = (n: string) => vertex.properties[n]?.value;
  const pid = v('pid');
  const containerId = v('container_id');
  const image = v('image');
  const ports = v('ports');
  const startedAt = v('started_at');
  const item: WorkloadItem = {
    service,
    name: vertex.id.name,
    host: (v('host') as string) ?? s.host,
    kind: (v('kind') as string) ?? 'unknown',
    // The states the agent and its supervisor write (`WorkloadState` names them all).
    state: (v('state') as WorkloadState) ?? 'pending',
    restarts: (v('restarts') as number) ?? 0,
  };
  if (typeof pid === 'number') item.pid = pid;
  if (typeof containerId === 'string') item.containerId = containerId;
  if (typeof image === 'string') item.image = image;
  if (isMap(ports)) item.ports = ports as Record<string, number>;
  if (typeof startedAt === 'string') item.startedAt = startedAt;
  return item;
}

/** The full view of a workload: what `workload show` prints. */
export async function showWorkload(
  s: AgentServices,
  service: string,
  requested: string,
): Promise<WorkloadDetail> {
  const vertex = await workloadVertex(s, service, requested);
  const name = vertex.id.name;
  const v = (n: string) => vertex.properties[n]?.value ?? null;
  const text = (n: string) => (typeof v(n) === 'string' ? (v(n) as string) : null);
  const ref = isMap(v('ref')) ? storedRef(service, vertex) : undefined;
  // In a cluster, only the owning host's drivers and ports describe a workload.
  const local = !s.cluster || typeof v('host') !== 'string' || v('host') === s.host;
  const description =
    ref && local
      ? await s.kinds
          .driverOf(ref)
          .describe(ref)
          .catch(() => undefined)
      : undefined;
  const files: WorkloadFile[] = (description?.files ?? []).map((f) => ({
    path: f.path,
    purpose: f.purpose,
  }));
  const attributes: Record<string, Value> = {};
  const properties: Record<string, Value> = {};
  for (const [key, p] of Object.entries(vertex.properties)) {
    if (key.startsWith('tosca:')) continue;
    (p.metadata?.['tosca.kind'] === 'attribute' ? attributes : properties)[key] = p.value ?? null;
  }
  const command =
    v('kind') === 'process'
      ? [v('command'), ...((v('arguments') as Value[]) ?? [])]
      : [...((v('entrypoint') as Value[]) ?? []), ...((v('command') as Value[]) ?? [])];
  return {
    ...workloadItem(s, service, vertex),
    ...(ref ? { ref } : {}),
    command: command.flat().filter((x) => x !== null),
    commandLine: description?.commands.join('\n') ?? '',
    commands: [
      ...(description?.commands ?? []),
      ...(local ? await s.network.describe({ service, name }) : []),
    ],
    workingDirectory:
      (description?.details.working_directory as string | undefined) ?? text('working_directory'),
    environment: isMap(v('environment')) ? (v('environment') as Record<string, JsonValue>) : null,
    user: text('user'),
    restartPolicy: text('restart'),
    exitCode: typeof v('exit_code') === 'number' ? (v('exit_code') as number) : null,
    signal: text('signal'),
    dataDirectory: dataRoot(s.stateDir, { service, name }),
    files,
    details: description?.details ?? {},
    attributes,
    properties,
  };
}
