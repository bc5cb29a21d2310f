/**
 * Host records, workload owners and replacement intents in PostgreSQL: the source of truth
 * that decides. Every operation is one transaction; NATS only carries what they decided.
 */
import pg from 'pg';
import { ClusterError } from './cluster-error.js';
import { CLUSTER_SCHEMA, CLUSTER_SCHEMA_LOCK, CLUSTER_SCHEMA_PROBE } from './cluster-schema.js';

/** A host's membership state: `up`, `lost` (declared lost; its epoch was bumped), `draining`. */
export type HostState = 'up' | 'lost' | 'draining';

/**
 * What a service chose for its workloads when their host is lost: `at-least-once` (replace at
 * once) or `at-most-once` (replace only once the fencing delay has passed).
 */
export type ReplacementPolicy = 'at-least-once' | 'at-most-once';

/** What a host says about itself when it joins. */
export interface HostInfo {
  name: string;
  /** The address other hosts and clients reach it at (never a loopback address in a cluster). */
  address: string;
  labels?: Record<string, string>;
  /** The workload kinds its agent offers, e.g. `process`, `podman`. */
  kinds?: string[];
  /** Which of them run commands inside a workload (exec), for terminals in the dashboards. */
  execKinds?: string[];
  /** Capacity: CPU in millicores, memory in bytes. */
  capacity?: { cpuMillicores?: number; memoryBytes?: number };
}

/** A host record as stored. */
export interface HostRecord {
  name: string;
  address: string;
  labels: Record<string, string>;
  kinds: string[];
  /** Which kinds run commands inside a workload; absent when its agent did not say (older). */
  execKinds?: string[];
  capacity: { cpuMillicores: number; memoryBytes: number };
  /** Increases every time the host (re)joins or is declared lost: the fencing token. */
  epoch: number;
  state: HostState;
  /** When the record last changed (the database's clock). */
  changedAt: Date;
  /** How many workloads it owns that are not lost. */
  workloads: number;
}

/** The fencing token a write about a workload carries: its owner host and that host's epoch. */
export interface OwnerToken {
  host: string;
  epoch: number;
}

/** Names a workload: the service and the workload's name in it. */
export interface WorkloadKey {
  service: string;
  workload: string;
}

/** An owner record: which host runs a workload, at which of its epochs. */
export interface WorkloadOwner extends WorkloadKey {
  owner: string;
  ownerEpoch: number;
  state: 'running' | 'lost';
  policy: ReplacementPolicy;
  /** What placement counts on its host: its node template, and the resources it holds. */
  placement?: WorkloadPlacementRecord;
}

/** What placement counts of a workload on its host. */
export interface WorkloadPlacementRecord {
  /** The node template it was instantiated from (distinct hosts, colocation, spread). */
  node: string;
  /** CPU in cores and memory in bytes it holds of the host's capacity. */
  cpu?: number;
  memoryBytes?: number;
}

/** A replacement intent, recorded when the workload's host was declared lost. */
export interface Replacement extends WorkloadKey {
  id: number;
  lostHost: string;
  /** The epoch the workload was owned at when its host was lost. */
  lostEpoch: number;
  policy: ReplacementPolicy;
  recordedAt: Date;
  /** Not to be started before this time (the recording time plus, for at-most-once, the fencing delay). */
  notBefore: Date;
  /** The host it was placed on, once placed. */
  placedOn?: string;
}

/** What `join` decided. */
export interface JoinResult {
  host: HostRecord;
  /** The record before this join, if the host had one (e.g. `lost` for a returning host). */
  previous?: { epoch: number; state: HostState };
  /**
   * Workloads replaced while the host was away (declared lost): the agent stops its copies.
   * Each is reported once, to the first join that follows.
   */
  replaced: Replacement[];
  /** Workloads the host still owns, now at its new epoch: the agent re-adopts them. */
  owned: WorkloadOwner[];
}

