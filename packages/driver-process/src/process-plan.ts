/**
 * Turns a `process` workload spec into a plan the shim can run: validated, with every default
 * applied, and every problem returned as data.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Problem, WorkloadSpec } from '@khutulun/driver';
import { lookupGroup, lookupUser, type SystemUser } from './system-users.js';

/** The `PATH` a workload gets unless its environment sets one. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A validated process spec: everything the shim script and `exec` need. */
export interface ProcessPlan {
  /** Program and arguments, as exec'd. */
  argv: string[];
  /** The complete environment of the workload. */
  environment: Record<string, string>;
  workingDirectory: string;
  /** Set when the workload runs as another user. */
  user?: SystemUser;
}

/** A property value, as specs hold them. */
type Value = WorkloadSpec['properties'][string];

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The environment variable that carries a reserved port: `PORT_<NAME>`. */
export function portVariable(name: string): string {
  return `PORT_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

function isRecord(value: Value | undefined): value is { [key: string]: Value } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: Value | undefined): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return undefined;
}

function scalarText(value: Value | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function findProgram(program: string, path: string, cwd: string): string | undefined {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes('/')) {
    const file = isAbsolute(program) ? program : join(cwd, program);
    return executable(file) ? file : undefined;
  }
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, program))) return join(dir, program);
  }
  return undefined;
}

/**
 * Validates a spec and plans its process. `directory` is the workload's own directory (the
 * default working directory). Returns the problems (empty when valid) and, if valid, the plan.
 */
export function planProcess(
  spec: WorkloadSpec,
  directory: string,
): { problems: Problem[]; plan?: ProcessPlan } {
  const problems: Problem[] = [];
  const problem = (path: string[], message: string) => problems.push({ path, message });
  const p = spec.properties;

  for (const part of ['service', 'name'] as const) {
    if (!SEGMENT.test(spec.key[part])) {
      problem(
        ['key', part],
        `must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    }
  }

  const command = stringList(p['command']);
  if (!command || command.length === 0 || command[0] === '') {
    problem(['command'], 'is required: a program, or a list of program and arguments');
  }
  const rawArgs = p['arguments'];
  const args =
    rawArgs === undefined ? [] : Array.isArray(rawArgs) ? stringList(rawArgs) : undefined;
  if (!args) problem(['arguments'], 'must be a list of strings');

  let user: SystemUser | undefined;
  const userValue = p['user'] === undefined ? undefined : scalarText(p['user']);
  if (p['user'] !== undefined) {
    user = userValue === undefined ? undefined : lookupUser(userValue);
    if (!user) problem(['user'], `no such user: ${JSON.stringify(p['user'])}`);
    else if (process.getuid?.() !== 0 && process.getuid?.() !== user.uid) {
      problem(['user'], 'running as another user needs the agent to run as root');
    }
  }
  if (p['group'] !== undefined) {
    const gid = scalarText(p['group']);
    const found = gid === undefined ? undefined : lookupGroup(gid);
    if (found === undefined) problem(['group'], `no such group: ${JSON.stringify(p['group'])}`);
    else if (user) user = { ...user, gid: found };
    else problem(['group'], 'needs a user');
  }

  const environment: Record<string, string> = { PATH: DEFAULT_PATH };
  if (user) Object.assign(environment, { HOME: user.home, USER: user.name, LOGNAME: user.name });
  for (const port of spec.ports) environment[portVariable(port.name)] = String(port.port);
  const env = p['environment'];
  if (env !== undefined) {
    if (!isRecord(env)) problem(['environment'], 'must be a map of names to strings');
    else {
      for (const [name, value] of Object.entries(env)) {
        const text = scalarText(value);
        if (!ENV_NAME.test(name)) problem(['environment', name], 'is not a valid variable name');
        else if (text === undefined || text.includes('\0')) {
          problem(['environment', name], 'must be a string, number or boolean');
        } else environment[name] = text;
      }
    }
  }

  let workingDirectory = directory;
  if (p['working_directory'] !== undefined) {
    const wd = p['working_directory'];
    if (typeof wd !== 'string' || !isAbsolute(wd)) {
      problem(['working_directory'], 'must be an absolute path');
    } else {
      workingDirectory = wd;
      let isDir = false;
      try {
        isDir = statSync(wd).isDirectory();
      } catch {}
      if (!isDir) problem(['working_directory'], `is not a directory: ${wd}`);
    }
  }

  if (command?.[0] && problems.every((x) => x.path[0] !== 'working_directory')) {
    const found = findProgram(command[0], environment['PATH'] ?? DEFAULT_PATH, workingDirectory);
    if (!found) problem(['command'], `program not found: ${command[0]}`);
  }

  const limits = spec.limits ?? {};
  const positive = (name: string, value: unknown, integer: boolean) => {
    if (value === undefined) return;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      value > 0 &&
      (!integer || Number.isInteger(value));
    if (!ok) problem(['limits', name], `must be a positive ${integer ? 'integer' : 'number'}`);
  };
  positive('cpus', limits.cpus, false);
  positive('memoryBytes', limits.memoryBytes, true);
  positive('pids', limits.pids, true);

  if (problems.length > 0 || !command || !args) return { problems };
  return {
    problems,
    plan: {
      argv: [...command, ...args],
      environment,
      workingDirectory,
      ...(user ? { user } : {}),
    },
  };
}
