/**
 * Placement from TOSCA in a real cluster: two agent processes on one PostgreSQL and one
 * nats-server, each with its own `zone` label, deploying services whose host requirements
 * and Placement policies decide where each workload runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentProcess, Json } from './testing/agent-process.js';
import { useClusterFixture } from './testing/cluster-fixture.js';

const fx = useClusterFixture();

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'khutulun-cluster-placement-'));
  fx.cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Two agents of a new cluster (its own database and NATS subjects): `a` in zone z1, `b` in
 * zone z2, with host names of this process. At the end, every service is deleted and both
 * agents stop cleanly (their fence watchdogs end without fencing).
 */
async function twoZones(): Promise<{
  a: AgentProcess;
  b: AgentProcess;
  hostA: string;
  hostB: string;
}> {
  const cluster = await fx.newCluster('placement');
  const { name } = cluster;
  const member = async (host: string, zone: string) => {
    const agent = await fx.member(cluster, host, stateDir(), ['--label', `zone=${zone}`], {
      KHUTULUN_KINDS: 'process',
    });
    // A clean stop first (run before the fixture's kill): the watchdogs end without fencing.
    fx.cleanup(() => agent.stop());
    return agent;
  };
  const hostA = `${name}-a`;
  const hostB = `${name}-b`;
  const a = await member(hostA, 'z1');
  const b = await member(hostB, 'z2');
  fx.cleanup(async () => {
    for (const s of (await a.api('GET', '/v1/services')).body as Array<{ name: string }>)
      await a.api('DELETE', `/v1/services/${s.name}`);
  });
  return { a, b, hostA, hostB };
}

/** Deploys node templates (and policies) of `k:Process` sleepers through `agent`. */
async function deploy(agent: AgentProcess, service: string, nodes: string, policies = '') {
  const source = join(stateDir(), `${service}.yaml`);
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
  return agent.api('POST', '/v1/services', { name: service, source: { path: source } });
}

/** A sleeping Process node template, with more YAML at the level of its keys. */
function sleeper(name: string, more = ''): string {
  return `    ${name}:
      type: k:Process
      properties:
        command: /bin/sleep
        arguments: ["300"]
${more}`;
}

/** A selectable ClusterHost template in zone `zone`. */
function zoneHost(name: string, zone: string): string {
  return `    ${name}:
      type: k:ClusterHost
      directives: [select]
      node_filter:
        $equal: [$get_property: [SELF, labels, zone], ${zone}]
`;
}

const onHost = (node: string, allocation?: string) => `      requirements:
        - host:
            node: ${node}
${allocation ? `            allocation: ${allocation}\n` : ''}`;

/** The hosts of a service's workloads, by workload name. */
async function hostsOf(agent: AgentProcess, service: string): Promise<Record<string, string>> {
  const workloads = (await agent.api('GET', '/v1/workloads')).body as Json[];
  return Object.fromEntries(
    workloads.filter((w) => w.service === service).map((w) => [w.name, w.host] as [string, string]),
  );
}

