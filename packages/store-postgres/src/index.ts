/** PostgreSQL Floria store with LISTEN/NOTIFY change notification. */
export {};
