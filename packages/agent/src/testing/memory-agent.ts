/**
 * Test support: an agent in this process whose `Process` nodes run on the in-memory reference
 * driver (`@khutulun/driver-memory`), so that tests of the agent's own logic (ordering,
 * rollback, restart policy, back-off, recovery, health checks) start nothing real and take
 * milliseconds. The test scripts the workloads through the shared `MemoryHost`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MemoryHost, type MemoryKind, memoryKind } from '@khutulun/driver-memory';
import { type Agent, startAgent } from '../start-agent.js';
import { type ApiResponse, apiCall, eventStream, type Json } from './agent-process.js';

/** The kind name the memory driver runs `Process` nodes under in these agents. */
export const MEMORY_PROCESS_KIND = 'process';

/**
 * Extra spec properties per workload (by node template name, e.g. `{ app: { exit_code: 1 } }`):
 * the memory driver's scripting (`exit_code`, `exit_after_ms`, `ignore_sigterm`, ...), which the
 * `Process` type does not declare, so a service file cannot carry them.
 */
export type MemoryScripts = Record<string, Record<string, string | number | boolean>>;

/** An in-process agent on the memory kind. */
export interface MemoryAgent {
  readonly agent: Agent;
  readonly kind: MemoryKind;
  readonly host: MemoryHost;
  readonly stateDir: string;
  api(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** The SSE event stream from `since` (default: from now), closed by `stop`. */
  events(since?: number): Promise<ReturnType<typeof eventStream>>;
  /** The port reservations in the agent's ledger. */
  reservations(): Json[];
  /** Stops the agent, once (the workloads stay on the host, as after an agent restart). */
  stop(): Promise<void>;
}

/** The node template a workload instance comes from (`web-1` -> `web`). */
export function templateOf(workload: string): string {
  return workload.replace(/-\d+$/, '');
}

/**
 * Starts an agent on `stateDir` whose only kind is the memory driver running `Process` nodes.
 * Pass the `host` of an earlier agent to simulate an agent restart on the same machine.
 */
export async function startMemoryAgent(options: {
  stateDir: string;
  host?: MemoryHost;
  scripts?: MemoryScripts;
}): Promise<MemoryAgent> {
  const scripts = options.scripts ?? {};
  const kind = memoryKind({
    kind: MEMORY_PROCESS_KIND,
    nodeTypes: ['node:io.khutulun.core/Process'],
    ...(options.host ? { host: options.host } : {}),
    // The node's values without the unset ones: the agent hands kinds the attributes too
    // (`exit_code: null` among them), which the memory driver would read as its own scripting.
    map: (node) => ({
      properties: {
        ...Object.fromEntries(Object.entries(node.properties).filter(([, v]) => v !== null)),
        ...scripts[templateOf(node.key.name)],
      },
      problems: [],
    }),
  });
  // A range of its own: agents of parallel test files keep separate ledgers. Nothing listens
  // on these ports (nothing runs), but the ledger checks them against the OS all the same.
  const from = 30_000 + Math.floor(Math.random() * 300) * 100;
  const agent = await startAgent({
    stateDir: options.stateDir,
    host: 'memory-test',
    kinds: [kind],
    portRange: { from, to: from + 99 },
  });
  const streams: Array<{ close(): void }> = [];
  let stopping: Promise<void> | undefined;
  const api = (method: string, path: string, body?: unknown) =>
    apiCall(agent.socketPath, method, path, body);
  return {
    agent,
    kind,
    host: kind.host,
    stateDir: options.stateDir,
    api,
    async events(since) {
      const from = since ?? (await api('GET', '/v1/health')).body.lastSeq;
      const stream = eventStream(agent.socketPath, from);
      streams.push(stream);
      return stream;
    },
    reservations() {
      try {
        return JSON.parse(readFileSync(join(options.stateDir, 'ports.json'), 'utf8')).reservations;
      } catch {
        return [];
      }
    },
    stop() {
      for (const stream of streams.splice(0)) stream.close();
      stopping ??= agent.stop();
      return stopping;
    },
  };
}

/** A temporary directory, and its remover. */
export function temporaryDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes a service file of the core profile (namespace `k`) with these node templates. */
export function writeServiceFile(dir: string, name: string, nodeTemplates: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun.core
    namespace: k
service_template:
  node_templates:
${nodeTemplates}`,
  );
  return file;
}
