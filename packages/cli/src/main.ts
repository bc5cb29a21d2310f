/**
 * The `khutulun` entry point: parses the command line, runs the command, and maps every
 * outcome to an exit code (0 success, 1 failure, 2 misuse) and a message without a stack
 * trace.
 */
import { CommanderError } from 'commander';
import { isCliError } from './cli-error.js';
import { type CliIo, processIo } from './cli-io.js';
import { completeNames, completeWords } from './completion.js';
import { buildProgram } from './program.js';

/** Global options that take a value, so the command word after them can be found. */
const VALUE_OPTIONS = new Set(['--state-dir', '--agent', '--token', '--ca', '-o', '--output']);

/** Commands whose arguments belong to another package (or to completion), not to commander. */
const DELEGATED = new Set(['agent', '__complete']);

/**
 * Runs `khutulun ARGV...` and resolves with its exit code. With no `io`, uses the process's
 * streams and turns the first SIGINT/SIGTERM into a graceful stop of following commands
 * (except for `agent`, which stops itself).
 */
export async function main(argv: string[], io?: CliIo): Promise<number> {
  if (io) return run(argv, io);
  // The agent handles its own signals: a clean stop, however long it takes.
  if (argv[leadingGlobals(argv).index] === 'agent') return run(argv, processIo());
  const controller = new AbortController();
  // A following command (`-f`, `--wait`) stops on the abort and returns its code; anything
  // that does not (or a second signal) ends the process as the signal would have.
  const interrupt = (signal: NodeJS.Signals) => {
    const code = 128 + (signal === 'SIGINT' ? 2 : 15);
    if (controller.signal.aborted) process.exit(code);
    controller.abort();
    setTimeout(() => process.exit(code), 2000).unref();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    return await run(argv, processIo(controller.signal));
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { globals, index } = leadingGlobals(argv);
    const word = argv[index];
    if (word !== undefined && DELEGATED.has(word))
      return await delegate(word, argv.slice(index + 1), globals, io);
    const program = buildProgram(io);
    await program.parseAsync(argv, { from: 'user' });
    return io.exitCode ?? 0;
  } catch (error) {
    return report(error, io);
  }
}

/** The global options before the command word, and where that word is. */
function leadingGlobals(argv: string[]): { globals: string[]; index: number } {
  let index = 0;
  while (index < argv.length) {
    const word = argv[index] ?? '';
    if (VALUE_OPTIONS.has(word)) index += 2;
    else if (word.startsWith('--') && VALUE_OPTIONS.has(word.split('=')[0] ?? '')) index += 1;
    else break;
  }
  return { globals: argv.slice(0, index), index };
}

async function delegate(
  word: string,
  args: string[],
  globals: string[],
  io: CliIo,
): Promise<number> {
  if (word === '__complete') {
    const program = buildProgram(io);
    // The global options before `__complete` belong to the line being completed too.
    const words = [...globals, ...(args.length === 0 ? [''] : args)];
    let candidates = completeWords(program, words);
    if (candidates.length === 0) candidates = await completeNames(program, words, io.env);
    if (candidates.length > 0) io.stdout.write(`${candidates.join('\n')}\n`);
    return 0;
  }
  // `agent`: the agent writes to streams; a CliIo's writers are enough for what it writes.
  const streams = io as unknown as {
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
  };
  const { runAgentCommand } = await import('@khutulun/agent');
  // `khutulun --state-dir DIR agent` means the same as `khutulun agent --state-dir DIR`.
  const stateDir = optionOf(globals, '--state-dir');
  const passed =
    stateDir !== undefined && !args.some((a) => a.startsWith('--state-dir'))
      ? ['--state-dir', stateDir, ...args]
      : args;
  return runAgentCommand(passed, { stdout: streams.stdout, stderr: streams.stderr });
}

/** The value of a global option among the leading words (`--name V`, `--name=V`, `-n V`). */
function optionOf(globals: string[], ...names: string[]): string | undefined {
  let value: string | undefined;
  globals.forEach((word, i) => {
    for (const name of names) {
      if (word === name) value = globals[i + 1];
      else if (word.startsWith(`${name}=`)) value = word.slice(name.length + 1);
    }
  });
  return value;
}

/** Prints an error as `khutulun: message` (plus its detail lines) and returns its exit code. */
function report(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // commander has printed its message already. Help and version asked for exit with 0;
    // every other exit (unknown command or option, missing argument, a group without a
    // subcommand) is a misuse.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (isCliError(error)) {
    io.stderr.write(`khutulun: ${error.message}\n`);
    for (const line of error.details.lines ?? []) io.stderr.write(`${line}\n`);
    return error.exitCode;
  }
  const err = error as Error;
  io.stderr.write(`khutulun: internal error: ${err?.message ?? String(error)}\n`);
  if (io.env.KHUTULUN_DEBUG) io.stderr.write(`${err?.stack ?? ''}\n`);
  return 1;
}
