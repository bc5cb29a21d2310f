/** Where a command writes and what it knows of its surroundings; tests pass their own. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted when the user interrupts a long-running command (`-f`, `--wait`). */
  signal?: AbortSignal;
  /** What `workload exec -i` passes on (absent: no input). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
  /** Set by a command whose exit code is not simply success (`workload exec`). */
  exitCode?: number;
}

/** The real process's streams, environment and working directory. */
export function processIo(signal?: AbortSignal): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    ...(signal ? { signal } : {}),
  };
}
