/**
 * How `service deploy` and `tosca`-over-the-API name a TOSCA source to the agent: by its
 * absolute path when the agent is local (it reads the files itself, artifacts included), or
 * uploaded when the agent is remote.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { DeploySource } from '@khutulun/api';
import { CliError, usageError } from './cli-error.js';

/** Resolves a user's FILE|CSAR|DIR argument into a deploy source, checking it exists. */
export function deploySource(argument: string, cwd: string, remote: boolean): DeploySource {
  const path = resolve(cwd, argument);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (cause) {
    throw new CliError(
      'usage',
      `cannot read ${argument}: no such file or directory`,
      { where: path },
      { cause },
    );
  }
  if (!remote) return { path };
  if (isDirectory) {
    throw usageError(
      `${argument} is a directory: a remote agent cannot read it; pack it as a CSAR (zip) and deploy that file`,
      { where: path },
    );
  }
  return { filename: basename(path), content: readFileSync(path).toString('base64') };
}
