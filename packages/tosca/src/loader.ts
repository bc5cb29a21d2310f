/**
 * Loading a TOSCA file and everything it imports (relative paths, mapped URLs, repositories,
 * profiles by name), each file once, cycles tolerated, with namespaces recorded per import.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { DiagnosticSink, Where } from './diagnostic.js';
import {
  type Location,
  locationName,
  resolveRelative,
  type SourceReader,
  yamlFilesUnder,
} from './source-reader.js';
import { getEntry, parseYaml, type YMap, type YNode, type YScalar } from './yaml-tree.js';

/** One loaded TOSCA file. */
export interface Unit {
  loc: Location;
  name: string;
  root?: YMap;
  /** `profile:` declared by this file, if any. */
  profile?: string;
  /** The profile this file belongs to (its own, or that of the profile file importing it). */
  inProfile?: string;
  imports: Array<{ unit: Unit; namespace?: string; where: YNode; path: string; from: Unit }>;
  /** Problems already reported for this file's structure (so checks are not repeated). */
  ok: boolean;
}

/** Options for offline resolution. */
export interface LoaderOptions {
  mapUrls: Record<string, string>;
  profilePaths: string[];
  /** The source is a CSAR directory (searched whole for bundled profiles). */
  csarDirectory?: boolean;
}

