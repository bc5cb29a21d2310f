/**
 * A small positioned YAML tree: every node remembers its file and offset so any diagnostic can
 * point at it, with aliases and merge keys resolved.
 *
 * Two well-kept parsers read it. js-yaml (with a `listener` that sees every node open and
 * close) reads the files that are well formed, about twenty times faster than `yaml`'s
 * document API; the tree is built from its events and checked against the values it returns.
 * Anything it cannot read, or that the check finds the events do not explain, is read again by
 * `yaml`'s `parseDocument`, which gives the syntax diagnostics and the YAML 1.1 repair.
 */
import jsYaml from 'js-yaml';
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
  /** Offsets of the line starts, computed on the first position asked for. */
  private lineStarts?: number[];
  constructor(
    /** What diagnostics print: a path, or `archive!entry`. */
    readonly name: string,
    private readonly text: string,
  ) {}
  /** 1-based line and column of an offset. */
  position(offset: number): { line: number; column: number } {
    if (!this.lineStarts) {
      const starts = [0];
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1))
        starts.push(i + 1);
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] as number) + 1 };
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
  return readFast(name, text) ?? readExact(name, text);
}

/**
 * Reads with `yaml`'s document API: slower, but it reports every syntax problem with its
 * position, and repairs (with a warning) quoted scalars written the YAML 1.1 way.
 */
