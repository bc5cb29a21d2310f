/**
 * The network driver contract for port networking: reserve ports per host for workloads,
 * and expose them through the host's firewall.
 */
import type { Protocol, WorkloadKey } from './workload-driver.js';

/** What a workload asks for: a named port of a protocol, optionally a specific number. */
export interface PortRequest {
  owner: WorkloadKey;
  /** The capability or port name, unique per owner and protocol, e.g. `http`. */
  name: string;
  protocol: Protocol;
  /** A specific port; omitted, the driver picks a free one from its range. */
  port?: number;
}

/** A port held for one owner; no other owner gets it until it is released. */
export interface PortReservation {
  owner: WorkloadKey;
  name: string;
  protocol: Protocol;
  port: number;
  /** Whether the firewall lets outside traffic reach it. */
  exposed: boolean;
}

/**
 * A port network driver. Reservations are unique per host across all services, checked
 * against what the OS really uses, and persisted (crash-safe) so that an agent restart
 * neither loses nor duplicates them.
 */
export interface NetworkDriver {
  /** The kind, e.g. `ports`. */
  readonly kind: string;

  /**
   * Reserves a port. Idempotent: the same owner, name and protocol get the same reservation
   * back. Rejects with `port-taken` (a specific port in use) or `ports-exhausted`.
   */
  reserve(request: PortRequest): Promise<PortReservation>;

  /**
   * Releases an owner's reservations (all of them, or the one named), unexposing them first.
   * Resolves with what was released (empty if nothing).
   */
  release(owner: WorkloadKey, name?: string): Promise<PortReservation[]>;

  /** Opens the reserved port in the firewall. Idempotent. Rejects with `not-found`, `firewall-failed`. */
  expose(reservation: PortReservation): Promise<PortReservation>;

  /** Closes it again. Idempotent. */
  unexpose(reservation: PortReservation): Promise<PortReservation>;

  /** The reservations (of one owner, or all). */
  list(owner?: WorkloadKey): Promise<PortReservation[]>;

  /** The exact, shell-quoted commands run for an owner's ports (for `khutulun workload show`). */
  describe(owner: WorkloadKey): Promise<string[]>;
}
