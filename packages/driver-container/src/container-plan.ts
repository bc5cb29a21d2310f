/**
 * A container's plan: everything an OCI engine needs to create one workload's container (or
 * pod), decided once from the spec, engine-neutral. Each driver turns it into its API's
 * create body; `runCommand` turns it into the equivalent command line a sysadmin would type.
 */
import type {
  Mount,
  PortBinding,
  Problem,
  ResourceLimits,
  WorkloadKey,
  WorkloadSpec,
} from '@khutulun/driver';
import type { Value } from '@khutulun/floria';
import { type ContainerProperties, containerProperties } from './container-spec.js';
import { containerName, workloadLabels } from './names.js';

/** What one container (or pod) is made of, ready for an engine. */
export interface ContainerPlan {
  type: 'container' | 'pod';
  key: WorkloadKey;
  /** The container's (or pod's) name: `khutulun-<service>-<workload>`. */
  name: string;
  /** Khutulun's labels (service, workload, host) and the spec's own. */
  labels: Record<string, string>;
  /** The image reference in the engine's store (containers only). */
  image?: string;
  /** The name of the pod to join (`khutulun-<service>-<pod>`); its members publish nothing. */
  pod?: string;
  /** The ports to publish: host `port` to `target ?? port` inside. */
  ports: PortBinding[];
  /** The spec's environment plus `PORT_<NAME>` for each port (the port inside). */
  environment: Record<string, string>;
  user?: string;
  workingDirectory?: string;
  hostname?: string;
  entrypoint?: string[];
  command?: string[];
  mounts: Mount[];
  limits: ResourceLimits;
  stopSignal?: string;
  runtime?: string;
}

