/**
 * Resource limits for processes through cgroup v2: a workload with `limits` gets a cgroup of
 * its own, `<v2 mount><agent's cgroup>/khutulun/<service>/<name>`, which its shim's subshell
 * joins (`echo 0 >cgroup.procs`) before it execs the workload, so the workload and all its
 * children are in it from their first instruction. Only processes the driver starts are ever
 * put in a cgroup. What the host does not allow (no v2 hierarchy, a controller bound to v1 on
 * a hybrid host, no permission) is returned as warnings, which the driver surfaces as data.
 */
import { watch } from 'node:fs';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResourceLimits, WorkloadKey } from '@khutulun/driver';

/** A controller the limits need. */
export type Controller = 'cpu' | 'memory' | 'pids';

/** The controller each limit needs. */
const CONTROLLER_OF: Record<keyof ResourceLimits, Controller> = {
  cpus: 'cpu',
  memoryBytes: 'memory',
  pids: 'pids',
};

/** The period of `cpu.max`, in microseconds (the kernel's default). */
const CPU_PERIOD = 100_000;

/** What the host allows: where workload cgroups go and which controllers they have. */
export interface CgroupHost {
  /** The directory workload cgroups go under; absent when none can be made. */
  base?: string;
  /** The controllers enabled for workload cgroups. */
  controllers: Set<Controller>;
  /** Why a controller (or every one) is not available, by controller. */
  reasons: Map<Controller, string>;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Undoes the octal escapes of /proc/self/mountinfo (`\040` for a space). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** The mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo text. */
export function cgroup2Mount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after?.startsWith('cgroup2 ')) continue;
    const mountPoint = before.split(' ')[4];
    if (mountPoint) return unescapeMountPath(mountPoint);
  }
  return undefined;
}

/** This process's cgroup in the v2 hierarchy, from /proc/self/cgroup text (`0::/path`). */
export function ownCgroup(selfCgroup: string): string | undefined {
  return selfCgroup
    .split('\n')
    .find((line) => line.startsWith('0::'))
    ?.slice(3);
}

