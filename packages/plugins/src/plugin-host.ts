/**
 * The plugin host: one `Dispatcher` in front of Wasm, executable and in-process plugins.
 * It registers plugins by their Floria entity, verifies content digests, loads each plugin
 * lazily at its first call and keeps it loaded, routes calls by plugin name, narrows the
 * host functions to each plugin's grants, and releases everything on `close()`.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type {
  Dispatcher,
  FunctionCall,
  HostFunctions,
  Id,
  PluginEntity,
  Value,
} from '@khutulun/floria';
import { builtinPlugins } from './builtin-plugins.js';
import { contentDigest } from './content-digest.js';
import { executablePlugin } from './executable-plugin.js';
import type { LoadedPlugin } from './loaded-plugin.js';
import { type ModuleCallContext, modulePlugin, type PluginModule } from './module-plugin.js';
import { isPluginError, PluginError } from './plugin-error.js';
import { grantedHostFunctions } from './protocol.js';
import { loadWasmPlugin } from './wasm-plugin.js';

/** Limits and where to find plugin content. */
export interface PluginHostOptions {
  /** Time limit of every call, in milliseconds (default 5000). */
  timeoutMs?: number;
  /** Memory limit of every Wasm instance, in 64 KiB pages (default 1024: 64 MiB). */
  maxMemoryPages?: number;
  /** Wasm instances (worker threads) per plugin for concurrent calls (default 2). */
  maxInstances?: number;
  /** Directory that relative plugin locations are resolved against (default: the cwd). */
  baseDir?: string;
  /** Register the built-in plugins (`builtinPlugins()`: the `khutulun` Wasm plugin). */
  builtins?: boolean;
}

/** A registered plugin: its entity (or in-process module) and, once loaded, the plugin. */
interface Registration {
  entity: PluginEntity;
  grants: ReadonlySet<string>;
  module?: PluginModule;
  loading?: Promise<LoadedPlugin>;
}

/**
 * Dispatches calls to registered plugins. Safe to call concurrently; every call has the
 * host's time limit; `close()` terminates every worker and process the host started.
 */
export class PluginHost implements Dispatcher {
  /** Registrations by plugin name, then by directory (`a/b`). */
  readonly #plugins = new Map<string, Map<string, Registration>>();
  /** The plugins whose host function is running in the current async context. */
  readonly #nesting = new AsyncLocalStorage<ReadonlySet<string>>();
  readonly #timeoutMs: number;
  readonly #maxPages: number;
  readonly #maxInstances: number;
  readonly #baseDir: string;
  #tempDir: Promise<string> | undefined;
  #closed = false;

  constructor(options: PluginHostOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxPages = options.maxMemoryPages ?? 1024;
    this.#maxInstances = options.maxInstances ?? 2;
    this.#baseDir = options.baseDir ?? process.cwd();
    if (options.builtins) for (const entity of builtinPlugins()) this.register(entity);
  }

  /**
   * Registers (or replaces: same name and directory) a plugin by its entity; it is loaded
   * and its digest checked at its first call. Calls name the plugin by `entity.id.name`; when
   * plugins of the same name sit in several directories (two services shipping their own
   * `functions.wasm`), a call goes to the one in the innermost directory enclosing the call
   * site's entity.
   */
  register(entity: PluginEntity): void {
    this.#replace({ entity, grants: new Set(entity.grants) });
  }

  /** Removes (and unloads) the plugin with this entity ID; whether there was one. */
  async unregister(id: Id): Promise<boolean> {
    const byDirectory = this.#plugins.get(id.name);
    const key = id.directory.join('/');
    const old = byDirectory?.get(key);
    if (!old) return false;
    byDirectory?.delete(key);
    if (byDirectory?.size === 0) this.#plugins.delete(id.name);
    await unload(old);
    return true;
  }

  /**
   * Registers an in-process module object (a trusted built-in, no file behind it) under
   * `name` with the given grants.
   */
  registerModule(name: string, module: PluginModule, grants: readonly string[] = []): void {
    const entity: PluginEntity = {
      id: { kind: 'plugin', directory: [], name },
      metadata: {},
      classes: [],
      pluginKind: 'typescript',
      digest: '',
      location: 'in-process:',
      grants: [...grants],
    };
    this.#replace({ entity, grants: new Set(grants), module });
  }

