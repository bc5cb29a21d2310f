import { compile } from './compile.js';
import { formatDiagnostic } from './diagnostic.js';

/** Where the command writes. */
export interface CommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/**
 * `validate SOURCE` or `compile SOURCE` (argv after `tosca`), with no options: kept so callers
 * of the former command function still work. The command line is the CLI's (`khutulun tosca`,
 * `packages/cli/src/tosca-commands.ts`); programs call `compile`. Returns the exit status: 0
 * valid, 1 invalid (diagnostics on stderr), 2 misuse or unreadable source.
 *
 * @deprecated Call `compile` (and `formatDiagnostic`).
 */
export async function runToscaCommand(argv: string[], io: CommandIo): Promise<number> {
  const [verb, source, ...rest] = argv;
  if ((verb !== 'validate' && verb !== 'compile') || source === undefined || rest.length > 0) {
    io.stderr('usage: tosca validate|compile SOURCE (options: run khutulun tosca --help)\n');
    return 2;
  }
  const result = await compile({ source, validateOnly: verb === 'validate' });
  for (const d of result.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
  if (result.unreadable) return 2;
  if (result.diagnostics.some((d) => d.severity === 'error')) return 1;
  if (verb === 'compile')
    io.stdout(
      `${JSON.stringify({ service: result.service, templates: result.templates }, null, 2)}\n`,
    );
  return 0;
}
