import { basename, dirname, resolve } from 'node:path';
import type { Entity, Value } from '@khutulun/floria';
import { Checker } from './checker/checker.js';
import { type Diagnostic, DiagnosticSink } from './diagnostic.js';
import { emit, type ServiceSummary } from './emit.js';
import { Loader } from './loader.js';
import { SourceReader } from './source-reader.js';

/** What to compile and how; see the package README. */
export interface CompileOptions {
  /** A TOSCA file, a CSAR archive (zip, tar.gz) or a CSAR directory. */
  source: string;
  /** Input values by name. */
  inputs?: Record<string, Value>;
  /** URL prefix -> local file or directory, for offline imports. */
  mapUrls?: Record<string, string>;
  /** Extra profile catalogs (the project's `profiles/` is always searched). */
  profilePaths?: string[];
  /** Where the entities go (default `['services', <service name>]`). */
  directory?: string[];
  /** Check only: a missing required input is a warning, not an error. */
  validateOnly?: boolean;
}

/** The outcome of `compile`: diagnostics, and the entities only when there is no error. */
export interface CompileResult {
  diagnostics: Diagnostic[];
  templates?: Entity[];
  service?: ServiceSummary;
  /** Set when the source itself could not be opened (the command's exit status 2). */
  unreadable?: boolean;
}

/**
 * Compiles a TOSCA service to Floria entities. Never throws for bad input: every problem is
 * a diagnostic, and there is no result when any diagnostic is an error.
 */
export async function compile(options: CompileOptions): Promise<CompileResult> {
  const sink = new DiagnosticSink();
  try {
    const reader = new SourceReader();
    const opened = await reader.open(options.source);
    if ('error' in opened) {
      sink.error(
        'TOSCA1002',
        { file: opened.file, line: opened.line, column: 1 },
        '',
        opened.error,
      );
      return { diagnostics: sink.items, unreadable: opened.misuse === true };
    }
    for (const p of opened.problems)
      sink.error('TOSCA1002', { file: p.file, line: p.line, column: 1 }, '', p.message);
    // A CSAR directory is searched whole for bundled profiles; a plain file's folder shallowly.
    const entryDir =
      opened.root ??
      (opened.entry.archive ? dirname(opened.entry.archive) : dirname(opened.entry.path));
    const loader = new Loader(
      reader,
      sink,
      {
        mapUrls: options.mapUrls ?? {},
        profilePaths: options.profilePaths ?? [],
        csarDirectory: opened.root !== undefined,
      },
      entryDir,
    );
    const entry = loader.load(opened.entry);
    if (!entry) return { diagnostics: sink.items, unreadable: true };
    const substitutes = opened.others.map((o) => loader.load(o)).filter((u) => u !== undefined);
    const checker = new Checker(
      sink,
      [...loader.units.values()],
      options.inputs ?? {},
      options.validateOnly === true,
      reader,
    );
    const service = checker.check(entry, substitutes);
    if (sink.hasErrors || !service) return { diagnostics: sorted(sink.items) };
    // A directory segment: no slashes, not empty.
    const name =
      (
        service.metadata.template_name ??
        basename(resolve(options.source)).replace(/\.(ya?ml|csar|zip|tar\.gz|tgz)$/i, '')
      )
        .replace(/[/\\]+/g, '-')
        .trim() || 'service';
    const directory = options.directory ?? ['services', name];
    const { templates, summary } = emit(service, directory, reader);
    return { diagnostics: sorted(sink.items), templates, service: summary };
  } catch (e) {
    sink.error(
      'TOSCA1000',
      { file: options.source, line: 1, column: 1 },
      '',
      `internal error: ${(e as Error).stack ?? String(e)}`,
    );
    return { diagnostics: sink.items };
  }
}

/** Diagnostics in reading order: by file, then line and column (stable otherwise). */
function sorted(items: Diagnostic[]): Diagnostic[] {
  return [...items].sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column,
  );
}
