/** `khutulun workload ...`: list, show, logs, exec, restart. */
import type { WorkloadDetail, WorkloadItem } from '@khutulun/api';
import { Command, Option } from 'commander';
import { parseCount, parseWorkloadRef } from './arguments.js';
import { execInWorkload } from './exec-session.js';
import { renderList } from './output.js';
import { enc, type Run } from './service-commands.js';
import { renderWorkload, WORKLOAD_COLUMNS } from './views.js';

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
        const item = await (await ctx.agent()).json<WorkloadDetail>(
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

  workload
    .command('exec')
    .description("run a command inside a workload; its exit code is this command's")
    .usage('[options] SERVICE/NAME -- COMMAND [ARGS...]')
    .argument('<workload>', 'SERVICE/NAME')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-i, --interactive', "pass this terminal's stdin to the command")
    .option('-t, --tty', 'give the command a terminal (for kinds that have one)')
    .action(
      run(
        async (
          ctx,
          target: string,
          command: string[],
          opts: { interactive?: boolean; tty?: boolean },
        ) => {
          const ref = parseWorkloadRef(target, undefined);
          const agent = await ctx.agent();
          const path = `/v1/workloads/${enc(ref.service)}/${enc(ref.name)}/exec`;
          ctx.io.exitCode = await execInWorkload(
            agent.endpoint,
            path,
            { command, tty: Boolean(opts.tty), interactive: Boolean(opts.interactive) },
            {
              stdout: ctx.io.stdout as never,
              stderr: ctx.io.stderr as never,
              ...(ctx.io.stdin ? { stdin: ctx.io.stdin } : {}),
              ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
            },
          );
        },
      ),
    );

  workload
    .command('restart')
    .description('stop a workload and start it again')
    .argument('<workload>', 'SERVICE/NAME (or SERVICE NAME)')
    .argument('[name]')
    .action(
      run(async (ctx, first: string, second: string | undefined) => {
        const ref = parseWorkloadRef(first, second);
        const item = await (await ctx.agent()).json<WorkloadDetail>(
          'POST',
          `/v1/workloads/${enc(ref.service)}/${enc(ref.name)}/restart`,
        );
        ctx.out(renderWorkload(item, ctx.format));
      }),
    );

  return workload;
}
