/**
 * Shell completion. `khutulun completion bash|zsh` prints a script that asks the CLI itself
 * (`khutulun __complete WORDS...`) for candidates, so completion always matches the
 * commands this version has.
 */
import type { Command, Option } from 'commander';
import { OUTPUT_FORMATS } from './output.js';

/** The shells `khutulun completion` writes scripts for. */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;

/** The completion script for a shell. */
export function completionScript(shell: (typeof COMPLETION_SHELLS)[number]): string {
  if (shell === 'bash') {
    return `# khutulun bash completion: eval "$(khutulun completion bash)"
_khutulun() {
  local IFS=$'\\n'
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local candidates
  candidates=$(khutulun __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o default -F _khutulun khutulun
`;
  }
  return `#compdef khutulun
# khutulun zsh completion: eval "$(khutulun completion zsh)", or save as _khutulun in $fpath
_khutulun() {
  local -a candidates
  candidates=("\${(@f)$(khutulun __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -z "\${candidates[1]}" ]]; then
    _files
  else
    compadd -- "\${candidates[@]}"
  fi
}
if [[ "$funcstack[1]" == "_khutulun" ]]; then _khutulun "$@"; else compdef _khutulun khutulun; fi
`;
}

/**
 * The candidates for the last of `words` (the word being typed, possibly empty), given the
 * words before it. An empty result lets the shell complete file names.
 */
export function completeWords(program: Command, words: string[]): string[] {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let command = program;
  let pendingOption: Option | undefined;
  for (const word of before) {
    if (pendingOption) {
      pendingOption = undefined;
      continue;
    }
    if (word.startsWith('-')) {
      const option = findOption(command, program, word.split('=')[0] ?? word);
      if (option && (option.required || option.optional) && !word.includes('='))
        pendingOption = option;
      continue;
    }
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub) command = sub;
  }
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

function findOption(command: Command, program: Command, flag: string): Option | undefined {
  const matches = (o: Option) => o.long === flag || o.short === flag;
  return command.options.find(matches) ?? program.options.find(matches);
}
