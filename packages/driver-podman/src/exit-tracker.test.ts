import type { WorkloadExit, WorkloadRef } from '@khutulun/driver';
import { describe, expect, it } from 'vitest';
import { ExitTracker, type ListedContainer, nanos } from './exit-tracker.js';
import type { LibpodEvent } from './libpod-types.js';

const ref = (name: string): WorkloadRef => ({
  kind: 'podman',
  key: { service: 's', name },
  id: `id-${name}`,
});

function died(id: string, code: number, at = Date.now()): LibpodEvent {
  return {
    Type: 'container',
    Action: 'died',
    Actor: { ID: id, Attributes: { containerExitCode: String(code) } },
    time: Math.floor(at / 1000),
    timeNano: at * 1_000_000,
  };
}

function tracker() {
  const exits: WorkloadExit[] = [];
  return { exits, tracker: new ExitTracker((e) => exits.push(e)) };
}

describe('ExitTracker', () => {
  it('clears a requested stop when a run starts by an event (a pod member started with its pod)', () => {
    const { exits, tracker: t } = tracker();
    const at = Date.now();
    t.expectRun(ref('m'), 'id-m');
    t.stopping(ref('m').key);
    t.event(died('id-m', 0, at + 5));
    t.event({ ...died('id-m', 0, at + 10), Action: 'start' });
    expect(t.isStopping(ref('m').key)).toBe(false);
    t.event(died('id-m', 137, at + 15));
    expect(exits).toMatchObject([
      { exitCode: 0, requested: true },
      { exitCode: 137, requested: false },
    ]);
  });

  it('reports a died event once, with the signal of 128 + n, requested after stopping', () => {
    const { exits, tracker: t } = tracker();
    t.expectRun(ref('a'), 'id-a');
    t.learn('id-a', 42, new Date().toISOString());
    t.event(died('id-a', 137, Date.now() + 5));
    t.event(died('id-a', 137, Date.now() + 6));
    expect(exits).toMatchObject([
      { ref: ref('a'), pid: 42, exitCode: 137, signal: 'SIGKILL', requested: false },
    ]);
    t.expectRun(ref('a'), 'id-a');
    t.stopping(ref('a').key);
    t.event(died('id-a', 0, Date.now() + 10));
    expect(exits[1]).toMatchObject({ exitCode: 0, requested: true });
    expect(exits[1]?.signal).toBeUndefined();
  });

  it('ignores a died event of an earlier run and of containers it does not know', () => {
    const { exits, tracker: t } = tracker();
    t.expectRun(ref('a'), 'id-a');
    t.event(died('id-a', 1, Date.now() - 1_000));
    t.event(died('id-other', 1));
    expect(exits).toEqual([]);
  });

  it('resync reports what was missed, learns what is new, and leaves alone runs expected meanwhile', async () => {
    const { exits, tracker: t } = tracker();
    t.expectRun(ref('missed'), 'id-missed');
    t.expectRun(ref('gone'), 'id-gone');
    let late: () => void = () => {};
    const listing: ListedContainer[] = [
      { containerId: 'id-missed', ref: ref('missed'), running: false, exitCode: 3, exitedAt: 1 },
      { containerId: 'id-new', ref: ref('new'), running: false, exitCode: 0 },
    ];
    const resync = t.resync(
      () =>
        new Promise((resolve) => {
          late = () => resolve(listing);
        }),
    );
    // Created while the listing was on its way: not in it, and not an exit.
    t.expectRun(ref('fresh'), 'id-fresh');
    late();
    await resync;
    expect(exits.map((e) => [e.ref.key.name, e.exitCode, e.lost ?? false])).toEqual([
      ['missed', 3, false],
      ['gone', undefined, true],
    ]);
    expect(t.ended('id-new')).toBe(true);
    expect(t.ended('id-fresh')).toBe(false);
  });

  it('replays, after the listing, an event about a container it learns from that listing', async () => {
    const { exits, tracker: t } = tracker();
    let late: () => void = () => {};
    const startedAt = Math.floor(Date.now() / 1000) - 10;
    const resync = t.resync(
      () =>
        new Promise((resolve) => {
          late = () => resolve([{ containerId: 'id-a', ref: ref('a'), running: true, startedAt }]);
        }),
    );
    // It died while the listing (taken before) was on its way.
    t.event(died('id-a', 9));
    late();
    await resync;
    expect(exits).toMatchObject([{ ref: ref('a'), exitCode: 9, requested: false }]);
  });

  it('reads RFC 3339 times to the nanosecond', () => {
    expect(nanos('2026-12-04T21:40:24.837097327Z')).toBe(1796420424837097327n);
    expect(nanos('2026-12-04T21:40:24Z')).toBe(1796420424000000000n);
    expect(nanos(undefined)).toBeUndefined();
  });
});
