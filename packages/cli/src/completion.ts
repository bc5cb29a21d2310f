/**
 * Shell completion. `khutulun completion bash|zsh` prints a script that asks the CLI itself
 * (`khutulun __complete WORDS...`) for candidates, so completion always matches the
 * commands this version has.
 */
import type { Command, Option } from 'commander';
import { AgentClient } from './agent-client.js';
import { endpointFor } from './context.js';
import { KHUTULUN_BIN } from './embedded-agent.js';
import { OUTPUT_FORMATS } from './output.js';
import { defaultStateDir } from './state-dir.js';

/** The shells `khutulun completion` writes scripts for. */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;

/**
 * The completion script for a shell. `command` is how the script runs this CLI (by default
 * this very Node and script, so completion works without `khutulun` on the PATH, as with
 * `npx`).
 */
export function completionScript(
  shell: (typeof COMPLETION_SHELLS)[number],
  command = `${shellQuote(process.execPath)} ${shellQuote(KHUTULUN_BIN)}`,
): string {
  if (shell === 'bash') {
    return `# khutulun bash completion: eval "$(khutulun completion bash)"
_khutulun() {
  local IFS=$'\\n'
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local candidates
  candidates=$(${command} __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o default -F _khutulun khutulun
`;
  }
  return `#compdef khutulun
# khutulun zsh completion: eval "$(khutulun completion zsh)", or save as _khutulun in $fpath
_khutulun() {
  local -a candidates
  candidates=("\${(@f)$(${command} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -z "\${candidates[1]}" ]]; then
    _files
  else
    compadd -- "\${candidates[@]}"
  fi
}
if [[ "$funcstack[1]" == "_khutulun" ]]; then _khutulun "$@"; else compdef _khutulun khutulun; fi
`;
}

/** Where the word being completed stands: its command, and what came before it. */
interface Position {
  command: Command;
  /** The option whose value is being typed, if any. */
  pendingOption: Option | undefined;
  /** The word being typed. */
  current: string;
  /** Arguments of `command` before the current word. */
  positionals: string[];
  /** Options given so far, by long name (for `--state-dir`, `--agent` ...). */
  options: Map<string, string>;
}

function position(program: Command, words: string[]): Position {
  const current = words.at(-1) ?? '';
  let command = program;
  let pendingOption: Option | undefined;
  let positionals: string[] = [];
  const options = new Map<string, string>();
  for (const word of words.slice(0, -1)) {
    if (pendingOption) {
      options.set(pendingOption.long ?? '', word);
      pendingOption = undefined;
      continue;
    }
    if (word.startsWith('-')) {
      const [flag = word, value] = word.split(/=(.*)/s);
      const option = findOption(command, program, flag);
      if (option && (option.required || option.optional)) {
        if (value === undefined) pendingOption = option;
        else options.set(option.long ?? '', value);
      }
      continue;
    }
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub) {
      command = sub;
      positionals = [];
    } else positionals.push(word);
  }
  return { command, pendingOption, current, positionals, options };
}

/**
 * The candidates for the last of `words` (the word being typed, possibly empty), given the
 * words before it: subcommands, options, option values. An empty result lets the shell
 * complete file names (or {@link completeNames} offer the agent's names).
 */
export function completeWords(program: Command, words: string[]): string[] {
  const { command, pendingOption, current } = position(program, words);
  if (pendingOption) {
    if (pendingOption.long === '--output') return [...OUTPUT_FORMATS];
    return pendingOption.argChoices ? [...pendingOption.argChoices] : [];
  }
  const help = program.createHelp();
  if (current.startsWith('-')) {
    const options = [
      ...help.visibleOptions(command),
      ...(command === program ? [] : help.visibleOptions(program)),
    ];
    return options
      .flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)))
      .filter((flag) => flag.startsWith(current));
  }
  return help
    .visibleCommands(command)
    .map((c) => c.name())
    .filter((name) => name.startsWith(current));
}

/** Commands whose first argument is a service name, or a workload (`SERVICE/NAME`). */
const SERVICE_ARGUMENT = new Set([
  'service show',
  'service outputs',
  'service delete',
  'workload list',
  'graph service',
]);
const WORKLOAD_ARGUMENT = new Set(['workload show', 'workload logs']);

/**
 * Service or workload names for the first argument of the commands that take one, asked of
 * the agent the words name (`--state-dir`, `--agent`). Never starts an agent: with none
 * answering within a second, there is nothing to offer.
 */
export async function completeNames(
  program: Command,
  words: string[],
  env: Record<string, string | undefined>,
): Promise<string[]> {
  const { command, pendingOption, current, positionals, options } = position(program, words);
  const path = `${command.parent?.name() ?? ''} ${command.name()}`;
  const wantsService = SERVICE_ARGUMENT.has(path);
  if (pendingOption || positionals.length > 0 || !(wantsService || WORKLOAD_ARGUMENT.has(path)))
    return [];
  const stateDir = options.get('--state-dir') ?? defaultStateDir(env);
  const client = new AgentClient(
    endpointFor(
      { agent: options.get('--agent'), token: options.get('--token'), ca: options.get('--ca') },
      stateDir,
      env,
    ),
  );
  const signal = AbortSignal.timeout(1000);
  try {
    const names = wantsService
      ? (await client.json<Array<{ name: string }>>('GET', '/v1/services', { signal })).map(
          (s) => s.name,
        )
      : (
          await client.json<Array<{ service: string; name: string }>>('GET', '/v1/workloads', {
            signal,
          })
        ).map((w) => `${w.service}/${w.name}`);
    return names.filter((name) => name.startsWith(current));
  } catch {
    return [];
  }
}

function shellQuote(text: string): string {
  return /^[\w./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function findOption(command: Command, program: Command, flag: string): Option | undefined {
  const matches = (o: Option) => o.long === flag || o.short === flag;
  return command.options.find(matches) ?? program.options.find(matches);
}
