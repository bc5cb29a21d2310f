/**
 * What every workload kind gets from the agent, built once above the drivers: configuration
 * files rendered from TOSCA values, data directories with owner and mode, resource limits and
 * labels, turned into the shared parts of a `WorkloadSpec` (mounts, limits, labels). Files and
 * directories live under the workload's data root, `STATE/data/SERVICE/WORKLOAD`, unless a
 * process asks for an absolute path.
 */
import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { Mount, ResourceLimits, WorkloadKey } from '@khutulun/driver';
import type { Value } from '@khutulun/floria';
import { DeployError } from './agent-error.js';
import { isMap } from './values.js';

/** The labels the agent puts on every workload, beside the template's. */
export const KHUTULUN_LABELS = {
  service: 'io.khutulun.service',
  workload: 'io.khutulun.workload',
  host: 'io.khutulun.host',
} as const;

/** A name that is safe as one path segment: no separators, no `..`, no leading dot. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Whether a name can be used as one path segment (a workload, a file or directory key). */
export function isSafeSegment(name: string): boolean {
  return SEGMENT.test(name) && !name.includes('..');
}

/**
 * A workload's data root: `STATE/data/SERVICE/WORKLOAD`. Throws for a service or workload
 * name that is not one safe path segment (a node template named `../x` must never reach the
 * file system).
 */
export function dataRoot(stateDir: string, key: WorkloadKey): string {
  for (const name of [key.service, key.name]) {
    if (!isSafeSegment(name)) {
      throw new DeployError({
        code: 'invalid-workload',
        status: 422,
        message: `${JSON.stringify(name)} cannot name a workload on disk: use letters, digits, '.', '_' and '-'`,
        details: { service: key.service, workload: key.name },
      });
    }
  }
  return join(stateDir, 'data', key.service, key.name);
}

/**
 * What the agent made at absolute host paths (processes only), recorded in the data root so
 * that a delete removes exactly that: never a directory or file that existed before.
 */
const MADE = '.made.json';

/** What the agent prepared for a workload, to merge into its spec. */
export interface Prepared {
  mounts: Mount[];
  limits?: ResourceLimits;
  labels: Record<string, string>;
  /** Environment every kind gets: `KHUTULUN_DATA` (the data root, for processes). */
  environment: Record<string, string>;
  /** The files and directories made (for `workload show`). */
  made: { path: string; purpose: string }[];
}

/**
 * Renders the workload's configuration files and creates its data directories (before it
 * starts), and reads its limits and labels. `ownFileSystem`: the kind mounts them (containers)
 * rather than using host paths in place (processes).
 */
