import type { NetworkDriver, WorkloadDriver } from '@khutulun/driver';
import type { Dispatcher, Entity, Id, PluginEntity, Query, Store, Value } from '@khutulun/floria';

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
  host: string;
  stateDir: string;
  store: Store;
  workloads: WorkloadDriver;
  network: NetworkDriver;
  dispatcher: Dispatcher;
  /** Registers plugins (by entity) so the dispatcher can call them. */
  plugins: { register(entity: PluginEntity): void };
  floria: FloriaCore;
  compile: Compile;
  policies: HostPolicies;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}
