/**
 * What a service's TOSCA says about where its workloads run, read from its instance graph
 * into the parts of a `place_many` request: the `host` requirement's allocation
 * (`resources`), its target ClusterHost's node_filter (`filter`) and the Placement policies
 * that target the workload (`policies`).
 */
import type { Edge, Expression, Id, StoreReader, Value, Vertex } from '@khutulun/floria';
import { DeployError } from './agent-error.js';
import type { LabelMatch, NodeFilter, PlacementPolicy, ResourceRequest } from './host-policies.js';
import { isMap, propertyValue } from './values.js';
import { type PlannedWorkload, PROFILE } from './workload-plan.js';

/** Where one workload may go and what it takes there; absent parts constrain nothing. */
export interface WorkloadPlacement {
  resources?: ResourceRequest;
  filter?: NodeFilter;
  policies?: PlacementPolicy[];
}

/** The profile's Placement policy types, by the `place_many` policy each becomes. */
const POLICY_TYPES = ['DistinctHosts', 'Colocate', 'Spread', 'Scoring'] as const;

/** TOSCA `scalar-unit.size` units, in bytes. */
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1048576,
  gb: 1e9,
  gib: 1073741824,
  tb: 1e12,
  tib: 1099511627776,
};

/**
 * The placement parts of each workload of `plan` (by workload name; workloads without any
 * are left out):
 * - `resources`: the `allocation` of its `host` requirement (a HostedOn edge), cpu in cores
 *   and memory in bytes;
 * - `filter`: the node_filter of the ClusterHost node template that requirement targets
 *   (`directives: [select]`), clause by clause: `$equal` / `$valid_values` on
 *   `labels.K`, `$greater_or_equal` on the `host` capability's `cpu` or `memory`,
 *   `$has_all_entries` / `$has_entry` on its `kinds`, and `$and` of those;
 * - `policies`: every DistinctHosts, Colocate, Spread and Scoring policy whose targets include
 *   its node template (a policy without targets applies to every workload, as its targets).
 *
 * A clause placement cannot check, or a policy it cannot apply, rejects with a DeployError
 * `invalid-placement` (422) that names the workload and the clause: nothing is silently
 * left out.
 */
export async function placementRequests(
  store: StoreReader,
  plan: readonly Pick<PlannedWorkload, 'vertex' | 'name'>[],
  dirs: { instances: string[]; templates: string[] },
): Promise<Map<string, WorkloadPlacement>> {
  const cls = (name: string): Id => ({ kind: 'class', directory: dirs.templates, name });
  const hostedOn = cls(`relationship:${PROFILE}/HostedOn`);
  const nodeOf = new Map<string, string>();
  const placements = new Map<string, WorkloadPlacement>();
  for (const workload of plan) {
    const vertex = (await store.get(workload.vertex)) as Vertex | undefined;
    nodeOf.set(workload.name, vertex?.template?.name ?? workload.name);
    const placement: WorkloadPlacement = {};
    for (const edge of (await store.edgesOut(workload.vertex)) as Edge[]) {
      if (!(await store.isInClass(edge.id, hostedOn))) continue;
      const resources = resourcesOf(workload.name, propertyValue(edge, 'tosca:allocation'));
      if (resources) placement.resources = resources;
      const capability = (await store.get(edge.target)) as Vertex | undefined;
      const host = capability?.parent
        ? ((await store.get(capability.parent)) as Vertex | undefined)
        : undefined;
      const nodeFilter = host ? propertyValue(host, 'tosca:node_filter') : undefined;
      if (nodeFilter !== undefined && nodeFilter !== null)
        placement.filter = filterOf(workload.name, nodeFilter);
    }
    if (placement.resources || placement.filter) placements.set(workload.name, placement);
  }

  const every = [...new Set(nodeOf.values())];
  const policies = (await store.query({ kind: 'vertex', directory: dirs.instances })) as Vertex[];
  for (const policy of policies) {
    if (policy.metadata['tosca.entity'] !== 'policy') continue;
    if (!(await store.isInClass(policy.id, cls(`policy:${PROFILE}/Placement`)))) continue;
    const name = policy.template?.name.replace(/^policy:/, '') ?? policy.id.name;
    let type: (typeof POLICY_TYPES)[number] | undefined;
    for (const t of POLICY_TYPES)
      if (await store.isInClass(policy.id, cls(`policy:${PROFILE}/${t}`))) type = t;
    const declared = propertyValue(policy, 'tosca:targets');
    const targets =
      Array.isArray(declared) && declared.length > 0 ? declared.map(String) : [...every];
    const targeted = plan.filter((w) => targets.includes(nodeOf.get(w.name) ?? ''));
    if (targeted.length === 0) continue;
    if (!type) {
      throw invalid(
        targeted[0]!.name,
        `policy ${name} is of the abstract type Placement: use DistinctHosts, Colocate, Spread or Scoring`,
        { policy: name },
      );
    }
    const rule = policyOf(type, policy, targets);
    for (const w of targeted) {
      const placement = placements.get(w.name) ?? {};
      placement.policies = [...(placement.policies ?? []), rule];
      placements.set(w.name, placement);
    }
  }
  return placements;
}

