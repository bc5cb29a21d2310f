/**
 * Output formats shared by every command: `-o table` for people, `-o json` and `-o yaml` for
 * scripts. JSON and YAML print the data as the agent returned it (plus the CLI's derived
 * fields); tables pick columns.
 */
import { stringify as toYaml } from 'yaml';
import { usageError } from './cli-error.js';

/** The formats of `-o`. */
export type OutputFormat = 'table' | 'json' | 'yaml';

/** The accepted values of `-o`, for help, validation and completion. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Parses the value of `-o`, failing as a usage error on anything else. */
export function parseOutputFormat(value: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw usageError(
    `unknown output format "${value}" (expected one of ${OUTPUT_FORMATS.join(', ')})`,
  );
}

/** One column of a table: its header and how to get the cell from a row. */
export interface Column<T> {
  header: string;
  cell: (row: T) => unknown;
}

/** Renders rows as a table, or all of them as JSON or YAML. Ends with a newline. */
export function renderList<T>(
  rows: readonly T[],
  format: OutputFormat,
  columns: Column<T>[],
): string {
  if (format !== 'table') return renderData(rows, format);
  const cells = rows.map((row) => columns.map((c) => cellText(c.cell(row))));
  return renderTable(
    columns.map((c) => c.header),
    cells,
  );
}

/**
 * Renders one object: for tables as aligned `key: value` lines (nested values as indented
 * YAML), otherwise as JSON or YAML.
 */
export function renderObject(value: object, format: OutputFormat): string {
  if (format !== 'table') return renderData(value, format);
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...entries.map(([k]) => k.length + 1));
  let out = '';
  for (const [key, v] of entries) {
    const label = `${key}:`.padEnd(width);
    if (v !== null && typeof v === 'object' && !isEmpty(v) && !isFlat(v)) {
      const nested = toYaml(v, { lineWidth: 0 }).trimEnd().split('\n');
      out += `${key}:\n${nested.map((line) => `  ${line}`).join('\n')}\n`;
    } else {
      out += `${label} ${cellText(v)}\n`;
    }
  }
  return out;
}

/** JSON (pretty, two spaces) or YAML. */
export function renderData(value: unknown, format: 'json' | 'yaml' | OutputFormat): string {
  if (format === 'yaml') return toYaml(value ?? null, { lineWidth: 0 });
  return `${JSON.stringify(value ?? null, null, 2)}\n`;
}

/** Aligns rows of cells under headers, two spaces apart (like kubectl and nomad). */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** How a value appears in a table cell: `-` for nothing, compact JSON for structures. */
export function cellText(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) {
    return value.length === 0 ? '-' : value.map((v) => cellText(v)).join(',');
  }
  return JSON.stringify(value);
}

/** A list of one-line scalars fits on one line. */
function isFlat(value: object): boolean {
  return (
    Array.isArray(value) &&
    value.every((v) => v === null || (typeof v !== 'object' && !String(v).includes('\n')))
  );
}

function isEmpty(value: object): boolean {
  return Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
}
