import { describe, expect, it } from 'vitest';
import { eventService, eventWorkload } from './events.js';
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

  it('gives every state a tone', () => {
    expect(['running', 'starting', 'failed', 'stopped', 'whatever'].map(stateTone)).toEqual([
      'ok',
      'busy',
      'bad',
      'idle',
      'idle',
    ]);
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
