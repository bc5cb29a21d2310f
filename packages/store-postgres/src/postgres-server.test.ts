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
      await client.end();
      await server.stop();
      expect(existsSync(socketDir)).toBe(false);
      const late = new pg.Client({ connectionString: server.url });
      await expect(late.connect()).rejects.toThrow();
    },
  );
});
