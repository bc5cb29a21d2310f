/**
 * The PostgreSQL schema: as for SQLite, entities with indexed filter columns and a JSON body,
 * memberships and class parents for recursive class queries, and the event log. Keys and
 * directory paths use the "C" collation, so order and subtree ranges are byte-wise.
 */
export const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS entities (
  key text COLLATE "C" PRIMARY KEY,
  kind text NOT NULL,
  directory text COLLATE "C" NOT NULL,
  name text NOT NULL,
  parent text COLLATE "C",
  source text COLLATE "C",
  target text COLLATE "C",
  template text COLLATE "C",
  body text NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_kind ON entities (kind, key);
CREATE INDEX IF NOT EXISTS entities_directory ON entities (directory, key);
CREATE INDEX IF NOT EXISTS entities_parent ON entities (parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_source ON entities (source, target, key) WHERE source IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_target ON entities (target, source, key) WHERE target IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_template ON entities (template) WHERE template IS NOT NULL;
CREATE TABLE IF NOT EXISTS memberships (
  entity_key text COLLATE "C" NOT NULL,
  class_key text COLLATE "C" NOT NULL,
  PRIMARY KEY (entity_key, class_key)
);
CREATE INDEX IF NOT EXISTS memberships_class ON memberships (class_key, entity_key);
CREATE TABLE IF NOT EXISTS class_parents (
  class_key text COLLATE "C" NOT NULL,
  parent_key text COLLATE "C" NOT NULL,
  PRIMARY KEY (class_key, parent_key)
);
CREATE INDEX IF NOT EXISTS class_parents_parent ON class_parents (parent_key, class_key);
CREATE TABLE IF NOT EXISTS events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  body text NOT NULL
);
`;

/** The channel commits are announced on (LISTEN/NOTIFY). */
export const EVENTS_CHANNEL = 'khutulun_floria_events';

/**
 * The advisory lock every write transaction holds until it ends: transactions from all
 * processes commit one at a time, so event sequence numbers are in commit order and a
 * reader at seq N never later sees a smaller one appear.
 */
export const WRITE_LOCK = 0x6b687574; // "khut"
