// Placement: which host runs a workload, given every host (labels, capacity, kinds, state,
// current workloads) and the workload's requests, node filter and placement policies.
// The wire shapes are in ../README.md; the TypeScript types in @khutulun/agent's
// host-policies.ts.
//
// How a workload is placed:
// 1. Static filter (host state, pinned host, kind, node filter labels / kinds / capacity):
//    the candidates for one filter are computed once per call and kept, in host-name order,
//    split into buckets by the value of the spread label (one bucket without a spread).
// 2. Spread across a label: the bucket furthest below its target share goes first (its
//    deficit `share * (placed + 1) - placed_here`), then the next, and so on.
// 3. In a bucket, a window of up to `candidates` hosts that fit (resources left, no
//    distinct-hosts clash) is scored from a cursor, Nomad-style "scoring over a subset":
//    bin-pack prefers the fullest host after placement, spread the emptiest (equal shares by
//    workload count); ties go to the host name first in order. The spread cursor moves past the chosen host (round robin);
//    the bin-pack cursor stays at the first host that fit (fill it up, then move on). So a
//    placement costs O(window + hosts skipped), not O(hosts).
// 4. Colocation: the candidates are the hosts already running the node to colocate with.
// 5. Nothing fits: every host is examined once more, for the reason it was rejected.
// Every placement updates the snapshot (usage, node counts, spread counts), so a batch sees
// its own earlier placements. Everything is a function of the input: deterministic.

import { JsonWriter } from './json-io';
import { JsonReader } from './json-reader';

const UNLIMITED: f64 = Infinity;
const EPSILON: f64 = 1e-9;
/** How much a workload weighs in a score next to capacity shares: only enough to break ties. */
const COUNT_WEIGHT: f64 = 1e-9;

/** How many fitting hosts are scored per placement unless the call says otherwise. */
export const DEFAULT_WINDOW: i32 = 16;

/** One host of the snapshot. */
export class Host {
  /** Position in the input. */
  index: i32 = 0;
  /** Position in name order (ties in score go to the lower). */
  rank: i32 = 0;
  name: string = '';
  available: bool = true;
  state: string = '';
  labelKeys: Array<string> = [];
  labelValues: Array<string> = [];
  /** The workload kinds offered; null when the host does not say (any kind). */
  kinds: Array<string> | null = null;
  cpuCapacity: f64 = UNLIMITED;
  memoryCapacity: f64 = UNLIMITED;
  cpuUsed: f64 = 0;
  memoryUsed: f64 = 0;
  count: i32 = 0;

  label(key: string): string | null {
    for (let i = 0; i < this.labelKeys.length; i++) {
      if (this.labelKeys[i] === key) return this.labelValues[i];
    }
    return null;
  }

  offers(kind: string): bool {
    const kinds = this.kinds;
    return kinds === null || kinds.includes(kind);
  }
}

/** A workload to place. */
export class Request {
  name: string = '';
  service: string = '';
  node: string = '';
  kind: string = '';
  pin: string = '';
  cpu: f64 = 0;
  memory: f64 = 0;
  /** Node filter: labels (each with its allowed values), kinds, minimum capacities. */
  labelKeys: Array<string> = [];
  labelAllowed: Array<Array<string>> = [];
  filterKinds: Array<string> = [];
  minCpu: f64 = 0;
  minMemory: f64 = 0;
  /** Policies. */
  distinct: Array<string> = [];
  colocate: Array<string> = [];
  spreadLabel: string = '';
  spreadTargets: Array<string> = [];
  shareValues: Array<string> = [];
  shares: Array<f64> = [];
  binpack: bool = false;
  /** How many alike workloads this entry stands for (each placed, and answered, in turn). */
  count: i32 = 1;
  /** Node keys (service and node template) of the workload and of its policy targets. */
  key: string = '';
  distinctKeys: Array<string> = [];
  colocateKeys: Array<string> = [];

