/** Starts `khutulun top` on a terminal and resolves when the user quits. */
import { type ApiClient, LiveView } from '@khutulun/api';
import { render } from 'ink';
import { TopApp } from './top-app.js';

/** Where `top` draws and reads keys (default: the process's terminal). */
export interface TopOptions {
  api: ApiClient;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  /** Quits when aborted (e.g. on SIGTERM). */
  signal?: AbortSignal;
}

/** Runs the terminal dashboard until `q` (or the signal). */
export async function runTop(options: TopOptions): Promise<void> {
  const live = new LiveView(options.api);
  void live.start();
  const app = render(<TopApp api={options.api} live={live} />, {
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...(options.stdout ? { stdout: options.stdout } : {}),
    exitOnCtrlC: false,
  });
  const stop = () => {
    live.close();
    app.unmount();
  };
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    await app.waitUntilExit();
  } finally {
    options.signal?.removeEventListener('abort', stop);
    live.close();
  }
}
