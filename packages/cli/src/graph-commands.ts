/** `khutulun host list`, `khutulun graph ...` and `khutulun plugin ...`. */
import { accessSync, constants, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { HostItem, PluginSummary } from '@khutulun/api';
import { Command, Option } from 'commander';
import { parseCount, parseDirectory, parseId, parseKind } from './arguments.js';
import { CliError } from './cli-error.js';
import { renderData, renderList, renderObject } from './output.js';
import { enc, type Run } from './service-commands.js';
import { ENTITY_COLUMNS, HOST_COLUMNS, idText, PLUGIN_COLUMNS } from './views.js';

type Entity = Record<string, unknown>;

/** The `host` command tree. */
export function hostCommand(run: Run): Command {
  const host = new Command('host').description('the hosts of the cluster');
  host
    .command('list')
    .description('list hosts and their agents')
    .action(
      run(async (ctx) => {
        const hosts = await (await ctx.agent()).json<HostItem[]>('GET', '/v1/hosts');
        ctx.out(renderList(hosts, ctx.format, HOST_COLUMNS));
      }),
    );
  for (const [action, description] of [
    ['drain', 'take a host out of placement (no new workloads on it)'],
    ['undrain', 'take a drained host back'],
  ] as const) {
    host
      .command(action)
      .description(description)
      .argument('<name>', 'host name')
      .action(
        run(async (ctx, name: string) => {
          const record = await (await ctx.agent()).json<Entity>(
            'POST',
            `/v1/hosts/${enc(name)}/${action}`,
          );
          ctx.out(renderObject(record, ctx.format));
        }),
      );
  }
  return host;
}

/** The `graph` command tree: queries of the Floria graph through the agent. */
export function graphCommand(run: Run): Command {
  const graph = new Command('graph').description(
    'query the graph (templates, vertexes, edges, classes)',
  );

  graph
    .command('service')
    .description("a service's instance graph: its vertexes and edges")
    .argument('<name>', 'service name')
    .action(
      run(async (ctx, name: string) => {
        const found = await (await ctx.agent()).json<{ vertexes: Entity[]; edges: Entity[] }>(
          'GET',
          `/v1/graph/services/${enc(name)}`,
        );
        if (ctx.format !== 'table') return ctx.out(renderData(found, ctx.format));
        ctx.out(renderList([...found.vertexes, ...found.edges], ctx.format, ENTITY_COLUMNS));
      }),
    );

  graph
    .command('query')
    .description('entities matching all the given criteria')
    .option(
      '--kind <kind>',
      'class, vertex-template, edge-template, vertex, edge or plugin',
      parseKind,
    )
    .option('--directory <dir>', 'in this directory (a/b/c)', parseDirectory)
    .option('-r, --recursive', "also in the directory's subdirectories")
    .option('--class <id>', 'in this class or a descendant ([class:]DIR/NAME)', (t) =>
      parseId(t, 'class'),
    )
    .option('--parent <id>', 'contained in this vertex (KIND:DIR/NAME)', (t) =>
      parseId(t, 'vertex'),
    )
    .option('--source <id>', 'edges out of this vertex', (t) => parseId(t, 'vertex'))
    .option('--target <id>', 'edges into this vertex', (t) => parseId(t, 'vertex'))
    .option('--template <id>', 'instances of this template', (t) => parseId(t, 'vertex-template'))
    .option('--limit <n>', 'at most N entities', parseCount('--limit', 1))
    .action(
      run(async (ctx, opts: Record<string, unknown>) => {
        const entities = await (await ctx.agent()).json<Entity[]>('POST', '/v1/graph/query', {
          body: opts,
        });
        ctx.out(renderList(entities, ctx.format, ENTITY_COLUMNS));
      }),
    );

  graph
    .command('get')
    .description('one entity, in full')
    .argument('<id>', 'KIND:DIR/NAME, e.g. vertex:services/hello/server')
    .action(
      run(async (ctx, id: string) => {
        const entity = await (await ctx.agent()).json<Entity>('POST', '/v1/graph/get', {
          body: { id: parseId(id) },
        });
        ctx.out(renderObject(entity, ctx.format));
      }),
    );

  graph
    .command('traverse')
    .description('vertexes reachable from one by following edges')
    .argument('<from>', 'the starting vertex, [vertex:]DIR/NAME', (t) => parseId(t, 'vertex'))
    .option('--depth <n>', 'how many edges deep', parseCount('--depth', 1), 1)
    .addOption(
      new Option('--direction <dir>', 'follow edges').choices(['out', 'in', 'both']).default('out'),
    )
    .option('--edge-class <id>', 'only edges in this class', (t) => parseId(t, 'class'))
    .option('--vertex-class <id>', 'only vertexes in this class', (t) => parseId(t, 'class'))
    .action(
      run(async (ctx, from: unknown, opts: Record<string, unknown>) => {
        const steps = await (await ctx.agent()).json<
          Array<{ vertex: Entity; depth: number; via: Entity }>
        >('POST', '/v1/graph/traverse', { body: { from, ...opts } });
        ctx.out(
          renderList(steps, ctx.format, [
            { header: 'DEPTH', cell: (s) => s.depth },
            { header: 'VERTEX', cell: (s) => idText(s.vertex.id as never) },
            { header: 'VIA', cell: (s) => idText(s.via.id as never) },
          ]),
        );
      }),
    );

  return graph;
}

/** The `plugin` command tree. */
export function pluginCommand(run: Run): Command {
  const plugin = new Command('plugin').description(
    'user code: Wasm modules, executables, TypeScript modules',
  );

  plugin
    .command('register')
    .description('register a plugin with the agent')
    .argument('<name>', 'the plugin name, as TOSCA and expressions call it')
    .argument('<path>', 'the Wasm module, executable or TypeScript module')
    .addOption(
      new Option('--kind <kind>', 'the plugin kind (default: from the file extension)').choices([
        'wasm',
        'executable',
        'typescript',
      ]),
    )
    .option(
      '--grant <function...>',
      'host functions it may call (log, get-entity, evaluate, query, change-graph)',
    )
    .action(
      run(async (ctx, name: string, path: string, opts: { kind?: string; grant?: string[] }) => {
        const absolute = resolve(ctx.io.cwd, path);
        let content: string | undefined;
        try {
          if (ctx.remote) content = readFileSync(absolute).toString('base64');
          else accessSync(absolute, constants.R_OK);
        } catch (cause) {
          throw new CliError('usage', `cannot read ${path}`, { where: absolute }, { cause });
        }
        const kind = opts.kind ?? kindFromPath(absolute);
        const registered = await (await ctx.agent()).json<Entity>('POST', '/v1/plugins', {
          body: {
            name,
            kind,
            ...(content === undefined ? { path: absolute } : { content }),
            ...(opts.grant ? { grants: opts.grant } : {}),
          },
        });
        ctx.out(renderObject(registered, ctx.format));
      }),
    );

  plugin
    .command('list')
    .description('list registered plugins')
    .action(
      run(async (ctx) => {
        const plugins = await (await ctx.agent()).json<PluginSummary[]>('GET', '/v1/plugins');
        ctx.out(renderList(plugins, ctx.format, PLUGIN_COLUMNS));
      }),
    );

  return plugin;
}

function kindFromPath(path: string): string {
  if (path.endsWith('.wasm')) return 'wasm';
  if (/\.(m?js|ts)$/.test(path)) return 'typescript';
  return 'executable';
}
