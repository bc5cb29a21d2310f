import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDriverError } from '@khutulun/driver';
import { describe, expect, it } from 'vitest';
import { PodmanDriver } from './podman-driver.js';

describe('PodmanDriver without a service', () => {
  it('fails with a branded error naming the workload and the socket, and keeps retrying quietly', async () => {
    const state = mkdtempSync(join(tmpdir(), 'khutulun-podman-down-'));
    const socket = join(state, 'absent.sock');
    const driver = new PodmanDriver({ client: socket, stateDirectory: state, host: 'down' });
    try {
      const error = await driver
        .create({
          key: { service: 's', name: 'web' },
          properties: { type: 'container', environment: {}, image: 'localhost/x:1' },
          ports: [],
        })
        .catch((e: unknown) => e);
      expect(isDriverError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'io-failed', workload: { service: 's', name: 'web' } });
      expect((error as Error).message).toContain('s/web');
      expect((error as Error).message).toContain(socket);
      await expect(
        driver.read({ kind: 'podman', key: { service: 's', name: 'web' }, id: 'x' }),
      ).rejects.toMatchObject({ code: 'io-failed' });
    } finally {
      await driver.close();
      rmSync(state, { recursive: true, force: true });
    }
  });
});
