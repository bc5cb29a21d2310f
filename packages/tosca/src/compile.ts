import type { Entity, Value } from '@khutulun/floria';
import type { Diagnostic } from './diagnostic.js';

/** What to compile and how; see the package README. */
export interface CompileOptions {
  source: string;
  inputs?: Record<string, Value>;
  mapUrls?: Record<string, string>;
  profilePaths?: string[];
  directory?: string[];
  validateOnly?: boolean;
}

/** The outcome of `compile`: diagnostics, and the entities only when there is no error. */
export interface CompileResult {
  diagnostics: Diagnostic[];
  templates?: Entity[];
  service?: unknown;
}

/** Compiles a TOSCA service. Never throws for bad input. (Stub: not implemented yet.) */
export async function compile(options: CompileOptions): Promise<CompileResult> {
  return {
    diagnostics: [
      {
        severity: 'error',
        code: 'TOSCA0000',
        message: 'the TOSCA compiler is not implemented yet',
        file: options.source,
        line: 1,
        column: 1,
        path: '',
      },
    ],
  };
}
