import type { Id, Store, StoreReader, Value, Vertex } from '@khutulun/floria';

/** Where the agent keeps its durable record of each service. */
export const SERVICE_RECORDS: string[] = ['khutulun', 'services'];

/**
 * A service's durable lifecycle state. `deploying` and `deleting` are the journal: an agent
 * that restarts and finds one rolls the deploy back, or finishes the delete.
 */
export type ServiceState = 'deploying' | 'running' | 'deleting';

/** The agent's record of a service. */
export interface ServiceRecord {
  name: string;
  state: ServiceState;
  source: string;
  inputs: Record<string, Value>;
  createdAt: string;
  /** The names of its workloads (vertexes in its instances directory), once deployed. */
  workloads: string[];
  /**
   * In a cluster: the host whose agent deployed it and runs its lifecycle (recovery, delete).
   * Absent on the embedded single host.
   */
  host?: string;
}

/**
 * The directories a service's entities live in. Templates and their instances share the
 * service's directory (ids differ by kind and instances are named `<template>-<n>`), which is
 * where the TOSCA run-time functions look for a node's template.
 */
export function serviceDirectories(name: string): {
  root: string[];
  templates: string[];
  instances: string[];
} {
  return {
    root: ['services', name],
    templates: ['services', name],
    instances: ['services', name],
  };
}

/** The id of a service's record vertex. */
export function recordId(name: string): Id & { kind: 'vertex' } {
  return { kind: 'vertex', directory: SERVICE_RECORDS, name };
}

/** The record as a vertex. */
export function recordVertex(record: ServiceRecord): Vertex {
  return {
    id: recordId(record.name),
    metadata: { 'khutulun.entity': 'service' },
    classes: [],
    properties: {
      state: { value: record.state },
      source: { value: record.source },
      inputs: { value: record.inputs },
      created_at: { value: record.createdAt },
      workloads: { value: record.workloads },
      ...(record.host === undefined ? {} : { host: { value: record.host } }),
    },
  };
}

/** Reads one record. */
export async function readRecord(
  store: StoreReader,
  name: string,
): Promise<ServiceRecord | undefined> {
  const vertex = (await store.get(recordId(name))) as Vertex | undefined;
  return vertex ? fromVertex(vertex) : undefined;
}

/** Reads every record. */
export async function readRecords(store: Store): Promise<ServiceRecord[]> {
  const vertexes = (await store.query({ kind: 'vertex', directory: SERVICE_RECORDS })) as Vertex[];
  return vertexes.map(fromVertex).sort((a, b) => a.name.localeCompare(b.name));
}

function fromVertex(vertex: Vertex): ServiceRecord {
  const p = vertex.properties;
  return {
    name: vertex.id.name,
    state: (p.state?.value as ServiceState) ?? 'running',
    source: String(p.source?.value ?? ''),
    inputs: (p.inputs?.value as Record<string, Value>) ?? {},
    createdAt: String(p.created_at?.value ?? ''),
    workloads: Array.isArray(p.workloads?.value) ? (p.workloads.value as string[]) : [],
    ...(typeof p.host?.value === 'string' ? { host: p.host.value } : {}),
  };
}
