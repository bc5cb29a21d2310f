/**
 * The diff every driver starts from: compares two specs path by path and marks each change
 * as in place or replacing, by the kind's list of paths it can update in place.
 */
import { isDeepStrictEqual } from 'node:util';
import type { PropertyDiff, WorkloadDiff, WorkloadSpec } from './workload-driver.js';

/** The spec's comparable paths: each kind property and limit, and the shared lists. */
function paths(spec: WorkloadSpec): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [name, value] of Object.entries(spec.properties)) out.set(`properties.${name}`, value);
  for (const [name, value] of Object.entries(spec.limits ?? {})) out.set(`limits.${name}`, value);
  if (spec.ports.length) out.set('ports', spec.ports);
  if (spec.mounts?.length) out.set('mounts', spec.mounts);
  if (spec.labels && Object.keys(spec.labels).length) out.set('labels', spec.labels);
  return out;
}

/**
 * Diffs two specs of one workload. `inPlace` names the paths (exact, e.g. `limits.cpus`, or a
 * prefix ending in `.`, e.g. `limits.`) whose changes the kind applies without a replacement;
 * every other change replaces. A replacement of a workload that keeps its name deletes first.
 */
export function diffSpecs(
  from: WorkloadSpec,
  to: WorkloadSpec,
  inPlace: readonly string[] = [],
): WorkloadDiff {
  const before = paths(from);
  const after = paths(to);
  const detailedDiff: Record<string, PropertyDiff> = {};
  const canUpdate = (path: string) =>
    inPlace.some((p) => (p.endsWith('.') ? path.startsWith(p) : path === p));
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(path);
    const b = after.get(path);
    if (isDeepStrictEqual(a, b)) continue;
    const kind = a === undefined ? 'add' : b === undefined ? 'delete' : 'update';
    detailedDiff[path] = { kind, replace: !canUpdate(path) };
  }
  const diffs = Object.keys(detailedDiff).sort();
  const replaces = diffs.filter((p) => detailedDiff[p]?.replace);
  return {
    changes: diffs.length > 0,
    diffs,
    replaces,
    detailedDiff,
    deleteBeforeReplace: replaces.length > 0,
  };
}
