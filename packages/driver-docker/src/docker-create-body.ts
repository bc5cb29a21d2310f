/**
 * A container plan as the body of `POST /containers/create`: the same container that
 * `runCommand('docker', plan)` describes, field for field.
 */
import { type ContainerPlan, containerPort } from '@khutulun/driver-container';
import type { ContainerCreateBody } from './docker-engine.js';

/**
 * The create body of a plan. The engine's restart policy is `no` (restarts are the agent's),
 * and there is no TTY, so logs and execs come as separate stdout and stderr.
 */
export function createBody(plan: ContainerPlan): ContainerCreateBody {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of plan.ports) {
    const inside = `${containerPort(port)}/${port.protocol}`;
    exposed[inside] = {};
    const binding = { HostIp: port.hostAddress ?? '0.0.0.0', HostPort: String(port.port) };
    bindings[inside] = [...(bindings[inside] ?? []), binding];
  }
  const body: ContainerCreateBody = {
    name: plan.name,
    Labels: plan.labels,
    Env: Object.entries(plan.environment).map(([k, v]) => `${k}=${v}`),
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ExposedPorts: exposed,
    HostConfig: {
      RestartPolicy: { Name: 'no' },
      PortBindings: bindings,
      Mounts: plan.mounts.map((m) => ({
        Type: m.type,
        Source: m.source ?? '',
        Target: m.target,
        ReadOnly: m.readOnly ?? false,
      })),
    },
  };
  if (plan.image) body.Image = plan.image;
  if (plan.user) body.User = plan.user;
  if (plan.workingDirectory) body.WorkingDir = plan.workingDirectory;
  if (plan.hostname) body.Hostname = plan.hostname;
  if (plan.entrypoint) {
    // As `docker run --entrypoint FIRST IMAGE REST... COMMAND...` makes it: the same process,
    // and the same container as the command line `describe` shows. With no arguments at all,
    // the image's CMD is dropped (an entrypoint given replaces the image's whole command).
    const [program = '', ...rest] = plan.entrypoint;
    body.Entrypoint = [program];
    if (rest.length || plan.command) body.Cmd = [...rest, ...(plan.command ?? [])];
  } else if (plan.command) body.Cmd = plan.command;
  if (plan.stopSignal) body.StopSignal = plan.stopSignal;
  const host = body.HostConfig ?? {};
  if (plan.runtime) host.Runtime = plan.runtime;
  Object.assign(host, limitsBody(plan.limits));
  return body;
}

/** The HostConfig fields of resource limits (also what `docker update` takes). */
export function limitsBody(limits: ContainerPlan['limits']): {
  NanoCpus?: number;
  Memory?: number;
  PidsLimit?: number;
} {
  const out: { NanoCpus?: number; Memory?: number; PidsLimit?: number } = {};
  if (limits.cpus !== undefined) out.NanoCpus = Math.round(limits.cpus * 1e9);
  if (limits.memoryBytes !== undefined) out.Memory = limits.memoryBytes;
  if (limits.pids !== undefined) out.PidsLimit = limits.pids;
  return out;
}
