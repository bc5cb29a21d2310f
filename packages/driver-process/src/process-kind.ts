/**
 * The `process` kind as a plug-in of the agent: runs the profile's `Process` nodes (and their
 * subtypes) with the `ProcessDriver`, on the host's own file system.
 */
import type { KindMapping, Problem, WorkloadKind, WorkloadNode } from '@khutulun/driver';
import { ProcessDriver } from './process-driver.js';

type Value = KindMapping['properties'][string];

/** The profile's node type this kind runs. */
export const PROCESS_TYPE = 'node:io.khutulun.core/Process';

/** A scalar as the string a command line or environment holds (numbers, booleans included). */
function text(v: Value | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * Maps a Process node: `command`, `arguments`, `environment`, `working_directory`, `user`.
 * An argument or environment value that evaluates to a number or a boolean is passed as its
 * string, so a reserved port can go on a command line as is.
 */
export function mapProcess(node: WorkloadNode): KindMapping {
  const p = node.properties;
  const problems: Problem[] = [];
  const properties: Record<string, Value> = {};
  const command = text(p.command);
  if (command !== undefined) properties.command = command;
  if (Array.isArray(p.arguments)) {
    properties.arguments = p.arguments.map((a, i) => {
      const s = text(a);
      if (s === undefined)
        problems.push({
          path: ['arguments', String(i)],
          message: 'must be a string, a number or a boolean',
        });
      return s ?? '';
    });
  }
  const environment: Record<string, Value> = {};
  const env = p.environment;
  if (typeof env === 'object' && env !== null && !Array.isArray(env)) {
    for (const [name, value] of Object.entries(env)) {
      if (value === null) continue;
      const s = text(value);
      if (s === undefined)
        problems.push({
          path: ['environment', name],
          message: 'must be a string, a number or a boolean',
        });
      else environment[name] = s;
    }
  }
  properties.environment = environment;
  for (const name of ['working_directory', 'user'] as const) {
    const v = text(p[name]);
    if (v !== undefined) properties[name] = v;
  }
  return { properties, problems };
}

/** The process kind: always available (it needs nothing but the host). */
export const processKind: WorkloadKind = {
  kind: 'process',
  nodeTypes: [PROCESS_TYPE],
  ownFileSystem: false,
  map: mapProcess,
  withCommand(properties, command) {
    const [program = '', ...rest] = command;
    return { ...properties, command: program, arguments: rest };
  },
  async probe() {
    return { available: true };
  },
  async open(context) {
    return new ProcessDriver({ stateDirectory: context.stateDirectory });
  },
};