  /** The static filter, as a key for the candidate cache. */
  signature(): string {
    let s = this.kind + '\u0001' + this.pin + '\u0001' + this.filterKinds.join(',') + '\u0001';
    for (let i = 0; i < this.labelKeys.length; i++) {
      s += this.labelKeys[i] + '=' + this.labelAllowed[i].join(',') + ';';
    }
    // Minimum capacities are rare: printing a float is not cheap.
    if (this.minCpu !== 0) s += '\u0001cpu' + this.minCpu.toString();
    if (this.minMemory !== 0) s += '\u0001memory' + this.minMemory.toString();
    return s;
  }
}

/** Where a node (a service's node template) runs: workload counts per host. */
class NodeIndex {
  counts: Map<i32, i32> = new Map();
  hosts: Array<i32> = [];
  /** Spread counts that count this node. */
  spreads: Array<SpreadCounts> = [];
}

/** Workloads of a group (a service's spread targets) per value of a label. */
class SpreadCounts {
  counts: Map<string, i32> = new Map();
  total: i32 = 0;
  constructor(public label: string) {}
}

/** Candidates sharing one value of the spread label. */
class Bucket {
  hosts: Array<i32> = [];
  spreadCursor: i32 = 0;
  packCursor: i32 = 0;
  constructor(public value: string) {}
}

class Candidates {
  buckets: Array<Bucket> = [];
}

/** A host snapshot that places workloads one after another, updating itself. */
export class Placer {
  hosts: Array<Host> = [];
  /** Host indexes in name order. */
  ordered: Array<i32> = [];
  window: i32 = DEFAULT_WINDOW;
  private nodes: Map<string, NodeIndex> = new Map();
  private candidates: Map<string, Candidates> = new Map();
  private spreads: Map<string, SpreadCounts> = new Map();

