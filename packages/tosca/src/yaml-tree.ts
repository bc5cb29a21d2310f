/**
 * A small positioned YAML tree: the `yaml` library's document nodes with aliases and merge
 * keys resolved, each node remembering its file and offset so any diagnostic can point at it.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Node as YamlNode,
} from 'yaml';

/** A loaded source text: its display name and a way to turn offsets into line/column. */
export class SourceFile {
  private readonly counter: LineCounter;
  constructor(
    /** What diagnostics print: a path, or `archive!entry`. */
    readonly name: string,
    counter: LineCounter,
  ) {
    this.counter = counter;
  }
  /** 1-based line and column of an offset. */
  position(offset: number): { line: number; column: number } {
    const p = this.counter.linePos(offset);
    return { line: p.line, column: p.col };
  }
}

interface Base {
  file: SourceFile;
  offset: number;
}
/** A scalar: its resolved JS value and whether it was written quoted (so never a number). */
export interface YScalar extends Base {
  kind: 'scalar';
  value: null | boolean | number | string;
  quoted: boolean;
  tag?: string;
  /** For a complex mapping key (a list or map), the key's structure; `value` is its JSON. */
  complex?: YNode;
  /** The source text of a plain scalar (to tell `1` from `1.0`, `true` from `True`). */
  source?: string;
}
/** A mapping, keys in source order (merge keys already applied). */
export interface YMap extends Base {
  kind: 'map';
  entries: Array<{ key: YScalar; value: YNode }>;
  anchor?: string;
}
/** A sequence. */
export interface YSeq extends Base {
  kind: 'seq';
  items: YNode[];
  anchor?: string;
}
/** Any node of the tree. */
export type YNode = YScalar | YMap | YSeq;

/** A YAML syntax problem, with its offset; a `warning` still lets the file be read. */
export interface YamlProblem {
  message: string;
  offset: number;
  warning?: boolean;
}

/** The parse of one file: the root (absent when the text is not a single YAML document). */
export interface ParsedYaml {
  file: SourceFile;
  root?: YNode;
  problems: YamlProblem[];
  /** The first key of the top-level map as written (TOSCA requires the version first). */
  firstKey?: string;
}

/** Parses text into a positioned tree; never throws. */
export function parseYaml(name: string, text: string): ParsedYaml {
  let counter = new LineCounter();
  let file = new SourceFile(name, counter);
  const problems: YamlProblem[] = [];
  let doc: Document.Parsed;
  const parse = (source: string, lineCounter: LineCounter) =>
    parseDocument(source, { lineCounter, merge: true, uniqueKeys: true, version: '1.2' });
  try {
    doc = parse(text, counter);
    if (doc.errors.length > 0) {
      const repair = indentQuotedContinuations(text);
      if (repair) {
        const repairedCounter = new LineCounter();
        const repaired = parse(repair.text, repairedCounter);
        if (repaired.errors.length === 0) {
          doc = repaired;
          counter = repairedCounter;
          file = new SourceFile(name, counter);
          for (const line of repair.lines)
            problems.push({
              message:
                'this line continues a quoted scalar but is not indented past its key, which YAML 1.2 requires (read as YAML 1.1 parsers read it)',
              offset: repairedCounter.lineStarts[line - 1] ?? 0,
              warning: true,
            });
        }
      }
    }
  } catch (e) {
    problems.push({ message: `cannot parse YAML: ${(e as Error).message}`, offset: 0 });
    return { file, problems };
  }
  const brief = (m: string) =>
    (m.split('\n')[0] ?? m)
      .replace(/ at line \d+, column \d+:?$/, '')
      .replace(
        /^Source contains multiple documents.*$/,
        'a TOSCA file holds a single YAML document',
      );
  for (const e of doc.errors) problems.push({ message: brief(e.message), offset: e.pos[0] });
  for (const w of doc.warnings) {
    if (w.code === 'TAG_RESOLVE_FAILED')
      problems.push({ message: brief(w.message), offset: w.pos[0] });
  }
  if (problems.some((p) => !p.warning)) return { file, problems };
  if (!doc.contents)
    return {
      file,
      problems,
      root: { kind: 'scalar', value: null, quoted: false, file, offset: 0 },
    };
  const converter = new Converter(doc, file, problems);
  const root = converter.convert(doc.contents as YamlNode, 0);
  let firstKey: string | undefined;
  if (isMap(doc.contents)) {
    const first = doc.contents.items[0];
    if (first && isScalar(first.key)) firstKey = String(first.key.value);
  }
  return { file, root, problems, firstKey };
}

/**
 * YAML 1.1 parsers (PyYAML, libyaml) accept a quoted scalar whose continuation lines are not
 * indented past its key, and specification examples are written that way (description/s5);
 * YAML 1.2 does not. Returns the text with such lines indented just enough, and their 1-based
 * numbers, or nothing when no quoted scalar is left open at a line end. Leading white space of
 * a continuation line is folded away, so the value read is the same.
 */
