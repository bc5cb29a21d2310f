/**
 * Port networking: per-host TCP and UDP ports reserved from a range for workloads, unique
 * across services, checked against the OS, persisted in a crash-safe ledger, and exposed
 * through Firewalld or nftables.
 */
import { join } from 'node:path';
import {
  DriverError,
  type NetworkDriver,
  type PortRequest,
  type PortReservation,
  type Protocol,
  type WorkloadKey,
} from '@khutulun/driver';
import { type CommandRunner, runCommand } from './command-runner.js';
import {
  detectFirewall,
  type Firewall,
  FirewalldFirewall,
  type FirewalldOptions,
  NftablesFirewall,
  NoFirewall,
} from './firewall.js';
import { canBind, portsInUse } from './os-ports.js';
import { FilePortLedger, type LedgerEntry, type PortLedger } from './port-ledger.js';

/** The default reservation range: below Linux's ephemeral range (32768-60999). */
export const DEFAULT_PORT_RANGE = { from: 20000, to: 29999 } as const;

/** Options of a `PortNetworkDriver`. */
export interface PortNetworkOptions {
  /** Where the ledger lives by default (`<stateDirectory>/ports.json`). */
  stateDirectory?: string;
  /** The ledger; defaults to a `FilePortLedger` in the state directory. One of the two is required. */
  ledger?: PortLedger;
  /** Ports handed out when none is asked for (inclusive). */
  range?: { from: number; to: number };
  /** Which firewall: detected by default (Firewalld if it runs, else nftables, else none). */
  firewall?: 'auto' | 'firewalld' | 'nftables' | 'none';
  firewalld?: FirewalldOptions;
  /** The nftables table (family `inet`), default `khutulun`. */
  nftablesTable?: string;
  /** Runs firewall commands; the real one by default. */
  runner?: CommandRunner;
}

const KIND = 'ports';

interface PendingReservation {
  request: PortRequest;
  resolve: (reservation: PortReservation) => void;
  reject: (error: unknown) => void;
}

function ownerId(owner: WorkloadKey): string {
  return `${owner.service}/${owner.name}`;
}

function same(
  entry: PortReservation,
  owner: WorkloadKey,
  name?: string,
  protocol?: Protocol,
): boolean {
  return (
    entry.owner.service === owner.service &&
    entry.owner.name === owner.name &&
    (name === undefined || entry.name === name) &&
    (protocol === undefined || entry.protocol === protocol)
  );
}

function publicView(entry: LedgerEntry): PortReservation {
  return {
    owner: { ...entry.owner },
    name: entry.name,
    protocol: entry.protocol,
    port: entry.port,
    exposed: entry.exposed,
  };
}

/**
 * The port network driver. Operations are serialised (one ledger, one firewall), and each
 * change is saved to the ledger before it resolves. The first operation loads the ledger; the
 * firewall is detected, and its rules restored from the ledger, when first needed (at once
 * if the ledger records exposed ports).
 */
export class PortNetworkDriver implements NetworkDriver {
  readonly kind = KIND;
  readonly range: { from: number; to: number };
  readonly #ledger: PortLedger;
  readonly #runner: CommandRunner;
  readonly #options: PortNetworkOptions;
  #entries: LedgerEntry[] = [];
  #firewall: Firewall | undefined;
  #loaded = false;
  /** Every operation runs after the previous one: the ledger has one writer. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Reservations waiting for the next batch (see `reserve`). */
  #pending: PendingReservation[] = [];
  /** Where the search for a free port continues, so a just-released port is not reused at once. */
  #cursor: number;

  constructor(options: PortNetworkOptions) {
    const ledger =
      options.ledger ??
      (options.stateDirectory && new FilePortLedger(join(options.stateDirectory, 'ports.json')));
    if (!ledger) throw new TypeError('PortNetworkDriver needs a ledger or a state directory');
    this.#ledger = ledger;
    this.#runner = options.runner ?? runCommand;
    this.#options = options;
    this.range = { ...(options.range ?? DEFAULT_PORT_RANGE) };
    if (!(this.range.from >= 1 && this.range.to <= 65535 && this.range.from <= this.range.to)) {
      throw new RangeError(`invalid port range ${this.range.from}-${this.range.to}`);
    }
    this.#cursor = this.range.from;
  }

  /** The firewall in use (`firewalld`, `nftables` or `none`), once known. */
  async firewallKind(): Promise<Firewall['kind']> {
    return this.#serial(async () => (await this.#start()).kind);
  }

