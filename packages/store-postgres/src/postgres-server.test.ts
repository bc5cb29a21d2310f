import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startPostgresServer, TEST_POSTGRES_URL_ENV } from './postgres-server.js';

describe('startPostgresServer', () => {
  it.skipIf(process.env[TEST_POSTGRES_URL_ENV])(
    'starts a private server on a Unix socket and stop() shuts it down and removes its directory (skipped when an external server is configured)',
    async () => {
      const server = await startPostgresServer({ fast: true });
      const socketDir = decodeURIComponent(new URL(server.url).hostname);
      expect(existsSync(socketDir)).toBe(true);
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      // No TCP listener: only the socket in the private directory.
      const { rows } = await client.query<{ listen: string }>(
        "SELECT current_setting('listen_addresses') AS listen",
      );
      expect(rows[0]!.listen).toBe('');
      // Databases of its own, by name, reached by the URL it gives.
      const url = await server.createDatabase('scratch');
      const inside = new pg.Client({ connectionString: url });
      const disconnected = new Promise((resolve) => inside.on('error', resolve));
      await inside.connect();
      const current = await inside.query<{ db: string }>('SELECT current_database() AS db');
      expect(current.rows[0]!.db).toBe('scratch');
      // Dropping disconnects whoever is still connected.
      await server.dropDatabase('scratch');
      await disconnected;
      const listed = await client.query("SELECT 1 FROM pg_database WHERE datname = 'scratch'");
      expect(listed.rows).toEqual([]);
      await client.end();
      await server.stop();
      expect(existsSync(socketDir)).toBe(false);
      const late = new pg.Client({ connectionString: server.url });
      await expect(late.connect()).rejects.toThrow();
    },
  );
});
