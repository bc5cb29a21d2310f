/** The dashboard's pure parts: routes, command lines, and the graph's elements. */
import type { HostItem, ServiceGraph, WorkloadItem } from '@khutulun/api';
import { describe, expect, it } from 'vitest';
import { splitCommand } from '../../packages/dashboard-web/app/command-line.js';
import { eventHost, eventMatches } from '../../packages/dashboard-web/app/event-filter.js';
import { execSupported } from '../../packages/dashboard-web/app/exec-support.js';
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

describe('event filters', () => {
  const hostOf = new Map([['web/server-1', 'a']]);
  const hostJoined = {
    type: 'host-joined',
    id: { kind: 'vertex' as const, directory: ['khutulun', 'hosts'], name: 'b' },
  };
  const workloadReady = {
    type: 'workload-ready',
    id: { kind: 'vertex' as const, directory: ['services', 'web', 'instances'], name: 'server-1' },
  };
  const serviceDeployed = {
    type: 'service-deployed',
    id: { kind: 'vertex' as const, directory: ['khutulun', 'services'], name: 'web' },
  };
  const all = { service: '', host: '', type: '' };

  it('finds the host of a host event (its name, or the directory below khutulun/hosts) and of a workload event', () => {
    expect(eventHost(hostJoined, hostOf)).toBe('b');
    expect(
      eventHost(
        { id: { kind: 'vertex', directory: ['khutulun', 'hosts', 'c'], name: 'x' } },
        hostOf,
      ),
    ).toBe('c');
    expect(eventHost(workloadReady, hostOf)).toBe('a');
    expect(eventHost(serviceDeployed, hostOf)).toBeUndefined();
  });

  it('lets host events pass a filter on their host, and combines the filters', () => {
    const pass = (filter: Partial<typeof all>) =>
      [hostJoined, workloadReady, serviceDeployed]
        .filter((e) => eventMatches(e, { ...all, ...filter }, hostOf))
        .map((e) => e.type);
    expect(pass({})).toEqual(['host-joined', 'workload-ready', 'service-deployed']);
    expect(pass({ host: 'b' })).toEqual(['host-joined']);
    expect(pass({ host: 'a' })).toEqual(['workload-ready']);
    expect(pass({ service: 'web' })).toEqual(['workload-ready', 'service-deployed']);
    expect(pass({ service: 'web', host: 'a', type: 'READY' })).toEqual(['workload-ready']);
    expect(pass({ type: 'host' })).toEqual(['host-joined']);
  });
});

describe('exec support', () => {
  const host = (name: string, execKinds?: string[]): HostItem =>
    ({ name, state: 'up', self: false, address: '', workloads: 0, execKinds }) as HostItem;
  const hosts = [host('a', ['process']), host('b')];

  it("follows the workload's host's execKinds, and is unknown where a host does not report them", () => {
    expect(execSupported(hosts, 'a', 'process')).toBe(true);
    expect(execSupported(hosts, 'a', 'vm')).toBe(false);
    expect(execSupported(hosts, 'b', 'process')).toBeUndefined();
    expect(execSupported(hosts, 'c', 'process')).toBeUndefined();
    expect(execSupported(hosts, undefined, 'process')).toBeUndefined();
  });
});
