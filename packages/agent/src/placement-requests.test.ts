/**
 * placementRequests over real compiled services: each test compiles a small TOSCA service
 * with the io.khutulun.core profile, instantiates it into a memory store with the TOSCA
 * dispatcher (as a deploy does), and reads the placement parts back.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instantiate, type Vertex } from '@khutulun/floria';
import { openMemoryStore } from '@khutulun/store-memory';
import { compile, createToscaDispatcher } from '@khutulun/tosca';
import { afterAll, describe, expect, it } from 'vitest';
import { isAgentError } from './agent-error.js';
import { placementRequests, type WorkloadPlacement } from './placement-requests.js';

const dir = mkdtempSync(join(tmpdir(), 'khutulun-placement-requests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dirs = { templates: ['t'], instances: ['i'] };
let files = 0;

/** Compiles node templates (and policies) after the profile import; returns the placements. */
async function placementsOf(
  nodes: string,
  policies = '',
): Promise<{ placements: Map<string, WorkloadPlacement>; warnings: string[] }> {
  const source = join(dir, `service-${++files}.yaml`);
  writeFileSync(
    source,
    `tosca_definitions_version: tosca_2_0
imports:
  - profile: io.khutulun.core
    namespace: k
service_template:
  node_templates:
${nodes}${policies ? `  policies:\n${policies}` : ''}`,
  );
  const compiled = await compile({ source, directory: dirs.templates });
  const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.map((d) => d.message)).toEqual([]);
  const store = openMemoryStore();
  await store.transaction(async (tx) => {
    for (const t of compiled.templates ?? []) await tx.put(t);
  });
  await instantiate(store, {
    templates: { directory: dirs.templates },
    into: dirs.instances,
    dispatcher: createToscaDispatcher(),
  });
  const vertexes = (await store.query({ kind: 'vertex', directory: dirs.instances })) as Vertex[];
  const plan = vertexes
    .filter(
      (v) =>
        !v.parent &&
        v.metadata['tosca.entity'] === 'node' &&
        v.metadata['tosca.type'] === 'io.khutulun.core/Process',
    )
    .map((v) => ({ vertex: v.id, name: v.id.name }));
  return {
    placements: await placementRequests(store, plan, dirs),
    warnings: compiled.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.message),
  };
}

/** A Process node template, with more YAML at the level of its keys. */
function processNode(name: string, more = ''): string {
  return `    ${name}:
      type: k:Process
      properties:
        command: sleep
${more}`;
}

/** A selectable ClusterHost template with a node_filter (YAML at the filter's level). */
function hostNode(name: string, filter: string): string {
  return `    ${name}:
      type: k:ClusterHost
      directives: [select]
      node_filter:
${filter}`;
}

/** The `host` requirement of a node, to `target`, with an optional allocation. */
function hostRequirement(target: string, allocation?: string): string {
  return `      requirements:
        - host:
            node: ${target}
${allocation ? `            allocation: ${allocation}\n` : ''}`;
}

async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAgentError(error)).toBe(true);
  const { code, status, message, details } = error as Record<string, unknown>;
  return { code, status, message, details };
}

