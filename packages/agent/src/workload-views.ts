/**
 * How the API shows workloads: list items and the full view, read from the graph (the
 * attributes drivers wrote back, and the ref each workload is addressed by) and from its
 * driver's own description of what it made.
 */
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
): Promise<Record<string, Value>[]> {
  const { instances } = serviceDirectories(record.name);
  const items: Record<string, Value>[] = [];
  for (const name of record.workloads) {
    const vertex = (await s.store.get({ kind: 'vertex', directory: instances, name })) as
      | Vertex
      | undefined;
    if (vertex) items.push(workloadItem(s, record.name, vertex));
  }
  return items;
}

/** One workload as `workload list` shows it: every kind's fields, and its kind's own. */
export function workloadItem(
  s: AgentServices,
  service: string,
  vertex: Vertex,
): Record<string, Value> {
  const v = (n: string) => vertex.properties[n]?.value;
  const item: Record<string, Value> = {
    service,
    name: vertex.id.name,
    host: (v('host') as string) ?? s.host,
    kind: (v('kind') as string) ?? 'unknown',
    state: (v('state') as string) ?? 'pending',
    restarts: (v('restarts') as number) ?? 0,
  };
  if (typeof v('pid') === 'number') item.pid = v('pid')!;
  if (typeof v('container_id') === 'string') item.containerId = v('container_id')!;
  if (typeof v('image') === 'string') item.image = v('image')!;
  if (v('ports') !== undefined && v('ports') !== null) item.ports = v('ports')!;
  if (typeof v('started_at') === 'string') item.startedAt = v('started_at')!;
  return item;
}

/** The full view of a workload: what `workload show` prints. */
export async function showWorkload(
  s: AgentServices,
  service: string,
  requested: string,
): Promise<Record<string, Value>> {
  const vertex = await workloadVertex(s, service, requested);
  const name = vertex.id.name;
  const v = (n: string) => vertex.properties[n]?.value ?? null;
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
  const files: Value[] = (description?.files ?? []).map((f) => ({
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
    ...(ref ? { ref: ref as unknown as Value } : {}),
    command: command.flat().filter((x) => x !== null) as Value[],
    commandLine: description?.commands.join('\n') ?? '',
    commands: [
      ...(description?.commands ?? []),
      ...(local ? await s.network.describe({ service, name }) : []),
    ],
    workingDirectory: (description?.details.working_directory as string) ?? v('working_directory'),
    environment: v('environment'),
    user: v('user'),
    restartPolicy: v('restart'),
    exitCode: v('exit_code'),
    signal: v('signal'),
    dataDirectory: dataRoot(s.stateDir, { service, name }),
    files,
    details: description?.details ?? {},
    attributes,
    properties,
  };
}
