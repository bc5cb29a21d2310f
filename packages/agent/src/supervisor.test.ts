/** The supervisor's bookkeeping of a new run (pure: no agent, no driver). */
import type { WorkloadStatus } from '@khutulun/driver';
import { describe, expect, it } from 'vitest';
import type { LivenessCheck } from './health-checks.js';
import { newRun, type Supervised } from './supervisor.js';

const ref = (id: string) => ({ kind: 'podman', key: { service: 's', name: 'web-1' }, id });

function supervised(liveness: LivenessCheck, address?: string): Supervised {
  return {
    service: 's',
    name: 'web-1',
    vertex: { kind: 'vertex', directory: [], name: 'web-1' },
    ref: ref('a'),
    restart: 'always',
    graceMs: 1000,
    consecutive: 0,
    pid: 1,
    restarts: 0,
    startedAt: 0,
    stopping: false,
    liveness,
    ...(address ? { address } : {}),
    livenessFailures: 0,
    exitsHandled: 0,
    handlers: {},
    queue: Promise.resolve(),
  };
}

const status = (id: string, ip?: string): WorkloadStatus => ({
  ref: ref(id),
  state: 'running',
  pid: 2,
  attributes: ip ? { ip_address: ip } : {},
});

const schedule = { intervalMs: 1000, timeoutMs: 1000, failures: 3 };

describe('a new run', () => {
  it("moves a liveness check aimed at the workload's own address to the new run's address", () => {
    const sup = supervised(
      { check: { type: 'http', host: '10.88.0.5', port: 80, path: '/' }, ...schedule },
      '10.88.0.5',
    );
    newRun(sup, status('b', '10.88.0.9'));
    expect(sup.ref.id).toBe('b');
    expect(sup.pid).toBe(2);
    expect(sup.address).toBe('10.88.0.9');
    expect(sup.liveness?.check).toEqual({ type: 'http', host: '10.88.0.9', port: 80, path: '/' });
  });

  it('leaves a check aimed at the host, or a command check, where it was', () => {
    const onHost = supervised(
      { check: { type: 'tcp', host: '127.0.0.1', port: 20001 }, ...schedule },
      '10.88.0.5',
    );
    newRun(onHost, status('b', '10.88.0.9'));
    expect(onHost.liveness?.check).toEqual({ type: 'tcp', host: '127.0.0.1', port: 20001 });
    const command = supervised({ check: { type: 'command', command: ['true'] }, ...schedule });
    newRun(command, status('b', '10.88.0.9'));
    expect(command.liveness?.check).toEqual({ type: 'command', command: ['true'] });
  });
});