export async function prepareWorkload(options: {
  stateDir: string;
  host: string;
  key: WorkloadKey;
  properties: Record<string, Value>;
  ownFileSystem: boolean;
}): Promise<Prepared> {
  const { key, properties: p, ownFileSystem } = options;
  const root = dataRoot(options.stateDir, key);
  const problem = (message: string, property: string) =>
    new DeployError({
      code: 'invalid-workload',
      status: 422,
      message: `workload ${key.name}: ${message}`,
      details: { service: key.service, workload: key.name, property },
    });
  const prepared: Prepared = {
    mounts: [],
    labels: {
      ...stringMap(p.labels),
      [KHUTULUN_LABELS.service]: key.service,
      [KHUTULUN_LABELS.workload]: key.name,
      [KHUTULUN_LABELS.host]: options.host,
    },
    environment: ownFileSystem ? {} : { KHUTULUN_DATA: root },
    made: [],
  };
  const limits = limitsOf(p.limits, (m) => problem(m, 'limits'));
  if (limits) prepared.limits = limits;
  for (const [kind, map] of [
    ['directory', p.directories],
    ['file', p.files],
  ] as const) {
    for (const [name] of entries(map)) {
      if (!isSafeSegment(name))
        throw problem(`${kind} key ${JSON.stringify(name)} is not a plain name`, name);
    }
  }
  await mkdir(root, { recursive: true, mode: 0o755 });
  // Absolute host paths this deploy makes (they did not exist before): only those go on delete.
  const made = new Set<string>(await readMade(root));
  const fresh = async (path: string) => {
    const existed = await stat(path).then(
      () => true,
      () => false,
    );
    if (!existed) made.add(path);
  };

  for (const [name, d] of entries(p.directories)) {
    const path = typeof d.path === 'string' ? d.path : name;
    if (ownFileSystem && !isAbsolute(path))
      throw problem(`directory ${name}: a container path must be absolute, got ${path}`, name);
    const hostPath = ownFileSystem
      ? join(root, 'directories', name)
      : inRoot(root, path, (m) => problem(`directory ${name}: ${m}`, name));
    const wanted = mode(d.mode, 0o755, (m) => problem(`directory ${name}: ${m}`, name));
    if (!ownFileSystem && isAbsolute(path)) await fresh(hostPath);
    await mkdir(hostPath, { recursive: true });
    // A directory that was there before is the host's: its mode and owner are not the
    // template's to change.
    const ours = ownFileSystem || !isAbsolute(path) || made.has(hostPath);
    if (ours) await chmod(hostPath, wanted);
    if (ours && typeof d.owner === 'string' && d.owner) {
      const { uid, gid } = owner(d.owner, (m) => problem(`directory ${name}: ${m}`, name));
      await chown(hostPath, uid, gid);
    }
    if (ownFileSystem) prepared.mounts.push({ type: 'bind', source: hostPath, target: path });
    prepared.made.push({ path: hostPath, purpose: `data directory ${name}` });
  }

  for (const [name, f] of entries(p.files)) {
    const path = typeof f.path === 'string' ? f.path : name;
    if (typeof f.content !== 'string' && f.content !== undefined && f.content !== null)
      throw problem(`file ${name}: content must be a string`, name);
    if (ownFileSystem && !isAbsolute(path))
      throw problem(`file ${name}: a container path must be absolute, got ${path}`, name);
    const hostPath = ownFileSystem
      ? join(root, 'files', name)
      : inRoot(root, path, (m) => problem(`file ${name}: ${m}`, name));
    const fileMode = mode(f.mode, 0o644, (m) => problem(`file ${name}: ${m}`, name));
    if (!ownFileSystem && isAbsolute(path)) await fresh(hostPath);
    await mkdir(dirname(hostPath), { recursive: true });
    // Written with its mode from the start and renamed into place: a secret is never
    // readable by others, not even for an instant, and a reader never sees half a file.
    const partial = `${hostPath}.khutulun-partial`;
    await writeFile(partial, typeof f.content === 'string' ? f.content : '', { mode: fileMode });
    await chmod(partial, fileMode);
    await rename(partial, hostPath);
    if (ownFileSystem)
      prepared.mounts.push({ type: 'bind', source: hostPath, target: path, readOnly: true });
    prepared.made.push({ path: hostPath, purpose: `configuration file ${name}` });
  }
  if (made.size) await writeFile(join(root, MADE), `${JSON.stringify([...made])}\n`);

  for (const v of Array.isArray(p.volumes) ? p.volumes : []) {
    if (!isMap(v) || typeof v.target !== 'string')
      throw problem('every volume needs a target', 'volumes');
    const type = v.type === 'volume' || v.type === 'tmpfs' ? v.type : 'bind';
    if (type !== 'tmpfs' && typeof v.source !== 'string')
      throw problem(`the ${type} volume at ${v.target} needs a source`, 'volumes');
    const source =
      type === 'volume' ? `khutulun-${key.service}-${String(v.source)}` : (v.source as string);
    prepared.mounts.push({
      type,
      target: v.target,
      ...(type === 'tmpfs' ? {} : { source }),
      ...(v.read_only === true ? { readOnly: true } : {}),
    });
  }
  return prepared;
}

/**
 * Removes what `prepareWorkload` made, keeping the data directories marked `keep` (and the
 * data root while it holds one). Absolute host paths of processes are removed unless kept.
 */
