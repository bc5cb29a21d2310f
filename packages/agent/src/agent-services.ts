import type { NetworkDriver } from '@khutulun/driver';
import type { Dispatcher, Entity, Id, PluginEntity, Query, Store, Value } from '@khutulun/floria';
import type { AgentCluster } from './agent-cluster.js';
import type { WorkloadKinds } from './workload-kinds.js';

/** A compile diagnostic, as the TOSCA compiler returns it. */
export interface CompileDiagnostic {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

/** The TOSCA compiler's entry point, as the agent uses it. */
export type Compile = (options: {
  source: string;
  inputs?: Record<string, Value>;
  directory?: string[];
  validateOnly?: boolean;
}) => Promise<{ diagnostics: CompileDiagnostic[]; templates?: Entity[] }>;

/**
 * Unpacks a CSAR archive into a directory (`archive: false`: the source is no archive, and
 * nothing was written).
 */
export type Unpack = (
  source: string,
  directory: string,
) => Promise<
  { archive: false } | { archive: true; directory: string } | { archive: true; error: string }
>;

/** A problem `update` found in a property. */
export interface UpdateProblem {
  entity: Id;
  path: string[];
  stage: string;
  message: string;
}

/** Floria's core operations the deploy uses (`@khutulun/floria`'s `instantiate` and `update`). */
export interface FloriaCore {
  instantiate(
    store: Store,
    options: { templates: { directory: string[] }; into: string[]; dispatcher: Dispatcher },
  ): Promise<unknown>;
  update(
    store: Store,
    options: { query: Query; dispatcher: Dispatcher },
  ): Promise<{ problems: UpdateProblem[] }>;
}

/**
 * The decisions delegated to the built-in Wasm plugin: where a workload runs, and how long
 * to wait before restarting one that exited.
 */
export interface HostPolicies {
  /** The host (by name) a workload is placed on, among the candidates. */
  place(input: { service: string; workload: string; hosts: string[] }): Promise<string>;
  /** Milliseconds to wait before restart number `restarts` (0 = the first restart). */
  restartDelay(input: { restarts: number; uptimeMs: number }): Promise<number>;
}

/** Everything the agent's service logic runs on. */
export interface AgentServices {
  /** This host's name. */
  host: string;
  /**
   * This host's address, as its host record holds it: what connections to its workloads'
   * ports are given (the embedded single host: 127.0.0.1).
   */
  address: string;
  stateDir: string;
  store: Store;
  /** The workload kinds this host offers, and their drivers. */
  kinds: WorkloadKinds;
  network: NetworkDriver;
  dispatcher: Dispatcher;
  /** Registers plugins (by entity) so the dispatcher can call them. */
  plugins: { register(entity: PluginEntity): void };
  floria: FloriaCore;
  compile: Compile;
  unpack: Unpack;
  policies: HostPolicies;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** The cluster this agent joined (`--bus`); undefined on the embedded single host. */
  cluster?: AgentCluster;
}
