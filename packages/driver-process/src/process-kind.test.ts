import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkloadNode } from '@khutulun/driver';
import { describe, expect, it } from 'vitest';
import { mapProcess, PROCESS_TYPE, processKind } from './process-kind.js';

function node(properties: WorkloadNode['properties']): WorkloadNode {
  return {
    key: { service: 'svc', name: 'web' },
    types: [PROCESS_TYPE, 'node:io.khutulun.core/Workload'],
    properties,
    artifacts: {},
    relations: [],
    baseDirectory: '/',
  };
}

describe('processKind', () => {
  it('maps a Process node, numbers and booleans in arguments and environment as strings', () => {
    expect(
      mapProcess(
        node({
          command: 'python3',
          arguments: ['-m', 'http.server', 8080, true],
          environment: { PORT: 8080, DEBUG: false, NAME: 'web', UNSET: null },
          working_directory: '/srv',
          user: 'nobody',
          readiness: { port: 'http' },
        }),
      ),
    ).toEqual({
      properties: {
        command: 'python3',
        arguments: ['-m', 'http.server', '8080', 'true'],
        environment: { PORT: '8080', DEBUG: 'false', NAME: 'web' },
        working_directory: '/srv',
        user: 'nobody',
      },
      problems: [],
    });
  });

  it('returns problems as data for values that cannot be a word', () => {
    const { problems } = mapProcess(
      node({ command: { not: 'a command' }, arguments: ['ok', ['nested']], environment: [] }),
    );
    expect(problems.map((p) => p.path.join('.'))).toEqual([
      'command',
      'arguments.1',
      'environment',
    ]);
  });

  it('runs a one-off command with the same properties, and opens a driver on the state directory', async () => {
    expect(
      processKind.withCommand({ command: 'web', arguments: ['--serve'], user: 'nobody' }, [
        'initdb',
        '-D',
        '/data',
      ]),
    ).toEqual({ command: 'initdb', arguments: ['-D', '/data'], user: 'nobody' });
    const state = mkdtempSync(join(tmpdir(), 'khutulun-kind-'));
    const context = { stateDirectory: state, host: 'here', log: () => {} };
    expect(await processKind.probe(context)).toEqual({ available: true });
    const driver = await processKind.open(context);
    expect(driver.kind).toBe('process');
    const mapped = processKind.map(node({ command: 'sh', arguments: ['-c', 'exit 0'] }));
    expect(
      await driver.check({ key: { service: 'svc', name: 'web' }, ...mapped, ports: [] }),
    ).toEqual([]);
    await driver.close();
    rmSync(state, { recursive: true, force: true });
  });
});
