/**
 * The conformance suite every `WorkloadDriver` passes, written once against the contract and
 * run by each driver's tests with real workloads (imported from `@khutulun/driver/conformance`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDriverError } from './driver-error.js';
import type {
  ExecSession,
  LogChunk,
  WorkloadDriver,
  WorkloadExit,
  WorkloadKey,
  WorkloadSpec,
} from './workload-driver.js';

/** The lines a `talking` spec writes, each run. */
export interface TalkingLines {
  stdout: string[];
  stderr: string[];
}

/** Commands for the `exec` cases, run inside a `running` workload. */
export interface ConformanceCommands {
  /** Writes `out` and a newline to stdout, `err` and a newline to stderr, and exits 3. */
  output: string[];
  /** Copies its stdin to its stdout, then exits 0. */
  echo: string[];
}

/** The default `exec` commands: POSIX `sh` and `cat`, in any workload that has them. */
export const POSIX_COMMANDS: ConformanceCommands = {
  output: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
  echo: ['cat'],
};

/**
 * What the suite needs to know about one driver. The first four members are required; the
 * others add cases (a case whose member is absent is skipped, and says why).
 */
export interface WorkloadDriverConformance {
  /** A fresh driver instance on a state directory (a second instance simulates an agent restart). */
  open(stateDirectory: string): WorkloadDriver;
  /** A spec that runs until stopped and stops on SIGTERM. */
  running(key: WorkloadKey): WorkloadSpec;
  /** A spec that exits on its own, soon, with this code. */
  exiting(key: WorkloadKey, code: number): WorkloadSpec;
  /** A spec that `check` rejects. */
  invalid(key: WorkloadKey): WorkloadSpec;
  /**
   * A spec that writes these lines (each followed by a newline) to stdout and stderr, then
   * exits 0; a `restart` writes them again, after the first run's output in its logs.
   * Enables the `logs` cases.
   */
  talking?(key: WorkloadKey, lines: TalkingLines): WorkloadSpec;
  /** The `exec` commands (default `POSIX_COMMANDS`); used only when the driver has `exec`. */
  commands?: ConformanceCommands;
}

/** Text of chunks per stream, as the `logs` cases compare it. */
async function collectLogs(chunks: AsyncIterable<LogChunk>): Promise<Record<string, string>> {
  const out: Record<string, string> = { stdout: '', stderr: '' };
  const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  for await (const chunk of chunks)
    out[chunk.stream] += decoder[chunk.stream].decode(chunk.data, { stream: true });
  return out;
}

/** Everything a readable stream gives until it ends. */
function readAll(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (data: string) => {
      text += data;
    });
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}

