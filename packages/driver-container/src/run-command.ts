/**
 * The command lines equivalent to what a driver does through its engine's API, for
 * `describe`: what a sysadmin would type to make the same container, pod, volume or image.
 * Both engines take the same flags for what Khutulun uses; where they differ (`--entrypoint`,
 * pods), the engine decides.
 */
import { quoteCommand } from '@khutulun/driver';
import { type ContainerPlan, containerPort } from './container-plan.js';
import type { ImageArchive } from './container-spec.js';

/** The OCI engines the container kinds drive; also the name of each one's CLI. */
export type ContainerEngine = 'podman' | 'docker';

function labelFlags(labels: Record<string, string>): string[] {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/**
 * `-p [ADDR:]HOST:CONTAINER/PROTO` for each published port; without a host address, every
 * address (an explicit `0.0.0.0` makes netavark 1.4 write rules that match nothing).
 */
function portFlags(plan: ContainerPlan): string[] {
  return plan.ports.flatMap((p) => [
    '-p',
    `${p.hostAddress ? `${p.hostAddress}:` : ''}${p.port}:${containerPort(p)}/${p.protocol}`,
  ]);
}

/** The `--mount` value of a mount, in the syntax both engines accept. */
export function mountFlag(mount: ContainerPlan['mounts'][number]): string {
  const parts = [`type=${mount.type}`];
  if (mount.source !== undefined) parts.push(`source=${mount.source}`);
  parts.push(`target=${mount.target}`);
  if (mount.readOnly) parts.push('readonly');
  return parts.join(',');
}

/**
 * The `run` command line (as words) that makes and starts the same container as the driver:
 * detached, named, labelled, with Khutulun's restart policy (`no` at the engine: restarts are
 * the agent's).
 */
export function runCommand(engine: ContainerEngine, plan: ContainerPlan): string[] {
  const words = [engine, 'run', '-d', '--name', plan.name, ...labelFlags(plan.labels)];
  words.push('--restart', 'no');
  if (plan.pod) words.push('--pod', plan.pod);
  words.push(...portFlags(plan));
  for (const [k, v] of Object.entries(plan.environment)) words.push('-e', `${k}=${v}`);
  if (plan.user) words.push('--user', plan.user);
  if (plan.workingDirectory) words.push('--workdir', plan.workingDirectory);
  if (plan.hostname) words.push('--hostname', plan.hostname);
  let command = plan.command ?? [];
  if (plan.entrypoint) {
    if (engine === 'podman') words.push('--entrypoint', JSON.stringify(plan.entrypoint));
    else {
      // Docker's --entrypoint is one program; its arguments lead the command.
      const [program = '', ...rest] = plan.entrypoint;
      words.push('--entrypoint', program);
      command = [...rest, ...command];
    }
  }
  for (const mount of plan.mounts) words.push('--mount', mountFlag(mount));
  if (plan.stopSignal) words.push('--stop-signal', plan.stopSignal);
  if (plan.runtime) words.push('--runtime', plan.runtime);
  if (plan.limits.cpus !== undefined) words.push('--cpus', String(plan.limits.cpus));
  if (plan.limits.memoryBytes !== undefined)
    words.push('--memory', String(plan.limits.memoryBytes));
  if (plan.limits.pids !== undefined) words.push('--pids-limit', String(plan.limits.pids));
  words.push(plan.image ?? '<image>', ...command);
  return words;
}

/** `podman pod create ...`: the pod whose infra container holds the ports. */
export function podCreateCommand(plan: ContainerPlan): string[] {
  const words = ['podman', 'pod', 'create', '--name', plan.name, ...labelFlags(plan.labels)];
  words.push(...portFlags(plan));
  if (plan.hostname) words.push('--hostname', plan.hostname);
  return words;
}

/** `<engine> volume create --label ... NAME`: a named volume the driver made. */
export function volumeCreateCommand(
  engine: ContainerEngine,
  name: string,
  labels: Record<string, string>,
): string[] {
  return [engine, 'volume', 'create', ...labelFlags(labels), name];
}

/**
 * The commands that put an image archive into the engine's store as `reference`: `import`
 * for a root file system tarball, `load` then `tag` for an OCI or docker archive.
 */
export function imageImportCommands(
  engine: ContainerEngine,
  archive: ImageArchive,
  reference: string,
  loaded = '<loaded image>',
): string[][] {
  if (archive.format === 'rootfs') return [[engine, 'import', archive.file, reference]];
  return [
    [engine, 'load', '-i', archive.file],
    [engine, 'tag', loaded, reference],
  ];
}

/** The commands of a plan, shell-quoted: `run` (or `pod create` and `pod start`). */
export function describeCommands(engine: ContainerEngine, plan: ContainerPlan): string[] {
  if (plan.type === 'pod')
    return [
      quoteCommand(podCreateCommand(plan)),
      quoteCommand(['podman', 'pod', 'start', plan.name]),
    ];
  return [quoteCommand(runCommand(engine, plan))];
}
