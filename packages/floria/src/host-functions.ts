/** Building the host functions a plugin call gets, with `evaluate` wired to a dispatcher. */
import type { Dispatcher, HostFunctions } from './dispatch.js';
import { PermissionDenied } from './errors.js';
import { evaluate } from './expression.js';
import type { Entity, Id } from './model.js';
import type { StoreReader, StoreTransaction } from './store.js';

/** What `hostFunctions` builds from. */
export interface HostFunctionsOptions {
  /** Where `getEntity`, `query` and `traverse` read. */
  reader: StoreReader;
  /** Runs the calls that `evaluate` meets. */
  dispatcher: Dispatcher;
  /** Where graph changes go; without it `put`, `delete` and `emit` reject with `PermissionDenied`. */
  writer?: Pick<StoreTransaction, 'put' | 'delete' | 'emit'>;
  /** Replacements for any of the functions (e.g. a real `log`, or a narrower `query`). */
  overrides?: Partial<HostFunctions>;
}

/**
 * The host functions for calls made by Floria: reads go to `reader`, graph changes to
 * `writer` (if any), `evaluate` evaluates with the same dispatcher and host, and `log`
 * discards unless overridden.
 */
export function hostFunctions(options: HostFunctionsOptions): HostFunctions {
  const { reader, dispatcher, writer } = options;
  const denied = (name: string) => () =>
    Promise.reject(new PermissionDenied(name, 'graph changes are not allowed in this call'));
  const host: HostFunctions = {
    log: () => {},
    getEntity: (id) => reader.get(id),
    evaluate: (expression, site) => evaluate(expression, { site, dispatcher, host }),
    query: (query) => reader.query(query),
    traverse: (traverseOptions) => reader.traverse(traverseOptions),
    put: writer ? (entity) => writer.put(entity) : denied('put'),
    delete: writer ? (id) => writer.delete(id) : denied('delete'),
    emit: writer ? (event) => writer.emit(event) : denied('emit'),
    ...options.overrides,
  };
  return host;
}

/**
 * A reader whose `get` answers from `overlay` first (an entity, or `null` for one that is
 * gone) and from `reader` otherwise; the other reads go to `reader` unchanged.
 */
export function overlayReader(
  reader: StoreReader,
  overlay: (id: Id) => Entity | null | undefined,
): StoreReader {
  return {
    get: async (id) => {
      const found = overlay(id);
      return found === null ? undefined : (found ?? reader.get(id));
    },
    query: (query) => reader.query(query),
    children: (parent) => reader.children(parent),
    edgesOut: (vertex, options) => reader.edgesOut(vertex, options),
    edgesIn: (vertex, options) => reader.edgesIn(vertex, options),
    traverse: (options) => reader.traverse(options),
    isInClass: (entity, cls) => reader.isInClass(entity, cls),
  };
}
