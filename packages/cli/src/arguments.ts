/**
 * Parsers for the CLI's argument syntaxes. Each throws a usage error (exit code 2) that
 * says what was expected.
 */
import { parse as parseYaml } from 'yaml';
import { usageError } from './cli-error.js';

/** A Floria entity kind (as in `@khutulun/floria`'s model; the CLI sees it only as API data). */
export type EntityKind =
  | 'class'
  | 'vertex-template'
  | 'edge-template'
  | 'vertex'
  | 'edge'
  | 'plugin';

/** A Floria entity ID, as the API takes it. */
export interface Id {
  kind: EntityKind;
  directory: string[];
  name: string;
}

/** The value accumulated by a repeatable `-i K=V`: input name to value. */
export type Inputs = Record<string, unknown>;

/**
 * Parses one `-i NAME=VALUE` into `inputs`. The value is read as a YAML scalar or flow
 * collection (`8080` a number, `true` a boolean, `[a, b]` a list), else kept as a string.
 */
export function parseInput(text: string, inputs: Inputs = {}): Inputs {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usageError(`-i expects NAME=VALUE, got "${text}"`);
  const name = text.slice(0, eq);
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = raw === '' ? '' : parseYaml(raw);
  } catch {
    // Not YAML (e.g. `a: b: c`): the text itself is the value.
  }
  return { ...inputs, [name]: value ?? null };
}

/** A workload's address: its service and its name. */
export interface WorkloadRef {
  service: string;
  name: string;
}

/** Parses `SERVICE/NAME`, or `SERVICE NAME` given as two arguments. */
export function parseWorkloadRef(first: string, second?: string): WorkloadRef {
  if (second !== undefined) {
    if (first.includes('/'))
      throw usageError(`give a workload as SERVICE/NAME or SERVICE NAME, not both`);
    return { service: first, name: second };
  }
  const slash = first.indexOf('/');
  if (slash <= 0 || slash === first.length - 1) {
    throw usageError(`expected a workload as SERVICE/NAME (or SERVICE NAME), got "${first}"`);
  }
  return { service: first.slice(0, slash), name: first.slice(slash + 1) };
}

const KINDS: readonly EntityKind[] = [
  'class',
  'vertex-template',
  'edge-template',
  'vertex',
  'edge',
  'plugin',
];

/** Parses an entity kind, for `--kind`. */
export function parseKind(text: string): EntityKind {
  if ((KINDS as readonly string[]).includes(text)) return text as EntityKind;
  throw usageError(`unknown entity kind "${text}" (expected one of ${KINDS.join(', ')})`);
}

/**
 * Parses an entity ID written as `[KIND:]DIR/.../NAME` (`vertex:services/hello/server`).
 * The name is the last segment; `defaultKind` applies when no kind is written.
 */
export function parseId(text: string, defaultKind?: EntityKind): Id {
  const colon = text.indexOf(':');
  const prefix = colon > 0 ? text.slice(0, colon) : '';
  const hasKind = (KINDS as readonly string[]).includes(prefix);
  const kind = hasKind ? (prefix as EntityKind) : defaultKind;
  if (!kind)
    throw usageError(
      `expected an entity ID as KIND:DIR/NAME (e.g. vertex:services/hello/server), got "${text}"`,
    );
  const path = hasKind ? text.slice(colon + 1) : text;
  const segments = path.split('/').filter((s) => s !== '');
  const name = segments.pop();
  if (!name) throw usageError(`the entity ID "${text}" has no name`);
  return { kind, directory: segments, name };
}

/** Parses a directory written as `a/b/c` (`/` or empty for the root). */
export function parseDirectory(text: string): string[] {
  return text.split('/').filter((s) => s !== '');
}

/** Parses a positive integer option (`--tail`, `--limit`, `--depth`, `--since`). */
export function parseCount(name: string, min = 0): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min)
      throw usageError(`${name} expects an integer >= ${min}, got "${text}"`);
    return n;
  };
}
