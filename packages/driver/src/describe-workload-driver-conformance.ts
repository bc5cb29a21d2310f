/**
 * The conformance suite every `WorkloadDriver` passes, written once against the contract and
 * run by each driver's tests with real workloads (imported from `@khutulun/driver/conformance`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDriverError } from './driver-error.js';
import type { WorkloadDriver, WorkloadExit, WorkloadKey, WorkloadSpec } from './workload-driver.js';

/** What the suite needs to know about one driver. */
export interface WorkloadDriverConformance {
  /** A fresh driver instance on a state directory (a second instance simulates an agent restart). */
  open(stateDirectory: string): WorkloadDriver;
  /** A spec that runs until stopped and stops on SIGTERM. */
  running(key: WorkloadKey): WorkloadSpec;
  /** A spec that exits on its own, soon, with this code. */
  exiting(key: WorkloadKey, code: number): WorkloadSpec;
  /** A spec that `check` rejects. */
  invalid(key: WorkloadKey): WorkloadSpec;
}

function nextExit(driver: WorkloadDriver, name: string): Promise<WorkloadExit> {
  return new Promise((resolve) => {
    const off = driver.on('exit', (exit) => {
      if (exit.ref.key.name === name) {
        off();
        resolve(exit);
      }
    });
  });
}

/** Registers the conformance suite (vitest `describe`/`it`) for one driver kind. */
export function describeWorkloadDriverConformance(
  kind: string,
  subject: WorkloadDriverConformance,
): void {
  describe(`WorkloadDriver conformance: ${kind}`, () => {
    let state: string;
    let opened: WorkloadDriver[];
    const open = () => {
      const driver = subject.open(state);
      opened.push(driver);
      return driver;
    };
    const key = (name: string): WorkloadKey => ({ service: 'conformance', name });

    beforeEach(() => {
      state = mkdtempSync(join(tmpdir(), `khutulun-conformance-${kind}-`));
      opened = [];
    });

    afterEach(async () => {
      const driver = opened.at(-1);
      if (driver)
        for (const status of await driver.adopt())
          await driver.delete(status.ref, { graceMs: 1_000 });
      for (const d of opened) await d.close();
      rmSync(state, { recursive: true, force: true });
    });

    it('check returns problems as data, and create refuses an invalid spec with a branded error', async () => {
      const driver = open();
      expect(driver.kind).toBe(kind);
      expect(await driver.check(subject.running(key('valid')))).toEqual([]);
      const problems = await driver.check(subject.invalid(key('invalid')));
      expect(problems.length).toBeGreaterThan(0);
      for (const problem of problems) expect(typeof problem.message).toBe('string');
      const error = await driver.create(subject.invalid(key('invalid'))).catch((e: unknown) => e);
      expect(isDriverError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'invalid-spec', driver: kind });
    });

    it('creates, reads, lists, describes, and refuses a duplicate', async () => {
      const driver = open();
      const spec = subject.running(key('one'));
      const status = await driver.create(spec);
      expect(status).toMatchObject({ state: 'running', ref: { kind, key: spec.key } });
      expect(typeof status.startedAt).toBe('string');
      expect(await driver.read(status.ref)).toMatchObject({ state: 'running' });
      expect((await driver.list()).map((s) => s.ref.id)).toEqual([status.ref.id]);
      const description = await driver.describe(status.ref);
      expect(description?.commands.length).toBeGreaterThan(0);
      expect(description?.files.length).toBeGreaterThan(0);
      await expect(driver.create(spec)).rejects.toMatchObject({ code: 'already-exists' });
    });

    it('reports an exit on its own, and restarts', async () => {
      const driver = open();
      const exited = nextExit(driver, 'short');
      const status = await driver.create(subject.exiting(key('short'), 7));
      const exit = await exited;
      expect(exit).toMatchObject({ ref: status.ref, exitCode: 7, requested: false });
      expect(await driver.read(status.ref)).toMatchObject({ state: 'exited', exitCode: 7 });
      const again = nextExit(driver, 'short');
      expect((await driver.restart(status.ref)).state).toBe('running');
      expect(await again).toMatchObject({ exitCode: 7 });
    });

    it('stops on request (the exit says so), idempotently', async () => {
      const driver = open();
      const status = await driver.create(subject.running(key('stoppable')));
      const exited = nextExit(driver, 'stoppable');
      expect((await driver.stop(status.ref, { graceMs: 5_000 })).state).toBe('stopped');
      expect(await exited).toMatchObject({ requested: true });
      expect((await driver.stop(status.ref)).state).toBe('stopped');
    });

    it('deletes everything, idempotently', async () => {
      const driver = open();
      const status = await driver.create(subject.running(key('doomed')));
      expect(await driver.delete(status.ref, { graceMs: 5_000 })).toBe(true);
      expect(await driver.read(status.ref)).toBeUndefined();
      expect(await driver.list()).toEqual([]);
      expect(await driver.delete(status.ref)).toBe(false);
      expect(await open().adopt()).toEqual([]);
    });

    it('is adopted by a fresh instance without duplicates, which then reports its exits', async () => {
      const first = open();
      const status = await first.create(subject.running(key('kept')));
      await first.close();
      const second = open();
      const adopted = await second.adopt();
      expect(adopted).toHaveLength(1);
      expect(adopted[0]).toMatchObject({ state: 'running', ref: status.ref });
      if (status.pid !== undefined) expect(adopted[0]?.pid).toBe(status.pid);
      expect(await second.adopt()).toHaveLength(1);
      const exited = nextExit(second, 'kept');
      await second.stop(status.ref, { graceMs: 5_000 });
      expect(await exited).toMatchObject({ requested: true });
    });
  });
}