describe('placement from TOSCA in a cluster', () => {
  it('puts a DistinctHosts pair on two hosts, and a node filter on the matching host', async () => {
    const { a, b, hostA, hostB } = await twoZones();

    // Bin-packing alone puts both on one host ...
    const packed = await deploy(
      a,
      'packed',
      sleeper('one') + sleeper('two'),
      '    - pack: { type: k:Scoring, targets: [one, two], properties: { mode: binpack } }\n',
    );
    expect(packed.status, JSON.stringify(packed.body)).toBe(201);
    const together = await hostsOf(b, 'packed');
    expect(together['one-1']).toBe(together['two-1']);

    // ... and DistinctHosts keeps the pair apart all the same.
    const apart = await deploy(
      a,
      'apart',
      sleeper('one') + sleeper('two'),
      '    - pack: { type: k:Scoring, targets: [one, two], properties: { mode: binpack } }\n' +
        '    - apart: { type: k:DistinctHosts, targets: [one, two] }\n',
    );
    expect(apart.status, JSON.stringify(apart.body)).toBe(201);
    expect(Object.values(await hostsOf(b, 'apart')).sort()).toEqual([hostA, hostB].sort());

    // Spread alone would put one of each on either host: the filter keeps both in zone z2.
    const zoned = await deploy(
      b,
      'zoned',
      zoneHost('z2-host', 'z2') +
        sleeper('one', onHost('z2-host', '{ cpu: 0.1, memory: 16 MiB }')) +
        sleeper('two', onHost('z2-host')),
    );
    expect(zoned.status, JSON.stringify(zoned.body)).toBe(201);
    expect(await hostsOf(a, 'zoned')).toEqual({ 'one-1': hostB, 'two-1': hostB });
    const running = (await a.api('GET', '/v1/workloads')).body as Json[];
    expect(running.filter((w) => w.service === 'zoned').map((w) => w.state)).toEqual([
      'running',
      'running',
    ]);
  });

  it("counts what earlier deploys hold against each host's capacity", async () => {
    const { a, b, hostA, hostB } = await twoZones();
    // Six tenths of a host's memory: one such workload per host, whichever deploy placed it.
    const bytes = Math.floor(totalmem() * 0.6);
    const big = (service: string) =>
      deploy(
        a,
        service,
        `    anywhere:
      type: k:ClusterHost
      directives: [select]
      node_filter:
        $valid_values: [$get_property: [SELF, labels, zone], [z1, z2]]
` + sleeper('one', onHost('anywhere', `{ memory: ${bytes} B }`)),
      );
    expect((await big('big1')).status).toBe(201);
    expect((await big('big2')).status).toBe(201);
    const first = (await hostsOf(b, 'big1'))['one-1'];
    expect([first, (await hostsOf(b, 'big2'))['one-1']].sort()).toEqual([hostA, hostB].sort());
    const third = await big('big3');
    expect(third.status, JSON.stringify(third.body)).toBe(409);
    expect(third.body.error.details.reasons).toEqual({
      [hostA]: 'resources exhausted: memory',
      [hostB]: 'resources exhausted: memory',
    });
    // Deleted, a service gives its room back.
    expect((await a.api('DELETE', '/v1/services/big1')).status).toBe(200);
    expect((await big('big3')).status).toBe(201);
    expect((await hostsOf(b, 'big3'))['one-1']).toBe(first);
  });

  it("fails an impossible placement with each host's reason, and an unknown clause as 422", async () => {
    const { a, hostA, hostB } = await twoZones();

    const nowhere = await deploy(
      a,
      'nowhere',
      zoneHost('z9-host', 'z9') + sleeper('one', onHost('z9-host')),
    );
    expect(nowhere.status).toBe(409);
    expect(nowhere.body.error).toMatchObject({
      code: 'placement-failed',
      details: {
        workload: 'one-1',
        reasons: { [hostA]: 'label mismatch: zone', [hostB]: 'label mismatch: zone' },
      },
    });
    expect(nowhere.body.error.message).toContain(`${hostA}: label mismatch: zone`);
    expect(nowhere.body.error.message).toContain(`${hostB}: label mismatch: zone`);

    const huge = await deploy(
      a,
      'huge',
      zoneHost('z1-host', 'z1') + sleeper('one', onHost('z1-host', '{ memory: 1000 TiB }')),
    );
    expect(huge.status).toBe(409);
    expect(huge.body.error.details.reasons).toEqual({
      [hostA]: 'resources exhausted: memory',
      [hostB]: 'label mismatch: zone',
    });

    const unknown = await deploy(
      a,
      'unknown',
      `    odd:
      type: k:ClusterHost
      directives: [select]
      node_filter:
        $less_than: [$get_property: [SELF, CAPABILITY, host, cpu], 2]
` + sleeper('one', onHost('odd')),
    );
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toMatchObject({ code: 'invalid-placement' });
    expect(unknown.body.error.message).toContain(
      'workload one-1: node filter clause {"$less_than"',
    );
    // Nothing was left of the failed deploys.
    expect((await a.api('GET', '/v1/services')).body).toEqual([]);
  });
});
