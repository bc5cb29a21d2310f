/**
 * User and group lookup from /etc/passwd and /etc/group: what the shim needs to run a
 * workload as a user (uid, gid, home), without a native binding.
 */
import { readFileSync } from 'node:fs';

/** A user account as the process driver needs it. */
export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function records(file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

/** Finds a user by name or numeric uid; a uid without an entry is returned bare. */
export function lookupUser(user: string): SystemUser | undefined {
  const numeric = /^\d+$/.test(user) ? Number(user) : undefined;
  for (const [name, , uid, gid, , home] of records('/etc/passwd')) {
    if (name === user || (numeric !== undefined && Number(uid) === numeric)) {
      return { name: name ?? user, uid: Number(uid), gid: Number(gid), home: home || '/' };
    }
  }
  return numeric === undefined ? undefined : { name: user, uid: numeric, gid: numeric, home: '/' };
}

/** Finds a group's gid by name or numeric gid. */
export function lookupGroup(group: string): number | undefined {
  if (/^\d+$/.test(group)) return Number(group);
  for (const [name, , gid] of records('/etc/group')) if (name === group) return Number(gid);
  return undefined;
}
