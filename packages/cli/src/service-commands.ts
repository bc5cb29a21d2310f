/** `khutulun service ...`: deploy, list, show, outputs, delete. */
import type {
  Accepted,
  Deleted,
  DeployRequest,
  JsonValue,
  ServiceDetail,
  ServiceSummary,
} from '@khutulun/api';
import { Command } from 'commander';
import { agentErrorFromBody } from './agent-client.js';
import { type Inputs, parseInput } from './arguments.js';
import { CliError } from './cli-error.js';
import type { CommandContext } from './context.js';
import { type DeployProgress, progressLine } from './deploy-progress.js';
import { renderData, renderList, renderObject } from './output.js';
import { deploySource } from './source.js';
import { renderService, SERVICE_COLUMNS } from './views.js';

/** Runs an action with the command's context. */
export type Run = (
  action: (ctx: CommandContext, ...args: never[]) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

/** The `service` command tree. */
export function serviceCommand(run: Run): Command {
  const service = new Command('service').description('deploy and manage services');

  service
    .command('deploy')
    .description('deploy a TOSCA service (a YAML file, a CSAR, or a directory)')
    .argument('<source>', 'TOSCA file, CSAR (.csar/.zip/.tar.gz) or CSAR directory')
    .option('--name <name>', 'the service name (default: the template name, else the file name)')
    .option(
      '-i, --input <name=value>',
      'an input value (repeatable; VALUE is read as YAML)',
      parseInput,
      {},
    )
    .option('--wait', 'wait until every workload is ready, showing progress')
    .action(
      run(async (ctx, source: string, opts: { name?: string; input: Inputs; wait?: boolean }) => {
        const body: DeployRequest = {
          ...(opts.name ? { name: opts.name } : {}),
          // Read as YAML scalars and collections: JSON values.
          inputs: opts.input as Record<string, JsonValue>,
          source: deploySource(source, ctx.io.cwd, ctx.remote),
          wait: Boolean(opts.wait),
        };
        const agent = await ctx.agent();
        if (!opts.wait) {
          const accepted = await agent.json<Accepted>('POST', '/v1/services', { body });
          if (ctx.format !== 'table') return ctx.out(renderData(accepted, ctx.format));
          const name = String(accepted.service ?? opts.name ?? '');
          ctx.out(renderObject(accepted, ctx.format));
          ctx.note(`Deploying ${name}; follow it with: khutulun events -f --service ${name}`);
          return;
        }
        let result: ServiceDetail | undefined;
        let failure: CliError | undefined;
        await agent.events(
          'POST',
          '/v1/services',
          (message) => {
            try {
              if (message.event === 'progress') {
                ctx.note(progressLine(parseJson(message.data) as DeployProgress));
              } else if (message.event === 'result') {
                result = parseJson(message.data) as ServiceDetail;
              } else if (message.event === 'error') {
                failure = agentErrorFromBody(message.data, 500, 'POST /v1/services');
              }
            } catch (error) {
              failure = error as CliError;
            }
          },
          { body, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) },
        );
        if (failure) throw failure;
        if (!result) {
          if (ctx.io.signal?.aborted) {
            throw new CliError(
              'failure',
              'interrupted; the deploy goes on in the agent (see khutulun service list)',
            );
          }
          throw new CliError(
            'failure',
            'the agent ended the deploy stream without a result (did it stop?)',
          );
        }
        ctx.note(`Deployed ${String(result.name ?? '')}.`);
        ctx.out(renderService(result, ctx.format));
      }),
    );

  service
    .command('list')
    .description('list services')
    .action(
      run(async (ctx) => {
        const services = await (await ctx.agent()).json<ServiceSummary[]>('GET', '/v1/services');
        ctx.out(renderList(services, ctx.format, SERVICE_COLUMNS));
      }),
    );

  service
    .command('show')
    .description('show a service and its workloads')
    .argument('<name>', 'service name')
    .action(
      run(async (ctx, name: string) => {
        const found = await (await ctx.agent()).json<ServiceDetail>(
          'GET',
          `/v1/services/${enc(name)}`,
        );
        ctx.out(renderService(found, ctx.format));
      }),
    );

  service
    .command('outputs')
    .description("show a service's outputs (evaluated now)")
    .argument('<name>', 'service name')
    .action(
      run(async (ctx, name: string) => {
        const outputs = await (await ctx.agent()).json<Record<string, JsonValue>>(
          'GET',
          `/v1/services/${enc(name)}/outputs`,
        );
        ctx.out(renderObject(outputs ?? {}, ctx.format));
      }),
    );

  service
    .command('delete')
    .description('stop and remove a service and everything it made')
    .argument('<name>', 'service name')
    .option('--wait', 'wait until everything is gone')
    .action(
      run(async (ctx, name: string, opts: { wait?: boolean }) => {
        const answer = await (await ctx.agent()).json<Deleted | Accepted>(
          'DELETE',
          `/v1/services/${enc(name)}`,
          {
            query: { wait: Boolean(opts.wait) },
          },
        );
        if (ctx.format !== 'table') return ctx.out(renderData(answer, ctx.format));
        ctx.note(
          opts.wait
            ? `Deleted ${name}.`
            : `Deleting ${name}; follow it with: khutulun events -f --service ${name}`,
        );
      }),
    );

  return service;
}

/** Encodes a path segment. */
export function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** Parses a JSON message from the agent, failing clearly if it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new CliError(
      'agent',
      `the agent sent a message that is not JSON: ${text.slice(0, 200)}`,
      {},
      { cause },
    );
  }
}
