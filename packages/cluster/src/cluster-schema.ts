/**
 * The cluster's tables in PostgreSQL, the source of truth for membership and ownership.
 * Created idempotently, under an advisory lock so that agents starting at once do not race
 * on `CREATE TABLE IF NOT EXISTS` (which is not safe against concurrent creators).
 */
export const CLUSTER_SCHEMA = `
CREATE TABLE IF NOT EXISTS cluster_hosts (
  name text PRIMARY KEY,
  address text NOT NULL,
  labels jsonb NOT NULL DEFAULT '{}'::jsonb,
  kinds text[] NOT NULL DEFAULT '{}',
  cpu_millicores bigint NOT NULL DEFAULT 0,
  memory_bytes bigint NOT NULL DEFAULT 0,
  epoch bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('up', 'lost', 'draining')),
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS cluster_workload_owners (
  service text NOT NULL,
  workload text NOT NULL,
  owner text NOT NULL REFERENCES cluster_hosts (name),
  owner_epoch bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('running', 'lost')),
  policy text NOT NULL CHECK (policy IN ('at-least-once', 'at-most-once')),
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service, workload)
);
CREATE INDEX IF NOT EXISTS cluster_workload_owners_by_owner ON cluster_workload_owners (owner);
ALTER TABLE cluster_hosts ADD COLUMN IF NOT EXISTS exec_kinds text[];
ALTER TABLE cluster_workload_owners ADD COLUMN IF NOT EXISTS node text,
  ADD COLUMN IF NOT EXISTS cpu double precision, ADD COLUMN IF NOT EXISTS memory_bytes bigint;
CREATE TABLE IF NOT EXISTS cluster_replacements (
  id bigserial PRIMARY KEY,
  service text NOT NULL,
  workload text NOT NULL,
  lost_host text NOT NULL,
  lost_epoch bigint NOT NULL,
  policy text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  not_before timestamptz NOT NULL,
  placed_on text,
  acknowledged boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS cluster_replacements_pending ON cluster_replacements (id) WHERE placed_on IS NULL;
CREATE INDEX IF NOT EXISTS cluster_replacements_by_lost_host ON cluster_replacements (lost_host) WHERE NOT acknowledged;
`;

/**
 * The newest column of the schema: where it exists, the whole schema does (it is created in
 * one transaction), and no DDL runs. Name the new column here whenever the schema grows.
 */
export const CLUSTER_SCHEMA_PROBE = { table: 'cluster_hosts', column: 'exec_kinds' } as const;

/** The advisory lock key taken while creating the schema (any constant unique to this use). */
export const CLUSTER_SCHEMA_LOCK = 0x6b68_636c;
