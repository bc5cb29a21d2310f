/** `khutulun top`: the terminal dashboard (`@khutulun/dashboard-terminal`). */
import { readFileSync } from 'node:fs';
import { ApiClient } from '@khutulun/api';
import { httpsFetch, unixSocketFetch } from '@khutulun/api/node';
import { Command } from 'commander';
import type { AgentEndpoint } from './agent-client.js';
import { usageError } from './cli-error.js';
import type { Run } from './service-commands.js';

/** The `top` command. */
export function topCommand(run: Run): Command {
  return new Command('top')
    .description('the terminal dashboard: services, workloads and events, live')
    .action(
      run(async (ctx) => {
        if (!process.stdin.isTTY) throw usageError('khutulun top needs a terminal');
        await ctx.agent();
        // ink draws only its last frame when it believes it runs in CI (`CI` set, read once when
        // ink loads); a terminal here means a person watches, so it draws live. Loaded here, not
        // at the top, so every other command starts without ink and React.
        delete process.env.CI;
        delete process.env.CONTINUOUS_INTEGRATION;
        const { runTop } = await import('@khutulun/dashboard-terminal');
        await runTop({
          api: apiClientFor(ctx.endpoint),
          ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
        });
      }),
    );
}

/** An `@khutulun/api` client for the CLI's endpoint: the Unix socket, or TCP with its token. */
export function apiClientFor(endpoint: AgentEndpoint): ApiClient {
  if (endpoint.kind === 'unix')
    return new ApiClient({ fetch: unixSocketFetch(endpoint.socketPath) });
  return new ApiClient({
    baseUrl: endpoint.url.href.replace(/\/$/, ''),
    ...(endpoint.caFile ? { fetch: httpsFetch(readFileSync(endpoint.caFile)) } : {}),
    ...(endpoint.token ? { headers: { authorization: `Bearer ${endpoint.token}` } } : {}),
  });
}