  /**
   * Registers another `Dispatcher` as an in-process plugin under `name` (e.g. the TOSCA
   * run-time functions, `@khutulun/tosca`'s `createToscaDispatcher()` as `tosca`), with the
   * given grants and the host's time limit.
   */
  registerDispatcher(name: string, dispatcher: Dispatcher, grants: readonly string[] = []): void {
    this.registerModule(name, dispatcherModule(dispatcher), grants);
  }

  /** Whether a plugin of that name is registered. */
  has(name: string): boolean {
    return this.#plugins.has(name);
  }

  /** The registered plugin entities. */
  plugins(): PluginEntity[] {
    return [...this.#plugins.values()].flatMap((byDirectory) =>
      [...byDirectory.values()].map((r) => r.entity),
    );
  }

  async dispatch(call: FunctionCall, host: HostFunctions): Promise<Value> {
    const registration = this.#route(call);
    if (!registration || this.#closed) {
      const why = this.#closed
        ? 'the plugin host is closed'
        : this.#plugins.has(call.plugin)
          ? 'several plugins have this name and none is in a directory enclosing the call site'
          : 'no such plugin';
      throw new PluginError(why, {
        code: this.#closed ? 'CLOSED' : 'NOT_FOUND',
        plugin: call.plugin,
        function: call.function,
        site: call.site,
      });
    }
    let denied: PluginError | undefined;
    const granted = grantedHostFunctions(host, registration.grants, call, (error) => {
      denied = error;
    });
    const outer = this.#nesting.getStore();
    const inner = new Set(outer);
    inner.add(call.plugin);
    try {
      registration.loading ??= this.#load(registration).catch((error: unknown) => {
        // Retry at the next call: the content may be fixed by then.
        registration.loading = undefined;
        throw error;
      });
      const plugin = await registration.loading;
      return await plugin.call(call, {
        host: this.#nested(granted, inner),
        timeoutMs: this.#timeoutMs,
        nested: outer?.has(call.plugin) === true,
      });
    } catch (error) {
      // A plugin that reports failure after a refusal failed because of it, whatever it said;
      // a timeout, trap or crash stays what it is.
      if (denied && (!isPluginError(error) || error.code === 'FAILED')) throw denied;
      if (isPluginError(error)) throw error;
      throw new PluginError(String((error as Error)?.message ?? error), {
        code: 'FAILED',
        plugin: call.plugin,
        function: call.function,
        site: call.site,
        cause: error,
      });
    }
  }

  /** Terminates every plugin worker and process; later calls fail with `CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    const registrations = [...this.#plugins.values()].flatMap((m) => [...m.values()]);
    await Promise.all(registrations.map((r) => unload(r)));
    if (this.#tempDir) await rm(await this.#tempDir, { recursive: true, force: true });
  }

  #replace(registration: Registration): void {
    const { name, directory } = registration.entity.id;
    let byDirectory = this.#plugins.get(name);
    if (!byDirectory) {
      byDirectory = new Map();
      this.#plugins.set(name, byDirectory);
    }
    const key = directory.join('/');
    const old = byDirectory.get(key);
    byDirectory.set(key, registration);
    if (old) void unload(old);
  }

  /** The plugin a call goes to: the only one of its name, or the innermost enclosing one. */
  #route(call: FunctionCall): Registration | undefined {
    const byDirectory = this.#plugins.get(call.plugin);
    if (!byDirectory) return undefined;
    if (byDirectory.size === 1) return byDirectory.values().next().value;
    const site = call.site.entity.directory;
    let best: Registration | undefined;
    for (const registration of byDirectory.values()) {
      const dir = registration.entity.id.directory;
      const encloses = dir.length <= site.length && dir.every((segment, i) => segment === site[i]);
      if (encloses && (!best || dir.length > best.entity.id.directory.length)) best = registration;
    }
    return best;
  }

  /** Host functions that mark their async context as "inside plugins `inside`". */
  #nested(host: HostFunctions, inside: ReadonlySet<string>): HostFunctions {
    const run = <T>(fn: () => T): T => this.#nesting.run(inside, fn);
    return {
      log: (level, message) => run(() => host.log(level, message)),
      getEntity: (id) => run(() => host.getEntity(id)),
      evaluate: (expression, site) => run(() => host.evaluate(expression, site)),
      query: (query) => run(() => host.query(query)),
      traverse: (options) => run(() => host.traverse(options)),
      put: (entity) => run(() => host.put(entity)),
      delete: (id) => run(() => host.delete(id)),
      emit: (event) => run(() => host.emit(event)),
    };
  }

  async #load(registration: Registration): Promise<LoadedPlugin> {
    const { entity } = registration;
    const name = entity.id.name;
    if (registration.module) return modulePlugin(name, registration.module);
    const fail = (code: 'LOAD_FAILED' | 'DIGEST_MISMATCH', message: string, cause?: unknown) =>
      new PluginError(message, { code, plugin: name, cause });
    let bytes: Uint8Array;
    let path: string | undefined;
    try {
      if (entity.location.startsWith('inline:')) {
        bytes = Buffer.from(entity.content ?? '', 'base64');
      } else {
        path = this.#path(entity.location);
        bytes = await readFile(path);
      }
    } catch (cause) {
      throw fail(
        'LOAD_FAILED',
        `cannot read ${entity.location}: ${(cause as Error).message}`,
        cause,
      );
    }
    const digest = contentDigest(bytes);
    if (entity.digest !== digest) {
      throw fail('DIGEST_MISMATCH', `content digest is ${digest}, registered ${entity.digest}`);
    }
    switch (entity.pluginKind) {
      case 'wasm':
        return loadWasmPlugin(name, bytes, {
          maxPages: this.#maxPages,
          maxInstances: this.#maxInstances,
        });
      case 'executable':
        return executablePlugin(name, path ?? (await this.#materialize(name, bytes, '', 0o755)));
      case 'typescript': {
        const file = path ?? (await this.#materialize(name, bytes, '.mjs', 0o644));
        try {
          return modulePlugin(name, (await import(pathToFileURL(file).href)) as PluginModule);
        } catch (cause) {
          throw fail('LOAD_FAILED', `cannot import the module: ${(cause as Error).message}`, cause);
        }
      }
      default:
        throw fail('LOAD_FAILED', `unknown plugin kind '${String(entity.pluginKind)}'`);
    }
  }

  #path(location: string): string {
    if (location.startsWith('file:')) return fileURLToPath(location);
    return isAbsolute(location) ? location : resolve(this.#baseDir, location);
  }

  /** Writes inline content to a private temporary file (removed on close). */
  async #materialize(name: string, bytes: Uint8Array, ext: string, mode: number): Promise<string> {
    this.#tempDir ??= mkdtemp(join(tmpdir(), 'khutulun-plugins-'));
    const file = join(await this.#tempDir, `${name.replace(/[^\w.-]/g, '_')}${ext}`);
    await writeFile(file, bytes);
    await chmod(file, mode);
    return file;
  }
}

/** A module whose every function forwards the call to `dispatcher`. */
function dispatcherModule(dispatcher: Dispatcher): PluginModule {
  return new Proxy(
    {},
    {
      get: (_, fn) =>
        typeof fn !== 'string'
          ? undefined
          : (args: FunctionCall['arguments'], context: ModuleCallContext) => {
              const call: FunctionCall = {
                plugin: context.plugin,
                function: fn,
                arguments: args,
                site: context.site,
              };
              if (context.lazy) call.lazy = true;
              if (context.event) call.event = context.event;
              return dispatcher.dispatch(call, context.host);
            },
    },
  );
}

async function unload(registration: Registration): Promise<void> {
  const loaded = await registration.loading?.catch(() => undefined);
  await loaded?.close();
}

/** Creates a plugin host; `{ builtins: true }` registers the built-in plugins. */
export function createPluginHost(options: PluginHostOptions = {}): PluginHost {
  return new PluginHost(options);
}