/** What `declareLost` decided. */
export type DeclareLostResult =
  | { declared: true; host: HostRecord; replacements: Replacement[] }
  | { declared: false; host: HostRecord | undefined };

/** Options for {@link openHostRegistry}. */
export interface HostRegistryOptions {
  /**
   * How long an at-most-once replacement waits after its host was declared lost (default
   * 10,000 ms). It must cover the lost host's fencing (see `Membership`'s `fenceAfterMs`) and
   * the time its agent takes to stop its workloads.
   */
  fencingDelayMs?: number;
  /** How long an operation keeps retrying while PostgreSQL is unreachable (default 30,000 ms). */
  retryForMs?: number;
  /** Most connections the registry holds (default 4). */
  maxConnections?: number;
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** True for failures of the connection rather than of the statement: worth a retry. */
/** A deadlock (40P01) or serialization failure (40001): the transaction may be run again. */
function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection error|terminating connection|not queryable|ended/i.test(
      message,
    )
  );
}

interface HostRow {
  name: string;
  address: string;
  labels: Record<string, string>;
  kinds: string[];
  exec_kinds: string[] | null;
  cpu_millicores: string;
  memory_bytes: string;
  epoch: string;
  state: HostState;
  changed_at: Date;
  workloads?: string | number;
}

function hostRecord(row: HostRow): HostRecord {
  return {
    name: row.name,
    address: row.address,
    labels: row.labels,
    kinds: row.kinds,
    ...(row.exec_kinds ? { execKinds: row.exec_kinds } : {}),
    capacity: { cpuMillicores: Number(row.cpu_millicores), memoryBytes: Number(row.memory_bytes) },
    epoch: Number(row.epoch),
    state: row.state,
    changedAt: row.changed_at,
    workloads: Number(row.workloads ?? 0),
  };
}

interface OwnerRow {
  service: string;
  workload: string;
  owner: string;
  owner_epoch: string;
  state: 'running' | 'lost';
  policy: ReplacementPolicy;
  node?: string | null;
  cpu?: number | null;
  memory_bytes?: string | null;
}

function ownerRecord(row: OwnerRow): WorkloadOwner {
  return {
    service: row.service,
    workload: row.workload,
    owner: row.owner,
    ownerEpoch: Number(row.owner_epoch),
    state: row.state,
    policy: row.policy,
    ...(row.node
      ? {
          placement: {
            node: row.node,
            ...(row.cpu == null ? {} : { cpu: Number(row.cpu) }),
            ...(row.memory_bytes == null ? {} : { memoryBytes: Number(row.memory_bytes) }),
          },
        }
      : {}),
  };
}

const OWNER_COLUMNS =
  'service, workload, owner, owner_epoch, state, policy, node, cpu, memory_bytes';

interface ReplacementRow {
  id: string;
  service: string;
  workload: string;
  lost_host: string;
  lost_epoch: string;
  policy: ReplacementPolicy;
  recorded_at: Date;
  not_before: Date;
  placed_on: string | null;
}

function replacementRecord(row: ReplacementRow): Replacement {
  const replacement: Replacement = {
    id: Number(row.id),
    service: row.service,
    workload: row.workload,
    lostHost: row.lost_host,
    lostEpoch: Number(row.lost_epoch),
    policy: row.policy,
    recordedAt: row.recorded_at,
    notBefore: row.not_before,
  };
  if (row.placed_on !== null) replacement.placedOn = row.placed_on;
  return replacement;
}

const HOST_COLUMNS =
  'name, address, labels, kinds, exec_kinds, cpu_millicores, memory_bytes, epoch, state, changed_at';
const REPLACEMENT_COLUMNS =
  'id, service, workload, lost_host, lost_epoch, policy, recorded_at, not_before, placed_on';