export async function cleanupWorkload(options: {
  stateDir: string;
  key: WorkloadKey;
  properties: Record<string, Value>;
  ownFileSystem: boolean;
}): Promise<void> {
  const { key, properties: p, ownFileSystem } = options;
  const root = dataRoot(options.stateDir, key);
  const kept = entries(p.directories).filter(([, d]) => d.keep === true);
  if (!ownFileSystem) {
    // Only what this agent made at absolute paths (recorded when it made them).
    const keptPaths = new Set(
      kept.map(([name, d]) => normalize(typeof d.path === 'string' ? d.path : name)),
    );
    for (const path of await readMade(root)) {
      if (!keptPaths.has(path)) await rm(path, { recursive: true, force: true });
    }
  }
  if (!kept.length) {
    await rm(root, { recursive: true, force: true });
    return;
  }
  // Keep the kept directories (and the prestart markers that go with their data).
  const keep = new Set(
    kept.map(([name, d]) =>
      ownFileSystem
        ? join('directories', name)
        : normalize(typeof d.path === 'string' ? d.path : name),
    ),
  );
  for (const entry of await readdir(root).catch(() => [] as string[])) {
    if (entry === 'directories' && ownFileSystem) {
      for (const sub of await readdir(join(root, entry))) {
        if (!keep.has(join('directories', sub)))
          await rm(join(root, entry, sub), { recursive: true, force: true });
      }
      continue;
    }
    if (entry.startsWith('.prestart-') || [...keep].some((k) => k.split('/')[0] === entry))
      continue;
    await rm(join(root, entry), { recursive: true, force: true });
  }
}

/** A relative path under the data root (never escaping it), or an absolute path as given. */
function inRoot(root: string, path: string, fail: (m: string) => Error): string {
  if (isAbsolute(path)) return normalize(path);
  const joined = normalize(join(root, path));
  if (!joined.startsWith(`${root}/`)) throw fail(`${path} leaves the workload's data root`);
  return joined;
}

/** The absolute host paths recorded as made by the agent (none when there is no record). */
async function readMade(root: string): Promise<string[]> {
  try {
    const list = JSON.parse(await readFile(join(root, MADE), 'utf8')) as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function entries(v: Value | undefined): [string, Record<string, Value>][] {
  return isMap(v)
    ? (Object.entries(v).filter(([, x]) => isMap(x)) as [string, Record<string, Value>][])
    : [];
}

function stringMap(v: Value | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (isMap(v)) for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = String(x);
  return out;
}

function mode(v: Value | undefined, fallback: number, fail: (m: string) => Error): number {
  if (v === undefined || v === null) return fallback;
  const text = String(v);
  if (!/^0?[0-7]{3,4}$/.test(text)) throw fail(`mode must be octal (e.g. "0640"), got ${text}`);
  return Number.parseInt(text, 8);
}

/** A `user[:group]` by name or number, resolved on this host. */
function owner(spec: string, fail: (m: string) => Error): { uid: number; gid: number } {
  const [user = '', group] = spec.split(':');
  const id = (flag: string, name: string): number => {
    if (/^\d+$/.test(name)) return Number(name);
    try {
      return Number(
        execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
      );
    } catch {
      throw fail(`no user ${name} on this host`);
    }
  };
  const uid = id('-u', user);
  const gid = group
    ? /^\d+$/.test(group)
      ? Number(group)
      : groupId(group, fail)
    : /^\d+$/.test(user)
      ? uid
      : id('-g', user);
  return { uid, gid };
}

function groupId(name: string, fail: (m: string) => Error): number {
  try {
    const line = execFileSync('getent', ['group', name], { encoding: 'utf8' });
    return Number(line.split(':')[2]);
  } catch {
    throw fail(`no group ${name} on this host`);
  }
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Reads the `limits` property: `cpus`, `memory` (bytes, or with a unit) and `pids`. */
export function limitsOf(
  v: Value | undefined,
  fail: (m: string) => Error,
): ResourceLimits | undefined {
  if (!isMap(v)) return undefined;
  const limits: ResourceLimits = {};
  if (typeof v.cpus === 'number') {
    if (!(v.cpus > 0)) throw fail(`limits.cpus must be positive, got ${v.cpus}`);
    limits.cpus = v.cpus;
  }
  if (v.memory !== undefined && v.memory !== null) {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(v.memory));
    const unit = UNITS[(match?.[2] ?? '?').toLowerCase()];
    if (!match || unit === undefined)
      throw fail(`limits.memory must be bytes or a size like 256MiB, got ${String(v.memory)}`);
    limits.memoryBytes = Math.round(Number(match[1]) * unit);
  }
  if (typeof v.pids === 'number') limits.pids = v.pids;
  return Object.keys(limits).length ? limits : undefined;
}
