/**
 * The CLI under a real pseudo-terminal: `script` (util-linux) runs `khutulun ARGS...` on a
 * terminal of its own, so the CLI's stdin and stdout are TTYs as in a user's shell. What
 * the test writes goes to the terminal's input; what the CLI prints comes back with the
 * terminal's echo and CRLF line ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'vitest';
import { KHUTULUN, ROOT, waitUntil } from './harness.js';

/** A CLI run on a terminal. */
export class TerminalRun {
  output = '';
  private readonly child: ChildProcess;
  readonly exit: Promise<number>;

  constructor(stateDir: string, args: string[]) {
    const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    const command = [process.execPath, KHUTULUN, '--state-dir', stateDir, ...args]
      .map(quote)
      .join(' ');
    // -e: script exits with the command's exit code; -q: no "Script started" lines.
    this.child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, KHUTULUN_AGENT: '', KHUTULUN_STATE_DIR: '', TERM: 'dumb' },
    });
    this.child.stdout?.on('data', (d) => (this.output += d));
    this.child.stderr?.on('data', (d) => (this.output += d));
    this.exit = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.child.stdin?.end();
        resolve(code ?? (signal ? 128 : 1));
      }),
    );
  }

  /** Types `text` on the terminal. */
  type(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Waits until the terminal showed something that matches `pattern`. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    await waitUntil(() => pattern.test(this.output), timeoutMs, `${pattern} on the terminal`).catch(
      (error: Error) => {
        throw new Error(`${error.message}; it shows ${JSON.stringify(this.output)}`);
      },
    );
  }

  /** Kills `script` and what it runs, if still running (cleanup). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * `khutulun workload exec WORKLOAD -it -- sh` on a terminal, in a container with busybox: the
 * shell is interactive and on a TTY (`/dev/pts/N`), and its exit code (7) is passed on.
 */
export async function expectInteractiveShell(stateDir: string, workload: string): Promise<void> {
  const run = new TerminalRun(stateDir, ['workload', 'exec', workload, '-it', '--', 'sh']);
  try {
    await run.waitFor(/\/ # /); // busybox sh's prompt: an interactive shell
    // Quoted apart, so that the terminal's echo of the line does not match the answer.
    run.type(`test -t 0 && echo "TTY""=yes"; busybox tty; exit 7\r`);
    expect(await run.exit).toBe(7);
    expect(run.output).toMatch(/^TTY=yes\r?$/m);
    expect(run.output).toMatch(/^\/dev\/pts\/\d+\r?$/m);
  } finally {
    run.kill();
  }
}