function indentQuotedContinuations(text: string): { text: string; lines: number[] } | undefined {
  const lines = text.split('\n');
  const repaired: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    // A quoted scalar opening as a mapping value or list item and left open at the line end.
    const open = /^( *)(?:- +)*(?:[^\s"'#-][^#"']*?: +)?(["'])(.*)$/.exec(lines[i] ?? '');
    if (!open || closes(open[3] ?? '', open[2] as '"' | "'")) continue;
    const indent = ' '.repeat((open[1] ?? '').length + 1);
    let closed = false;
    for (let j = i + 1; j < lines.length && !closed; j++) {
      const line = lines[j] ?? '';
      const lead = /^ */.exec(line)?.[0].length ?? 0;
      if (line.trim() !== '' && lead < indent.length) {
        if (/^(---|\.\.\.)(\s|$)/.test(line)) return undefined;
        lines[j] = indent.slice(lead) + line;
        repaired.push(j + 1);
      }
      closed = closes(line, open[2] as '"' | "'");
      i = j;
    }
    // Open to the end of the text: nothing to repair (and no rescanning, so linear time).
    if (!closed) return undefined;
  }
  return repaired.length > 0 ? { text: lines.join('\n'), lines: repaired } : undefined;
}

/** Whether a line of a quoted scalar's content holds its closing quote. */
function closes(content: string, quote: '"' | "'"): boolean {
  if (quote === '"') return /(^|[^\\])(\\\\)*"/.test(content);
  return content.replaceAll("''", '').includes("'");
}

class Converter {
  private readonly resolving = new Set<YamlNode>();
  constructor(
    private readonly doc: Document.Parsed,
    private readonly file: SourceFile,
    private readonly problems: YamlProblem[],
  ) {}

  convert(node: YamlNode | null | undefined, fallbackOffset: number): YNode {
    const file = this.file;
    if (node == null)
      return { kind: 'scalar', value: null, quoted: false, file, offset: fallbackOffset };
    const offset = node.range?.[0] ?? fallbackOffset;
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target || this.resolving.has(target as YamlNode)) {
        this.problems.push({ message: `unresolvable or recursive alias *${node.source}`, offset });
        return { kind: 'scalar', value: null, quoted: false, file, offset };
      }
      this.resolving.add(target as YamlNode);
      const converted = this.convert(target as YamlNode, offset);
      this.resolving.delete(target as YamlNode);
      return converted;
    }
    if (isScalar(node)) {
      const v = node.value;
      const value =
        v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string'
          ? v
          : typeof v === 'bigint'
            ? Number(v)
            : String(v);
      const quoted =
        node.type === 'QUOTE_DOUBLE' ||
        node.type === 'QUOTE_SINGLE' ||
        node.type === 'BLOCK_LITERAL' ||
        node.type === 'BLOCK_FOLDED';
      const s: YScalar = { kind: 'scalar', value, quoted, file, offset };
      if (node.tag) s.tag = node.tag;
      if (node.type === 'PLAIN' && typeof node.source === 'string') s.source = node.source;
      return s;
    }
    if (isSeq(node)) {
      const seq: YSeq = {
        kind: 'seq',
        items: node.items.map((i) => this.convert(i as YamlNode, offset)),
        file,
        offset,
      };
      if (node.anchor) seq.anchor = node.anchor;
      return seq;
    }
    if (isMap(node)) {
      const entries: YMap['entries'] = [];
      const seen = new Set<string>();
      const merged: YMap['entries'] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        const keyOffset = keyNode?.range?.[0] ?? offset;
        if (isScalar(keyNode) && keyNode.value === '<<' && keyNode.type === 'PLAIN') {
          const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
          for (const src of sources) {
            const m = this.convert(src as YamlNode, keyOffset);
            if (m.kind !== 'map') {
              this.problems.push({
                message: 'a merge key (<<) must merge a mapping',
                offset: keyOffset,
              });
              continue;
            }
            merged.push(...m.entries);
          }
          continue;
        }
        let key: YScalar;
        if (isScalar(keyNode) || keyNode == null) {
          key = this.convert(keyNode, keyOffset) as YScalar;
        } else {
          // A complex key (e.g. [ service, UNBOUNDED ] in substitution mappings): kept as the
          // JSON text of its value, with the structure beside it.
          const structured = this.convert(keyNode, keyOffset);
          key = {
            kind: 'scalar',
            value: JSON.stringify(toPlain(structured)),
            quoted: true,
            file,
            offset: keyOffset,
            complex: structured,
          };
        }
        const name = String(key.value);
        seen.add(name);
        entries.push({ key, value: this.convert(pair.value as YamlNode, keyOffset) });
      }
      for (const e of merged) {
        const name = String(e.key.value);
        if (!seen.has(name)) {
          seen.add(name);
          entries.push(e);
        }
      }
      const map: YMap = { kind: 'map', entries, file, offset };
      if (node.anchor) map.anchor = node.anchor;
      return map;
    }
    return { kind: 'scalar', value: null, quoted: false, file, offset };
  }
}

/** The value of key `name` in a map node, if present. */
export function getEntry(map: YMap, name: string): { key: YScalar; value: YNode } | undefined {
  for (const e of map.entries) if (e.key.value === name) return e;
  return undefined;
}

/** The plain JavaScript value of a node (the `Value` it denotes, before any TOSCA typing). */
export function toPlain(node: YNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const e of node.entries) out[String(e.key.value)] = toPlain(e.value);
  return out;
}
