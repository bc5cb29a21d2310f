/** `khutulun events [-f]`: the agent's event log, and its live stream. */
import type { ApiEvent, Health } from '@khutulun/api';
import { Command } from 'commander';
import { parseCount } from './arguments.js';
import { renderData, renderList } from './output.js';
import { parseJson, type Run } from './service-commands.js';
import { EVENT_COLUMNS, eventLine } from './views.js';

/** The `events` command. */
export function eventsCommand(run: Run): Command {
  return new Command('events')
    .description('show events (the last ones, or follow them live with -f)')
    .option('-f, --follow', 'stream events live until interrupted')
    .option('--service <name>', "only events about this service's entities")
    .option('--since <seq>', 'only events after this sequence number', parseCount('--since'))
    .option('--limit <n>', 'how many past events to show (default 50)', parseCount('--limit', 1))
    .action(
      run(
        async (
          ctx,
          opts: { follow?: boolean; service?: string; since?: number; limit?: number },
        ) => {
          const agent = await ctx.agent();
          if (opts.follow) {
            // NDJSON for json, a YAML document per event for yaml: both parse as a stream.
            const write = (event: ApiEvent) =>
              ctx.out(
                ctx.format === 'json'
                  ? `${JSON.stringify(event)}\n`
                  : ctx.format === 'yaml'
                    ? `---\n${renderData(event, 'yaml')}`
                    : eventLine(event),
              );
            await agent.events(
              'GET',
              '/v1/events/stream',
              (message) => {
                if (!message.data) return;
                try {
                  write(parseJson(message.data) as ApiEvent);
                } catch {
                  ctx.note(`(an event that is not JSON: ${message.data.slice(0, 200)})`);
                }
              },
              {
                query: { since: opts.since, service: opts.service },
                ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
              },
            );
            return;
          }
          const limit = opts.limit ?? 50;
          let since = opts.since;
          if (since === undefined) {
            const health = await agent.json<Health>('GET', '/v1/health');
            since = Math.max(0, (health.lastSeq ?? 0) - limit);
          }
          const events = await agent.json<ApiEvent[]>('GET', '/v1/events', {
            query: { since, limit, service: opts.service },
          });
          ctx.out(renderList(events, ctx.format, EVENT_COLUMNS));
        },
      ),
    );
}
