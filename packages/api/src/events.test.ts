import { describe, expect, it } from 'vitest';
import { type ApiEvent, eventHost, eventService, eventWorkload, parseEvent } from './events.js';
import { controlFrame, decodeExecFrame, stdinFrame } from './exec-frames.js';
import { formatDiagnostic, inputDefinitions } from './tosca-inputs.js';
import { stateTone } from './types.js';

describe('events', () => {
  it('tells the service and workload an event is about', () => {
    const workload = {
      id: { kind: 'vertex' as const, directory: ['services', 'web'], name: 'server-1' },
    };
    const capability = {
      id: {
        kind: 'vertex' as const,
        directory: ['services', 'web'],
        name: 'server/capabilities/port-1',
      },
    };
    const record = {
      id: { kind: 'vertex' as const, directory: ['khutulun', 'services'], name: 'web' },
    };
    expect([eventService(workload), eventWorkload(workload)]).toEqual(['web', 'server-1']);
    expect(eventWorkload(capability)).toBeUndefined();
    expect([eventService(record), eventWorkload(record)]).toEqual(['web', undefined]);
  });

  it('tells the host of a host event, and is about no service or workload then', () => {
    const lost = parseEvent(
      JSON.stringify({
        seq: 7,
        type: 'host-lost',
        id: { kind: 'vertex', directory: ['khutulun', 'hosts'], name: 'b' },
        time: '2026-01-01T00:00:00.000Z',
        data: { host: 'b', epoch: 3, declaredBy: 'a', replacements: 2 },
      }),
    );
    expect([eventHost(lost), eventService(lost), eventWorkload(lost)]).toEqual([
      'b',
      undefined,
      undefined,
    ]);
    if (lost.type !== 'host-lost') throw new Error('narrowed by type');
    expect(lost.data?.declaredBy).toBe('a');
  });

  it('reads the workload and service events of a cluster, with their data', () => {
    const on = (name: string) => ({
      kind: 'vertex' as const,
      directory: ['services', 'web'],
      name,
    });
    const time = '2026-01-01T00:00:00.000Z';
    const events: ApiEvent[] = [
      {
        seq: 1,
        type: 'workload-replaced',
        id: on('server-1'),
        time,
        data: { lostHost: 'b', replacement: 4 },
      },
      { seq: 2, type: 'workload-moved', id: on('server-1'), time, data: { from: 'b' } },
      { seq: 3, type: 'workload-fenced', id: on('server-1'), time, data: { by: 'fence-watchdog' } },
      { seq: 4, type: 'workload-rewired', id: on('client-1'), time },
      { seq: 5, type: 'workload-unhealthy', id: on('server-1'), time, data: { failures: 3 } },
      {
        seq: 6,
        type: 'workload-replace-failed',
        id: on('server-1'),
        time,
        data: { message: 'no host' },
      },
      { seq: 7, type: 'workload-replaced-elsewhere', id: on('server-1'), time },
      {
        seq: 8,
        type: 'service-taken-over',
        id: { kind: 'vertex', directory: ['khutulun', 'services'], name: 'web' },
        time,
        data: { from: 'b', by: 'a' },
      },
    ];
    const parsed = events.map((e) => parseEvent(JSON.stringify(e)));
    expect(parsed).toEqual(events);
    expect(
      parsed.map((e) => [eventService(e), eventWorkload(e) ?? null, eventHost(e) ?? null]),
    ).toEqual([
      ['web', 'server-1', null],
      ['web', 'server-1', null],
      ['web', 'server-1', null],
      ['web', 'client-1', null],
      ['web', 'server-1', null],
      ['web', 'server-1', null],
      ['web', 'server-1', null],
      ['web', null, null],
    ]);
  });

  it('refuses what is not an event, and keeps a type it does not name', () => {
    expect(() => parseEvent('{"seq":1}')).toThrow(/not an event/);
    expect(() => parseEvent('null')).toThrow(/not an event/);
    const custom = parseEvent(
      '{"seq":1,"type":"my-plugin-event","id":{"kind":"vertex","directory":["services","web"],"name":"server-1"},"time":"t"}',
    );
    expect(custom.type).toBe('my-plugin-event');
  });

  it('gives every state a tone', () => {
    expect(
      ['running', 'starting', 'failed', 'unhealthy', 'fenced', 'replaced', 'whatever'].map(
        stateTone,
      ),
    ).toEqual(['ok', 'busy', 'bad', 'bad', 'bad', 'idle', 'idle']);
  });
});

describe('exec frames', () => {
  it('prefixes the channel byte and decodes control JSON', () => {
    expect([...stdinFrame('hi')]).toEqual([0, 104, 105]);
    expect(decodeExecFrame(controlFrame({ type: 'exit', code: 3 }))).toEqual({
      channel: 'control',
      message: { type: 'exit', code: 3 },
    });
    expect(decodeExecFrame(new Uint8Array([1, 65]))).toEqual({
      channel: 'stdout',
      data: new Uint8Array([65]),
    });
    expect(decodeExecFrame(new Uint8Array([9]))).toBeUndefined();
  });
});

describe('TOSCA inputs', () => {
  it('reads the service template input properties of a compile', () => {
    const output = [
      {
        id: {
          kind: 'vertex-template' as const,
          directory: ['services', 's'],
          name: 'tosca:service',
        },
        metadata: { 'tosca.entity': 'service' },
        properties: {
          'input:greeting': {
            value: 'Hello',
            metadata: { 'tosca.kind': 'input', 'tosca.type': 'string' },
          },
          'output:url': { value: 'x' },
        },
      },
    ];
    expect(inputDefinitions(output)).toEqual([
      { name: 'greeting', type: 'string', default: 'Hello' },
    ]);
    expect(
      formatDiagnostic({
        severity: 'error',
        code: 'TOSCA1030',
        message: 'bad',
        file: 'a.yaml',
        line: 3,
        column: 5,
      }),
    ).toBe('a.yaml:3:5: error TOSCA1030: bad');
  });
});