/** Runs a session to its end: its output and exit code. */
async function finish(
  session: ExecSession,
): Promise<{ stdout: string; stderr: string; code: number }> {
  const [stdout, stderr, { code }] = await Promise.all([
    readAll(session.stdout),
    readAll(session.stderr),
    session.exit,
  ]);
  return { stdout, stderr, code };
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

    const talking = subject.talking?.bind(subject);
    const lines: TalkingLines = { stdout: ['one', 'two', 'three'], stderr: ['oops'] };
    const logsCase = (name: string) =>
      talking ? name : `${name} (skipped: the subject gives no talking spec)`;

    it.skipIf(!talking)(
      logsCase('logs: existing output per stream, and its last lines'),
      async () => {
        const driver = open();
        const exited = nextExit(driver, 'talker');
        const status = await driver.create(talking!(key('talker'), lines));
        await exited;
        expect(await collectLogs(driver.logs(status.ref))).toEqual({
          stdout: 'one\ntwo\nthree\n',
          stderr: 'oops\n',
        });
        expect(await collectLogs(driver.logs(status.ref, { stream: 'stdout' }))).toEqual({
          stdout: 'one\ntwo\nthree\n',
          stderr: '',
        });
        expect(await collectLogs(driver.logs(status.ref, { stream: 'stdout', tail: 2 }))).toEqual({
          stdout: 'two\nthree\n',
          stderr: '',
        });
      },
    );

    it.skipIf(!talking)(logsCase('logs: follow receives new output until aborted'), async () => {
      const driver = open();
      const exited = nextExit(driver, 'chatty');
      const status = await driver.create(talking!(key('chatty'), lines));
      await exited;
      const abort = new AbortController();
      let stdout = '';
      let notify: () => void = () => {};
      const grown = (text: string) =>
        new Promise<void>((resolve) => {
          notify = () => {
            if (stdout.includes(text)) resolve();
          };
          notify();
        });
      const decoder = new TextDecoder();
      const following = (async () => {
        for await (const chunk of driver.logs(status.ref, {
          stream: 'stdout',
          follow: true,
          signal: abort.signal,
        })) {
          stdout += decoder.decode(chunk.data, { stream: true });
          notify();
        }
      })();
      await grown('three\n');
      const again = nextExit(driver, 'chatty');
      await driver.restart(status.ref);
      await again;
      await grown('three\none\ntwo\nthree\n');
      abort.abort();
      await following;
      expect(stdout).toBe('one\ntwo\nthree\none\ntwo\nthree\n');
    });

    it('logs: an unknown ref is not-found', async () => {
      const driver = open();
      const ref = { kind, key: key('nobody'), id: 'conformance-nobody' };
      const error = await collectLogs(driver.logs(ref)).catch((e: unknown) => e);
      expect(isDriverError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'not-found' });
    });

    const commands = subject.commands ?? POSIX_COMMANDS;

    it('exec: stdout, stderr and the exit code of a command in a running workload', async (context) => {
      const driver = open();
      if (!driver.exec) return context.skip('this driver has no exec');
      const status = await driver.create(subject.running(key('shell')));
      const session = await driver.exec(status.ref, { command: commands.output });
      expect(await finish(session)).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3 });
    });

    it('exec: stdin reaches the command when asked for', async (context) => {
      const driver = open();
      if (!driver.exec) return context.skip('this driver has no exec');
      const status = await driver.create(subject.running(key('piped')));
      const session = await driver.exec(status.ref, { command: commands.echo, stdin: true });
      expect(session.stdin).toBeDefined();
      session.stdin?.end('hello\nworld\n');
      expect(await finish(session)).toEqual({ stdout: 'hello\nworld\n', stderr: '', code: 0 });
    });

    it('exec: not-found for an unknown ref, exited for a workload that is not running', async (context) => {
      const driver = open();
      if (!driver.exec) return context.skip('this driver has no exec');
      const unknown = { kind, key: key('nobody'), id: 'conformance-nobody' };
      await expect(driver.exec(unknown, { command: commands.output })).rejects.toMatchObject({
        code: 'not-found',
      });
      const status = await driver.create(subject.running(key('halted')));
      await driver.stop(status.ref, { graceMs: 5_000 });
      await expect(driver.exec(status.ref, { command: commands.output })).rejects.toMatchObject({
        code: 'exited',
      });
    });

    it('usage: CPU time and memory of a running workload, none once it stopped, not-found for an unknown ref', async (context) => {
      const driver = open();
      if (!driver.usage) return context.skip('this driver does not measure usage');
      const status = await driver.create(subject.running(key('measured')));
      const usage = await driver.usage(status.ref);
      expect(usage?.memoryBytes).toBeGreaterThan(0);
      expect(usage?.cpuSeconds).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(usage?.cpuSeconds)).toBe(true);
      await driver.stop(status.ref, { graceMs: 5_000 });
      expect(await driver.usage(status.ref)).toBeUndefined();
      const unknown = { kind, key: key('nobody'), id: 'conformance-nobody' };
      await expect(driver.usage(unknown)).rejects.toMatchObject({ code: 'not-found' });
    });

    it('diff: no change, a changed property, and replacements the kind cannot apply in place', async () => {
      const driver = open();
      const spec = subject.running(key('diffed'));
      const same = await driver.diff(spec, subject.running(key('diffed')));
      expect(same).toMatchObject({ changes: false, diffs: [], replaces: [] });
      const other = subject.exiting(key('diffed'), 3);
      const changed = await driver.diff(spec, other);
      expect(changed.changes).toBe(true);
      expect(changed.diffs.length).toBeGreaterThan(0);
      expect(changed.diffs.every((path) => changed.detailedDiff[path] !== undefined)).toBe(true);
      // What it runs changed: no kind can apply that in place.
      expect(changed.replaces.length).toBeGreaterThan(0);
      expect(changed.deleteBeforeReplace).toBe(true);
      if (!driver.update) expect(changed.replaces).toEqual(changed.diffs);
      const labelled = { ...spec, labels: { 'io.khutulun.test': 'yes' } };
      const relabelled = await driver.diff(spec, labelled);
      expect(relabelled.diffs).toContain('labels');
      expect(relabelled.detailedDiff['labels']?.kind).toBe('add');
    });

    it('accepts a spec with labels and limits (applied, or warned about in its status)', async () => {
      const driver = open();
      const spec: WorkloadSpec = {
        ...subject.running(key('labelled')),
        labels: { 'io.khutulun.service': 'conformance', 'io.khutulun.test': 'labels' },
        limits: { memoryBytes: 256 * 1024 * 1024, pids: 64, cpus: 0.5 },
      };
      expect(await driver.check(spec)).toEqual([]);
      const status = await driver.create(spec);
      expect(status.state).toBe('running');
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