describe('placementRequests', () => {
  it('leaves out workloads without a host requirement or policy, with no warnings', async () => {
    const { placements, warnings } = await placementsOf(processNode('plain'));
    expect(placements.size).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('reads the allocation and every kind of node filter clause', async () => {
    const { placements, warnings } = await placementsOf(
      hostNode(
        'big',
        `        $and:
          - $equal: [$get_property: [SELF, labels, tier], general]
          - $valid_values: [$get_property: [SELF, labels, zone], [zone-a, zone-b]]
          - $greater_or_equal: [$get_property: [SELF, CAPABILITY, host, memory], 64 GiB]
          - $greater_or_equal: [$get_property: [SELF, CAPABILITY, host, cpu], 4]
          - $has_all_entries: [$get_property: [SELF, CAPABILITY, host, kinds], [podman]]
`,
      ) +
        processNode('web', hostRequirement('big', '{ cpu: 0.5, memory: 512 MiB }')) +
        processNode('side', hostRequirement('big')),
    );
    expect(warnings).toEqual([]);
    const filter = {
      labels: { tier: 'general', zone: { in: ['zone-a', 'zone-b'] } },
      capacity: { memory: 64 * 2 ** 30, cpu: 4 },
      kinds: ['podman'],
    };
    expect(placements.get('web-1')).toEqual({
      resources: { cpu: 0.5, memory: 512 * 2 ** 20 },
      filter,
    });
    // The same host template filters each workload that requires it, with its own allocation.
    expect(placements.get('side-1')).toEqual({ filter });
  });

  it('narrows a label tested twice, and reads a list of clauses as all of them', async () => {
    const { placements } = await placementsOf(
      hostNode(
        'b',
        `        - $valid_values: [$get_property: [SELF, labels, zone], [zone-a, zone-b, zone-c]]
        - $valid_values: [$get_property: [SELF, labels, zone], [zone-b, zone-c]]
        - $equal: [east, $get_property: [SELF, labels, region]]
`,
      ) + processNode('web', hostRequirement('b')),
    );
    expect(placements.get('web-1')?.filter).toEqual({
      labels: { zone: { in: ['zone-b', 'zone-c'] }, region: 'east' },
    });
  });

  it('turns Placement policies into policies of the workloads they target', async () => {
    const { placements } = await placementsOf(
      processNode('web') + processNode('api') + processNode('cache') + processNode('worker'),
      `    - apart: { type: k:DistinctHosts, targets: [web] }
    - zones:
        type: k:Spread
        targets: [web, api]
        properties: { label: zone, shares: { zone-a: 50, zone-b: 30 } }
    - beside: { type: k:Colocate, targets: [cache], properties: { with: [web] } }
    - pack: { type: k:Scoring, targets: [worker], properties: { mode: binpack } }
`,
    );
    const spread = {
      type: 'spread',
      label: 'zone',
      targets: ['web', 'api'],
      shares: { 'zone-a': 50, 'zone-b': 30 },
    };
    expect(placements.get('web-1')?.policies).toEqual(
      expect.arrayContaining([{ type: 'distinct-hosts', targets: ['web'] }, spread]),
    );
    expect(placements.get('web-1')?.policies).toHaveLength(2);
    expect(placements.get('api-1')).toEqual({ policies: [spread] });
    expect(placements.get('cache-1')).toEqual({ policies: [{ type: 'colocate', with: ['web'] }] });
    expect(placements.get('worker-1')).toEqual({
      policies: [{ type: 'scoring', mode: 'binpack' }],
    });
  });

  it('applies a policy without targets to every workload of the service', async () => {
    const { placements } = await placementsOf(
      processNode('a') + processNode('b'),
      '    - apart: { type: k:DistinctHosts }\n',
    );
    const rule = { type: 'distinct-hosts', targets: ['a', 'b'] };
    expect(placements.get('a-1')).toEqual({ policies: [rule] });
    expect(placements.get('b-1')).toEqual({ policies: [rule] });
  });

  it('gives each instance of a counted node its node template’s placement', async () => {
    const { placements } = await placementsOf(
      `${processNode('web', hostRequirement('h', '{ cpu: 1 }'))}      count: 2\n` +
        hostNode('h', '        $equal: [$get_property: [SELF, labels, zone], a]\n'),
      '    - apart: { type: k:DistinctHosts, targets: [web] }\n',
    );
    const expected = {
      resources: { cpu: 1 },
      filter: { labels: { zone: 'a' } },
      policies: [{ type: 'distinct-hosts', targets: ['web'] }],
    };
    expect(placements.get('web-1')).toEqual(expected);
    expect(placements.get('web-2')).toEqual(expected);
  });

  it('rejects a clause placement cannot check, naming the workload and the clause', async () => {
    const filters = [
      '        $less_than: [$get_property: [SELF, CAPABILITY, host, cpu], 4]\n',
      '        $equal: [$get_property: [SELF, CAPABILITY, host, kinds], [process]]\n',
      '        $greater_or_equal: [$get_property: [SELF, labels, zone], a]\n',
      '        $or: [{ $equal: [$get_property: [SELF, labels, zone], a] }]\n',
    ];
    for (const filter of filters) {
      const failure = await rejection(
        placementsOf(hostNode('h', filter) + processNode('web', hostRequirement('h'))),
      );
      expect(failure).toMatchObject({ code: 'invalid-placement', status: 422 });
      expect(failure.message).toMatch(/^workload web-1: node filter clause \{"\$/);
      expect(failure.details).toMatchObject({ workload: 'web-1' });
    }
    const failure = await rejection(
      placementsOf(
        hostNode(
          'h',
          '        $and: [{ $equal: [$get_property: [SELF, labels, zone], a] }, { $not: [{ $equal: [$get_property: [SELF, labels, zone], b] }] }]\n',
        ) + processNode('web', hostRequirement('h')),
      ),
    );
    expect(failure.message).toContain(
      '{"$not":[{"$equal":[{"$get_property":["SELF","labels","zone"]},"b"]}]}',
    );
  });
});
