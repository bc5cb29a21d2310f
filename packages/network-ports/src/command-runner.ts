/**
 * How the port driver runs firewall commands (`firewall-cmd`, `nft`): through an interface the
 * project owns, so the real one and a recording double are interchangeable, and every command
 * line is known exactly (for `khutulun workload show`).
 */
import { execFile } from 'node:child_process';

/** The outcome of a command that ran (whatever its exit status). */
export interface CommandResult {
  /** Exit status; -1 when the program could not be run at all (e.g. not installed). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with arguments and optional standard input; never rejects for an exit status. */
export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

/**
 * A real runner: `execFile`, no shell, a 2-minute limit (firewall-cmd can be slow to answer).
 * `env` adds to the agent's environment, e.g. `DBUS_SYSTEM_BUS_ADDRESS` for a firewalld on
 * another bus.
 */
export function commandRunner(env?: Record<string, string>): CommandRunner {
  return (argv, input) =>
    new Promise((resolve) => {
      const [program, ...args] = argv;
      const child = execFile(
        program ?? '',
        args,
        {
          timeout: 120_000,
          maxBuffer: 16 * 1024 * 1024,
          encoding: 'utf8',
          env: env ? { ...process.env, ...env } : process.env,
        },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr: stderr || (code === -1 ? String(error?.message) : '') });
        },
      );
      // A program that exits without reading its input closes the pipe: its exit status tells.
      child.stdin?.on('error', () => {});
      child.stdin?.end(input);
    });
}

/** The runner the driver uses by default: the agent's own environment. */
export const runCommand: CommandRunner = commandRunner();
