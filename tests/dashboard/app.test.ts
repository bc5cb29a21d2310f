/** The dashboard's pure parts: routes, command lines, and the graph's elements. */
import type { ServiceGraph, WorkloadItem } from '@khutulun/api';
import { describe, expect, it } from 'vitest';
import { splitCommand } from '../../packages/dashboard-web/app/command-line.js';
import { graphElements } from '../../packages/dashboard-web/app/graph.js';
import { parseRoute, workloadHref } from '../../packages/dashboard-web/app/route.js';

describe('routes', () => {
  it('reads every page from the hash, and round-trips workload links', () => {
    expect(parseRoute('')).toEqual({ page: 'overview' });
    expect(parseRoute('#/services/web')).toEqual({ page: 'service', service: 'web' });
    expect(parseRoute(workloadHref('web', 'server-1', 'logs'))).toEqual({
      page: 'workload',
      service: 'web',
      name: 'server-1',
      tab: 'logs',
    });
    expect(parseRoute('#/workloads/web/server-1/nonsense')).toMatchObject({ tab: 'details' });
    expect(parseRoute('#/events')).toEqual({ page: 'events' });
  });
});

describe('command lines', () => {
  it('splits on spaces, keeps quoted words whole, expands nothing', () => {
    expect(splitCommand(`sh -c "echo \\"a b\\" $HOME" 'x  y'`)).toEqual([
      'sh',
      '-c',
      'echo "a b" $HOME',
      'x  y',
    ]);
    expect(splitCommand('  ')).toEqual([]);
  });
});

describe('graph elements', () => {
  const id = <K extends 'vertex' | 'edge'>(kind: K, name: string) => ({
    kind,
    directory: ['services', 's'],
    name,
  });
  const workload = (name: string, host: string, state: WorkloadItem['state']): WorkloadItem => ({
    service: 's',
    name,
    host,
    kind: 'process',
    state,
    restarts: 0,
  });
  const graph: ServiceGraph = {
    vertexes: [
      {
        id: id('vertex', 'db-1'),
        metadata: { 'tosca.entity': 'node' },
        classes: [],
        properties: {},
      },
      {
        id: id('vertex', 'web-1'),
        metadata: { 'tosca.entity': 'node' },
        classes: [],
        properties: {},
      },
      {
        id: id('vertex', 'net-1'),
        metadata: { 'tosca.entity': 'node', 'tosca.type': 'k/Network' },
        classes: [],
        properties: {},
      },
      {
        id: id('vertex', 'db/capabilities/port-1'),
        metadata: { 'tosca.entity': 'capability' },
        classes: [],
        properties: {},
        parent: id('vertex', 'db-1'),
      },
      {
        id: id('vertex', 'tosca:service-1'),
        metadata: { 'tosca.entity': 'service' },
        classes: [],
        properties: {},
      },
    ],
    edges: [
      {
        id: id('edge', 'web/requirements/0/db-1'),
        metadata: {},
        classes: [{ kind: 'class', directory: [], name: 'relationship:k/ConnectsTo' }],
        source: id('vertex', 'web-1'),
        target: id('vertex', 'db/capabilities/port-1'),
        properties: {},
      },
      {
        id: id('edge', 'web/requirements/1/net-1'),
        metadata: {},
        classes: [{ kind: 'class', directory: [], name: 'relationship:k/AttachesTo' }],
        source: id('vertex', 'web-1'),
        target: id('vertex', 'net-1'),
        properties: {},
      },
    ],
  };

  it('groups workloads by host, draws other nodes apart, and draws edges between nodes by type', () => {
    const elements = graphElements(graph, [
      workload('db-1', 'a', 'running'),
      workload('web-1', 'b', 'failed'),
    ]);
    const nodes = elements
      .filter((e) => e.group === 'nodes')
      .map((e) => [e.data.id, e.data.parent, e.data.tone, e.classes]);
    expect(nodes).toEqual([
      ['host:b', undefined, undefined, 'host'],
      ['host:a', undefined, undefined, 'host'],
      ['w:db-1', 'host:a', 'ok', 'workload'],
      ['w:web-1', 'host:b', 'bad', 'workload'],
      ['w:net-1', undefined, 'idle', 'network'],
    ]);
    const edges = elements
      .filter((e) => e.group === 'edges')
      .map((e) => [e.data.source, e.data.target, e.data.label, e.classes]);
    expect(edges).toEqual([
      ['w:web-1', 'w:db-1', 'ConnectsTo', 'connects'],
      ['w:web-1', 'w:net-1', 'AttachesTo', 'attaches'],
    ]);
  });
});