async function controllersOf(directory: string): Promise<Set<string>> {
  try {
    return new Set((await readFile(join(directory, 'cgroup.controllers'), 'utf8')).split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * Enables each wanted controller that `directory` has for its children; returns the ones
 * enabled and why the others are not.
 */
async function enable(
  directory: string,
  wanted: Iterable<Controller>,
  reasons: Map<Controller, string>,
): Promise<Set<Controller>> {
  const available = await controllersOf(directory);
  const enabled = new Set<Controller>();
  for (const controller of wanted) {
    if (!available.has(controller)) {
      reasons.set(
        controller,
        `the ${controller} controller is not available in the cgroup v2 hierarchy at ${directory} (bound to cgroup v1, or not delegated)`,
      );
      continue;
    }
    try {
      await writeFile(join(directory, 'cgroup.subtree_control'), `+${controller}`);
      enabled.add(controller);
    } catch (error) {
      reasons.set(
        controller,
        `cannot enable the ${controller} controller in ${directory}: ${(error as Error).message}`,
      );
    }
  }
  return enabled;
}

/**
 * Finds what the host allows, once: the v2 hierarchy, the agent's own cgroup in it, and the
 * controllers that can be enabled below it. Never throws: what fails becomes a reason.
 */
export async function probeCgroups(
  proc: { mountinfo?: string; selfCgroup?: string } = {},
): Promise<CgroupHost> {
  const reasons = new Map<Controller, string>();
  const all: Controller[] = ['cpu', 'memory', 'pids'];
  const none = (reason: string): CgroupHost => {
    for (const c of all) reasons.set(c, reason);
    return { controllers: new Set(), reasons };
  };
  const mountinfo =
    proc.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
  const selfCgroup =
    proc.selfCgroup ?? (await readFile('/proc/self/cgroup', 'utf8').catch(() => ''));
  const mount = cgroup2Mount(mountinfo);
  if (!mount) return none('the host has no cgroup v2 hierarchy mounted');
  const own = ownCgroup(selfCgroup);
  if (own === undefined) return none('the agent is in no cgroup v2 group');
  const parent = join(mount, own);
  const base = join(parent, 'khutulun');
  try {
    await mkdir(base, { recursive: true });
  } catch (error) {
    return none(`cannot create ${base}: ${(error as Error).message}`);
  }
  const inParent = await enable(parent, all, reasons);
  const controllers = await enable(base, inParent, reasons);
  return { base, controllers, reasons };
}

/** What creating or updating a workload's cgroup gave: its path, and what it could not apply. */
export interface CgroupOutcome {
  /** The workload's cgroup directory; absent when none could be made. */
  path?: string;
  warnings: string[];
}

/** The limit files' text: `cpu.max`, `memory.max`, `pids.max` (`max` for no limit). */
export function limitFiles(limits: ResourceLimits): Record<string, string> {
  const cpus = limits.cpus;
  return {
    'cpu.max':
      cpus === undefined
        ? `max ${CPU_PERIOD}`
        : `${Math.max(1000, Math.round(cpus * CPU_PERIOD))} ${CPU_PERIOD}`,
    'memory.max': limits.memoryBytes === undefined ? 'max' : String(limits.memoryBytes),
    'pids.max': limits.pids === undefined ? 'max' : String(limits.pids),
  };
}

const FILE_OF: Record<Controller, string> = {
  cpu: 'cpu.max',
  memory: 'memory.max',
  pids: 'pids.max',
};

/**
 * Writes the limits into a workload's cgroup; a limit whose controller the host does not allow
 * (or whose write fails) becomes a warning. A limit absent from `limits` is lifted (`max`).
 */
export async function applyLimits(
  host: CgroupHost,
  path: string,
  limits: ResourceLimits,
): Promise<string[]> {
  const warnings: string[] = [];
  const files = limitFiles(limits);
  for (const controller of ['cpu', 'memory', 'pids'] as const) {
    const name = (Object.keys(CONTROLLER_OF) as (keyof ResourceLimits)[]).find(
      (limit) => CONTROLLER_OF[limit] === controller,
    )!;
    const asked = limits[name] !== undefined;
    if (!host.controllers.has(controller)) {
      if (asked) warnings.push(notApplied(name, host.reasons.get(controller)));
      continue;
    }
    const file = FILE_OF[controller];
    try {
      await writeFile(join(path, file), files[file]!);
    } catch (error) {
      if (asked)
        warnings.push(notApplied(name, `writing ${join(path, file)}: ${(error as Error).message}`));
    }
  }
  return warnings;
}

function notApplied(limit: keyof ResourceLimits, reason: string | undefined): string {
  return `limits.${limit} is not applied: ${reason ?? 'no cgroup v2 controller for it'}`;
}

/** Warnings for every limit asked for, when no cgroup could be made at all. */
function allNotApplied(host: CgroupHost, limits: ResourceLimits, reason?: string): string[] {
  return (Object.keys(limits) as (keyof ResourceLimits)[])
    .filter((limit) => limits[limit] !== undefined)
    .map((limit) => notApplied(limit, reason ?? host.reasons.get(CONTROLLER_OF[limit])));
}

/**
 * Makes the cgroup of a workload and writes its limits. Never throws: a cgroup that cannot
 * be made leaves the workload without one, and every limit it asked for is a warning.
 */
export async function createCgroup(
  host: CgroupHost,
  key: WorkloadKey,
  limits: ResourceLimits,
): Promise<CgroupOutcome> {
  if (!host.base) return { warnings: allNotApplied(host, limits) };
  const service = join(host.base, key.service);
  const path = join(service, key.name);
  try {
    await mkdir(path, { recursive: true });
    for (const controller of host.controllers)
      await writeFile(join(service, 'cgroup.subtree_control'), `+${controller}`);
  } catch (error) {
    await removeCgroup(path);
    return {
      warnings: allNotApplied(host, limits, `cannot create ${path}: ${(error as Error).message}`),
    };
  }
  return { path, warnings: await applyLimits(host, path, limits) };
}

/** Resolves once the cgroup has no process left, or after `timeoutMs` (inotify on cgroup.events). */
function emptied(path: string, timeoutMs: number): Promise<void> {
  const events = join(path, 'cgroup.events');
  const populated = async () => /populated 1/.test(await readFile(events, 'utf8').catch(() => ''));
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher?.close();
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(events, () => void populated().then((p) => p || finish()));
      watcher.on('error', finish);
    } catch {
      finish();
      return;
    }
    void populated().then((p) => p || finish());
  });
}

/**
 * Removes a workload's cgroup: kills what is left in it (processes the workload started that
 * left its process group: they are in its cgroup because it was), waits for it to empty, and
 * removes it and its service's directory when that is empty. Idempotent; never throws.
 */
export async function removeCgroup(path: string): Promise<boolean> {
  try {
    await access(path);
  } catch {
    return false;
  }
  // cgroup.kill (Linux 5.14+) SIGKILLs every process in the cgroup, atomically.
  await writeFile(join(path, 'cgroup.kill'), '1').catch(() => undefined);
  await emptied(path, 5_000);
  try {
    await rmdir(path);
  } catch (error) {
    if (errno(error) !== 'ENOENT') return false;
  }
  await rmdir(join(path, '..')).catch(() => undefined);
  return true;
}

/**
 * A workload cgroup's usage: `cpu.stat`'s usage_usec (kept by every v2 cgroup) and
 * `memory.current` (with the memory controller). `undefined` when either cannot be read.
 */
export async function cgroupUsage(
  path: string,
): Promise<{ cpuSeconds: number; memoryBytes: number } | undefined> {
  try {
    const [stat, memory] = await Promise.all([
      readFile(join(path, 'cpu.stat'), 'utf8'),
      readFile(join(path, 'memory.current'), 'utf8'),
    ]);
    const usec = Number(/^usage_usec (\d+)$/m.exec(stat)?.[1]);
    const bytes = Number(memory.trim());
    if (!Number.isFinite(usec) || !Number.isFinite(bytes)) return undefined;
    return { cpuSeconds: usec / 1e6, memoryBytes: bytes };
  } catch {
    return undefined;
  }
}
