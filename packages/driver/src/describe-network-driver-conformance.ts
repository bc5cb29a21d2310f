/**
 * The conformance suite every port `NetworkDriver` passes, written once against the contract
 * (imported from `@khutulun/driver/conformance`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDriverError } from './driver-error.js';
import type { NetworkDriver } from './network-driver.js';

/** What the suite needs to know about one network driver. */
export interface NetworkDriverConformance {
  /**
   * A fresh instance on a state directory, handing out ports from `range` (a second instance
   * on the same directory simulates an agent restart).
   */
  open(stateDirectory: string, range: { from: number; to: number }): NetworkDriver;
  /** A range of a few ports nobody else on the host uses during the test. */
  range: { from: number; to: number };
}

/** Registers the conformance suite (vitest `describe`/`it`) for one network driver kind. */
export function describeNetworkDriverConformance(
  kind: string,
  subject: NetworkDriverConformance,
): void {
  describe(`NetworkDriver conformance: ${kind}`, () => {
    let state: string;
    const web = { service: 'conformance', name: 'web' };
    const db = { service: 'conformance', name: 'db' };
    const open = () => subject.open(state, subject.range);

    beforeEach(() => {
      state = mkdtempSync(join(tmpdir(), `khutulun-conformance-${kind}-`));
    });

    afterEach(async () => {
      const driver = open();
      for (const r of await driver.list()) await driver.release(r.owner);
      rmSync(state, { recursive: true, force: true });
    });

    it('reserves unique ports from the range, idempotently, and persists them', async () => {
      const driver = open();
      expect(driver.kind).toBe(kind);
      const a = await driver.reserve({ owner: web, name: 'http', protocol: 'tcp' });
      expect(a).toMatchObject({ owner: web, name: 'http', protocol: 'tcp', exposed: false });
      expect(a.port).toBeGreaterThanOrEqual(subject.range.from);
      expect(a.port).toBeLessThanOrEqual(subject.range.to);
      expect(await driver.reserve({ owner: web, name: 'http', protocol: 'tcp' })).toEqual(a);
      const b = await driver.reserve({ owner: db, name: 'sql', protocol: 'tcp' });
      expect(b.port).not.toBe(a.port);
      const u = await driver.reserve({ owner: db, name: 'stats', protocol: 'udp' });
      expect(u.protocol).toBe('udp');
      expect(await driver.list(web)).toEqual([a]);

      const restarted = open();
      expect(await restarted.list()).toEqual(expect.arrayContaining([a, b, u]));
      const error = await restarted
        .reserve({ owner: db, name: 'other', protocol: 'tcp', port: a.port })
        .catch((e: unknown) => e);
      expect(isDriverError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'port-taken', driver: kind });
    });

    it('hands out a specific free port, and none past the end of the range', async () => {
      const driver = open();
      const { from, to } = subject.range;
      const fixed = await driver.reserve({ owner: web, name: 'fixed', protocol: 'tcp', port: to });
      expect(fixed.port).toBe(to);
      for (let port = from; port < to; port++) {
        await driver.reserve({ owner: db, name: `p${port}`, protocol: 'tcp' });
      }
      await expect(
        driver.reserve({ owner: db, name: 'one-too-many', protocol: 'tcp' }),
      ).rejects.toMatchObject({
        code: 'ports-exhausted',
      });
    });

    it('releases an owner’s ports (all, or one by name), idempotently', async () => {
      const driver = open();
      const http = await driver.reserve({ owner: web, name: 'http', protocol: 'tcp' });
      const admin = await driver.reserve({ owner: web, name: 'admin', protocol: 'tcp' });
      expect((await driver.release(web, 'admin')).map((r) => r.port)).toEqual([admin.port]);
      expect(await driver.list(web)).toEqual([http]);
      expect((await driver.release(web)).map((r) => r.port)).toEqual([http.port]);
      expect(await driver.release(web)).toEqual([]);
      expect(await open().list(web)).toEqual([]);
    });

    it('rejects exposing a port that is not reserved', async () => {
      const driver = open();
      const missing = {
        owner: web,
        name: 'http',
        protocol: 'tcp' as const,
        port: subject.range.from,
        exposed: false,
      };
      await expect(driver.expose(missing)).rejects.toMatchObject({ code: 'not-found' });
      expect(await driver.describe(web)).toEqual([]);
    });
  });
}
