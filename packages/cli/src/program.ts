/**
 * The `khutulun` command tree (commander). Commands that need the agent get a
 * {@link CommandContext}; `agent` hands its arguments to the agent package unchanged (see
 * `main.ts`).
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, Option } from 'commander';
import type { CliIo } from './cli-io.js';
import { COMPLETION_SHELLS, completionScript } from './completion.js';
import { CommandContext, type GlobalOptions } from './context.js';
import { dashboardCommand } from './dashboard-command.js';
import { eventsCommand } from './event-commands.js';
import { graphCommand, hostCommand, pluginCommand } from './graph-commands.js';
import { OUTPUT_FORMATS, parseOutputFormat } from './output.js';
import { type Run, serviceCommand } from './service-commands.js';
import { topCommand } from './top-command.js';
import { toscaCommand } from './tosca-commands.js';
import { workloadCommand } from './workload-commands.js';

/** The version `khutulun --version` prints: this package's. */
const CLI_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** Builds the program, writing through `io`. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('khutulun')
    .description(
      'Khutulun: an event-driven orchestrator of processes, containers and VMs, designed in TOSCA',
    )
    .version(CLI_VERSION, '--version', 'print the version')
    .option(
      '--state-dir <dir>',
      'the state directory of the local agent (default: $KHUTULUN_STATE_DIR, else per user)',
    )
    .option(
      '--agent <url>',
      'talk to the agent at this URL (https://HOST:PORT, or unix:PATH); env KHUTULUN_AGENT',
    )
    .option('--token <token>', 'bearer token for --agent over TCP; env KHUTULUN_TOKEN')
    .option('--ca <file>', 'CA certificate to trust for --agent over TLS; env KHUTULUN_CA')
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices([...OUTPUT_FORMATS])
        .default('table')
        .argParser(parseOutputFormat),
    );

  const run: Run =
    (action) =>
    async (...args) => {
      const command = args.at(-1) as Command;
      const globals = command.optsWithGlobals() as GlobalOptions;
      // commander passes (arguments..., options, command); the action wants (arguments..., options).
      await action(new CommandContext(io, globals), ...(args.slice(0, -1) as never[]));
    };

  program.addCommand(serviceCommand(run));
  program.addCommand(workloadCommand(run));
  program.addCommand(eventsCommand(run));
  program.addCommand(hostCommand(run));
  program.addCommand(graphCommand(run));
  program.addCommand(pluginCommand(run));
  program.addCommand(dashboardCommand(run));
  program.addCommand(topCommand(run));

  program.addCommand(toscaCommand(run));

  // `agent` is listed here for help and completion only: main.ts hands it its arguments
  // before commander parses, as its options are the agent's to define.
  program
    .command('agent')
    .description('run the agent of this host in the foreground (khutulun agent --help)');

  program
    .command('completion')
    .description('print a shell completion script: eval "$(khutulun completion bash)"')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices([...COMPLETION_SHELLS]))
    .action((shell: (typeof COMPLETION_SHELLS)[number]) => {
      io.stdout.write(completionScript(shell));
    });

  applyToTree(program, (command) => {
    command
      .exitOverride()
      .configureHelp({ showGlobalOptions: true })
      .showHelpAfterError('(run with --help for usage)')
      .configureOutput({
        writeOut: (s) => io.stdout.write(s),
        writeErr: (s) => io.stderr.write(s),
      });
  });
  return program;
}

/** Commands added with `addCommand` do not inherit settings: apply them to every one. */
function applyToTree(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const sub of command.commands) applyToTree(sub, apply);
}
