/** `khutulun workload ...`: list, show, logs. */
import { Command, Option } from 'commander';
import { parseCount, parseWorkloadRef } from './arguments.js';
import { renderList } from './output.js';
import { enc, type Run } from './service-commands.js';
import { renderWorkload, WORKLOAD_COLUMNS, type WorkloadItem } from './views.js';

/** The `workload` command tree. */
export function workloadCommand(run: Run): Command {
  const workload = new Command('workload').description(
    'inspect workloads (processes, containers, VMs)',
  );

  workload
    .command('list')
    .description('list workloads, of every service or of one')
    .argument('[service]', 'only the workloads of this service')
    .action(
      run(async (ctx, service: string | undefined) => {
        const items = await (await ctx.agent()).json<WorkloadItem[]>('GET', '/v1/workloads', {
          query: { service },
        });
        ctx.out(renderList(items, ctx.format, WORKLOAD_COLUMNS));
      }),
    );

  workload
    .command('show')
    .description('show a workload: its state, the exact command, environment and files it made')
    .argument('<workload>', 'SERVICE/NAME (or SERVICE NAME)')
    .argument('[name]')
    .action(
      run(async (ctx, first: string, second: string | undefined) => {
        const ref = parseWorkloadRef(first, second);
        const item = await (await ctx.agent()).json<Record<string, unknown>>(
          'GET',
          `/v1/workloads/${enc(ref.service)}/${enc(ref.name)}`,
        );
        ctx.out(renderWorkload(item, ctx.format));
      }),
    );

  workload
    .command('logs')
    .description("print a workload's output")
    .argument('<workload>', 'SERVICE/NAME (or SERVICE NAME)')
    .argument('[name]')
    .option('-f, --follow', 'keep printing new output until interrupted')
    .option('--tail <lines>', 'only the last LINES lines', parseCount('--tail'))
    .addOption(
      new Option('--stream <stream>', 'which output')
        .choices(['stdout', 'stderr', 'both'])
        .default('both'),
    )
    .action(
      run(
        async (
          ctx,
          first: string,
          second: string | undefined,
          opts: { follow?: boolean; tail?: number; stream: string },
        ) => {
          const ref = parseWorkloadRef(first, second);
          const path = `/v1/workloads/${enc(ref.service)}/${enc(ref.name)}/logs`;
          const query = {
            stream: opts.stream,
            tail: opts.tail,
            follow: opts.follow ? true : undefined,
          };
          const agent = await ctx.agent();
          if (!opts.follow) return ctx.out(await agent.text('GET', path, { query }));
          await agent.stream('GET', path, (chunk) => ctx.out(chunk), {
            query,
            ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
          });
        },
      ),
    );

  return workload;
}
