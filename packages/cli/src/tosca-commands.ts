/**
 * `khutulun tosca validate|compile`: the TOSCA compiler run here, no agent needed.
 * Diagnostics print as `file:line:col: error CODE: message` (or JSON), and the exit code says
 * the verdict: 0 valid, 1 invalid, 2 misuse or a source that cannot be opened.
 * `compile --instantiate` also previews what Floria makes of the templates, in a scratch
 * in-memory store: a store backend is the CLI's to choose, not the compiler's.
 */
import { resolve } from 'node:path';
import {
  type EdgeTemplate,
  type Entity,
  instantiate,
  RoutingDispatcher,
  type Value,
} from '@khutulun/floria';
import { openMemoryStore } from '@khutulun/store-memory';
import {
  type CompileResult,
  compile,
  createToscaDispatcher,
  formatDiagnostic,
} from '@khutulun/tosca';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { type Inputs, parseInput } from './arguments.js';
import { usageError } from './cli-error.js';
import type { CommandContext } from './context.js';
import { renderData } from './output.js';
import type { Run } from './service-commands.js';

/** The options `validate` and `compile` share. */
interface SourceOptions {
  mapUrl: Record<string, string>;
  profilePath: string[];
  input: Inputs;
  format: 'text' | 'json';
}

/** The `tosca` command tree. */
export function toscaCommand(run: Run): Command {
  const tosca = new Command('tosca').description(
    'validate and compile TOSCA locally (no agent needed)',
  );
  const withSourceOptions = (command: Command) =>
    command
      .argument('<source>', 'TOSCA file, CSAR (.csar/.zip/.tar.gz) or CSAR directory')
      .option(
        '--map-url <url=path>',
        'read imports of URLs starting with URL from PATH (repeatable; the longest prefix wins)',
        parseMapUrl,
        {},
      )
      .option(
        '--profile-path <dir>',
        'a catalog of TOSCA profiles to search (repeatable)',
        (dir: string, dirs: string[]) => [...dirs, dir],
        [],
      )
      .option(
        '-i, --input <name=value>',
        'an input value (repeatable; VALUE is read as YAML)',
        parseInput,
        {},
      )
      .addOption(
        new Option('--format <format>', 'how diagnostics print on stderr')
          .choices(['text', 'json'])
          .default('text'),
      );

  withSourceOptions(tosca.command('validate'))
    .description(
      'check a TOSCA service or profile: exit 0 valid, 1 invalid (diagnostics on stderr)',
    )
    .action(
      run(async (ctx, source: string, opts: SourceOptions) => {
        const result = await compileSource(ctx, source, opts, { validateOnly: true });
        if (result && opts.format === 'json')
          ctx.out(renderData({ valid: true, service: result.service }, 'json'));
      }),
    );

  withSourceOptions(tosca.command('compile'))
    .description('print the Floria templates a TOSCA service compiles to (-o json|yaml)')
    .option('--directory <a/b>', 'where the entities go (default: services/<service name>)')
    .option('--instantiate', 'also list the vertexes and edges Floria instantiates from them')
    .action(
      run(
        async (
          ctx,
          source: string,
          opts: SourceOptions & { directory?: string; instantiate?: boolean },
        ) => {
          const directory = opts.directory?.split('/').filter(Boolean);
          const result = await compileSource(ctx, source, opts, directory ? { directory } : {});
          if (!result) return;
          const doc: Record<string, unknown> = {
            service: result.service,
            templates: result.templates,
          };
          if (opts.instantiate) doc.instances = await instancesOf(result.templates ?? []);
          // The compiler shares equal values between entities: spelled out, not as aliases.
          ctx.out(
            ctx.format === 'json'
              ? renderData(doc, 'json')
              : stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false }),
          );
        },
      ),
    );
  return tosca;
}

/**
 * Compiles a source, prints its diagnostics and sets the exit code. Returns the result only
 * when it has no error.
 */
async function compileSource(
  ctx: CommandContext,
  source: string,
  opts: SourceOptions,
  extra: { validateOnly?: boolean; directory?: string[] },
): Promise<CompileResult | undefined> {
  const result = await compile({
    source: resolve(ctx.io.cwd, source),
    inputs: opts.input as Record<string, Value>,
    mapUrls: opts.mapUrl,
    profilePaths: opts.profilePath.map((dir) => resolve(ctx.io.cwd, dir)),
    ...extra,
  });
  if (opts.format === 'json') ctx.io.stderr.write(renderData(result.diagnostics, 'json'));
  else for (const d of result.diagnostics) ctx.io.stderr.write(`${formatDiagnostic(d)}\n`);
  if (result.unreadable) ctx.io.exitCode = 2;
  else if (result.diagnostics.some((d) => d.severity === 'error')) ctx.io.exitCode = 1;
  return ctx.io.exitCode ? undefined : result;
}

/** Parses one `--map-url URL=PATH` into the map. */
function parseMapUrl(text: string, map: Record<string, string>): Record<string, string> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usageError(`--map-url expects URL=PATH, got "${text}"`);
  return { ...map, [text.slice(0, eq)]: text.slice(eq + 1) };
}

/** One vertex or edge the templates make, as the preview shows it. */
interface Instance {
  kind: 'vertex' | 'edge';
  name: string;
  template: string;
  parent?: string;
  source?: string;
  target?: string;
}

/**
 * What instantiating the templates makes, done for real by Floria in a scratch in-memory
 * store with the `tosca` plugin (counts, nesting, target selection). Edges whose target is
 * found at deployment (dangling requirements) are listed without one.
 */
async function instancesOf(templates: Entity[]): Promise<Instance[]> {
  const store = openMemoryStore();
  try {
    await store.transaction(async (tx) => {
      for (const t of templates) await tx.put(t);
    });
    const chosen = templates.filter(
      (t) =>
        t.id.kind === 'vertex-template' ||
        (t.id.kind === 'edge-template' && (t as EdgeTemplate).selector.kind === 'id'),
    );
    const made = await instantiate(store, {
      templates: chosen.map((t) => t.id),
      into: templates[0]?.id.directory ?? [],
      dispatcher: new RoutingDispatcher({ tosca: createToscaDispatcher() }),
    });
    const out: Instance[] = [];
    for (const v of made.vertexes) {
      const i: Instance = { kind: 'vertex', name: v.id.name, template: v.template?.name ?? '' };
      if (v.parent) i.parent = v.parent.name;
      out.push(i);
    }
    for (const e of made.edges)
      out.push({
        kind: 'edge',
        name: e.id.name,
        template: e.template?.name ?? '',
        source: e.source.name,
        target: e.target.name,
      });
    for (const t of templates) {
      if (t.id.kind === 'edge-template' && (t as EdgeTemplate).selector.kind === 'finder')
        out.push({
          kind: 'edge',
          name: `${t.id.name} (found at deployment)`,
          template: t.id.name,
          source: (t as EdgeTemplate).source.name,
        });
    }
    return out;
  } finally {
    await store.close();
  }
}