/** The `place_many` policy of a Placement policy vertex of the profile's type `type`. */
function policyOf(
  type: (typeof POLICY_TYPES)[number],
  policy: Vertex,
  targets: string[],
): PlacementPolicy {
  switch (type) {
    case 'DistinctHosts':
      return { type: 'distinct-hosts', targets };
    case 'Colocate': {
      const withNodes = propertyValue(policy, 'with');
      return { type: 'colocate', with: Array.isArray(withNodes) ? withNodes.map(String) : [] };
    }
    case 'Spread': {
      const shares = propertyValue(policy, 'shares');
      return {
        type: 'spread',
        label: String(propertyValue(policy, 'label')),
        targets,
        ...(isMap(shares)
          ? { shares: Object.fromEntries(Object.entries(shares).map(([k, v]) => [k, Number(v)])) }
          : {}),
      };
    }
    case 'Scoring':
      return {
        type: 'scoring',
        mode: propertyValue(policy, 'mode') === 'binpack' ? 'binpack' : 'spread',
      };
  }
}

/** The allocation of a `host` requirement as a resource request (undefined when empty). */
function resourcesOf(workload: string, allocation: Value | undefined): ResourceRequest | undefined {
  if (!isMap(allocation)) return undefined;
  const resources: ResourceRequest = {};
  for (const [key, value] of Object.entries(allocation)) {
    if (key === 'cpu' && typeof value === 'number') resources.cpu = value;
    else if (key === 'memory') resources.memory = bytes(workload, value, `allocation memory`);
    else
      throw invalid(workload, `allocation ${key}: ${JSON.stringify(value)}`, {
        allocation: allocation as Value,
      });
  }
  return Object.keys(resources).length > 0 ? resources : undefined;
}

/**
 * A ClusterHost's compiled node_filter (`{ $expression }`, or a list of them that must all
 * hold) as placement's node filter.
 */
function filterOf(workload: string, nodeFilter: Value): NodeFilter {
  const labels = new Map<string, string[]>();
  const filter: { kinds?: string[]; capacity?: ResourceRequest } = {};
  const visit = (e: Expression): void => {
    if (e.kind === 'literal' && e.value === true) return;
    if (e.kind !== 'call' || e.plugin !== 'tosca') throw unsupported(workload, e);
    const [subject, operand] = e.arguments;
    const path = subject ? propertyPath(subject) : undefined;
    const literal = operand ? literalOf(operand) : undefined;
    switch (e.function) {
      case 'and':
        for (const a of e.arguments) visit(a);
        return;
      case 'equal': {
        // Either side may be the host's label.
        const [p, v] = path
          ? [path, literal]
          : [operand && propertyPath(operand), subject && literalOf(subject)];
        if (p?.[0] !== 'labels' || p.length !== 2 || !isScalar(v)) throw unsupported(workload, e);
        narrow(labels, p[1]!, [String(v)]);
        return;
      }
      case 'valid_values':
        if (path?.[0] !== 'labels' || path.length !== 2 || !Array.isArray(literal))
          throw unsupported(workload, e);
        narrow(labels, path[1]!, literal.map(String));
        return;
      case 'greater_or_equal': {
        if (path?.[0] !== 'host' || path.length !== 2 || literal === undefined)
          throw unsupported(workload, e);
        filter.capacity ??= {};
        const capacity = filter.capacity;
        if (path[1] === 'cpu' && typeof literal === 'number')
          capacity.cpu = Math.max(capacity.cpu ?? 0, literal);
        else if (path[1] === 'memory')
          capacity.memory = Math.max(
            capacity.memory ?? 0,
            bytes(workload, literal, `node filter ${render(e)}`),
          );
        else throw unsupported(workload, e);
        return;
      }
      case 'has_all_entries':
      case 'has_entry': {
        const kinds = e.function === 'has_entry' ? [literal] : literal;
        if (path?.[0] !== 'host' || path[1] !== 'kinds' || path.length !== 2)
          throw unsupported(workload, e);
        if (!Array.isArray(kinds) || !kinds.every((k) => typeof k === 'string'))
          throw unsupported(workload, e);
        filter.kinds = [...new Set([...(filter.kinds ?? []), ...(kinds as string[])])];
        return;
      }
      default:
        throw unsupported(workload, e);
    }
  };
  for (const clause of Array.isArray(nodeFilter) ? nodeFilter : [nodeFilter]) {
    const e = isMap(clause) ? (clause.$expression as Expression | undefined) : undefined;
    if (!e || typeof e !== 'object') {
      throw invalid(workload, `node filter ${JSON.stringify(clause)} is not a compiled clause`, {
        clause,
      });
    }
    visit(e);
  }
  const out: NodeFilter = { ...filter };
  if (labels.size > 0) {
    out.labels = Object.fromEntries(
      [...labels].map(([k, values]): [string, LabelMatch] => [
        k,
        values.length === 1 ? values[0]! : { in: values },
      ]),
    );
  }
  return out;
}

