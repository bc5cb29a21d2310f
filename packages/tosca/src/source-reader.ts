/**
 * Reading TOSCA sources: plain files, CSAR directories, and CSAR archives (zip, tar.gz)
 * read into memory (never unpacked to disk), behind one location scheme so imports resolve
 * the same way inside and outside archives.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { unzipSync } from 'fflate';
import { extract } from 'tar-stream';
import { parseToscaMeta } from './tosca-meta.js';

/**
 * A location: either a file system path, or an entry of an in-memory archive
 * (`archive` is the archive's path, `entry` a normalized posix path inside it).
 */
export interface Location {
  archive?: string;
  path: string;
}

/** The display name of a location, as diagnostics print it. */
export function locationName(loc: Location): string {
  return loc.archive ? `${loc.archive}!${loc.path}` : loc.path;
}

/**
 * Resolves `ref` relative to the file `base` (same archive, or the file system). Inside an
 * archive, a `ref` with a leading slash starts at the archive's root (6.8.2.2: the CSAR is the
 * repository of the files in it).
 */
export function resolveRelative(base: Location, ref: string): Location {
  if (base.archive) {
    const p = ref.startsWith('/')
      ? posix.normalize(ref)
      : posix.normalize(posix.join(posix.dirname(base.path), ref));
    return { archive: base.archive, path: p.replace(/^\/+/, '') };
  }
  return { path: isAbsolute(ref) ? ref : resolve(dirname(base.path), ref) };
}

/** A source opened: its entry file, other definitions (TOSCA.meta), and TOSCA.meta problems. */
export interface Opened {
  entry: Location;
  /** The CSAR directory, when the source is one. */
  root?: string;
  others: Location[];
  problems: Array<{ file: string; line: number; message: string }>;
}
/** A source that cannot be used; `misuse` when it does not even exist. */
export interface OpenError {
  error: string;
  file: string;
  line: number;
  misuse?: boolean;
}

/** Reads files and archive entries; archives are loaded once and kept in memory. */
export class SourceReader {
  private readonly archives = new Map<string, Map<string, Uint8Array>>();

  /** The text at a location, or an error message. */
  read(loc: Location): { text: string } | { error: string } {
    try {
      if (loc.archive) {
        const entries = this.archives.get(loc.archive);
        const data = entries?.get(loc.path);
        if (!data) return { error: `no entry ${loc.path} in archive ${loc.archive}` };
        return { text: new TextDecoder().decode(data) };
      }
      return { text: readFileSync(loc.path, 'utf8') };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  /** The raw bytes at a location (artifacts, plugins), if readable. */
  bytes(loc: Location): Uint8Array | undefined {
    try {
      if (loc.archive) return this.archives.get(loc.archive)?.get(loc.path);
      return readFileSync(loc.path);
    } catch {
      return undefined;
    }
  }

  /** The entries of an archive this reader opened (by its path), if any. */
  entriesOf(archive: string): ReadonlyMap<string, Uint8Array> | undefined {
    return this.archives.get(archive);
  }

  /** Every TOSCA-looking text entry of the archives opened (profiles bundled in a CSAR). */
  archiveTexts(): Array<{ loc: Location; text: string }> {
    const out: Array<{ loc: Location; text: string }> = [];
    for (const [archive, entries] of this.archives) {
      for (const [path, bytes] of entries) {
        if (!/\.ya?ml$/i.test(path) || bytes.length > 4 * 1024 * 1024) continue;
        out.push({ loc: { archive, path }, text: new TextDecoder().decode(bytes) });
      }
    }
    return out;
  }

  /**
   * Opens a source given on the command line: a TOSCA file, a CSAR directory or a CSAR
   * archive, and finds its entry definitions (TOSCA.meta, or the single root YAML file).
   */
  async open(source: string): Promise<Opened | OpenError> {
    const path = resolve(source);
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch (e) {
      return unreadable(source, e);
    }
    if (stat.isDirectory()) {
      const files = new Map<string, Uint8Array | null>();
      for (const name of listDir(path, '', 0)) files.set(name, null);
      const found = findEntry(files, (name) => readFileSync(join(path, name)));
      if ('error' in found) return { ...found, file: found.file ? join(path, found.file) : path };
      return {
        entry: { path: join(path, found.name) },
        root: path,
        others: found.others.map((o) => ({ path: join(path, o) })),
        problems: found.problems.map((p) => ({ ...p, file: join(path, p.file) })),
      };
    }
    // Two bytes say whether it is an archive; a TOSCA file is read later, as text, once.
    const magic = Buffer.alloc(2);
    try {
      const fd = openSync(path, 'r');
      try {
        readSync(fd, magic, 0, 2, 0);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      return unreadable(source, e);
    }
    const zip = magic[0] === 0x50 && magic[1] === 0x4b;
    const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
    if (!zip && !gzip) return { entry: { path }, others: [], problems: [] };
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      return unreadable(source, e);
    }
    let entries: Map<string, Uint8Array> | undefined;
    if (zip) {
      try {
        entries = new Map();
        for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(data)))) {
          if (!name.endsWith('/')) entries.set(normalizeEntry(name), bytes);
        }
      } catch (e) {
        return {
          error: `cannot read zip archive ${source}: ${(e as Error).message}`,
          file: path,
          line: 1,
        };
      }
    } else {
      try {
        entries = await untar(gunzipSync(data));
      } catch (e) {
        return {
          error: `cannot read tar.gz archive ${source}: ${(e as Error).message}`,
          file: path,
          line: 1,
        };
      }
    }
    if (!entries) return { entry: { path }, others: [], problems: [] };
    this.archives.set(path, entries);
    const found = findEntry(entries, (name) => entries.get(name) ?? new Uint8Array());
    if ('error' in found) return { ...found, file: found.file ? `${path}!${found.file}` : path };
    return {
      entry: { archive: path, path: found.name },
      others: found.others.map((o) => ({ archive: path, path: o })),
      problems: found.problems.map((p) => ({ ...p, file: `${path}!${p.file}` })),
    };
  }
}

