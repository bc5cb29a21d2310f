/**
 * The CSAR `TOSCA.meta` file (specification 17.2): `Name: value` lines in blocks separated by
 * empty lines, values continued on lines that start with a space. Block 0 describes the CSAR.
 */

/** Block 0 of a TOSCA.meta file, and problems found in it (with 1-based lines). */
export interface ToscaMeta {
  csarVersion?: string;
  createdBy?: string;
  entryDefinitions?: string;
  otherDefinitions: string[];
  /** Where each keyname is, for diagnostics. */
  lines: Record<string, number>;
  problems: Array<{ line: number; message: string }>;
}

/** Parses a TOSCA.meta file; never throws. */
export function parseToscaMeta(text: string): ToscaMeta {
  const meta: ToscaMeta = { otherDefinitions: [], lines: {}, problems: [] };
  const raw = text.replace(/\r\n?/g, '\n').split('\n');
  const entries: Array<{ name: string; value: string; line: number }> = [];
  for (const [i, line] of raw.entries()) {
    if (line.trim() === '') {
      if (entries.length > 0) break; // block 0 ends at the first empty line
      continue;
    }
    if (line.startsWith(' ')) {
      const last = entries[entries.length - 1];
      if (last) last.value = `${last.value} ${line.trim()}`.trim();
      else
        meta.problems.push({
          line: i + 1,
          message: 'a continuation line with nothing to continue',
        });
      continue;
    }
    const m = /^([^:\s][^:]*):(?: (.*))?$/.exec(line);
    if (!m) {
      meta.problems.push({
        line: i + 1,
        message: `not a "Name: value" line: ${JSON.stringify(line)}`,
      });
      continue;
    }
    entries.push({ name: m[1] as string, value: (m[2] ?? '').trim(), line: i + 1 });
  }
  for (const e of entries) {
    meta.lines[e.name] = e.line;
    if (e.name === 'CSAR-Version') meta.csarVersion = e.value;
    else if (e.name === 'Created-By') meta.createdBy = e.value;
    else if (e.name === 'Entry-Definitions') meta.entryDefinitions = e.value;
    else if (e.name === 'Other-Definitions') meta.otherDefinitions = splitNames(e.value);
  }
  if (meta.csarVersion === undefined)
    meta.problems.push({ line: 1, message: 'block 0 has no CSAR-Version' });
  else if (meta.csarVersion !== '2.0')
    meta.problems.push({
      line: meta.lines['CSAR-Version'] ?? 1,
      message: `CSAR-Version must be 2.0, not ${JSON.stringify(meta.csarVersion)}`,
    });
  if (meta.createdBy === undefined)
    meta.problems.push({ line: 1, message: 'block 0 has no Created-By' });
  return meta;
}

/** Blank-separated file names, double quotes around names with blanks. */
function splitNames(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/"([^"]*)"|(\S+)/g)) out.push((m[1] ?? m[2]) as string);
  return out;
}