  /** Call once every host is in `hosts`: ranks them by name. */
  seal(): void {
    const sorted = this.hosts.slice(0);
    sorted.sort((a: Host, b: Host): i32 => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.ordered = new Array<i32>(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      sorted[i].rank = i;
      this.ordered[i] = sorted[i].index;
    }
  }

  /** Records a workload running (or just placed) on a host. */
  add(hostIndex: i32, key: string, cpu: f64, memory: f64, count: i32): void {
    const host = this.hosts[hostIndex];
    host.cpuUsed += cpu * <f64>count;
    host.memoryUsed += memory * <f64>count;
    host.count += count;
    const index = this.node(key);
    if (index.counts.has(hostIndex)) {
      index.counts.set(hostIndex, index.counts.get(hostIndex) + count);
    } else {
      index.counts.set(hostIndex, count);
      index.hosts.push(hostIndex);
    }
    for (let i = 0; i < index.spreads.length; i++) {
      const spread = index.spreads[i];
      const value = host.label(spread.label);
      const label = value === null ? '' : value;
      spread.counts.set(label, (spread.counts.has(label) ? spread.counts.get(label) : 0) + count);
      spread.total += count;
    }
  }

  /** The host (index) for `request`, or -1 when none fits. Does not record the placement. */
  place(request: Request): i32 {
    if (request.colocate.length > 0) return this.placeColocated(request);
    const candidates = this.candidatesFor(request);
    const buckets = candidates.buckets;
    if (request.spreadLabel.length === 0) {
      return buckets.length === 0 ? -1 : this.scan(buckets[0], request);
    }
    const spread = this.spreadFor(request);
    const tried = new Array<bool>(buckets.length);
    let labelled = 0;
    for (let i = 0; i < buckets.length; i++) if (buckets[i].value.length > 0) labelled++;
    let shareSum: f64 = 0;
    for (let i = 0; i < request.shares.length; i++) shareSum += request.shares[i];
    const total = <f64>(spread.total + 1);
    for (let attempt = 0; attempt < buckets.length; attempt++) {
      let best = -1;
      let bestDeficit: f64 = 0;
      for (let i = 0; i < buckets.length; i++) {
        if (tried[i]) continue;
        const value = buckets[i].value;
        let share: f64 = 0;
        if (request.shares.length > 0) {
          const at = request.shareValues.indexOf(value);
          if (at >= 0 && shareSum > 0) share = request.shares[at] / shareSum;
        } else if (value.length > 0) {
          share = 1 / <f64>labelled;
        }
        const placed = spread.counts.has(value) ? spread.counts.get(value) : 0;
        const deficit = share * total - <f64>placed;
        // Buckets come in value order, so a strict comparison breaks ties by value.
        if (best < 0 || deficit > bestDeficit) {
          best = i;
          bestDeficit = deficit;
        }
      }
      if (best < 0) break;
      tried[best] = true;
      const chosen = this.scan(buckets[best], request);
      if (chosen >= 0) return chosen;
    }
    return -1;
  }

  /** Places `request` and records it; the host index or -1. */
  placeAndRecord(request: Request): i32 {
    const chosen = this.place(request);
    if (chosen >= 0) this.add(chosen, request.key, request.cpu, request.memory, 1);
    return chosen;
  }

  /**
   * Writes why each host (in name order) cannot take `request`: the `reasons` and `summary`
   * entries. Returns where `"summary"` starts in `out`.
   */
  explain(request: Request, out: JsonWriter, maxReasons: i32): i32 {
    const summary = new Map<string, i32>();
    const order: Array<string> = [];
    out.raw('"reasons":{');
    let listed = 0;
    for (let i = 0; i < this.ordered.length; i++) {
      const host = this.hosts[this.ordered[i]];
      const reason = this.reason(host, request);
      if (summary.has(reason)) {
        summary.set(reason, summary.get(reason) + 1);
      } else {
        summary.set(reason, 1);
        order.push(reason);
      }
      if (maxReasons >= 0 && listed >= maxReasons) continue;
      if (listed > 0) out.raw(',');
      out.string(host.name).raw(':').string(reason);
      listed++;
    }
    out.raw('},');
    const summaryStart = out.size;
    out.raw('"summary":{');
    for (let i = 0; i < order.length; i++) {
      if (i > 0) out.raw(',');
      out
        .string(order[i])
        .raw(':')
        .number(<f64>summary.get(order[i]));
    }
    out.raw('}');
    return summaryStart;
  }

  /** Why `host` cannot take `request` (or "not chosen" if it could). */
  reason(host: Host, request: Request): string {
    const rejected = this.staticReason(host, request);
    if (rejected !== null) return rejected;
    for (let i = 0; i < request.colocate.length; i++) {
      const key = request.colocateKeys[i];
      if (!this.nodes.has(key) || !this.nodes.get(key).counts.has(host.index)) {
        return 'colocation: ' + request.colocate[i] + ' not on host';
      }
    }
    const clash = this.clash(host, request);
    if (clash !== null) return 'distinct hosts: ' + clash + ' already on host';
    const cpu = host.cpuUsed + request.cpu > host.cpuCapacity + EPSILON;
    const memory = host.memoryUsed + request.memory > host.memoryCapacity + EPSILON;
    if (cpu && memory) return 'resources exhausted: cpu, memory';
    if (cpu) return 'resources exhausted: cpu';
    if (memory) return 'resources exhausted: memory';
    return 'not chosen';
  }

  private staticReason(host: Host, request: Request): string | null {
    if (!host.available) return 'unavailable';
    const state = host.state;
    if (state.length > 0 && state !== 'up' && state !== 'ready') return 'state: ' + state;
    if (request.pin.length > 0 && host.name !== request.pin) return 'pinned to ' + request.pin;
    if (request.kind.length > 0 && !host.offers(request.kind)) {
      return 'kind not offered: ' + request.kind;
    }
    for (let i = 0; i < request.filterKinds.length; i++) {
      if (!host.offers(request.filterKinds[i])) {
        return 'kind not offered: ' + request.filterKinds[i];
      }
    }
    for (let i = 0; i < request.labelKeys.length; i++) {
      const value = host.label(request.labelKeys[i]);
      if (value === null || !request.labelAllowed[i].includes(value)) {
        return 'label mismatch: ' + request.labelKeys[i];
      }
    }
    if (host.cpuCapacity < request.minCpu) return 'capacity below: cpu';
    if (host.memoryCapacity < request.minMemory) return 'capacity below: memory';
    return null;
  }

  /** The distinct-hosts target already on `host`, or null. */
  private clash(host: Host, request: Request): string | null {
    for (let i = 0; i < request.distinct.length; i++) {
      const key = request.distinctKeys[i];
      if (!this.nodes.has(key)) continue;
      if (this.nodes.get(key).counts.has(host.index)) return request.distinct[i];
    }
    return null;
  }

  @inline
  private fits(host: Host, request: Request): bool {
    return (
      host.cpuUsed + request.cpu <= host.cpuCapacity + EPSILON &&
      host.memoryUsed + request.memory <= host.memoryCapacity + EPSILON
    );
  }

  /**
   * Utilization after placing `request`: the mean share of the capacities the host
   * declares, or its workload count when it declares none. Bin-pack maximizes it, spread
   * minimizes it. Equal shares (e.g. workloads that request nothing) are told apart by the
   * workload count: spread goes to the host with fewer, bin-pack to the one with more.
   */
  private score(host: Host, request: Request): f64 {
    let sum: f64 = 0;
    let dimensions = 0;
    if (host.cpuCapacity < UNLIMITED && host.cpuCapacity > 0) {
      sum += (host.cpuUsed + request.cpu) / host.cpuCapacity;
      dimensions++;
    }
    if (host.memoryCapacity < UNLIMITED && host.memoryCapacity > 0) {
      sum += (host.memoryUsed + request.memory) / host.memoryCapacity;
      dimensions++;
    }
    const utilization =
      dimensions === 0 ? <f64>host.count : sum / <f64>dimensions + <f64>host.count * COUNT_WEIGHT;
    return request.binpack ? utilization : -utilization;
  }

  /** Scores a window of fitting hosts of `bucket` from its cursor; the best, or -1. */
  private scan(bucket: Bucket, request: Request): i32 {
    const list = bucket.hosts;
    const n = list.length;
    if (n === 0) return -1;
    const distinct = request.distinct.length > 0;
    let position = request.binpack ? bucket.packCursor : bucket.spreadCursor;
    if (position >= n) position = 0;
    let best = -1;
    let bestPosition = 0;
    let bestScore: f64 = 0;
    let firstFit = -1;
    let scored = 0;
    const window = this.window > 0 ? this.window : n;
    for (let i = 0; i < n; i++, position++) {
      if (position >= n) position = 0;
      const host = unchecked(this.hosts[unchecked(list[position])]);
      if (!this.fits(host, request)) continue;
      if (firstFit < 0) firstFit = position;
      if (distinct && this.clash(host, request) !== null) continue;
      const score = this.score(host, request);
      if (
        best < 0 ||
        score > bestScore ||
        (score === bestScore && host.rank < this.hosts[best].rank)
      ) {
        best = host.index;
        bestScore = score;
        bestPosition = position;
      }
      if (++scored >= window) break;
    }
    if (best < 0) return -1;
    if (request.binpack) bucket.packCursor = firstFit;
    else bucket.spreadCursor = bestPosition + 1 < n ? bestPosition + 1 : 0;
    return best;
  }

  private placeColocated(request: Request): i32 {
    const key = request.colocateKeys[0];
    if (!this.nodes.has(key)) return -1;
    const first = this.nodes.get(key);
    let best = -1;
    let bestScore: f64 = 0;
    for (let i = 0; i < first.hosts.length; i++) {
      const host = this.hosts[first.hosts[i]];
      if (this.reason(host, request) !== 'not chosen') continue;
      const score = this.score(host, request);
      if (
        best < 0 ||
        score > bestScore ||
        (score === bestScore && host.rank < this.hosts[best].rank)
      ) {
        best = host.index;
        bestScore = score;
      }
    }
    return best;
  }

  private candidatesFor(request: Request): Candidates {
    const key = request.signature() + '\u0002' + request.spreadLabel;
    if (this.candidates.has(key)) return this.candidates.get(key);
    const candidates = new Candidates();
    const byValue = new Map<string, Bucket>();
    for (let i = 0; i < this.ordered.length; i++) {
      const host = this.hosts[this.ordered[i]];
      if (this.staticReason(host, request) !== null) continue;
      let value = '';
      if (request.spreadLabel.length > 0) {
        const label = host.label(request.spreadLabel);
        if (label !== null) value = label;
      }
      let bucket: Bucket;
      if (byValue.has(value)) {
        bucket = byValue.get(value);
      } else {
        bucket = new Bucket(value);
        byValue.set(value, bucket);
        candidates.buckets.push(bucket);
      }
      bucket.hosts.push(host.index);
    }
    candidates.buckets.sort(
      (a: Bucket, b: Bucket): i32 => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
    );
    this.candidates.set(key, candidates);
    return candidates;
  }

  private spreadFor(request: Request): SpreadCounts {
    const targets = request.spreadTargets.length > 0 ? request.spreadTargets : [request.node];
    const key =
      request.service + '\u0001' + targets.join('\u0001') + '\u0002' + request.spreadLabel;
    if (this.spreads.has(key)) return this.spreads.get(key);
    const spread = new SpreadCounts(request.spreadLabel);
    for (let t = 0; t < targets.length; t++) {
      const index = this.node(nodeKey(request.service, targets[t]));
      index.spreads.push(spread);
      for (let i = 0; i < index.hosts.length; i++) {
        const hostIndex = index.hosts[i];
        const count = index.counts.get(hostIndex);
        const label = this.hosts[hostIndex].label(request.spreadLabel);
        const value = label === null ? '' : label;
        spread.counts.set(value, (spread.counts.has(value) ? spread.counts.get(value) : 0) + count);
        spread.total += count;
      }
    }
    this.spreads.set(key, spread);
    return spread;
  }

  private node(key: string): NodeIndex {
    if (this.nodes.has(key)) return this.nodes.get(key);
    const index = new NodeIndex();
    this.nodes.set(key, index);
    return index;
  }
}

/** The key of a service's node template in the indexes. */
function nodeKey(service: string, node: string): string {
  return service + '\u0001' + node;
}

/** Reads the hosts list (the reader before it) into `placer`, then seals it. */
export function readHosts(reader: JsonReader, placer: Placer): void {
  // A host's running workloads are recorded once its map is read (its labels may follow).
  const keys: Array<string> = [];
  const cpus: Array<f64> = [];
  const memories: Array<f64> = [];
  const counts: Array<i32> = [];
  if (reader.beginList()) {
    while (reader.nextItem()) {
      const host = new Host();
      host.index = placer.hosts.length;
      if (!reader.beginMap()) continue;
      keys.length = 0;
      cpus.length = 0;
      memories.length = 0;
      counts.length = 0;
      while (reader.nextKey()) {
        if (reader.keyIs('name')) host.name = reader.string();
        else if (reader.keyIs('available')) host.available = reader.bool(true);
        else if (reader.keyIs('state')) host.state = reader.string();
        else if (reader.keyIs('labels')) {
          if (reader.beginMap()) {
            while (reader.nextKey()) {
              host.labelKeys.push(reader.key());
              host.labelValues.push(reader.text());
            }
          }
        } else if (reader.keyIs('kinds')) {
          const kinds: Array<string> = [];
          if (reader.beginList()) while (reader.nextItem()) kinds.push(reader.string());
          host.kinds = kinds;
        } else if (reader.keyIs('capacity')) {
          if (reader.beginMap()) {
            while (reader.nextKey()) {
              if (reader.keyIs('cpu')) host.cpuCapacity = reader.number(UNLIMITED);
              else if (reader.keyIs('memory')) host.memoryCapacity = reader.number(UNLIMITED);
              else reader.skip();
            }
          }
        } else if (reader.keyIs('workloads')) {
          if (reader.isNumber()) {
            // The earlier form: only how many workloads the host runs.
            host.count += reader.count(0, 0);
          } else if (reader.beginList()) {
            while (reader.nextItem()) readPlaced(reader, keys, cpus, memories, counts);
          }
        } else reader.skip();
      }
      placer.hosts.push(host);
      for (let i = 0; i < keys.length; i++) {
        placer.add(host.index, keys[i], cpus[i], memories[i], counts[i]);
      }
    }
  }
  placer.seal();
}

/** Reads one running workload: `{ service, node, resources?, count? }`. */
function readPlaced(
  reader: JsonReader,
  keys: Array<string>,
  cpus: Array<f64>,
  memories: Array<f64>,
  counts: Array<i32>,
): void {
  if (!reader.beginMap()) return;
  // The node key is decoded straight from the two strings' bytes: one allocation.
  let serviceStart = 0;
  let serviceEnd = 0;
  let nodeStart = 0;
  let nodeEnd = 0;
  let service: string | null = null;
  let node: string | null = null;
  let cpu: f64 = 0;
  let memory: f64 = 0;
  let count: i32 = 1;
  while (reader.nextKey()) {
    if (reader.keyIs('service')) {
      if (reader.rawString()) {
        serviceStart = reader.valueStart;
        serviceEnd = reader.valueEnd;
        if (reader.valueEscaped) service = reader.decodeRange(serviceStart, serviceEnd);
      }
    } else if (reader.keyIs('node')) {
      if (reader.rawString()) {
        nodeStart = reader.valueStart;
        nodeEnd = reader.valueEnd;
        if (reader.valueEscaped) node = reader.decodeRange(nodeStart, nodeEnd);
      }
    } else if (reader.keyIs('resources')) {
      if (reader.beginMap()) {
        while (reader.nextKey()) {
          if (reader.keyIs('cpu')) cpu = reader.number(0);
          else if (reader.keyIs('memory')) memory = reader.number(0);
          else reader.skip();
        }
      }
    } else if (reader.keyIs('count')) count = reader.count(1, 0);
    else reader.skip();
  }
  if (count < 1) return;
  let key: string;
  if (service === null && node === null) {
    key = reader.join(serviceStart, serviceEnd, 0x01, nodeStart, nodeEnd);
  } else {
    if (service === null) service = reader.decodeRange(serviceStart, serviceEnd);
    if (node === null) node = reader.decodeRange(nodeStart, nodeEnd);
    key = nodeKey(service!, node!);
  }
  keys.push(key);
  cpus.push(cpu);
  memories.push(memory);
  counts.push(count);
}

/** Reads one workload to place (the reader before it). */
export function readRequest(reader: JsonReader): Request {
  const request = new Request();
  if (!reader.beginMap()) return request;
  while (reader.nextKey()) {
    if (reader.keyIs('name')) request.name = reader.string();
    else if (reader.keyIs('service')) request.service = reader.string();
    else if (reader.keyIs('node')) request.node = reader.string();
    else if (reader.keyIs('kind')) request.kind = reader.string();
    else if (reader.keyIs('host')) request.pin = reader.string();
    else if (reader.keyIs('count')) request.count = reader.count(1, 0);
    else if (reader.keyIs('resources')) {
      if (reader.beginMap()) {
        while (reader.nextKey()) {
          if (reader.keyIs('cpu')) request.cpu = reader.number(0);
          else if (reader.keyIs('memory')) request.memory = reader.number(0);
          else reader.skip();
        }
      }
    } else if (reader.keyIs('labels')) {
      // The earlier form: labels the host must carry, each equal.
      if (reader.beginMap()) {
        while (reader.nextKey()) {
          request.labelKeys.push(reader.key());
          request.labelAllowed.push([reader.text()]);
        }
      }
    } else if (reader.keyIs('filter')) readFilter(reader, request);
    else if (reader.keyIs('policies')) {
      if (reader.beginList()) while (reader.nextItem()) readPolicy(reader, request);
    } else reader.skip();
  }
  if (request.node.length === 0) request.node = request.name;
  // A distinct-hosts policy without targets is about the workload's own node.
  const self = request.distinct.indexOf('');
  if (self >= 0) {
    if (request.distinct.includes(request.node)) request.distinct.splice(self, 1);
    else request.distinct[self] = request.node;
  }
  request.key = nodeKey(request.service, request.node);
  for (let i = 0; i < request.distinct.length; i++) {
    request.distinctKeys.push(nodeKey(request.service, request.distinct[i]));
  }
  for (let i = 0; i < request.colocate.length; i++) {
    request.colocateKeys.push(nodeKey(request.service, request.colocate[i]));
  }
  return request;
}

function readFilter(reader: JsonReader, request: Request): void {
  if (!reader.beginMap()) return;
  while (reader.nextKey()) {
    if (reader.keyIs('labels')) {
      if (!reader.beginMap()) continue;
      while (reader.nextKey()) {
        const key = reader.key();
        const allowed: Array<string> = [];
        if (reader.peek() === 0x7b) {
          // { equal: v } or { in: [v, ...] }
          reader.beginMap();
          while (reader.nextKey()) {
            if (reader.keyIs('equal')) allowed.push(reader.text());
            else if (reader.keyIs('in')) {
              if (reader.beginList()) while (reader.nextItem()) allowed.push(reader.text());
            } else reader.skip();
          }
        } else if (reader.peek() === 0x5b) {
          reader.beginList();
          while (reader.nextItem()) allowed.push(reader.text());
        } else {
          allowed.push(reader.text());
        }
        request.labelKeys.push(key);
        request.labelAllowed.push(allowed);
      }
    } else if (reader.keyIs('kinds')) {
      if (reader.beginList()) while (reader.nextItem()) request.filterKinds.push(reader.string());
    } else if (reader.keyIs('capacity')) {
      if (!reader.beginMap()) continue;
      while (reader.nextKey()) {
        if (reader.keyIs('cpu')) request.minCpu = reader.number(0);
        else if (reader.keyIs('memory')) request.minMemory = reader.number(0);
        else reader.skip();
      }
    } else reader.skip();
  }
}

function readPolicy(reader: JsonReader, request: Request): void {
  if (!reader.beginMap()) return;
  let type = '';
  let label = '';
  let mode = '';
  const targets: Array<string> = [];
  const withNodes: Array<string> = [];
  const shareValues: Array<string> = [];
  const shares: Array<f64> = [];
  while (reader.nextKey()) {
    if (reader.keyIs('type')) type = reader.string();
    else if (reader.keyIs('label')) label = reader.string();
    else if (reader.keyIs('mode')) mode = reader.string();
    else if (reader.keyIs('targets')) {
      if (reader.beginList()) while (reader.nextItem()) targets.push(reader.string());
    } else if (reader.keyIs('with')) {
      if (reader.isString()) withNodes.push(reader.string());
      else if (reader.beginList()) while (reader.nextItem()) withNodes.push(reader.string());
    } else if (reader.keyIs('shares')) {
      if (reader.beginMap()) {
        while (reader.nextKey()) {
          shareValues.push(reader.key());
          shares.push(reader.number(0));
        }
      }
    } else reader.skip();
  }
  if (type === 'distinct-hosts') {
    const nodes = targets.length > 0 ? targets : [''];
    for (let i = 0; i < nodes.length; i++) {
      if (!request.distinct.includes(nodes[i])) request.distinct.push(nodes[i]);
    }
  } else if (type === 'colocate') {
    for (let i = 0; i < withNodes.length; i++) request.colocate.push(withNodes[i]);
  } else if (type === 'spread') {
    request.spreadLabel = label;
    request.spreadTargets = targets;
    request.shareValues = shareValues;
    request.shares = shares;
  } else if (type === 'scoring') {
    request.binpack = mode === 'binpack';
  }
}
