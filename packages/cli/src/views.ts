/**
 * How the agent's resources look in `-o table`: the columns of each list and the layout of
 * each detail view. JSON and YAML always print the agent's data unchanged.
 */
import type {
  ApiEvent,
  EntityId,
  HostItem,
  PluginSummary,
  ServiceDetail,
  ServiceSummary,
  WorkloadDetail,
  WorkloadItem,
} from '@khutulun/api';
import { type Column, type OutputFormat, renderList, renderObject } from './output.js';

/** Columns of `service list`. */
export const SERVICE_COLUMNS: Column<ServiceSummary>[] = [
  { header: 'NAME', cell: (s) => s.name },
  { header: 'STATE', cell: (s) => s.state },
  {
    header: 'READY',
    // An older agent may leave the counts out.
    cell: (s) => (s.workloads === undefined ? undefined : `${s.ready ?? 0}/${s.workloads}`),
  },
  { header: 'CREATED', cell: (s) => s.createdAt },
  { header: 'SOURCE', cell: (s) => s.source },
];

/** Columns of `workload list`. */
export const WORKLOAD_COLUMNS: Column<WorkloadItem>[] = [
  { header: 'SERVICE', cell: (w) => w.service },
  { header: 'NAME', cell: (w) => w.name },
  { header: 'HOST', cell: (w) => w.host },
  { header: 'KIND', cell: (w) => w.kind },
  { header: 'STATE', cell: (w) => w.state },
  { header: 'PID', cell: (w) => w.pid },
  {
    header: 'CONTAINER',
    cell: (w) => w.containerId?.slice(0, 12),
  },
  { header: 'PORTS', cell: (w) => portsText(w.ports) },
  { header: 'RESTARTS', cell: (w) => w.restarts },
];

/** Columns of `host list`. */
export const HOST_COLUMNS: Column<HostItem>[] = [
  { header: 'NAME', cell: (h) => h.name },
  { header: 'STATE', cell: (h) => h.state },
  { header: 'SELF', cell: (h) => (h.self ? 'yes' : 'no') },
  { header: 'ADDRESS', cell: (h) => h.address },
  { header: 'KINDS', cell: (h) => (Array.isArray(h.kinds) ? h.kinds.join(',') : undefined) },
  { header: 'AGENT PID', cell: (h) => h.agentPid },
  { header: 'WORKLOADS', cell: (h) => h.workloads },
  { header: 'STARTED', cell: (h) => h.startedAt },
];

/** Columns of `plugin list`. */
export const PLUGIN_COLUMNS: Column<PluginSummary>[] = [
  { header: 'NAME', cell: (p) => p.name },
  { header: 'KIND', cell: (p) => p.kind },
  { header: 'DIGEST', cell: (p) => p.digest },
  { header: 'GRANTS', cell: (p) => p.grants },
  { header: 'LOCATION', cell: (p) => p.location },
];

/** Columns of `events` (and of graph entity lists: see {@link ENTITY_COLUMNS}). */
export const EVENT_COLUMNS: Column<ApiEvent>[] = [
  { header: 'SEQ', cell: (e) => e.seq },
  { header: 'TIME', cell: (e) => e.time },
  { header: 'TYPE', cell: (e) => e.type },
  { header: 'ENTITY', cell: (e) => idText(e.id) },
  { header: 'DATA', cell: (e) => (e.data === undefined ? undefined : JSON.stringify(e.data)) },
];

/** Columns of graph entity lists. */
export const ENTITY_COLUMNS: Column<Record<string, unknown>>[] = [
  { header: 'KIND', cell: (e) => (e.id as EntityId | undefined)?.kind },
  { header: 'ID', cell: (e) => pathText(e.id as EntityId | undefined) },
  {
    header: 'CLASSES',
    cell: (e) =>
      Array.isArray(e.classes) ? e.classes.map((c) => (c as { name: string }).name) : [],
  },
  {
    header: 'LINK',
    cell: (e) =>
      e.source && e.target
        ? `${pathText(e.source as EntityId)} -> ${pathText(e.target as EntityId)}`
        : e.parent
          ? `in ${pathText(e.parent as EntityId)}`
          : undefined,
  },
];

/** `kind:dir/.../name`, the form `graph get` accepts. */
export function idText(id: EntityId | undefined): string {
  return id ? `${id.kind}:${pathText(id)}` : '-';
}

function pathText(id: EntityId | undefined): string {
  return id ? [...id.directory, id.name].join('/') : '-';
}

function portsText(ports: unknown): string | undefined {
  if (typeof ports !== 'object' || ports === null) return undefined;
  const entries = Object.entries(ports);
  return entries.length === 0
    ? undefined
    : entries.map(([name, port]) => `${name}=${port}`).join(',');
}

/** A service's detail view: its fields, then its workloads as a table. */
export function renderService(service: ServiceDetail, format: OutputFormat): string {
  if (format !== 'table') return renderObject(service, format);
  const { workloads, ...rest } = service;
  const head = Array.isArray(rest.directory)
    ? { ...rest, directory: rest.directory.join('/') }
    : rest;
  let out = renderObject(head, format);
  if (Array.isArray(workloads) && workloads.length > 0) {
    out += `\n${renderList(workloads, format, WORKLOAD_COLUMNS)}`;
  }
  return out;
}

/** One line per event, for following the stream in `-o table` (columns cannot be aligned ahead). */
export function eventLine(event: ApiEvent): string {
  const data = event.data === undefined ? '' : ` ${JSON.stringify(event.data)}`;
  return `${event.seq}  ${event.time}  ${event.type}  ${idText(event.id)}${data}\n`;
}

/**
 * A workload's detail view for people: its state, then what a sysadmin needs to inspect it
 * by hand (the exact command line, working directory, environment, files). The agent's
 * full record (attributes, properties, driver details) is in `-o json|yaml`.
 */
export function renderWorkload(workload: WorkloadDetail, format: OutputFormat): string {
  if (format !== 'table') return renderObject(workload, format);
  const { commandLine, files, environment } = workload;
  const head: Record<string, unknown> = {};
  for (const key of HEAD_FIELDS) {
    if (workload[key] !== undefined && workload[key] !== null) head[key] = workload[key];
  }
  if (head.ports !== undefined) head.ports = portsText(head.ports) ?? '-';
  let out = renderObject(head, format);
  if (environment && typeof environment === 'object' && Object.keys(environment).length > 0) {
    out += 'environment:\n';
    for (const [name, value] of Object.entries(environment)) out += `  ${name}=${String(value)}\n`;
  }
  if (typeof commandLine === 'string' && commandLine !== '') {
    out += `command line:\n${indent(commandLine)}`;
  }
  if (Array.isArray(files) && files.length > 0) {
    out += 'files:\n';
    const rows = files.map((f) => [String(f.path ?? ''), String(f.purpose ?? '')]);
    const width = Math.max(...rows.map(([path]) => (path ?? '').length));
    for (const [path, purpose] of rows)
      out += `  ${(path ?? '').padEnd(width)}  ${purpose}\n`.replace(/ +\n$/, '\n');
  }
  return out;
}

/** The fields of a workload's detail view in `-o table`, in order. */
const HEAD_FIELDS: readonly (keyof WorkloadDetail)[] = [
  'service',
  'name',
  'host',
  'kind',
  'state',
  'pid',
  'ports',
  'restarts',
  'restartPolicy',
  'startedAt',
  'exitCode',
  'signal',
  'user',
  'workingDirectory',
];

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')
    .concat('\n');
}
