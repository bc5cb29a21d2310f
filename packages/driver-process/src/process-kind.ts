/**
 * The `process` kind as a plug-in of the agent: the TOSCA `Process` node type, the mapping of
 * its values to the driver's spec properties, and how to open the driver on a host.
 */
import type {
  DriverContext,
  KindAvailability,
  KindMapping,
  Problem,
  WorkloadKind,
  WorkloadNode,
} from '@khutulun/driver';
import { ProcessDriver } from './process-driver.js';

/** A node or spec property value. */
type Value = WorkloadNode['properties'][string];

/** The node type the `process` kind runs (and every type derived from it, e.g. `Server`). */
export const PROCESS_TYPE = 'node:io.khutulun.core/Process';

function isMap(value: Value | undefined): value is { [key: string]: Value } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A value as a command-line word or environment value: strings as they are, numbers and
 * booleans as their strings (so a reserved port, an integer, can go on a command line).
 */
function word(value: Value | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * Maps a `Process` node to the driver's properties: `command`, `arguments`, `environment`
 * (always present, `{}` when unset), `working_directory`, `user`, `group`. An argument or
 * environment value that evaluates to a number or a boolean is passed as its string, so a
 * reserved port can go on a command line as is; any other non-string is a problem (as data).
 */
export function mapProcess(node: WorkloadNode): KindMapping {
  const problems: Problem[] = [];
  const properties: Record<string, Value> = {};
  const p = node.properties;

  const command = p['command'];
  if (command !== undefined && command !== null) {
    if (Array.isArray(command)) {
      const words = command.map(word);
      if (words.every((w) => w !== undefined)) properties['command'] = words as string[];
      else problems.push({ path: ['command'], message: 'must be a string or a list of strings' });
    } else if (word(command) !== undefined) properties['command'] = word(command)!;
    else problems.push({ path: ['command'], message: 'must be a string or a list of strings' });
  }

  const args = p['arguments'];
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args)) problems.push({ path: ['arguments'], message: 'must be a list' });
    else {
      const words: string[] = [];
      for (const [index, value] of args.entries()) {
        const text = word(value);
        if (text === undefined) {
          problems.push({
            path: ['arguments', String(index)],
            message: 'must be a string, a number or a boolean',
          });
        } else words.push(text);
      }
      properties['arguments'] = words;
    }
  }

  const env = p['environment'];
  const environment: Record<string, string> = {};
  properties['environment'] = environment;
  if (env !== undefined && env !== null) {
    if (!isMap(env)) problems.push({ path: ['environment'], message: 'must be a map' });
    else {
      for (const [name, value] of Object.entries(env)) {
        // An unset value (e.g. an attribute not known yet) leaves the variable out.
        if (value === null) continue;
        const text = word(value);
        if (text === undefined) {
          problems.push({
            path: ['environment', name],
            message: 'must be a string, a number or a boolean',
          });
        } else environment[name] = text;
      }
    }
  }

  for (const name of ['working_directory', 'user', 'group']) {
    const value = p[name];
    if (value === undefined || value === null) continue;
    const text = word(value);
    if (text === undefined) problems.push({ path: [name], message: 'must be a string' });
    else properties[name] = text;
  }
  return { properties, problems };
}

/**
 * The `process` kind: bare processes under a shell shim each (see `ProcessDriver`). Always
 * available (it needs `/bin/sh`, `setsid`, `env` and, for `user`, `setpriv`, which every
 * supported host has); its workloads share the host's file system.
 */
export const processKind: WorkloadKind = {
  kind: 'process',
  nodeTypes: [PROCESS_TYPE],
  ownFileSystem: false,
  map: mapProcess,
  withCommand(properties, command) {
    const [program, ...args] = command;
    return { ...properties, command: program ?? '', arguments: args };
  },
  async probe(_context: DriverContext): Promise<KindAvailability> {
    return { available: true };
  },
  async open(context: DriverContext): Promise<ProcessDriver> {
    return new ProcessDriver({ stateDirectory: context.stateDirectory, log: context.log });
  },
};
