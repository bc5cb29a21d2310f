/**
 * `memoryKind()`: the in-memory driver as a `WorkloadKind`, with a configurable kind name and
 * node types, so that agent tests can run `Process` (or any) nodes on it.
 */
import type {
  DriverContext,
  KindAvailability,
  KindMapping,
  Problem,
  WorkloadKind,
  WorkloadNode,
  WorkloadSpec,
} from '@khutulun/driver';

/** A spec property value. */
type Value = WorkloadSpec['properties'][string];

import { MemoryDriver } from './memory-driver.js';
import { MemoryHost } from './memory-host.js';

/** Options of `memoryKind`. */
export interface MemoryKindOptions {
  /** The kind name (default `memory`). */
  kind?: string;
  /** The node types it runs (default `['node:io.khutulun.core/Process']`). */
  nodeTypes?: readonly string[];
  /** The simulated host every driver it opens shares (default: a new one, held by the kind). */
  host?: MemoryHost;
  /** With shared node types: whether it runs the node (default: absent, it claims all). */
  claims?(node: WorkloadNode): boolean;
  /** The mapping (default: the node's properties, unchanged). */
  map?(node: WorkloadNode): KindMapping;
  /** Whether its workloads have a file system of their own (default false, as processes). */
  ownFileSystem?: boolean;
  /**
   * The properties of a one-off run of `command` (prestart steps). Default: the workload's
   * properties with `command` set to it, `arguments` removed, and `exit_code: 0`, so the run
   * ends at once with success (script a failure with `host.failNextCreate` or this option).
   */
  withCommand?(properties: Record<string, Value>, command: string[]): Record<string, Value>;
  /** When set, `probe` reports the kind unavailable for this reason. */
  unavailable?: string;
  /** Passed to each driver: the in-place paths of `diff` (default `['limits.']`). */
  inPlace?: readonly string[];
  /** Passed to each driver: extra validation. */
  check?(spec: WorkloadSpec): Problem[];
}

/** A memory kind, with its host and the drivers it opened (the latest last), for tests. */
export interface MemoryKind extends WorkloadKind {
  readonly host: MemoryHost;
  readonly drivers: readonly MemoryDriver[];
}

/**
 * The in-memory driver as a kind. Every driver it `open`s shares one host, so opening it
 * again (a restarted agent) adopts what the previous driver left.
 */
export function memoryKind(options: MemoryKindOptions = {}): MemoryKind {
  const kind = options.kind ?? 'memory';
  const host = options.host ?? new MemoryHost();
  const drivers: MemoryDriver[] = [];
  const result: MemoryKind = {
    kind,
    nodeTypes: options.nodeTypes ?? ['node:io.khutulun.core/Process'],
    host,
    drivers,
    ownFileSystem: options.ownFileSystem ?? false,
    map: options.map ?? ((node) => ({ properties: { ...node.properties }, problems: [] })),
    withCommand:
      options.withCommand ??
      ((properties, command) => {
        const { arguments: _arguments, ...rest } = properties;
        return { ...rest, command: [...command], exit_code: 0 };
      }),
    async probe(_context: DriverContext): Promise<KindAvailability> {
      return options.unavailable === undefined
        ? { available: true }
        : { available: false, reason: options.unavailable };
    },
    async open(_context: DriverContext): Promise<MemoryDriver> {
      const driver = new MemoryDriver({
        kind,
        host,
        ...(options.inPlace ? { inPlace: options.inPlace } : {}),
        ...(options.check ? { check: options.check } : {}),
      });
      drivers.push(driver);
      return driver;
    },
  };
  if (options.claims) return { ...result, claims: options.claims };
  return result;
}
