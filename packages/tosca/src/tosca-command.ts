import {
  type EdgeTemplate,
  type Entity,
  instantiate,
  RoutingDispatcher,
  type Value,
} from '@khutulun/floria';
import { openMemoryStore } from '@khutulun/store-memory';
import { parse as parseYamlValue, stringify } from 'yaml';
import { compile } from './compile.js';
import { formatDiagnostic } from './diagnostic.js';
import { createToscaDispatcher } from './tosca-dispatcher.js';

/** Where the command writes. */
export interface CommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const USAGE = `usage: tosca validate FILE|CSAR|DIR [--map-url URL=PATH]... [--profile-path DIR]... [-i NAME=VALUE]... [--format text|json]
       tosca compile  FILE|CSAR|DIR [same options] [-o yaml|json] [--instantiate] [--directory A/B]
`;

/**
 * The `tosca validate|compile` command (argv after `tosca`). Returns the exit status:
 * 0 valid, 1 invalid (diagnostics on stderr), 2 misuse or unreadable source.
 */
export async function runToscaCommand(argv: string[], io: CommandIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h' || verb === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (verb !== 'validate' && verb !== 'compile') {
    io.stderr(verb ? `unknown tosca command "${verb}"\n${USAGE}` : USAGE);
    return 2;
  }
  const mapUrls: Record<string, string> = {};
  const profilePaths: string[] = [];
  const inputs: Record<string, Value> = {};
  let format = 'text';
  let output = 'yaml';
  let instantiate = false;
  let directory: string[] | undefined;
  let source: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const takesValue = [
      '--map-url',
      '--profile-path',
      '-i',
      '--input',
      '--format',
      '-o',
      '--output',
      '--directory',
    ].includes(flag);
    const value = takesValue ? (inline ?? rest[++i]) : undefined;
    if (takesValue && value === undefined) {
      io.stderr(`${flag} needs a value\n${USAGE}`);
      return 2;
    }
    switch (flag) {
      case '--map-url': {
        const eq = (value as string).indexOf('=');
        if (eq <= 0) {
          io.stderr(`--map-url takes URL=PATH, not "${value}"\n`);
          return 2;
        }
        mapUrls[(value as string).slice(0, eq)] = (value as string).slice(eq + 1);
        break;
      }
      case '--profile-path':
        profilePaths.push(value as string);
        break;
      case '-i':
      case '--input': {
        const eq = (value as string).indexOf('=');
        if (eq <= 0) {
          io.stderr(`-i takes NAME=VALUE, not "${value}"\n`);
          return 2;
        }
        const raw = (value as string).slice(eq + 1);
        let parsed: Value;
        try {
          parsed = parseYamlValue(raw) as Value;
        } catch {
          parsed = raw;
        }
        inputs[(value as string).slice(0, eq)] = parsed ?? raw;
        break;
      }
      case '--format':
        if (value !== 'text' && value !== 'json') {
          io.stderr('--format is text or json\n');
          return 2;
        }
        format = value;
        break;
      case '-o':
      case '--output':
        if (value !== 'yaml' && value !== 'json') {
          io.stderr('-o is yaml or json\n');
          return 2;
        }
        output = value;
        break;
      case '--directory':
        directory = (value as string).split('/').filter(Boolean);
        break;
      case '--instantiate':
        instantiate = true;
        break;
      default:
        if (arg.startsWith('-') || source !== undefined) {
          io.stderr(`unexpected argument "${arg}"\n${USAGE}`);
          return 2;
        }
        source = arg;
    }
  }
  if (source === undefined) {
    io.stderr(`missing FILE|CSAR|DIR\n${USAGE}`);
    return 2;
  }
  const options: Parameters<typeof compile>[0] = {
    source,
    inputs,
    mapUrls,
    profilePaths,
    validateOnly: verb === 'validate',
  };
  if (directory) options.directory = directory;
  const result = await compile(options);
  if (format === 'json') io.stderr(`${JSON.stringify(result.diagnostics, null, 2)}\n`);
  else for (const d of result.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
  if (result.unreadable) return 2;
  if (result.diagnostics.some((d) => d.severity === 'error')) return 1;
  if (verb === 'compile') {
    const doc: Record<string, unknown> = { service: result.service, templates: result.templates };
    if (instantiate) doc.instances = await instancesOf(result.templates ?? []);
    io.stdout(output === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc));
  } else if (format === 'json')
    io.stdout(`${JSON.stringify({ valid: true, service: result.service }, null, 2)}\n`);
  return 0;
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
    const into = templates[0]?.id.directory ?? [];
    const made = await instantiate(store, {
      templates: chosen.map((t) => t.id),
      into,
      dispatcher: new RoutingDispatcher({ tosca: createToscaDispatcher() }),
    });
    const out: Instance[] = [];
    for (const v of made.vertexes) {
      const i: Instance = { kind: 'vertex', name: v.id.name, template: v.template?.name ?? '' };
      if (v.parent) i.parent = v.parent.name;
      out.push(i);
    }
    for (const e of made.edges) {
      out.push({
        kind: 'edge',
        name: e.id.name,
        template: e.template?.name ?? '',
        source: e.source.name,
        target: e.target.name,
      });
    }
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
