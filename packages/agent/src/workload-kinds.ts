/**
 * The agent's registry of workload kinds: which kinds this host offers (probed at start), the
 * driver of each, and which kind runs a given node. The agent's logic reaches drivers only
 * through it; the composition root (`agent-runtime.ts`) decides which kinds exist.
 */
import {
  type DriverContext,
  DriverError,
  type WorkloadDriver,
  type WorkloadExit,
  type WorkloadKind,
  type WorkloadNode,
  type WorkloadRef,
  type WorkloadStatus,
} from '@khutulun/driver';
import { DeployError } from './agent-error.js';

/** A kind as this host offers it (or does not, and why). */
export interface OfferedKind {
  kind: string;
  nodeTypes: readonly string[];
  available: boolean;
  /** Why it is not available (the probe's answer). */
  reason?: string;
}

/** The kinds of this host and their opened drivers. */
export class WorkloadKinds {
  readonly #kinds: WorkloadKind[];
  readonly #drivers = new Map<string, WorkloadDriver>();
  readonly #unavailable = new Map<string, string>();

  private constructor(kinds: WorkloadKind[]) {
    this.#kinds = kinds;
  }

  /**
   * Probes every kind and opens the drivers of those available. A kind whose probe or open
   * fails is recorded as unavailable with the reason; the agent runs without it.
   */
  static async open(kinds: WorkloadKind[], context: DriverContext): Promise<WorkloadKinds> {
    const registry = new WorkloadKinds(kinds);
    await Promise.all(
      kinds.map(async (k) => {
        const probe = await k.probe(context).catch((error: unknown) => ({
          available: false as const,
          reason: (error as Error).message,
        }));
        if (!probe.available) {
          registry.#unavailable.set(k.kind, probe.reason);
          context.log('info', `workload kind ${k.kind} is not available: ${probe.reason}`);
          return;
        }
        try {
          registry.#drivers.set(k.kind, await k.open(context));
        } catch (error) {
          registry.#unavailable.set(k.kind, (error as Error).message);
          context.log(
            'warn',
            `workload kind ${k.kind} failed to open: ${(error as Error).message}`,
          );
        }
      }),
    );
    return registry;
  }

  /** Every registered kind, available or not (for `host list`). */
  offered(): OfferedKind[] {
    return this.#kinds.map((k) => {
      const reason = this.#unavailable.get(k.kind);
      return {
        kind: k.kind,
        nodeTypes: k.nodeTypes,
        available: this.#drivers.has(k.kind),
        ...(reason ? { reason } : {}),
      };
    });
  }

  /** Every node type some kind runs (for planning: a vertex in none of them is no workload). */
  nodeTypes(): string[] {
    return [...new Set(this.#kinds.flatMap((k) => k.nodeTypes))];
  }

  /**
   * The kind that runs a node: among the kinds whose node types the node is in, those that
   * claim it. Undefined when the node is no workload. Throws a `DeployError` when several
   * kinds claim it, or when the kind is not available on this host.
   */
  kindOf(node: WorkloadNode): WorkloadKind | undefined {
    const candidates = this.#kinds.filter((k) => k.nodeTypes.some((t) => node.types.includes(t)));
    if (!candidates.length) return undefined;
    const claiming = candidates.filter((k) => !k.claims || k.claims(node));
    const { service, name } = node.key;
    if (claiming.length !== 1) {
      throw new DeployError({
        code: 'kind-ambiguous',
        status: 422,
        message: claiming.length
          ? `workload ${name}: kinds ${claiming.map((k) => k.kind).join(', ')} all claim it`
          : `workload ${name}: none of the kinds ${candidates.map((k) => k.kind).join(', ')} runs it (check its engine)`,
        details: { service, workload: name },
      });
    }
    const kind = claiming[0]!;
    if (!this.#drivers.has(kind.kind)) {
      const reason = this.#unavailable.get(kind.kind) ?? 'not opened';
      throw new DeployError({
        code: 'kind-unavailable',
        status: 422,
        message: `workload ${name} needs the ${kind.kind} kind, which this host does not offer: ${reason}`,
        details: { service, workload: name, kind: kind.kind },
      });
    }
    return kind;
  }

  /** Whether a kind's workloads have a file system of their own (files are then mounted). */
  ownFileSystem(kind: string): boolean {
    return this.#kinds.find((k) => k.kind === kind)?.ownFileSystem ?? false;
  }

  /** Whether a kind's workloads live in an engine other agents may share (see `WorkloadKind`). */
  sharedEngine(kind: string): boolean {
    return this.#kinds.find((k) => k.kind === kind)?.sharedEngine === true;
  }

  /** The driver of an available kind. */
  driver(kind: string): WorkloadDriver {
    const driver = this.#drivers.get(kind);
    if (!driver) {
      throw new DriverError(`this host does not offer the ${kind} kind`, {
        code: 'not-found',
        driver: kind,
      });
    }
    return driver;
  }

  /** The available kinds whose driver runs commands inside a workload (`exec`). */
  execKinds(): string[] {
    return [...this.#drivers].filter(([, driver]) => driver.exec).map(([kind]) => kind);
  }

  /** The driver a stored ref names. */
  driverOf(ref: WorkloadRef): WorkloadDriver {
    return this.driver(ref.kind);
  }

  /** The opened drivers. */
  drivers(): WorkloadDriver[] {
    return [...this.#drivers.values()];
  }

  /** Adopts every kind's workloads (after an agent start). */
  async adopt(): Promise<WorkloadStatus[]> {
    const all = await Promise.all(this.drivers().map((d) => d.adopt()));
    return all.flat();
  }

  /** Every kind's workloads. */
  async list(): Promise<WorkloadStatus[]> {
    const all = await Promise.all(this.drivers().map((d) => d.list()));
    return all.flat();
  }

  /** Listens to every driver's exits. */
  onExit(listener: (exit: WorkloadExit) => void): () => void {
    const offs = this.drivers().map((d) => d.on('exit', listener));
    return () => {
      for (const off of offs) off();
    };
  }

  /** Closes every driver (workloads keep running). */
  async close(): Promise<void> {
    await Promise.all(this.drivers().map((d) => d.close()));
  }
}
