/**
 * Directory paths: nested namespaces (`['services', 'hello']`, `[]` is the root) that are also
 * the scope of access rights (a caller is allowed a subtree).
 */
import { InvalidId } from './errors.js';

/** Escapes the characters that separate segments (`/`) or start an escape (`%`). */
export function escapeSegment(segment: string): string {
  return segment.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** Inverse of `escapeSegment`; throws `InvalidId` on an escape it never produces. */
export function unescapeSegment(segment: string, input = segment): string {
  return segment.replace(/%(..)?/g, (match, code: string | undefined) => {
    if (code === '25') return '%';
    if (code === '2F' || code === '2f') return '/';
    throw new InvalidId(input, `bad escape ${JSON.stringify(match)}`);
  });
}

/** Throws `InvalidId` unless every segment is a non-empty string. */
export function checkDirectory(directory: readonly string[], input?: string): void {
  for (const segment of directory) {
    if (typeof segment !== 'string' || segment === '') {
      throw new InvalidId(input ?? JSON.stringify(directory), 'empty directory segment');
    }
  }
}

/** The stable string form of a directory: `/` for the root, `/a/b` below it (segments escaped). */
export function directoryKey(directory: readonly string[]): string {
  return `/${directory.map(escapeSegment).join('/')}`;
}

/** Parses `directoryKey`'s output (a leading `/` is optional; `''` and `/` are the root). */
export function parseDirectory(key: string): string[] {
  const body = key.startsWith('/') ? key.slice(1) : key;
  if (body === '') return [];
  const directory = body.split('/').map((segment) => unescapeSegment(segment, key));
  checkDirectory(directory, key);
  return directory;
}

/** Whether `directory` is `scope` itself or anywhere below it. */
export function isInDirectory(directory: readonly string[], scope: readonly string[]): boolean {
  if (directory.length < scope.length) return false;
  return scope.every((segment, index) => directory[index] === segment);
}

/** `parent` followed by `segments`, as a new directory path. */
export function joinDirectory(parent: readonly string[], ...segments: string[]): string[] {
  const joined = [...parent, ...segments];
  checkDirectory(joined);
  return joined;
}

/** The directory that holds `directory` (the root's parent is the root). */
export function parentDirectory(directory: readonly string[]): string[] {
  return directory.slice(0, -1);
}