const PROFILE_LINE = /^profile:\s*["']?([^"'#\s]+)["']?\s*(?:#.*)?$/m;

/** Loads the import graph of a service. */
export class Loader {
  readonly units = new Map<string, Unit>();
  private catalog?: Map<string, Location[]>;
  /** The texts the catalog scan read of files declaring a profile, until they are loaded. */
  private readonly profileTexts = new Map<string, string>();

  constructor(
    private readonly reader: SourceReader,
    private readonly sink: DiagnosticSink,
    private readonly options: LoaderOptions,
    private readonly entryDir: string,
  ) {}

  /** Loads a file and, recursively, its imports. Returns undefined when it cannot be read. */
  load(
    loc: Location,
    from?: { where: Where; path: string; ref?: string },
    inProfile?: string,
  ): Unit | undefined {
    const key = locationName(loc);
    const existing = this.units.get(key);
    if (existing) return existing;
    const scanned = this.profileTexts.get(key);
    this.profileTexts.delete(key);
    const read = scanned === undefined ? this.reader.read(loc) : { text: scanned };
    if ('error' in read) {
      if (from)
        this.sink.error(
          'TOSCA1002',
          from.where,
          from.path,
          `cannot import ${from.ref ?? key}: ${read.error.startsWith('ENOENT') ? 'no such file' : read.error}`,
        );
      else
        this.sink.error(
          'TOSCA1002',
          { file: key, line: 1, column: 1 },
          '',
          `cannot read ${key}: ${read.error}`,
        );
      return undefined;
    }
    const parsed = parseYaml(key, read.text);
    const unit: Unit = { loc, name: key, imports: [], ok: true };
    this.units.set(key, unit);
    for (const p of parsed.problems) {
      const pos = parsed.file.position(p.offset);
      this.sink.report(
        p.warning ? 'warning' : 'error',
        'TOSCA1001',
        { file: key, line: pos.line, column: pos.column },
        '',
        p.message,
      );
      if (!p.warning) unit.ok = false;
    }
    if (!parsed.root) return unit;
    if (parsed.root.kind !== 'map') {
      const empty = parsed.root.kind === 'scalar' && parsed.root.value === null;
      this.sink.error(
        'TOSCA1010',
        parsed.root,
        '',
        empty ? 'the file is empty: a TOSCA file is a YAML map' : 'a TOSCA file must be a YAML map',
      );
      unit.ok = false;
      return unit;
    }
    unit.root = parsed.root;
    const version = getEntry(parsed.root, 'tosca_definitions_version');
    if (!version) {
      this.sink.error(
        'TOSCA1003',
        parsed.root,
        '',
        'missing tosca_definitions_version (must be tosca_2_0)',
      );
      unit.ok = false;
    } else if (version.value.kind !== 'scalar' || version.value.value !== 'tosca_2_0') {
      this.sink.error(
        'TOSCA1003',
        version.value,
        'tosca_definitions_version',
        version.value.kind === 'scalar' &&
          /^tosca_simple_yaml_1_[0-3]$/.test(String(version.value.value))
          ? `${String(version.value.value)} is TOSCA 1.x, which a TOSCA 2.0 processor need not read (TOSCA 2.0 6.2) and this one does not: it reads tosca_2_0`
          : 'unsupported tosca_definitions_version: this processor reads tosca_2_0',
      );
      unit.ok = false;
    } else if (parsed.firstKey !== 'tosca_definitions_version') {
      this.sink.error(
        'TOSCA1004',
        version.key,
        'tosca_definitions_version',
        'tosca_definitions_version must be the first key of a TOSCA file',
      );
    }
    if (!unit.ok) return unit;
    const profile = getEntry(parsed.root, 'profile');
    if (
      profile?.value.kind === 'scalar' &&
      typeof profile.value.value === 'string' &&
      profile.value.value !== ''
    ) {
      unit.profile = profile.value.value;
    }
    const own = unit.profile ?? inProfile;
    if (own) unit.inProfile = own;
    this.loadImports(unit, parsed.root);
    return unit;
  }

  private loadImports(unit: Unit, root: YMap): void {
    const imports = getEntry(root, 'imports');
    if (!imports) return;
    const list = imports.value;
    if (list.kind !== 'seq') {
      this.sink.error(
        'TOSCA1010',
        list,
        'imports',
        list.kind === 'scalar' && list.value === null
          ? 'imports is empty: give a list of import definitions or omit it'
          : 'imports must be a list of import definitions',
      );
      return;
    }
    const repositories = getEntry(root, 'repositories')?.value;
    list.items.forEach((item, i) => {
      const path = `imports[${i}]`;
      let url: YScalar | undefined;
      let profile: YScalar | undefined;
      let repository: YScalar | undefined;
      let namespace: string | undefined;
      if (item.kind === 'scalar' && typeof item.value === 'string' && item.value !== '') {
        url = item;
      } else if (item.kind === 'map') {
        const allowed = new Set([
          'url',
          'profile',
          'repository',
          'namespace',
          'description',
          'metadata',
        ]);
        for (const e of item.entries) {
          const k = String(e.key.value);
          if (!allowed.has(k)) {
            this.sink.error(
              'TOSCA1011',
              e.key,
              `${path}.${k}`,
              `unknown keyname "${k}" in an import definition (allowed: ${[...allowed].join(', ')})`,
            );
            continue;
          }
          if (k === 'description' || k === 'metadata') continue;
          if (
            e.value.kind !== 'scalar' ||
            typeof e.value.value !== 'string' ||
            e.value.value === ''
          ) {
            this.sink.error(
              'TOSCA1010',
              e.value,
              `${path}.${k}`,
              `${k} must be a non-empty string`,
            );
            return;
          }
          if (k === 'url') url = e.value;
          else if (k === 'profile') profile = e.value;
          else if (k === 'repository') repository = e.value;
          else namespace = e.value.value as string;
        }
        if (!url && !profile) {
          this.sink.error('TOSCA1012', item, path, 'an import definition needs "url" or "profile"');
          return;
        }
        if (url && profile) {
          this.sink.error(
            'TOSCA1010',
            item,
            path,
            'an import definition has either "url" or "profile", not both',
          );
          return;
        }
        if (repository && !url) {
          this.sink.error(
            'TOSCA1012',
            repository,
            `${path}.repository`,
            '"repository" needs a "url" relative to it',
          );
          return;
        }
      } else {
        this.sink.error(
          'TOSCA1010',
          item,
          path,
          'an import must be a URL string or an import definition map',
        );
        return;
      }
      let target: Unit | undefined;
      if (profile) {
        target = this.loadProfile(String(profile.value), profile, `${path}.profile`, unit);
      } else if (url) {
        let ref = String(url.value);
        if (repository) {
          const repoUrl = this.repositoryUrl(
            repositories,
            String(repository.value),
            repository,
            `${path}.repository`,
          );
          if (repoUrl === undefined) return;
          ref = `${repoUrl.replace(/\/+$/, '')}/${ref.replace(/^\/+/, '')}`;
        }
        const loc = this.resolveUrl(unit.loc, ref, url, `${path}.url`);
        if (!loc) return;
        target = this.load(loc, { where: url, path: `${path}.url`, ref }, unit.inProfile);
      }
      if (target) {
        const imp: Unit['imports'][number] = { unit: target, where: item, path, from: unit };
        if (namespace) imp.namespace = namespace;
        unit.imports.push(imp);
      }
    });
  }

  private repositoryUrl(
    repositories: YNode | undefined,
    name: string,
    where: Where,
    path: string,
  ): string | undefined {
    if (repositories?.kind === 'map') {
      const repo = getEntry(repositories, name)?.value;
      if (repo?.kind === 'scalar' && typeof repo.value === 'string') return repo.value;
      if (repo?.kind === 'map') {
        const url = getEntry(repo, 'url')?.value;
        if (url?.kind === 'scalar' && typeof url.value === 'string') return url.value;
        return undefined;
      }
    }
    this.sink.error(
      'TOSCA1020',
      where,
      path,
      `unknown repository "${name}" (define it under repositories)`,
    );
    return undefined;
  }

  /** Maps a URL or relative path to a location, offline. */
  private resolveUrl(
    base: Location,
    ref: string,
    where: Where,
    path: string,
  ): Location | undefined {
    const mapped = this.mapUrl(ref);
    if (mapped !== undefined) return { path: mapped };
    if (/^file:\/\//.test(ref)) return { path: decodeURIComponent(ref.slice(7)) };
    if (ref.startsWith('file:')) return resolveRelative(base, decodeURIComponent(ref.slice(5)));
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) {
      this.sink.error(
        'TOSCA1060',
        where,
        path,
        `cannot fetch ${ref} offline: map it to a local path with --map-url URL=PATH`,
      );
      return undefined;
    }
    // In a CSAR directory, a leading slash starts at the CSAR's root, as in an archive (6.8.2.2).
    if (
      ref.startsWith('/') &&
      !base.archive &&
      this.options.csarDirectory &&
      isInside(this.entryDir, base.path)
    )
      return { path: resolve(this.entryDir, `.${ref}`) };
    return resolveRelative(base, ref);
  }

  private mapUrl(ref: string): string | undefined {
    let best: [string, string] | undefined;
    for (const [prefix, target] of Object.entries(this.options.mapUrls)) {
      if (ref.startsWith(prefix) && (!best || prefix.length > best[0].length))
        best = [prefix, target];
    }
    if (!best) return undefined;
    const rest = ref.slice(best[0].length);
    return rest ? resolve(best[1], rest.replace(/^\/+/, '')) : resolve(best[1]);
  }

  private loadProfile(name: string, where: Where, path: string, importer: Unit): Unit | undefined {
    const candidates = this.profileCatalog().get(name) ?? [];
    const chosen = candidates.find((c) => locationName(c) !== importer.name) ?? candidates[0];
    if (!chosen) {
      this.sink.error(
        'TOSCA1060',
        where,
        path,
        `profile "${name}" not found in the profile catalogs (add one with --profile-path DIR)`,
      );
      return undefined;
    }
    return this.load(chosen, { where, path }, name);
  }

  /** Profile name -> files declaring it: the catalogs given, the project's, the entry's folder. */
  private profileCatalog(): Map<string, Location[]> {
    if (this.catalog) return this.catalog;
    const catalog = new Map<string, Location[]>();
    const add = (text: string, loc: Location) => {
      if (!text.includes('tosca_definitions_version')) return;
      const m = PROFILE_LINE.exec(text);
      if (!m?.[1]) return;
      const list = catalog.get(m[1]) ?? [];
      list.push(loc);
      catalog.set(m[1], list);
      this.profileTexts.set(locationName(loc), text);
    };
    // Profiles bundled in the CSAR come first, then the catalogs given, the folder of the
    // source, and the project's catalog.
    for (const { loc, text } of this.reader.archiveTexts()) add(text, loc);
    const dirs = [
      ...this.options.profilePaths.map((p) => resolve(p)),
      this.entryDir,
      defaultProfileDir(),
    ];
    const seen = new Set<string>();
    for (const dir of dirs) {
      // The source's own folder is searched shallowly: it may be any folder of the user's.
      for (const file of yamlFilesUnder(
        dir,
        dir === this.entryDir && !this.options.csarDirectory ? 2 : 8,
      )) {
        if (seen.has(file)) continue;
        seen.add(file);
        let text: string;
        try {
          if (statSync(file).size > 4 * 1024 * 1024) continue;
          text = readFileSync(file, 'utf8');
        } catch {
          continue;
        }
        add(text, { path: file });
      }
    }
    this.catalog = catalog;
    return catalog;
  }
}

/** The project's profile catalog (`profiles/` at the repository root). */
function defaultProfileDir(): string {
  return resolve(dirname(new URL(import.meta.url).pathname), '../../../profiles');
}

/** Whether `path` is `dir` or below it. */
function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