/** The environment variable that tells a workload its port, as for processes: `PORT_HTTP`. */
export function portVariable(name: string): string {
  return `PORT_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

/**
 * The spec properties of a one-off container that runs `command` instead of the workload's
 * own (same image, environment, user, mounts): how the agent runs prestart steps
 * (`WorkloadKind.withCommand` of the OCI kinds). The command replaces the entrypoint too.
 */
export function withContainerCommand(
  properties: Record<string, Value>,
  command: string[],
): Record<string, Value> {
  const [program = '', ...rest] = command;
  return { ...properties, entrypoint: [program], command: rest };
}

/** The port a binding listens on inside the container. */
export function containerPort(binding: PortBinding): number {
  return binding.target ?? binding.port;
}

/** The name of a named volume as the engines accept it. */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SIGNAL = /^(SIG)?[A-Z0-9+-]+$|^[0-9]+$/;

/**
 * Validates a container spec (the OCI kinds' `check`): bad input is returned as problems,
 * never thrown.
 */
export function checkContainer(spec: WorkloadSpec): Problem[] {
  const problems: Problem[] = [];
  const problem = (path: string[], message: string) => problems.push({ path, message });
  const p = spec.properties as Record<string, unknown>;
  if (p.type !== 'container' && p.type !== 'pod') problem(['type'], 'must be `container` or `pod`');
  if (p.type === 'container' && !p.image && !p.image_archive)
    problem(['image'], 'a container needs an image or an image archive');
  if (p.image !== undefined && (typeof p.image !== 'string' || !p.image))
    problem(['image'], 'must be an image reference');
  const archive = p.image_archive as { file?: unknown; format?: unknown } | undefined;
  if (archive !== undefined) {
    if (typeof archive !== 'object' || archive === null || typeof archive.file !== 'string')
      problem(['image_archive'], 'must name a file');
    else if (!['rootfs', 'oci-archive', 'docker-archive'].includes(String(archive.format)))
      problem(['image_archive', 'format'], 'must be rootfs, oci-archive or docker-archive');
  }
  for (const name of ['entrypoint', 'command'] as const) {
    const v = p[name];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string')))
      problem([name], 'must be a list of strings');
  }
  for (const name of ['user', 'working_directory', 'hostname', 'runtime', 'pod'] as const) {
    const v = p[name];
    if (v !== undefined && (typeof v !== 'string' || !v)) problem([name], 'must be a string');
  }
  if (typeof p.working_directory === 'string' && !p.working_directory.startsWith('/'))
    problem(['working_directory'], 'must be an absolute path');
  if (
    p.stop_signal !== undefined &&
    !(typeof p.stop_signal === 'string' && SIGNAL.test(p.stop_signal))
  )
    problem(['stop_signal'], 'must be a signal name (e.g. SIGTERM) or number');
  const env = p.environment;
  if (env !== undefined && (typeof env !== 'object' || env === null || Array.isArray(env)))
    problem(['environment'], 'must be a map of names to strings');
  else
    for (const name of Object.keys(env ?? {}))
      if (!ENV_NAME.test(name)) problem(['environment', name], 'is not a valid variable name');
  if (p.type === 'pod' && (p.image !== undefined || p.pod !== undefined))
    problem(['type'], 'a pod has no image and joins no pod');
  if (typeof p.pod === 'string' && spec.ports.length)
    problem(['ports'], 'a container in a pod publishes no ports: give them to the pod');
  spec.ports.forEach((port, i) => {
    const valid = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
    if (!valid(port.port) || (port.target !== undefined && !valid(port.target)))
      problem(['ports', String(i)], 'ports must be integers from 1 to 65535');
    if (port.protocol !== 'tcp' && port.protocol !== 'udp')
      problem(['ports', String(i)], 'protocol must be tcp or udp');
  });
  (spec.mounts ?? []).forEach((mount, i) => {
    const at = ['mounts', String(i)];
    if (!mount.target?.startsWith('/')) problem(at, 'the target must be an absolute path');
    if (mount.type === 'bind' && !mount.source?.startsWith('/'))
      problem(at, 'a bind mount needs an absolute host path as its source');
    else if (mount.type === 'volume' && !(mount.source && VOLUME_NAME.test(mount.source)))
      problem(at, 'a volume mount needs a volume name ([A-Za-z0-9][A-Za-z0-9_.-]*) as its source');
    else if (mount.type === 'tmpfs' && mount.source !== undefined)
      problem(at, 'a tmpfs mount has no source');
    else if (!['bind', 'volume', 'tmpfs'].includes(mount.type))
      problem(at, 'the type must be bind, volume or tmpfs');
  });
  const limits = spec.limits ?? {};
  if (limits.cpus !== undefined && !(limits.cpus > 0)) problem(['limits', 'cpus'], 'must be > 0');
  for (const name of ['memoryBytes', 'pids'] as const) {
    const v = limits[name];
    if (v !== undefined && !(Number.isInteger(v) && v > 0))
      problem(['limits', name], 'must be a positive integer');
  }
  return problems;
}

/**
 * Plans a workload's container (or pod) on a host. `image` is the reference the driver
 * resolved (the spec's `image`, or the reference its archive was imported as).
 */
export function planContainer(spec: WorkloadSpec, host: string, image?: string): ContainerPlan {
  const p: ContainerProperties = containerProperties(spec);
  const plan: ContainerPlan = {
    type: p.type,
    key: spec.key,
    name: containerName(spec.key),
    labels: { ...spec.labels, ...workloadLabels(spec.key, host) },
    ports: p.pod ? [] : spec.ports,
    environment: {},
    mounts: spec.mounts ?? [],
    limits: spec.limits ?? {},
  };
  if (p.type === 'container') {
    const resolved = image ?? p.image;
    if (resolved) plan.image = resolved;
    if (!p.pod)
      for (const port of spec.ports)
        plan.environment[portVariable(port.name)] = String(containerPort(port));
    Object.assign(plan.environment, p.environment);
    if (p.pod) plan.pod = containerName({ service: spec.key.service, name: p.pod });
    if (p.user) plan.user = p.user;
    if (p.working_directory) plan.workingDirectory = p.working_directory;
    if (p.entrypoint) plan.entrypoint = p.entrypoint;
    if (p.command) plan.command = p.command;
    if (p.stop_signal) plan.stopSignal = p.stop_signal;
    if (p.runtime) plan.runtime = p.runtime;
  }
  if (p.hostname) plan.hostname = p.hostname;
  return plan;
}
