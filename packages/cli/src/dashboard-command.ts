/**
 * `khutulun dashboard [--port P] [--no-open]`: the web dashboard in a browser. With the
 * agent's Unix socket, opens a loopback listener with a one-time token (see
 * `dashboard-listener.ts`) until interrupted; with `--agent https://...`, the agent serves the
 * dashboard itself and the URL carries its token.
 */
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { parseCount } from './arguments.js';
import type { CliIo } from './cli-io.js';
import { openDashboardListener } from './dashboard-listener.js';
import type { Run } from './service-commands.js';

/** The `dashboard` command. */
export function dashboardCommand(run: Run): Command {
  return new Command('dashboard')
    .description('open the web dashboard (a loopback URL with a one-time token)')
    .option('--port <port>', 'the loopback port (default: a free one)', parseCount('--port', 0))
    .option('--no-open', 'print the URL without opening a browser')
    .action(
      run(async (ctx, opts: { port?: number; open: boolean }) => {
        const endpoint = ctx.endpoint;
        if (endpoint.kind === 'tcp') {
          const url = new URL('dashboard/', `${endpoint.url.href.replace(/\/?$/, '/')}`);
          if (endpoint.token) url.searchParams.set('token', endpoint.token);
          ctx.out(`${url.href}\n`);
          if (opts.open) openBrowser(url.href, ctx.io);
          return;
        }
        await ctx.agent();
        const listener = await openDashboardListener({
          socketPath: endpoint.socketPath,
          ...(opts.port !== undefined ? { port: opts.port } : {}),
        });
        ctx.out(`${listener.url}\n`);
        ctx.note('The link works once (it becomes a session cookie). Press Ctrl-C to stop.');
        if (opts.open) openBrowser(listener.url, ctx.io);
        await new Promise<void>((resolve) => {
          if (!ctx.io.signal || ctx.io.signal.aborted) return resolve();
          ctx.io.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await listener.close();
      }),
    );
}

/**
 * Opens a URL in the user's browser when there is one: `$BROWSER`, else the desktop's opener.
 * Without a display (a server, SSH) it does nothing; the printed URL is enough.
 */
function openBrowser(url: string, io: CliIo): void {
  const env = io.env;
  let command: string | undefined;
  let args: string[] = [url];
  if (env.BROWSER) command = env.BROWSER;
  else if (process.platform === 'darwin') command = 'open';
  else if (process.platform === 'win32') {
    command = 'cmd';
    args = ['/c', 'start', '""', url];
  } else if (env.DISPLAY || env.WAYLAND_DISPLAY) command = 'xdg-open';
  if (!command) return;
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () =>
      io.stderr.write(`(could not start ${command}; open the URL yourself)\n`),
    );
    child.unref();
  } catch {
    // The URL is printed: that is enough.
  }
}