/** A transaction's connection, as `fencedWrite` hands it to the caller's write. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The cluster's records in PostgreSQL. Each method is one transaction, retried while the
 * server is unreachable (up to `retryForMs`), so an agent rides out a PostgreSQL restart.
 */
export class HostRegistry {
  readonly #pool: pg.Pool;
  readonly #fencingDelayMs: number;
  readonly #retryForMs: number;
  readonly #guarded = new WeakSet<pg.PoolClient>();

  /** Use {@link openHostRegistry}, which also creates the schema. */
  constructor(pool: pg.Pool, options: HostRegistryOptions = {}) {
    this.#pool = pool;
    this.#fencingDelayMs = options.fencingDelayMs ?? 10_000;
    this.#retryForMs = options.retryForMs ?? 30_000;
  }

  /** The fencing delay at-most-once replacements wait for, in milliseconds. */
  get fencingDelayMs(): number {
    return this.#fencingDelayMs;
  }

  /** Creates the tables if they do not exist yet (idempotent, safe to run concurrently). */
  async createSchema(): Promise<void> {
    // DDL locks its tables even when there is nothing to do (`ALTER TABLE ... IF NOT EXISTS`
    // takes an exclusive lock first), and agents starting at once would deadlock against
    // each other's joins: a schema that is current is left alone, read from the catalog only.
    const current = async (client: Queryable) =>
      (
        await client.query(
          `SELECT 1 FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
          [CLUSTER_SCHEMA_PROBE.table, CLUSTER_SCHEMA_PROBE.column],
        )
      ).rows.length > 0;
    await this.#transaction(async (client) => {
      if (await current(client)) return;
      await client.query('SELECT pg_advisory_xact_lock($1)', [CLUSTER_SCHEMA_LOCK]);
      if (await current(client)) return;
      await client.query(CLUSTER_SCHEMA);
    });
  }

  /**
   * Registers a host, or re-registers it with a NEW epoch (a restart, or a return after being
   * declared lost). A draining host stays draining; any other becomes `up`. Its running
   * workloads move to the new epoch (re-adopted); replacements made while it was lost are
   * returned once, so that its agent stops those copies.
   */
  join(info: HostInfo): Promise<JoinResult> {
    return this.#transaction(async (client) => {
      const values = [
        info.name,
        info.address,
        JSON.stringify(info.labels ?? {}),
        info.kinds ?? [],
        info.capacity?.cpuMillicores ?? 0,
        info.capacity?.memoryBytes ?? 0,
        info.execKinds ?? null,
      ];
      let previous = await this.#lockHost(client, info.name, 'UPDATE');
      let row: HostRow | undefined;
      if (!previous) {
        const inserted = await client.query<HostRow>(
          `INSERT INTO cluster_hosts (name, address, labels, kinds, cpu_millicores, memory_bytes, exec_kinds, epoch, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 'up')
           ON CONFLICT (name) DO NOTHING
           RETURNING ${HOST_COLUMNS}`,
          values,
        );
        row = inserted.rows[0];
        // Lost a race with a concurrent join of the same name: re-register over it.
        if (!row) previous = await this.#lockHost(client, info.name, 'UPDATE');
      }
      if (!row) {
        const updated = await client.query<HostRow>(
          `UPDATE cluster_hosts SET address = $2, labels = $3, kinds = $4, cpu_millicores = $5,
             memory_bytes = $6, exec_kinds = $7, epoch = epoch + 1,
             state = CASE WHEN state = 'draining' THEN 'draining' ELSE 'up' END, changed_at = now()
           WHERE name = $1
           RETURNING ${HOST_COLUMNS}`,
          values,
        );
        row = updated.rows[0]!;
      }
      const epoch = Number(row.epoch);
      const owned = await client.query<OwnerRow>(
        `UPDATE cluster_workload_owners SET owner_epoch = $2, changed_at = now()
         WHERE owner = $1 AND state = 'running'
         RETURNING service, workload, owner, owner_epoch, state, policy`,
        [info.name, epoch],
      );
      const replaced = await client.query<ReplacementRow>(
        `UPDATE cluster_replacements SET acknowledged = true
         WHERE lost_host = $1 AND NOT acknowledged
         RETURNING ${REPLACEMENT_COLUMNS}`,
        [info.name],
      );
      const result: JoinResult = {
        host: hostRecord({ ...row, workloads: owned.rowCount ?? 0 }),
        replaced: replaced.rows.map(replacementRecord).sort((a, b) => a.id - b.id),
        owned: owned.rows.map(ownerRecord),
      };
      if (previous) result.previous = { epoch: Number(previous.epoch), state: previous.state };
      return result;
    });
  }

  /**
   * Declares `host` lost, if its epoch is still `seenEpoch` and it is not lost already: bumps
   * its epoch, marks its workloads lost and records one replacement intent for each, in one
   * transaction. Of several agents declaring the same host at once, exactly one gets
   * `declared: true` (a conditional update on the epoch they saw); the others get the record
   * as it now is.
   */
  declareLost(host: string, seenEpoch: number): Promise<DeclareLostResult> {
    return this.#transaction(async (client) => {
      const bumped = await client.query<HostRow>(
        `UPDATE cluster_hosts SET epoch = epoch + 1, state = 'lost', changed_at = now()
         WHERE name = $1 AND epoch = $2 AND state <> 'lost'
         RETURNING ${HOST_COLUMNS}`,
        [host, seenEpoch],
      );
      const row = bumped.rows[0];
      if (!row) {
        const current = await client.query<HostRow>(
          `SELECT ${HOST_COLUMNS} FROM cluster_hosts WHERE name = $1`,
          [host],
        );
        const found = current.rows[0];
        return { declared: false, host: found ? hostRecord(found) : undefined };
      }
      const lost = await client.query<OwnerRow>(
        `UPDATE cluster_workload_owners SET state = 'lost', changed_at = now()
         WHERE owner = $1 AND state = 'running'
         RETURNING service, workload, owner, owner_epoch, state, policy`,
        [host],
      );
      const replacements: Replacement[] = [];
      for (const owner of lost.rows) {
        const inserted = await client.query<ReplacementRow>(
          `INSERT INTO cluster_replacements (service, workload, lost_host, lost_epoch, policy, not_before)
           VALUES ($1, $2, $3, $4, $5,
             now() + CASE WHEN $5 = 'at-most-once' THEN $6 * interval '1 millisecond' ELSE interval '0' END)
           RETURNING ${REPLACEMENT_COLUMNS}`,
          [
            owner.service,
            owner.workload,
            host,
            owner.owner_epoch,
            owner.policy,
            this.#fencingDelayMs,
          ],
        );
        replacements.push(replacementRecord(inserted.rows[0]!));
      }
      return { declared: true, host: hostRecord(row), replacements };
    });
  }

  /** Marks an `up` host `draining` (no new placements; its workloads are to move off). */
  drain(host: string): Promise<HostRecord> {
    return this.#setState(host, 'up', 'draining');
  }

  /** Takes a `draining` host back (`up`). */
  undrain(host: string): Promise<HostRecord> {
    return this.#setState(host, 'draining', 'up');
  }

  /** Every host, with its count of workloads that are not lost, by name. */
  async hosts(): Promise<HostRecord[]> {
    const result = await this.#transaction((client) =>
      client.query<HostRow>(
        `SELECT h.name, h.address, h.labels, h.kinds, h.exec_kinds, h.cpu_millicores, h.memory_bytes, h.epoch,
           h.state, h.changed_at,
           (SELECT count(*) FROM cluster_workload_owners w WHERE w.owner = h.name AND w.state = 'running') AS workloads
         FROM cluster_hosts h ORDER BY h.name`,
      ),
    );
    return result.rows.map(hostRecord);
  }

  /** One host's record, or undefined. */
  async host(name: string): Promise<HostRecord | undefined> {
    return (await this.hosts()).find((h) => h.name === name);
  }

  /**
   * Records `token.host` as the owner of a workload, at `token.epoch` (fenced: refused with
   * `stale-epoch` if that is not the host's current epoch, or the host is lost). With
   * `replacement`, it places that replacement intent: refused with `too-early` before its
   * `notBefore`, and with `stale-epoch` if another host already placed it.
   */
  assignWorkload(
    key: WorkloadKey,
    token: OwnerToken,
    options: {
      policy?: ReplacementPolicy;
      replacement?: number;
      /** What placement counts of it on its host from now on. */
      placement?: WorkloadPlacementRecord;
    } = {},
  ): Promise<WorkloadOwner> {
    return this.#transaction(async (client) => {
      await checkHost(client, token, key);
      let policy = options.policy ?? 'at-least-once';
      if (options.replacement !== undefined) {
        const found = await client.query<ReplacementRow & { early: boolean }>(
          `SELECT ${REPLACEMENT_COLUMNS}, not_before > now() AS early
           FROM cluster_replacements WHERE id = $1 FOR UPDATE`,
          [options.replacement],
        );
        const replacement = found.rows[0];
        if (!replacement) {
          throw new ClusterError(`no replacement ${options.replacement}`, {
            code: 'unknown-workload',
            workload: key,
          });
        }
        if (replacement.placed_on !== null) {
          throw new ClusterError(
            `replacement ${options.replacement} was already placed on ${replacement.placed_on}`,
            { code: 'stale-epoch', host: token.host, epoch: token.epoch, workload: key },
          );
        }
        if (replacement.early) {
          throw new ClusterError(
            `replacement ${options.replacement} (at-most-once) may not start before ${replacement.not_before.toISOString()}`,
            { code: 'too-early', host: token.host, workload: key },
          );
        }
        policy = options.policy ?? replacement.policy;
        await client.query('UPDATE cluster_replacements SET placed_on = $2 WHERE id = $1', [
          options.replacement,
          token.host,
        ]);
      }
      const p = options.placement;
      const upserted = await client.query<OwnerRow>(
        `INSERT INTO cluster_workload_owners
           (service, workload, owner, owner_epoch, state, policy, node, cpu, memory_bytes)
         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8)
         ON CONFLICT (service, workload) DO UPDATE SET owner = EXCLUDED.owner,
           owner_epoch = EXCLUDED.owner_epoch, state = 'running', policy = EXCLUDED.policy,
           node = COALESCE(EXCLUDED.node, cluster_workload_owners.node),
           cpu = CASE WHEN EXCLUDED.node IS NULL THEN cluster_workload_owners.cpu ELSE EXCLUDED.cpu END,
           memory_bytes = CASE WHEN EXCLUDED.node IS NULL THEN cluster_workload_owners.memory_bytes
             ELSE EXCLUDED.memory_bytes END,
           changed_at = now()
         RETURNING ${OWNER_COLUMNS}`,
        [
          key.service,
          key.workload,
          token.host,
          token.epoch,
          policy,
          p?.node ?? null,
          p?.cpu ?? null,
          p?.memoryBytes ?? null,
        ],
      );
      return ownerRecord(upserted.rows[0]!);
    });
  }

  /**
   * Runs `write` in one transaction with the fencing check: the owner record of `key` must
   * name `token.host` at `token.epoch`, running, and that must be the host's current epoch;
   * otherwise it throws `stale-epoch` and `write` never runs. The host and owner rows stay
   * locked until the commit, so a concurrent `declareLost` waits for the write or refuses it.
   */
  fencedWrite<T>(
    key: WorkloadKey,
    token: OwnerToken,
    write: (client: Queryable) => Promise<T>,
  ): Promise<T> {
    return this.#transaction(async (client) => {
      await checkFence(client, key, token);
      return write(client);
    });
  }

  /**
   * Moves a placed replacement intent (`id`) and the workload's owner record from the host it
   * was placed on (`from`, the owner's token: it failed to start it) to `to` (a host at the
   * epoch placement saw), in one transaction fenced by `from`'s token and `to`'s epoch: the
   * intent stays placed once, on one host. `stale-epoch` if `from` no longer owns it (declared
   * lost meanwhile: its loss recorded a new intent) or `to` changed since placement.
   */
  moveReplacement(
    key: WorkloadKey,
    id: number,
    from: OwnerToken,
    to: { host: string; epoch: number },
  ): Promise<void> {
    return this.fencedWrite(key, from, async (client) => {
      const target = await client.query<{ epoch: string; state: string }>(
        'SELECT epoch, state FROM cluster_hosts WHERE name = $1 FOR SHARE',
        [to.host],
      );
      const row = target.rows[0];
      if (!row || Number(row.epoch) !== to.epoch || row.state !== 'up') {
        throw new ClusterError(
          `host ${to.host} changed since placement (${row ? `${row.state} at epoch ${row.epoch}` : 'gone'})`,
          { code: 'stale-epoch', host: to.host, epoch: to.epoch, workload: key },
        );
      }
      const moved = await client.query(
        'UPDATE cluster_replacements SET placed_on = $2 WHERE id = $1 AND placed_on = $3',
        [id, to.host, from.host],
      );
      if (moved.rowCount !== 1) {
        throw new ClusterError(`replacement ${id} is not placed on ${from.host}`, {
          code: 'stale-epoch',
          host: from.host,
          epoch: from.epoch,
          workload: key,
        });
      }
      await client.query(
        `UPDATE cluster_workload_owners SET owner = $3, owner_epoch = $4, changed_at = now()
         WHERE service = $1 AND workload = $2`,
        [key.service, key.workload, to.host, to.epoch],
      );
    });
  }

  /**
   * Gives a replacement intent back after every host failed to start it: placed on no host
   * (the next agent that starts tries it again, as one never placed), and the owner record
   * back to the lost host's, `lost`, as its declaration left it. Fenced by the token of the
   * host it was last placed on (`stale-epoch` if that host lost it meanwhile).
   */
  unplaceReplacement(key: WorkloadKey, id: number, from: OwnerToken): Promise<void> {
    return this.fencedWrite(key, from, async (client) => {
      const unplaced = await client.query<{ lost_host: string; lost_epoch: string }>(
        `UPDATE cluster_replacements SET placed_on = NULL WHERE id = $1 AND placed_on = $2
         RETURNING lost_host, lost_epoch`,
        [id, from.host],
      );
      const intent = unplaced.rows[0];
      if (!intent) {
        throw new ClusterError(`replacement ${id} is not placed on ${from.host}`, {
          code: 'stale-epoch',
          host: from.host,
          epoch: from.epoch,
          workload: key,
        });
      }
      await client.query(
        `UPDATE cluster_workload_owners SET owner = $3, owner_epoch = $4, state = 'lost',
           changed_at = now()
         WHERE service = $1 AND workload = $2`,
        [key.service, key.workload, intent.lost_host, Number(intent.lost_epoch)],
      );
    });
  }

  /** Removes a workload's owner record (the workload was deleted), fenced like `fencedWrite`. */
  releaseWorkload(key: WorkloadKey, token: OwnerToken): Promise<void> {
    return this.fencedWrite(key, token, async (client) => {
      await client.query(
        'DELETE FROM cluster_workload_owners WHERE service = $1 AND workload = $2',
        [key.service, key.workload],
      );
    });
  }

  /**
   * Forgets a deleted service: the owner records of its workloads (whichever host owns them,
   * a lost one included) and its replacement intents not placed yet. Only the agent that
   * deleted the service's workloads calls it.
   */
  releaseService(service: string): Promise<void> {
    return this.#transaction(async (client) => {
      await client.query('DELETE FROM cluster_workload_owners WHERE service = $1', [service]);
      await client.query(
        'DELETE FROM cluster_replacements WHERE service = $1 AND placed_on IS NULL',
        [service],
      );
    });
  }

  /**
   * Drops a replacement intent not placed yet (its service or workload no longer exists).
   * False if it was placed (or dropped) meanwhile.
   */
  async discardReplacement(id: number): Promise<boolean> {
    const result = await this.#transaction((client) =>
      client.query('DELETE FROM cluster_replacements WHERE id = $1 AND placed_on IS NULL', [id]),
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** The owner records of `host`'s workloads (running and lost). */
  async workloadsOf(host: string): Promise<WorkloadOwner[]> {
    const result = await this.#transaction((client) =>
      client.query<OwnerRow>(
        `SELECT ${OWNER_COLUMNS} FROM cluster_workload_owners
         WHERE owner = $1 ORDER BY service, workload`,
        [host],
      ),
    );
    return result.rows.map(ownerRecord);
  }

  /**
   * Every running workload's owner record (with what placement counts of it), for a
   * placement snapshot: which hosts hold what, of which service and node template.
   */
  async runningWorkloads(): Promise<WorkloadOwner[]> {
    const result = await this.#transaction((client) =>
      client.query<OwnerRow>(
        `SELECT ${OWNER_COLUMNS} FROM cluster_workload_owners WHERE state = 'running'`,
      ),
    );
    return result.rows.map(ownerRecord);
  }

  /** Replacement intents not placed yet, oldest first. */
  async pendingReplacements(): Promise<Replacement[]> {
    const result = await this.#transaction((client) =>
      client.query<ReplacementRow>(
        `SELECT ${REPLACEMENT_COLUMNS} FROM cluster_replacements WHERE placed_on IS NULL ORDER BY id`,
      ),
    );
    return result.rows.map(replacementRecord);
  }

  /** The replacement intents recorded when `host` was declared lost at `lostEpoch`. */
  async replacementsOf(host: string, lostEpoch: number): Promise<Replacement[]> {
    const result = await this.#transaction((client) =>
      client.query<ReplacementRow>(
        `SELECT ${REPLACEMENT_COLUMNS} FROM cluster_replacements
         WHERE lost_host = $1 AND lost_epoch = $2 ORDER BY id`,
        [host, lostEpoch],
      ),
    );
    return result.rows.map(replacementRecord);
  }

  /** Closes the registry's connections. */
  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #setState(host: string, from: HostState, to: HostState): Promise<HostRecord> {
    return this.#transaction(async (client) => {
      const updated = await client.query<HostRow>(
        `UPDATE cluster_hosts SET state = $3, changed_at = now() WHERE name = $1 AND state = $2
         RETURNING ${HOST_COLUMNS}`,
        [host, from, to],
      );
      const row = updated.rows[0] ?? (await this.#lockHost(client, host, 'SHARE'));
      if (!row) throw new ClusterError(`no host ${host}`, { code: 'unknown-host', host });
      return hostRecord(row);
    });
  }

  async #lockHost(
    client: Queryable,
    host: string,
    mode: 'UPDATE' | 'SHARE',
  ): Promise<HostRow | undefined> {
    const found = await client.query<HostRow>(
      `SELECT ${HOST_COLUMNS} FROM cluster_hosts WHERE name = $1 FOR ${mode}`,
      [host],
    );
    return found.rows[0];
  }

  /** Runs `work` in a transaction, retrying it while the connection (not the statement) fails. */
  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#retryForMs;
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient | undefined;
      try {
        client = await this.#pool.connect();
        if (!this.#guarded.has(client)) {
          // A checked-out client whose connection dies between two statements emits 'error';
          // unheard, that would crash the agent. The next statement fails and is retried.
          client.on('error', () => undefined);
          this.#guarded.add(client);
        }
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        const broken = isConnectionError(error);
        // A deadlock or serialization failure aborts one of the transactions involved: run
        // it again, as PostgreSQL advises.
        const conflict = !broken && isConflict(error);
        if (client) {
          if (!broken) {
            try {
              await client.query('ROLLBACK');
            } catch {
              // The connection died meanwhile: releasing it with an error discards it.
            }
          }
          client.release(broken ? (error as Error) : undefined);
        }
        if (!broken && !conflict) throw error;
        if (conflict && Date.now() >= deadline) throw error;
        if (Date.now() >= deadline) {
          throw new ClusterError('PostgreSQL is unreachable', {
            code: 'unavailable',
            cause: error,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 500)));
      }
    }
  }
}

/**
 * The fencing check, for a transaction that is not the registry's (e.g. the graph store's
 * own): run it first inside that transaction, on the same database. It locks the host row
 * (`FOR SHARE`) and the workload's owner row (`FOR UPDATE`) until that transaction ends, and
 * throws a `stale-epoch` (or `unknown-host`, `unknown-workload`) `ClusterError` unless the
 * owner record names `token.host` at `token.epoch`, running, at the host's current epoch.
 */
export async function checkFence(
  client: Queryable,
  key: WorkloadKey,
  token: OwnerToken,
): Promise<void> {
  await checkHost(client, token, key);
  await checkOwner(client, key, token);
}

async function checkHost(client: Queryable, token: OwnerToken, key: WorkloadKey): Promise<void> {
  const found = await client.query<HostRow>(
    `SELECT ${HOST_COLUMNS} FROM cluster_hosts WHERE name = $1 FOR SHARE`,
    [token.host],
  );
  const row = found.rows[0];
  if (!row) {
    throw new ClusterError(`no host ${token.host}`, { code: 'unknown-host', host: token.host });
  }
  const current = Number(row.epoch);
  if (current !== token.epoch || row.state === 'lost') {
    throw new ClusterError(
      `stale epoch for host ${token.host}: the write carried ${token.epoch}, the host is ${row.state} at epoch ${current}`,
      {
        code: 'stale-epoch',
        host: token.host,
        epoch: token.epoch,
        currentEpoch: current,
        workload: key,
      },
    );
  }
}

async function checkOwner(client: Queryable, key: WorkloadKey, token: OwnerToken): Promise<void> {
  const found = await client.query<OwnerRow>(
    `SELECT service, workload, owner, owner_epoch, state, policy FROM cluster_workload_owners
       WHERE service = $1 AND workload = $2 FOR UPDATE`,
    [key.service, key.workload],
  );
  const row = found.rows[0];
  if (!row) {
    throw new ClusterError(`no owner record for ${key.service}/${key.workload}`, {
      code: 'unknown-workload',
      workload: key,
    });
  }
  if (
    row.owner !== token.host ||
    Number(row.owner_epoch) !== token.epoch ||
    row.state !== 'running'
  ) {
    throw new ClusterError(
      `stale epoch for ${key.service}/${key.workload}: the write carried ${token.host}@${token.epoch}, the owner is ${row.owner}@${row.owner_epoch} (${row.state})`,
      {
        code: 'stale-epoch',
        host: token.host,
        epoch: token.epoch,
        currentEpoch: Number(row.owner_epoch),
        workload: key,
      },
    );
  }
}

/**
 * Opens the cluster's records in the PostgreSQL database at `url` and creates its tables if
 * needed. The caller closes it.
 */
export async function openHostRegistry(
  url: string,
  options: HostRegistryOptions = {},
): Promise<HostRegistry> {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 4 });
  // An idle connection that the server closes (a restart) must not crash the process: the
  // next transaction reconnects.
  pool.on('error', () => undefined);
  const registry = new HostRegistry(pool, options);
  await registry.createSchema();
  return registry;
}
