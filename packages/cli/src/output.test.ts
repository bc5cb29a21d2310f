import type { ServiceDetail, WorkloadDetail } from '@khutulun/api';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { isCliError } from './cli-error.js';
import {
  cellText,
  parseOutputFormat,
  renderData,
  renderList,
  renderObject,
  renderTable,
} from './output.js';
import { renderService, renderWorkload } from './views.js';

const rows = [
  { service: 'hello', name: 'server', pid: 4242, ports: { port: 20001 } },
  { service: 'hello', name: 'client-with-a-long-name', pid: undefined, ports: {} },
];
const columns = [
  { header: 'NAME', cell: (r: (typeof rows)[number]) => r.name },
  { header: 'PID', cell: (r: (typeof rows)[number]) => r.pid },
  { header: 'PORTS', cell: (r: (typeof rows)[number]) => r.ports },
];

describe('output formats', () => {
  it('prints tables aligned under their headers, with - for nothing', () => {
    expect(renderList(rows, 'table', columns)).toBe(
      [
        'NAME                     PID   PORTS',
        'server                   4242  {"port":20001}',
        'client-with-a-long-name  -     {}',
        '',
      ].join('\n'),
    );
  });

  it('prints only headers for an empty list', () => {
    expect(renderList([], 'table', columns)).toBe('NAME  PID  PORTS\n');
  });

  it('prints JSON and YAML that parse back to the same data, whatever the columns', () => {
    const json = renderList(rows, 'json', columns);
    expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(rows)));
    expect(json.endsWith('\n')).toBe(true);
    expect(parseYaml(renderList(rows, 'yaml', columns))).toEqual(JSON.parse(JSON.stringify(rows)));
    expect(JSON.parse(renderData(undefined, 'json'))).toBeNull();
  });

  it('prints one object as aligned key: value lines, nesting as indented YAML', () => {
    const text = renderObject(
      {
        name: 'server',
        pid: 4242,
        command: ['node', 'server.mjs'],
        files: { pid: '/s/pid' },
        empty: {},
        gone: undefined,
      },
      'table',
    );
    expect(text).toBe(
      [
        'name:    server',
        'pid:     4242',
        'command: node,server.mjs',
        'files:',
        '  pid: /s/pid',
        'empty:   {}',
        '',
      ].join('\n'),
    );
    expect(JSON.parse(renderObject({ a: 1 }, 'json'))).toEqual({ a: 1 });
  });

  it('formats cells', () => {
    expect(cellText(null)).toBe('-');
    expect(cellText('')).toBe('-');
    expect(cellText(false)).toBe('false');
    expect(cellText([])).toBe('-');
    expect(cellText(['a', 1])).toBe('a,1');
    expect(cellText([{ a: 1 }])).toBe('[{"a":1}]');
    expect(renderTable(['A', 'B'], [['x', '']])).toBe('A  B\nx\n');
  });

  it('accepts only table, json and yaml for -o', () => {
    expect(parseOutputFormat('yaml')).toBe('yaml');
    try {
      parseOutputFormat('xml');
      expect.unreachable();
    } catch (error) {
      expect(isCliError(error) && error.exitCode).toBe(2);
    }
  });
});

/** Only the fields a view reads (an older agent may send no more). */
function partial<T>(value: Partial<T>): T {
  return value as T;
}

describe('detail views', () => {
  it('shows a service with its directory as a path and its workloads as a table', () => {
    const text = renderService(
      partial<ServiceDetail>({
        name: 'hello',
        state: 'running',
        directory: ['services', 'hello'],
        workloads: [
          {
            service: 'hello',
            name: 'server-1',
            host: 'h',
            kind: 'process',
            state: 'running',
            pid: 7,
            ports: { port: 20001 },
            restarts: 0,
          },
        ],
      }),
      'table',
    );
    expect(text).toBe(
      [
        'name:      hello',
        'state:     running',
        'directory: services/hello',
        '',
        'SERVICE  NAME      HOST  KIND     STATE    PID  CONTAINER  PORTS       RESTARTS',
        'hello    server-1  h     process  running  7    -          port=20001  0',
        '',
      ].join('\n'),
    );
    expect(
      JSON.parse(renderService(partial<ServiceDetail>({ name: 'x', directory: ['a'] }), 'json')),
    ).toEqual({
      name: 'x',
      directory: ['a'],
    });
  });

  it('shows a workload for a sysadmin: command line, environment and files with their purpose', () => {
    const text = renderWorkload(
      partial<WorkloadDetail>({
        service: 'hello',
        name: 'server-1',
        state: 'running',
        pid: 7,
        environment: { PORT: '20001' },
        commandLine: '/bin/sh /s/run\nnode server.mjs',
        files: [
          { path: '/s/run', purpose: 'the shim' },
          { path: '/s/logs/stdout.log', purpose: 'standard output' },
        ],
        properties: { hidden: 'in table view' },
      }),
      'table',
    );
    expect(text).toBe(
      [
        'service: hello',
        'name:    server-1',
        'state:   running',
        'pid:     7',
        'environment:',
        '  PORT=20001',
        'command line:',
        '  /bin/sh /s/run',
        '  node server.mjs',
        'files:',
        '  /s/run              the shim',
        '  /s/logs/stdout.log  standard output',
        '',
      ].join('\n'),
    );
  });
});
