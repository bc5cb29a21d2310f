/**
 * A workload kind as a plug-in of the agent: the TOSCA node types it runs, the mapping from a
 * node's values to its driver's spec, and how to open its driver on a host. The agent holds
 * kinds in a registry and never imports a particular one; one composition root wires them.
 */
import type { Value } from '@khutulun/floria';
import type { Problem } from './driver-error.js';
import type { WorkloadDriver, WorkloadKey } from './workload-driver.js';

/** An artifact of a node, as its template declares it, with the file resolved. */
export interface NodeArtifact {
  /** The artifact type's full class name, e.g. `artifact:io.khutulun.core/OciArchive`. */
  type: string;
  /** Every class the type is in (itself and its ancestors), for `is a` checks. */
  types: string[];
  /** The artifact file, absolute (resolved against the service's base directory). */
  file: string;
  /** The artifact's properties and other keynames, as declared. */
  values: Record<string, Value>;
}

/** A requirement of a node that another workload of the service fulfils. */
export interface NodeRelation {
  /** The requirement's name, e.g. `pod`. */
  name: string;
  /** The relationship's type (full class name) and every ancestor. */
  types: string[];
  /** The name of the workload it points at (the target node, or the owner of the target capability). */
  target: string;
}

/** A workload's node, as the kind's mapping sees it: evaluated values, nothing else. */
export interface WorkloadNode {
  key: WorkloadKey;
  /** The node's type (full class name) and every ancestor class. */
  types: string[];
  /** The node's evaluated property values (TOSCA snake_case names). */
  properties: Record<string, Value>;
  /** Its artifacts by name. */
  artifacts: Record<string, NodeArtifact>;
  /** Its requirements fulfilled by other workloads of the service. */
  relations: NodeRelation[];
  /** The directory relative paths in the template are resolved against. */
  baseDirectory: string;
}

/** What a kind's mapping returns: the kind's spec properties, or problems (as data). */
export interface KindMapping {
  properties: Record<string, Value>;
  problems: Problem[];
}

/** What a driver is opened with on a host. */
export interface DriverContext {
  /** The agent's state directory; a driver keeps its own files under `<state>/<kind>`. */
  stateDirectory: string;
  /** This host's name (put on what the driver makes, e.g. a container label). */
  host: string;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

/** Whether a kind can run on this host, found by probing at agent start. */
export type KindAvailability = { available: true } | { available: false; reason: string };

/**
 * One workload kind. `nodeTypes` are full class names (e.g. `node:io.khutulun.core/Process`);
 * a node is run by the kind whose node type is the most derived among its classes, and, when
 * several kinds share that type (`Container`: podman or docker), by the one that `claims` it.
 */
export interface WorkloadKind {
  readonly kind: string;
  readonly nodeTypes: readonly string[];
  /** With shared node types: whether this kind runs the node (e.g. its `engine` property). */
  claims?(node: WorkloadNode): boolean;
  /**
   * Whether the kind's workloads have a file system of their own (containers, VMs): the
   * agent's configuration files and data directories are then bind-mounted at their paths.
   * Otherwise (processes) they are written at their paths on the host.
   */
  readonly ownFileSystem: boolean;
  /**
   * Whether its workloads live in an engine that other agents on the machine may share (a
   * Podman or Docker store): an agent then never sweeps workloads of services it does not
   * know as orphans (they may be another agent's), and leaves them with a warning. Kinds whose
   * workloads live in the agent's own state directory (processes) leave it unset.
   */
  readonly sharedEngine?: boolean;
  /** Maps a node to the kind's spec properties. Never throws for bad input. */
  map(node: WorkloadNode): KindMapping;
  /**
   * The spec properties that run `command` (program and arguments) instead of the workload's
   * own, with everything else kept: how the agent runs prestart steps in the workload's kind
   * (for containers, a one-off container of the same image with the same mounts).
   */
  withCommand(properties: Record<string, Value>, command: string[]): Record<string, Value>;
  /** Probes the host (the engine installed, its socket answering). Never throws. */
  probe(context: DriverContext): Promise<KindAvailability>;
  /** Opens the driver (after a successful probe). */
  open(context: DriverContext): Promise<WorkloadDriver>;
}
