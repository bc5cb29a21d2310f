/**
 * libpod's spec generator bodies (`POST /containers/create`, `POST /pods/create`) for a
 * container plan: the same container as driver-container's `runCommand` line, as JSON.
 */
import { type ContainerPlan, containerPort } from '@khutulun/driver-container';

/** Linux signal numbers by name (x86-64, as the engine reports them). */
const SIGNALS: Record<string, number> = Object.fromEntries(
  [
    'HUP',
    'INT',
    'QUIT',
    'ILL',
    'TRAP',
    'ABRT',
    'BUS',
    'FPE',
    'KILL',
    'USR1',
    'SEGV',
    'USR2',
    'PIPE',
    'ALRM',
    'TERM',
    'STKFLT',
    'CHLD',
    'CONT',
    'STOP',
    'TSTP',
    'TTIN',
    'TTOU',
    'URG',
    'XCPU',
    'XFSZ',
    'VTALRM',
    'PROF',
    'WINCH',
    'IO',
    'PWR',
    'SYS',
  ].map((name, i) => [`SIG${name}`, i + 1]),
);
const SIGNAL_NAMES = new Map(Object.entries(SIGNALS).map(([name, n]) => [n, name]));

/** A signal name (`SIGTERM`, `TERM`) or number as a number, as libpod takes it. */
export function signalNumber(signal: string): number | undefined {
  if (/^\d+$/.test(signal)) return Number(signal);
  const upper = signal.toUpperCase();
  return SIGNALS[upper.startsWith('SIG') ? upper : `SIG${upper}`];
}

/** The signal of an exit code of 128 + n (how the engine reports a kill), by name. */
export function signalOf(code: number | undefined): string | undefined {
  return code !== undefined && code > 128 && code < 160 ? SIGNAL_NAMES.get(code - 128) : undefined;
}

/**
 * The port mappings of a plan. Without a host address, `host_ip` is left out (every
 * address): netavark 1.4 turns an explicit `0.0.0.0` into `-d 0.0.0.0/32` rules that match
 * nothing, so the port would be unreachable, from 127.0.0.1 too.
 */
function portMappings(plan: ContainerPlan): unknown[] {
  return plan.ports.map((p) => ({
    ...(p.hostAddress ? { host_ip: p.hostAddress } : {}),
    host_port: p.port,
    container_port: containerPort(p),
    protocol: p.protocol,
  }));
}

/** The spec generator body of a container plan (restart policy `no`: restarts are the agent's). */
export function containerBody(plan: ContainerPlan): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: plan.name,
    image: plan.image,
    labels: plan.labels,
    env: plan.environment,
    restart_policy: 'no',
    portmappings: portMappings(plan),
  };
  if (plan.pod) body.pod = plan.pod;
  if (plan.command) body.command = plan.command;
  if (plan.entrypoint) body.entrypoint = plan.entrypoint;
  if (plan.user) body.user = plan.user;
  if (plan.workingDirectory) body.work_dir = plan.workingDirectory;
  if (plan.hostname) body.hostname = plan.hostname;
  if (plan.runtime) body.oci_runtime = plan.runtime;
  if (plan.stopSignal) body.stop_signal = signalNumber(plan.stopSignal);
  const mounts: unknown[] = [];
  const volumes: unknown[] = [];
  for (const m of plan.mounts) {
    const readOnly = m.readOnly ? ['ro'] : [];
    if (m.type === 'volume') volumes.push({ Name: m.source, Dest: m.target, Options: readOnly });
    else if (m.type === 'bind')
      mounts.push({
        destination: m.target,
        type: 'bind',
        source: m.source,
        options: ['rbind', ...readOnly],
      });
    else mounts.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: readOnly });
  }
  if (mounts.length) body.mounts = mounts;
  if (volumes.length) body.volumes = volumes;
  const limits: Record<string, unknown> = {};
  if (plan.limits.cpus !== undefined)
    limits.cpu = { quota: Math.round(plan.limits.cpus * 100_000), period: 100_000 };
  if (plan.limits.memoryBytes !== undefined) limits.memory = { limit: plan.limits.memoryBytes };
  if (plan.limits.pids !== undefined) limits.pids = { limit: plan.limits.pids };
  if (Object.keys(limits).length) body.resource_limits = limits;
  return body;
}

/** The pod spec generator body of a pod plan: its infra container publishes the ports. */
export function podBody(plan: ContainerPlan): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: plan.name,
    labels: plan.labels,
    portmappings: portMappings(plan),
  };
  if (plan.hostname) body.hostname = plan.hostname;
  return body;
}