/** A source the user named that cannot be read: misuse, not a TOSCA diagnostic. */
function unreadable(source: string, e: unknown): OpenError {
  return {
    error: `cannot read ${source}: ${(e as Error).message}`,
    misuse: true,
    file: source,
    line: 1,
  };
}

function normalizeEntry(name: string): string {
  return posix
    .normalize(name)
    .replace(/^(\.\/)+/, '')
    .replace(/^\/+/, '');
}

function listDir(root: string, prefix: string, depth: number, maxDepth = 8): string[] {
  if (depth > maxDepth) return [];
  const out: string[] = [];
  for (const d of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) {
      // Never wander into dependency trees or hidden folders (.git...).
      if (d.name === 'node_modules' || d.name.startsWith('.')) continue;
      out.push(...listDir(root, rel, depth + 1, maxDepth));
    } else out.push(rel);
  }
  return out;
}

/** TOSCA.meta's Entry-Definitions (and Other-Definitions), or the single YAML file at the root. */
function findEntry(
  files: Map<string, unknown>,
  read: (name: string) => Uint8Array,
):
  | {
      name: string;
      others: string[];
      problems: Array<{ file: string; line: number; message: string }>;
    }
  | { error: string; file?: string; line: number } {
  const meta = files.has('TOSCA-Metadata/TOSCA.meta')
    ? 'TOSCA-Metadata/TOSCA.meta'
    : files.has('TOSCA.meta')
      ? 'TOSCA.meta'
      : undefined;
  if (meta) {
    const parsed = parseToscaMeta(new TextDecoder().decode(read(meta)));
    const problems = parsed.problems.map((p) => ({ file: meta, line: p.line, message: p.message }));
    if (!parsed.entryDefinitions)
      return { error: `${meta} has no Entry-Definitions`, file: meta, line: 1 };
    const line = parsed.lines['Entry-Definitions'] ?? 1;
    const name = normalizeEntry(parsed.entryDefinitions);
    if (!files.has(name))
      return {
        error: `Entry-Definitions names ${name}, which is not in the CSAR`,
        file: meta,
        line,
      };
    const others: string[] = [];
    for (const o of parsed.otherDefinitions) {
      const n = normalizeEntry(o);
      if (files.has(n)) others.push(n);
      else
        problems.push({
          file: meta,
          line: parsed.lines['Other-Definitions'] ?? 1,
          message: `Other-Definitions names ${n}, which is not in the CSAR`,
        });
    }
    return { name, others, problems };
  }
  const roots = [...files.keys()].filter((n) => !n.includes('/') && /\.ya?ml$/i.test(n));
  if (roots.length === 1 && roots[0]) return { name: roots[0], others: [], problems: [] };
  return {
    line: 1,
    error:
      roots.length === 0
        ? 'the CSAR has no TOSCA.meta and no YAML file at its root'
        : `the CSAR has no TOSCA.meta and several YAML files at its root (${roots.join(', ')})`,
  };
}

async function untar(data: Buffer): Promise<Map<string, Uint8Array>> {
  const entries = new Map<string, Uint8Array>();
  const ex = extract();
  const done = new Promise<void>((ok, fail) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') entries.set(normalizeEntry(header.name), Buffer.concat(chunks));
        next();
      });
      stream.on('error', fail);
    });
    ex.on('finish', () => ok());
    ex.on('error', fail);
  });
  Readable.from([data]).pipe(ex);
  await done;
  return entries;
}

/** Lists the YAML files under a directory (for profile catalogs), recursively. */
export function yamlFilesUnder(dir: string, maxDepth = 8): string[] {
  try {
    return listDir(dir, '', 0, maxDepth)
      .filter((n) => !/\.(json|md|txt|sh|py|js|ts|wasm|zip|gz|tgz|csar|meta|png|jpg|svg)$/i.test(n))
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}