export function readExact(name: string, text: string): ParsedYaml {
  let file = new SourceFile(name, text);
  const problems: YamlProblem[] = [];
  let doc: Document.Parsed;
  const parse = (source: string, lineCounter: LineCounter) =>
    parseDocument(source, { lineCounter, merge: true, uniqueKeys: true, version: '1.2' });
  try {
    doc = parse(text, new LineCounter());
    if (doc.errors.length > 0) {
      const repair = indentQuotedContinuations(text);
      if (repair) {
        const repairedCounter = new LineCounter();
        const repaired = parse(repair.text, repairedCounter);
        if (repaired.errors.length === 0) {
          doc = repaired;
          file = new SourceFile(name, repair.text);
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

/** Thrown inside the fast reader when js-yaml's events do not explain its result. */
class Unexplained extends Error {}

/** js-yaml's failsafe schema: every plain scalar a string, resolved below by YAML 1.2's rules. */
const FAILSAFE: jsYaml.Schema = jsYaml.FAILSAFE_SCHEMA;

/** The tree node kind of each js-yaml node kind. */
const KIND_OF: Record<string, YNode['kind']> = {
  mapping: 'map',
  sequence: 'seq',
  scalar: 'scalar',
};

/** The state js-yaml passes its listener (the fields read here). */
interface ListenerState {
  position: number;
  kind: string | null;
  result: unknown;
  tag: string | null;
  anchor: string | null;
}

/**
 * Reads with js-yaml, building the tree from its open and close events. Returns nothing when
 * js-yaml rejects the text or its events do not account for every value it read (the exact
 * reader then decides).
 */
function readFast(name: string, text: string): ParsedYaml | undefined {
  // js-yaml drops a byte order mark, which would shift every offset.
  if (text.charCodeAt(0) === 0xfeff) return undefined;
  const file = new SourceFile(name, text);
  const builder = new TreeBuilder(text, file);
  try {
    jsYaml.load(text, {
      schema: FAILSAFE,
      json: true,
      filename: name,
      listener: (event, state) => builder.event(event, state as unknown as ListenerState),
    });
  } catch {
    return undefined;
  }
  const root = builder.root();
  if (!root) return undefined;
  const parsed: ParsedYaml = { file, root, problems: [] };
  if (builder.firstKey !== undefined) parsed.firstKey = builder.firstKey;
  return parsed;
}

/**
 * Scalar nodes of one shape (the same fields, in one order; a tag only when there is one), so
 * the checker's property reads stay monomorphic.
 */
function scalarNode(
  file: SourceFile,
  offset: number,
  value: YScalar['value'],
  quoted: boolean,
  source: string | undefined,
  tag: string | undefined,
): YScalar {
  const node: YScalar = { kind: 'scalar', value, quoted, file, offset, source };
  // Rare: left off the common shape, which stays small.
  if (tag !== undefined) node.tag = tag;
  return node;
}

/** An anchored node: its tree node and js-yaml's value for it. */
interface Anchored {
  node: YNode;
  raw: unknown;
}

/**
 * Builds the tree from js-yaml's events. The nodes closed and not yet taken by their parent
 * live on three parallel stacks (tree node, js-yaml's value, end offset), each open node
 * remembering where its children start: no record per node, and the lists of the tree are
 * allocated once, at their final size (most maps and lists are short, and an array grown by
 * pushing keeps room for seventeen).
 */
class TreeBuilder {
  /** Start offsets of the open nodes. */
  private readonly opens: number[] = [];
  /** Per open node, the stack depth where its children start. */
  private readonly bases: number[] = [];
  /** The closed nodes; js-yaml's value is null for an empty one (no content at all). */
  private readonly nodes: YNode[] = [];
  private readonly raws: unknown[] = [];
  private readonly ends: number[] = [];
  /** How many closed nodes the stacks hold (entries past it are stale). */
  private depth = 0;
  /** Where a map's entries and a list's items gather before they are copied out. */
  private readonly scratchEntries: YMap['entries'] = [];
  private readonly scratchItems: YNode[] = [];
  private readonly anchors = new Map<string, Anchored>();
  firstKey?: string;

  constructor(
    private readonly text: string,
    private readonly file: SourceFile,
  ) {}

  event(event: string, state: ListenerState): void {
    if (event === 'open') {
      this.opens.push(state.position);
      this.bases.push(this.depth);
      return;
    }
    const open = this.opens.pop();
    const base = this.bases.pop();
    if (open === undefined || base === undefined) throw new Unexplained('close without open');
    this.close(open, base, state);
    if (state.anchor !== null) {
      const raw = this.raws[base];
      if (raw !== null) {
        const node = this.nodes[base] as YNode;
        this.anchors.set(state.anchor, { node, raw });
        if (node.kind !== 'scalar') node.anchor = state.anchor;
      }
    }
  }

  /** Whether no node is open (the one closing is the document's root). */
  private get atRoot(): boolean {
    return this.opens.length === 0;
  }

  /** The document's root, or nothing when the events do not add up to one. */
  root(): YNode | undefined {
    if (!this.atRoot) return undefined;
    let root: YNode | undefined;
    for (let i = 0; i < this.depth; i++) {
      if (this.raws[i] === null) continue;
      if (root) return undefined;
      root = this.nodes[i];
    }
    return root ?? { kind: 'scalar', value: null, quoted: false, file: this.file, offset: 0 };
  }

  /** Replaces the children of a closing node (from `base` up) by the node. */
  private put(base: number, node: YNode, raw: unknown, end: number): void {
    this.nodes[base] = node;
    this.raws[base] = raw;
    this.ends[base] = end;
    this.depth = base + 1;
  }

  private close(open: number, base: number, state: ListenerState): void {
    const raw = state.result;
    const end = state.position;
    const kind = state.kind;
    const top = this.depth;
    // A node js-yaml first read as a would-be mapping key and then kept as the value itself:
    // the last child holding the very value js-yaml returned (a child belongs to one parent
    // only, so it is reused as it is).
    let wrapped = -1;
    if (raw !== null && raw !== undefined)
      for (let i = top - 1; i >= base; i--)
        if (this.raws[i] === raw) {
          wrapped = i;
          break;
        }
    if (wrapped >= 0 && (this.nodes[wrapped] as YNode).kind === KIND_OF[kind as string]) {
      this.put(base, this.nodes[wrapped] as YNode, raw, end);
      return;
    }
    const start = this.contentStart(open);
    if (kind === 'scalar') {
      this.put(base, this.scalar(raw, state.tag, start), raw, end);
      return;
    }
    if (kind === 'mapping') {
      this.put(base, this.mapping(base, top, raw, start), raw, end);
      return;
    }
    if (kind === 'sequence') {
      this.put(base, this.sequence(base, top, raw, start), raw, end);
      return;
    }
    // No kind: an alias, or nothing at all.
    if (this.text.charCodeAt(start) === 0x2a /* * */ && raw !== null && raw !== undefined) {
      if (wrapped >= 0) {
        this.put(base, this.nodes[wrapped] as YNode, raw, end);
        return;
      }
      const alias = /^\*([^\s,[\]{}]+)/.exec(this.text.slice(start, start + 1024))?.[1];
      const target = alias === undefined ? undefined : this.anchors.get(alias);
      if (!target || target.raw !== raw) throw new Unexplained(`alias at ${start}`);
      this.put(base, target.node, raw, end);
      return;
    }
    if (raw !== null && raw !== undefined)
      throw new Unexplained(`content without kind at ${start}`);
    this.put(base, this.empty(open), null, end);
  }

  private scalar(raw: unknown, tag: string | null, offset: number): YScalar {
    if (typeof raw !== 'string') throw new Unexplained(`scalar at ${offset}`);
    const file = this.file;
    const c = this.text.charCodeAt(offset);
    // Quoted and block scalars are strings, whatever they hold.
    if (c === 0x22 || c === 0x27 || c === 0x7c || c === 0x3e) {
      return scalarNode(
        file,
        offset,
        raw,
        true,
        undefined,
        tag !== null && tag !== '!' && tag !== '?' ? tag : undefined,
      );
    }
    if (tag === '?') {
      return scalarNode(file, offset, resolvePlain(raw), false, raw, undefined);
    }
    if (tag !== 'tag:yaml.org,2002:str') throw new Unexplained(`tag ${tag} at ${offset}`);
    return scalarNode(file, offset, raw, false, raw, tag);
  }

  /** A list from the children on the stacks between `base` and `top`. */
  private sequence(base: number, top: number, raw: unknown, offset: number): YSeq {
    if (!Array.isArray(raw)) throw new Unexplained(`sequence at ${offset}`);
    const raws = this.raws;
    const items = this.scratchItems;
    let count = 0;
    let i = base;
    let last = offset;
    const dashed = this.text.charCodeAt(offset) === 0x2d; /* - */
    for (let k = 0; k < raw.length; k++) {
      const value = raw[k];
      // Attempts js-yaml gave up on leave empty children behind.
      while (i < top && raws[i] === null && value !== null) i++;
      // (An empty child, whose value is null, stands for an empty item.)
      if (i < top && raws[i] === value) {
        const node = this.nodes[i] as YNode;
        const end = this.ends[i] as number;
        if (dashed && value !== null && node.offset > last && node.offset < end)
          this.checkContinuation(offset, node.offset, end);
        items[count++] = node;
        last = end;
        i++;
      } else if (value === null) {
        items[count++] = this.emptyItem(last);
      } else throw new Unexplained(`sequence item at ${offset}`);
    }
    for (; i < top; i++) if (raws[i] !== null) throw new Unexplained(`sequence rest at ${offset}`);
    return {
      kind: 'seq',
      items: items.slice(0, count),
      file: this.file,
      offset,
      anchor: undefined,
    };
  }

  /** A map from the children (keys and values) on the stacks between `base` and `top`. */
  private mapping(base: number, top: number, raw: unknown, offset: number): YMap {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new Unexplained(`mapping at ${offset}`);
    const result = raw as Record<string, unknown>;
    const file = this.file;
    const nodes = this.nodes;
    const raws = this.raws;
    const block = this.text.charCodeAt(offset) !== 0x7b; /* { */
    const entries = this.scratchEntries;
    let count = 0;
    let merged: YMap['entries'] | undefined;
    let complexKeys: Set<string> | undefined;
    // Scalar keys read here; with js-yaml's result holding one key per distinct string, a
    // duplicate (or two keys of one text, such as 1 and "1") shows as a count that differs,
    // and is left to the exact reader, which reports or accepts it.
    let explained = 0;
    let i = base;
    while (i < top) {
      const keyIndex = i;
      const keyRaw = raws[i];
      i++;
      // The key js-yaml tried after the last entry and found nothing.
      if (keyRaw === null && i >= top) break;
      const keyNode = nodes[keyIndex] as YNode;
      let valueIndex = -1;
      if (keyNode.kind !== 'scalar') {
        complexKeys ??= new Set();
        complexKeys.add(jsKeyOf(keyRaw));
        if (i < top) valueIndex = i++;
      } else {
        const jsKey = typeof keyRaw === 'string' ? keyRaw : jsKeyOf(keyRaw);
        const expected = result[jsKey];
        if (expected === undefined && !Object.hasOwn(result, jsKey))
          throw new Unexplained(`key at ${offset}`);
        // (An empty child's value is null, as js-yaml's for an empty value.)
        if (i < top && raws[i] === expected) valueIndex = i++;
        else if (expected !== null) throw new Unexplained(`value at ${offset}`);
      }
      const value =
        valueIndex >= 0
          ? (nodes[valueIndex] as YNode)
          : this.emptyValue(this.ends[keyIndex] as number);
      // (An alias's node is its anchor's, written elsewhere: nothing to check here.)
      if (valueIndex >= 0 && block && value.offset > keyNode.offset) {
        const end = this.ends[valueIndex] as number;
        if (value.offset < end) this.checkContinuation(keyNode.offset, value.offset, end);
      }
      if (keyNode.kind === 'scalar') {
        explained++;
        if (!keyNode.quoted && keyNode.value === '<<') {
          const sources = value.kind === 'seq' ? value.items : [value];
          for (const src of sources) {
            if (src.kind !== 'map') throw new Unexplained(`merge at ${offset}`);
            merged ??= [];
            merged.push(...src.entries);
          }
          continue;
        }
        if (count === 0 && this.atRoot) this.firstKey = String(keyNode.value);
        entries[count++] = { key: keyNode, value };
      } else {
        const key = scalarNode(
          file,
          keyNode.offset,
          JSON.stringify(toPlain(keyNode)),
          true,
          undefined,
          undefined,
        );
        key.complex = keyNode;
        entries[count++] = { key, value };
      }
    }
    // Every key js-yaml stored must be one read here (complex keys lose their structure there).
    let stored = 0;
    for (const k in result) if (!complexKeys?.has(k)) stored++;
    if (stored !== explained) throw new Unexplained(`keys at ${offset}`);
    if (merged) {
      const seen = new Set<string>();
      for (let k = 0; k < count; k++)
        seen.add(String((entries[k] as YMap['entries'][0]).key.value));
      for (const e of merged) {
        const name = String(e.key.value);
        if (!seen.has(name)) {
          seen.add(name);
          entries[count++] = e;
        }
      }
    }
    return { kind: 'map', entries: entries.slice(0, count), file, offset, anchor: undefined };
  }

  /**
   * js-yaml reads a quoted scalar or a flow collection whose continuation lines are not
   * indented past the block that holds it (its key, or its sequence's dash), as YAML 1.1
   * parsers do, and one followed by a comment with no space between; YAML 1.2 does not, and
   * the exact reader reports it (or, for a quoted scalar, repairs it with a warning). So such
   * a value is left to the exact reader. `holder` is the offset of that key or dash (its
   * column is looked up only for a value that spans lines, the rare case).
   */
  private checkContinuation(holder: number, from: number, to: number): void {
    const t = this.text;
    const c = t.charCodeAt(from);
    // A block scalar with a tab in it: js-yaml and YAML 1.2 read some such lines differently.
    if (c === 0x7c || c === 0x3e) {
      // (its trailing blank lines too, which js-yaml may leave out of it)
      let end = to;
      for (let j = end; j < t.length; j++) {
        const d = t.charCodeAt(j);
        if (d === 0x0a) end = j + 1;
        else if (d !== 0x20 && d !== 0x09 && d !== 0x0d) break;
      }
      const tab = t.indexOf('\t', from);
      if (tab !== -1 && tab < end) throw new Unexplained(`tab in a block scalar at ${tab}`);
      return;
    }
    if (c !== 0x22 && c !== 0x27 && c !== 0x5b && c !== 0x7b) return;
    // js-yaml also takes a `#` right after the closing quote or bracket for a comment.
    if (t.charCodeAt(to) === 0x23 && !isBlank(t.charCodeAt(to - 1)))
      throw new Unexplained(`comment not separated at ${to}`);
    let nl = t.indexOf('\n', from);
    if (nl === -1 || nl >= to) return;
    const column = this.column(holder);
    for (; nl !== -1 && nl < to; nl = t.indexOf('\n', nl + 1)) {
      let i = nl + 1;
      while (t.charCodeAt(i) === 0x20) i++;
      const next = t.charCodeAt(i);
      if (i < to && next !== 0x0a && next !== 0x0d && i - nl - 1 <= column)
        throw new Unexplained(`value continued at ${i}, not indented past column ${column}`);
    }
  }

  /** The 0-based column of an offset. */
  private column(offset: number): number {
    return offset - (this.text.lastIndexOf('\n', offset - 1) + 1);
  }

  /** Where a node's content starts: past white space, comments, anchors and tags. */
  private contentStart(from: number): number {
    const t = this.text;
    let i = from;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else if (c === 0x23 /* # */ && (i === 0 || isBlank(t.charCodeAt(i - 1)))) {
        const nl = t.indexOf('\n', i);
        i = nl === -1 ? t.length : nl;
      } else if (c === 0x26 /* & */ || c === 0x21 /* ! */) {
        while (i < t.length && !isBlank(t.charCodeAt(i))) i++;
      } else return i;
    }
  }

  /** An empty node where js-yaml opened it: after the spaces on the same line. */
  private empty(from: number): YScalar {
    let i = from;
    while (this.text.charCodeAt(i) === 0x20 || this.text.charCodeAt(i) === 0x09) i++;
    return scalarNode(this.file, i, null, false, '', undefined);
  }

  /** The empty value of a key that ends at `keyEnd`: just after its colon. */
  private emptyValue(keyEnd: number): YScalar {
    let i = keyEnd;
    while (this.text.charCodeAt(i) === 0x20 || this.text.charCodeAt(i) === 0x09) i++;
    if (this.text.charCodeAt(i) === 0x3a /* : */) i++;
    return this.empty(i);
  }

  /** The empty item after `from`: just after its dash. */
  private emptyItem(from: number): YScalar {
    const dash = this.text.indexOf('-', from);
    return this.empty(dash === -1 ? from : dash + 1);
  }
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || Number.isNaN(c);
}

/** The string key js-yaml stores a key under (collections lose their structure). */
function jsKeyOf(raw: unknown): string {
  if (Array.isArray(raw))
    return raw.map((v) => (v !== null && typeof v === 'object' ? '[object Object]' : v)).join(',');
  if (raw !== null && typeof raw === 'object') return '[object Object]';
  return String(raw);
}

/** A plain scalar's value by the YAML 1.2 core schema (as `yaml` resolves it). */
function resolvePlain(s: string): null | boolean | number | string {
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  const c = s.charCodeAt(0);
  // t, T, f, F: only a boolean; a digit, sign or dot: perhaps a number; anything else: a string.
  if (c === 0x74 || c === 0x54 || c === 0x66 || c === 0x46) {
    if (s === 'true' || s === 'True' || s === 'TRUE') return true;
    if (s === 'false' || s === 'False' || s === 'FALSE') return false;
    return s;
  }
  if (!((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e)) return s;
  if (/^0o[0-7]+$/.test(s)) return Number.parseInt(s.slice(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return Number.parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s))
    return s.slice(-3).toLowerCase() === 'nan'
      ? Number.NaN
      : s[0] === '-'
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY;
  if (
    /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) ||
    /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)
  )
    return Number.parseFloat(s);
  return s;
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
        // `yaml` reads a merge key as the symbol <<.
        const merge =
          isScalar(keyNode) &&
          keyNode.type === 'PLAIN' &&
          (keyNode.value === '<<' ||
            (typeof keyNode.value === 'symbol' && keyNode.value.description === '<<'));
        if (merge) {
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