/** Keeps the values allowed by every clause on one label. */
function narrow(labels: Map<string, string[]>, label: string, values: string[]): void {
  const before = labels.get(label);
  labels.set(label, before ? before.filter((v) => values.includes(v)) : [...new Set(values)]);
}

/**
 * What a `$get_property` on the candidate host reads: `['labels', K]` for
 * `[SELF, labels, K]`, `['host', P]` for `[SELF, CAPABILITY, host, P]`; undefined otherwise.
 */
function propertyPath(e: Expression): string[] | undefined {
  if (e.kind !== 'call' || e.plugin !== 'tosca' || e.function !== 'get_property') return undefined;
  const parts = e.arguments.map((a) => (a.kind === 'literal' ? a.value : undefined));
  if (parts[0] !== 'SELF' || !parts.every((p) => typeof p === 'string')) return undefined;
  const rest = parts.slice(1) as string[];
  if (rest[0] === 'labels') return rest;
  if (rest[0] === 'CAPABILITY' && rest[1] === 'host') return ['host', ...rest.slice(2)];
  return undefined;
}

/** The value of a constant expression (undefined if it needs evaluating). */
function literalOf(e: Expression): Value | undefined {
  if (e.kind === 'literal') return e.value;
  if (e.kind === 'list') {
    const items = e.items.map(literalOf);
    return items.every((i) => i !== undefined) ? (items as Value[]) : undefined;
  }
  return undefined;
}

function isScalar(v: Value | undefined): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** Bytes from a number or a TOSCA size (`64 GiB`, `512MB`). */
function bytes(workload: string, value: Value, what: string): number {
  if (typeof value === 'number') return value;
  const match = typeof value === 'string' ? /^\s*([\d.]+)\s*([a-zA-Z]+)\s*$/.exec(value) : null;
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined || Number.isNaN(Number(match[1]))) {
    throw invalid(workload, `${what}: ${JSON.stringify(value)} is not a size`, { value });
  }
  return Math.round(Number(match[1]) * unit);
}

/** A compiled expression in TOSCA's own syntax, e.g. `{"$equal":[...]}`. */
function render(e: Expression): string {
  const plain = (x: Expression): Value => {
    switch (x.kind) {
      case 'literal':
        return x.value;
      case 'list':
        return x.items.map(plain);
      case 'map':
        return Object.fromEntries(x.entries.map((en) => [String(plain(en.key)), plain(en.value)]));
      case 'call':
        return { [`$${x.function}`]: x.arguments.map(plain) };
    }
  };
  return JSON.stringify(plain(e));
}

function unsupported(workload: string, clause: Expression): DeployError {
  return invalid(
    workload,
    `node filter clause ${render(clause)} is not one placement can check ` +
      '($equal or $valid_values on [SELF, labels, K]; $greater_or_equal on ' +
      '[SELF, CAPABILITY, host, cpu|memory]; $has_all_entries or $has_entry on ' +
      '[SELF, CAPABILITY, host, kinds]; $and of those)',
    { clause: render(clause) },
  );
}

function invalid(workload: string, why: string, details: Record<string, Value>): DeployError {
  return new DeployError({
    code: 'invalid-placement',
    status: 422,
    message: `workload ${workload}: ${why}`,
    details: { workload, ...details },
  });
}
