import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  DriverError,
  type NetworkDriver,
  type PortRequest,
  type PortReservation,
  type WorkloadKey,
} from '@khutulun/driver';

const KIND = 'ports';

/**
 * Port reservation without a firewall: ports from a range, unique on the host, checked
 * against the OS by binding them, persisted (write + rename) in `DIR/ports.json` before
 * `reserve` resolves. Used by the agent while `@khutulun/network-ports` (which adds
 * Firewalld/nftables exposure) is not available; `expose` is refused.
 */
export class PortLedger implements NetworkDriver {
  readonly kind = KIND;
  readonly #file: string;
  readonly #range: [number, number];
  #reservations: PortReservation[];
  #next: number;

  constructor(stateDir: string, range: [number, number] = [20000, 29999]) {
    this.#file = join(stateDir, 'ports.json');
    this.#range = range;
    this.#next = range[0];
    try {
      this.#reservations = JSON.parse(readFileSync(this.#file, 'utf8')) as PortReservation[];
    } catch {
      this.#reservations = [];
    }
  }

  async reserve(request: PortRequest): Promise<PortReservation> {
    const same = this.#reservations.find(
      (r) =>
        sameOwner(r.owner, request.owner) &&
        r.name === request.name &&
        r.protocol === request.protocol,
    );
    if (same) return same;
    const taken = new Set(this.#reservations.map((r) => `${r.protocol}/${r.port}`));
    let port: number | undefined;
    if (request.port !== undefined) {
      if (
        taken.has(`${request.protocol}/${request.port}`) ||
        !(await isFree(request.port, request.protocol))
      ) {
        throw new DriverError(`port ${request.port}/${request.protocol} is taken`, {
          code: 'port-taken',
          driver: KIND,
          workload: request.owner,
        });
      }
      port = request.port;
    } else {
      const [low, high] = this.#range;
      for (let i = 0; i <= high - low && port === undefined; i++) {
        const candidate = this.#next;
        this.#next = candidate >= high ? low : candidate + 1;
        if (
          !taken.has(`${request.protocol}/${candidate}`) &&
          (await isFree(candidate, request.protocol))
        ) {
          port = candidate;
        }
      }
      if (port === undefined) {
        throw new DriverError(`no free port left in ${low}-${high}`, {
          code: 'ports-exhausted',
          driver: KIND,
          workload: request.owner,
        });
      }
    }
    // Another reserve may have taken the port while this one checked the OS.
    if (this.#reservations.some((r) => r.port === port && r.protocol === request.protocol)) {
      return this.reserve(request);
    }
    const reservation: PortReservation = { ...request, port, exposed: false };
    this.#reservations.push(reservation);
    this.#save();
    return reservation;
  }

  async release(owner: WorkloadKey, name?: string): Promise<PortReservation[]> {
    const released = this.#reservations.filter(
      (r) => sameOwner(r.owner, owner) && (name === undefined || r.name === name),
    );
    if (!released.length) return [];
    this.#reservations = this.#reservations.filter((r) => !released.includes(r));
    this.#save();
    return released;
  }

  async expose(reservation: PortReservation): Promise<PortReservation> {
    throw new DriverError('exposing ports needs @khutulun/network-ports (a firewall driver)', {
      code: 'firewall-failed',
      driver: KIND,
      workload: reservation.owner,
    });
  }

  async unexpose(reservation: PortReservation): Promise<PortReservation> {
    return reservation;
  }

  async list(owner?: WorkloadKey): Promise<PortReservation[]> {
    return this.#reservations.filter((r) => !owner || sameOwner(r.owner, owner));
  }

  async describe(_owner: WorkloadKey): Promise<string[]> {
    return [];
  }

  #save(): void {
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#reservations));
    renameSync(tmp, this.#file);
  }
}

function sameOwner(a: WorkloadKey, b: WorkloadKey): boolean {
  return a.service === b.service && a.name === b.name;
}

/** Whether the OS lets us bind the port on every address (TCP; UDP ports are trusted). */
function isFree(port: number, protocol: string): Promise<boolean> {
  if (protocol !== 'tcp') return Promise.resolve(true);
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () =>
      server.close(() => resolve(true)),
    );
  });
}