  /**
   * Reserves a port. Reservations asked for while an earlier batch is being saved are
   * committed together, with one ledger write and one read of the kernel's socket tables:
   * 200 workloads deploying at once cost one durable write, not 200. Each still resolves only
   * once its reservation is durable, and a refused one fails alone.
   */
  reserve(request: PortRequest): Promise<PortReservation> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ request, resolve, reject });
      // The first of a batch schedules it; later ones join until it starts.
      if (this.#pending.length === 1) void this.#serial(() => this.#reserveBatch());
    });
  }

  async #reserveBatch(): Promise<void> {
    const batch = this.#pending.splice(0);
    try {
      await this.#load();
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    const entries = [...this.#entries];
    const inUse = new Map<Protocol, Promise<Set<number>>>();
    const tables = (protocol: Protocol) => {
      let table = inUse.get(protocol);
      if (!table) {
        table = portsInUse(protocol);
        inUse.set(protocol, table);
      }
      return table;
    };
    const outcomes: Array<{ entry: LedgerEntry; fresh: boolean } | { error: unknown }> = [];
    for (const { request } of batch) {
      try {
        const existing = entries.find((e) =>
          same(e, request.owner, request.name, request.protocol),
        );
        if (existing && (request.port === undefined || request.port === existing.port)) {
          outcomes.push({ entry: existing, fresh: false });
          continue;
        }
        if (existing) {
          throw new DriverError(
            `${ownerId(request.owner)} already holds ${request.name}/${request.protocol} on port ${existing.port}`,
            { code: 'port-taken', driver: KIND, workload: request.owner },
          );
        }
        const port =
          request.port === undefined
            ? await this.#pick(request.protocol, entries, await tables(request.protocol))
            : await this.#claim(request, entries, await tables(request.protocol));
        const entry: LedgerEntry = {
          owner: { service: request.owner.service, name: request.owner.name },
          name: request.name,
          protocol: request.protocol,
          port,
          exposed: false,
          commands: [],
        };
        entries.push(entry);
        outcomes.push({ entry, fresh: true });
      } catch (error) {
        outcomes.push({ error });
      }
    }
    if (outcomes.some((o) => 'entry' in o && o.fresh)) {
      try {
        await this.#save(entries);
      } catch (error) {
        for (const p of batch) p.reject(error);
        return;
      }
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if ('entry' in outcome) p.resolve(publicView(outcome.entry));
      else p.reject(outcome.error);
    });
  }

  release(owner: WorkloadKey, name?: string): Promise<PortReservation[]> {
    return this.#serial(async () => {
      await this.#load();
      const released = this.#entries.filter((e) => same(e, owner, name));
      const exposed = released.filter((e) => e.exposed);
      if (exposed.length > 0) {
        const firewall = await this.#start();
        await firewall.close(exposed);
        if (!this.#entries.some((e) => e.exposed && !released.includes(e)))
          await firewall.teardown();
      }
      await this.#save(this.#entries.filter((e) => !released.includes(e)));
      return released.map((e) => ({ ...publicView(e), exposed: false }));
    });
  }

  expose(reservation: PortReservation): Promise<PortReservation> {
    return this.#serial(async () => {
      const firewall = await this.#start();
      const entry = this.#find(reservation);
      if (entry.exposed) return publicView(entry);
      const first = !this.#entries.some((e) => e.exposed);
      // Intent first: if the agent dies mid-way, the restore on restart completes it.
      const updated = { ...entry, exposed: true };
      await this.#replace(entry, updated);
      // The first exposure builds Khutulun's rules (nftables: its table) with this port open.
      const commands = first ? await firewall.restore([updated]) : await firewall.open([updated]);
      const done = { ...updated, commands: [...updated.commands, ...commands] };
      await this.#replace(updated, done);
      return publicView(done);
    });
  }

  unexpose(reservation: PortReservation): Promise<PortReservation> {
    return this.#serial(async () => {
      const firewall = await this.#start();
      const entry = this.#find(reservation);
      if (!entry.exposed) return publicView(entry);
      const commands = await firewall.close([entry]);
      // Nothing exposed any more: no Khutulun rule stays behind on the host.
      if (!this.#entries.some((e) => e.exposed && e !== entry))
        commands.push(...(await firewall.teardown()));
      const done = { ...entry, exposed: false, commands: [...entry.commands, ...commands] };
      await this.#replace(entry, done);
      return publicView(done);
    });
  }

  list(owner?: WorkloadKey): Promise<PortReservation[]> {
    return this.#serial(async () => {
      await this.#load();
      return this.#entries.filter((e) => !owner || same(e, owner)).map(publicView);
    });
  }

  describe(owner: WorkloadKey): Promise<string[]> {
    return this.#serial(async () => {
      await this.#load();
      return this.#entries.filter((e) => same(e, owner)).flatMap((e) => e.commands);
    });
  }

  /**
   * Removes Khutulun's own firewall rules (the nftables table) now, even with ports exposed
   * (for uninstalling, and tests). Reservations stay in the ledger.
   */
  teardown(): Promise<string[]> {
    return this.#serial(async () => (await this.#start()).teardown());
  }

  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Loads the ledger once; re-applies exposures it records (the firewall may have lost them). */
  async #load(): Promise<void> {
    if (this.#loaded) return;
    try {
      this.#entries = await this.#ledger.load();
    } catch (cause) {
      throw new DriverError('cannot load the port ledger', {
        code: 'io-failed',
        driver: KIND,
        cause,
      });
    }
    this.#loaded = true;
    if (this.#entries.some((e) => e.exposed)) await this.#start();
  }

  /**
   * Detects the firewall and restores the ledger's exposures, on first need only: an agent
   * that never exposes a port never touches the host's firewall.
   */
  async #start(): Promise<Firewall> {
    await this.#load();
    if (this.#firewall) return this.#firewall;
    const choice = this.#options.firewall ?? 'auto';
    const kind = choice === 'auto' ? await detectFirewall(this.#runner) : choice;
    const firewall =
      kind === 'firewalld'
        ? new FirewalldFirewall(this.#runner, this.#options.firewalld)
        : kind === 'nftables'
          ? new NftablesFirewall(this.#runner, {
              range: this.range,
              ...(this.#options.nftablesTable ? { table: this.#options.nftablesTable } : {}),
            })
          : new NoFirewall();
    const exposed = this.#entries.filter((e) => e.exposed);
    if (exposed.length > 0) await firewall.restore(exposed);
    this.#firewall = firewall;
    return firewall;
  }

  #find(reservation: PortReservation): LedgerEntry {
    const entry = this.#entries.find(
      (e) =>
        same(e, reservation.owner, reservation.name, reservation.protocol) &&
        e.port === reservation.port,
    );
    if (!entry) {
      throw new DriverError(
        `no reservation of port ${reservation.port}/${reservation.protocol} for ${ownerId(reservation.owner)}`,
        { code: 'not-found', driver: KIND, workload: reservation.owner },
      );
    }
    return entry;
  }

  async #replace(old: LedgerEntry, updated: LedgerEntry): Promise<void> {
    await this.#save(this.#entries.map((e) => (e === old ? updated : e)));
  }

  async #save(entries: LedgerEntry[]): Promise<void> {
    try {
      await this.#ledger.save(entries);
    } catch (cause) {
      throw new DriverError('cannot save the port ledger', {
        code: 'io-failed',
        driver: KIND,
        cause,
      });
    }
    this.#entries = entries;
  }

  async #claim(request: PortRequest, entries: LedgerEntry[], inUse: Set<number>): Promise<number> {
    const port = request.port!;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DriverError(`invalid port ${port}`, {
        code: 'port-taken',
        driver: KIND,
        workload: request.owner,
      });
    }
    const holder = entries.find((e) => e.protocol === request.protocol && e.port === port);
    const why = holder
      ? `reserved by ${ownerId(holder.owner)}`
      : inUse.has(port) || !(await canBind(request.protocol, port))
        ? 'in use on this host'
        : undefined;
    if (why) {
      throw new DriverError(`port ${port}/${request.protocol} is ${why}`, {
        code: 'port-taken',
        driver: KIND,
        workload: request.owner,
      });
    }
    return port;
  }

  /** A free port of the range: reserved in none of `entries`, unused by the OS, bindable. */
  async #pick(protocol: Protocol, entries: LedgerEntry[], inUse: Set<number>): Promise<number> {
    const { from, to } = this.range;
    const size = to - from + 1;
    const held = new Set(entries.filter((e) => e.protocol === protocol).map((e) => e.port));
    for (let i = 0; i < size; i++) {
      const port = from + ((this.#cursor - from + i) % size);
      if (held.has(port) || inUse.has(port) || !(await canBind(protocol, port))) continue;
      this.#cursor = port + 1 > to ? from : port + 1;
      return port;
    }
    throw new DriverError(`no free ${protocol} port left in ${from}-${to}`, {
      code: 'ports-exhausted',
      driver: KIND,
    });
  }
}
