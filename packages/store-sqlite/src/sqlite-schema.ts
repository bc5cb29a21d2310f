/**
 * The SQLite schema. Entities keep their JSON body plus the columns queries filter on;
 * class membership and class parents are tables so "in C or a descendant" is a recursive CTE;
 * events are numbered by their rowid. Covering indexes on (source, target, key) and
 * (target, source, key) let a traversal step read only the index.
 */
export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS entities (
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  directory TEXT NOT NULL,
  name TEXT NOT NULL,
  parent TEXT,
  source TEXT,
  target TEXT,
  template TEXT,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_kind ON entities (kind, key);
CREATE INDEX IF NOT EXISTS entities_directory ON entities (directory, key);
CREATE INDEX IF NOT EXISTS entities_parent ON entities (parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_source ON entities (source, target, key) WHERE source IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_target ON entities (target, source, key) WHERE target IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_template ON entities (template) WHERE template IS NOT NULL;
CREATE TABLE IF NOT EXISTS memberships (
  entity_key TEXT NOT NULL,
  class_key TEXT NOT NULL,
  PRIMARY KEY (entity_key, class_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_class ON memberships (class_key, entity_key);
CREATE TABLE IF NOT EXISTS class_parents (
  class_key TEXT NOT NULL,
  parent_key TEXT NOT NULL,
  PRIMARY KEY (class_key, parent_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS class_parents_parent ON class_parents (parent_key, class_key);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  body TEXT NOT NULL
);
`;
