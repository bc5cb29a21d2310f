import type { DiagnosticCode } from './diagnostic-codes.js';
import type { YNode } from './yaml-tree.js';

/** A problem found in TOSCA input, reported as a value (never thrown). */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Stable code from `DIAGNOSTIC_CODES`, e.g. `TOSCA1030`. */
  code: DiagnosticCode;
  message: string;
  /** The file (or `archive!entry`) the problem is in. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** The semantic path, e.g. `service_template.node_templates["db"].properties["port"]`. */
  path: string;
  /** Other places that explain the problem (e.g. the definition a value violates). */
  related?: Array<{ file: string; line: number; column: number; message: string }>;
}

/** Where something is: a node of the tree, or a bare file position. */
export type Where = YNode | { file: string; line: number; column: number };

/** Collects diagnostics; the compiler never throws for bad input. */
export class DiagnosticSink {
  readonly items: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  report(
    severity: Diagnostic['severity'],
    code: DiagnosticCode,
    where: Where,
    path: string,
    message: string,
    related?: Array<{ where: Where; message: string }>,
  ): void {
    const loc = locate(where);
    const key = `${code}|${loc.file}|${loc.line}|${loc.column}|${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const d: Diagnostic = { severity, code, message, path, ...loc };
    if (related && related.length > 0)
      d.related = related.map((r) => ({ ...locate(r.where), message: r.message }));
    this.items.push(d);
  }

  error(
    code: DiagnosticCode,
    where: Where,
    path: string,
    message: string,
    related?: Array<{ where: Where; message: string }>,
  ): void {
    this.report('error', code, where, path, message, related);
  }

  warning(
    code: DiagnosticCode,
    where: Where,
    path: string,
    message: string,
    related?: Array<{ where: Where; message: string }>,
  ): void {
    this.report('warning', code, where, path, message, related);
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
}

function locate(where: Where): { file: string; line: number; column: number } {
  if ('kind' in where) {
    const p = where.file.position(where.offset);
    return { file: where.file.name, line: p.line, column: p.column };
  }
  return where;
}

/** Formats a diagnostic the way editors and CI annotators read it (related places as `note` lines). */
export function formatDiagnostic(d: Diagnostic): string {
  const main = `${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}${d.path ? ` (at ${d.path})` : ''}`;
  // Related locations follow as notes, the way C compilers print them.
  const notes = (d.related ?? []).map(
    (r) => `\n${r.file}:${r.line}:${r.column}: note: ${r.message}`,
  );
  return main + notes.join('');
}
