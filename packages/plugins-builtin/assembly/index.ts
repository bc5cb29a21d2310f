// Khutulun's built-in orchestration behaviour, shipped as a Wasm plugin (khutulun.wasm) so
// that every deploy runs through the Wasm path. The function names and argument shapes are
// documented in ../README.md.
import { Call, fail, handle, Value, ValueKind } from '@khutulun/plugin-sdk';
import { setError } from '@khutulun/plugin-sdk/assembly/kernel';
import { JsonWriter, readInput, seekFirstArgument } from './json-io';
import { JsonReader } from './json-reader';
import { DEFAULT_WINDOW, Placer, readHosts, readRequest } from './placement';

/**
 * How long to wait before restarting a workload, in milliseconds.
 * Argument: `{ attempt, policy?: { initial_ms?, max_ms?, multiplier? } }` where `attempt`
 * counts the restarts already made (0 the first time). The first restart is immediate; after
 * that the delay is `initial_ms * multiplier^(attempt - 1)`, capped at `max_ms`.
 */
export function restart_delay(): i32 {
  return handle((call: Call): Value => {
    const args = call.arg(0);
    const attemptValue = args.get('attempt');
    if (attemptValue.kind !== ValueKind.Number)
      return fail('restart_delay: attempt must be a number');
    const attempt = attemptValue.asNumber();
    if (attempt < 0) return fail('restart_delay: attempt must be 0 or more');
    if (attempt < 1) return Value.ofNumber(0);
    const policy = args.get('policy');
    const initial = numberOr(policy.get('initial_ms'), 1000);
    const max = numberOr(policy.get('max_ms'), 60000);
    const multiplier = numberOr(policy.get('multiplier'), 2);
    if (initial < 0 || max < 0 || multiplier < 1) {
      return fail('restart_delay: policy needs initial_ms >= 0, max_ms >= 0, multiplier >= 1');
    }
    let delay = initial;
    for (let i: f64 = 1; i < attempt && delay < max; i++) delay *= multiplier;
    return Value.ofNumber(Math.round(Math.min(delay, max)));
  });
}

/**
 * Chooses the host for one workload: its name, or null when no host fits.
 * Argument: `{ workload, hosts, options? }` (see ../README.md). The earlier form still
 * works: `{ workload: { name, host?, labels? }, hosts: [{ name, available?, workloads?,
 * labels? }] }` (`workloads` a count) places on the least loaded available host with the
 * labels, ties broken by name.
 */
export function place(): i32 {
  const call = readCall('place', 'workload');
  if (call === null) return 1;
  if (call.stale) return failed('place: hosts must be a list (the snapshot named is not held)');
  if (call.workloads < 0 || call.reader.peek() !== 0x7b) {
    return failed('place: workload must be a map');
  }
  const placer = call.placer;
  // One placement: every host is scored unless the call says otherwise (as `place` always
  // did: the least loaded of all).
  if (!call.windowGiven) placer.window = 0;
  const chosen = placer.place(readRequest(call.reader));
  const out = new JsonWriter();
  if (chosen < 0) out.raw('null');
  else out.string(placer.hosts[chosen].name);
  out.output();
  return 0;
}

/**
 * Places many workloads, in order, against one host snapshot that each placement updates
 * (so later workloads see the earlier ones: capacity used, distinct hosts, colocation,
 * spread counts). Argument: `{ hosts, workloads: [...], options? }`. Result:
 * `{ placements: [{ host } | { host: null, reasons: { host: why }, summary: { why: n } }] }`,
 * one per workload, in order.
 */
export function place_many(): i32 {
  const call = readCall('place_many', 'workloads');
  if (call === null) return 1;
  if (call.stale) {
    new JsonWriter().raw('{"stale":true}').output();
    return 0;
  }
  const reader = call.reader;
  if (call.workloads < 0 || reader.peek() !== 0x5b) {
    return failed('place_many: workloads must be a list');
  }
  const placer = call.placer;
  // Kept only once the call succeeds: a snapshot a failed call half updated is dropped.
  resident = null;
  const out = new JsonWriter();
  out.raw('{"placements":[');
  let written = 0;
  if (reader.beginList()) {
    while (reader.nextItem()) {
      const request = readRequest(reader);
      for (let i = 0; i < request.count; i++) {
        if (written++ > 0) out.raw(',');
        const chosen = placer.placeAndRecord(request);
        if (chosen >= 0) {
          out.raw('{"host":').string(placer.hosts[chosen].name).raw('}');
          continue;
        }
        out.raw('{"host":null,');
        const summaryStart = placer.explain(request, out, call.maxReasons);
        const summaryEnd = out.size;
        out.raw('}');
        // Nothing changed since: the entry's other instances fail alike. They carry the
        // summary only (a reason per host for each would multiply the answer's size).
        for (i++; i < request.count; i++) {
          written++;
          out.raw(',{"host":null,"reasons":{},').copy(summaryStart, summaryEnd).raw('}');
        }
      }
    }
  }
  if (reader.failed) return failed('place_many: the argument is not valid JSON');
  out.raw(']}');
  out.output();
  if (call.snapshotId !== null) {
    resident = placer;
    residentId = call.snapshotId!;
    residentVersion = call.snapshotVersion + 1;
  }
  return 0;
}

/**
 * The snapshot kept from the last `place_many` call that named one: `snapshot: { id, version
 * }` with `hosts` makes the hosts (and that call's placements) version `version + 1` of `id`;
 * a later call naming that id and version without `hosts` places against it (its own
 * placements included), so a session of calls sends the host snapshot once. A call naming a
 * snapshot this instance does not hold (another instance, a restart, another version) answers
 * `{ stale: true }`: the caller sends the hosts again.
 */
let resident: Placer | null = null;
let residentId = '';
let residentVersion: f64 = -1;

/** A placement argument: its options and host snapshot read, its workload(s) next. */
class PlacementCall {
  /** Where the workload (`place`) or the workloads (`place_many`) start; -1 if absent. */
  workloads: i32 = -1;
  maxReasons: i32 = -1;
  placer: Placer = new Placer();
  snapshotId: string | null = null;
  snapshotVersion: f64 = -1;
  /** The call names a snapshot this instance does not hold, and gives no hosts. */
  stale: bool = false;
  /** Whether `options.candidates` was given. */
  windowGiven: bool = false;
  constructor(public reader: JsonReader) {}
}

/**
 * Reads a placement argument up to its workloads: options, then the hosts. In the order the
 * agent sends them (options, hosts, workloads) the input is read once, front to back; in
 * another order the reader goes back for the part it skipped.
 */
function readCall(fn: string, workloadsKey: string): PlacementCall | null {
  // The previous call's snapshot is garbage now (unless held): reclaim it before reading the
  // next one, or the memory high-water mark doubles from one call to the next.
  if (resident === null) __collect();
  const reader = readInput();
  if (!seekFirstArgument(reader) || reader.peek() !== 0x7b) {
    failed(fn + ': the argument must be a map');
    return null;
  }
  const call = new PlacementCall(reader);
  let window = -1;
  let hostsRead = false;
  reader.beginMap();
  while (reader.nextKey()) {
    if (reader.keyIs('hosts')) {
      if (reader.peek() !== 0x5b) break;
      // Hosts replace the snapshot held, if any: drop it first, for the same reason.
      if (resident !== null) {
        resident = null;
        __collect();
      }
      readHosts(reader, call.placer);
      hostsRead = true;
    } else if (reader.keyIs(workloadsKey)) {
      call.workloads = reader.pos;
      if (hostsRead) break;
      reader.skip();
    } else if (reader.keyIs('snapshot')) {
      if (reader.beginMap()) {
        while (reader.nextKey()) {
          if (reader.keyIs('id')) call.snapshotId = reader.string();
          else if (reader.keyIs('version')) call.snapshotVersion = reader.number(-1);
          else reader.skip();
        }
      }
    } else if (reader.keyIs('options')) {
      if (reader.beginMap()) {
        while (reader.nextKey()) {
          if (reader.keyIs('candidates')) window = reader.count(-1, 0);
          else if (reader.keyIs('max_reasons')) call.maxReasons = reader.count(-1, 0);
          else reader.skip();
        }
      }
    } else reader.skip();
  }
  if (reader.failed) {
    failed(fn + ': the argument is not valid JSON');
    return null;
  }
  if (!hostsRead) {
    if (holdsSnapshot(call)) {
      call.placer = resident!;
    } else if (call.snapshotId !== null) {
      call.stale = true;
      return call;
    } else {
      failed(fn + ': hosts must be a list');
      return null;
    }
  }
  // Set on every call: a snapshot held from an earlier call must not keep its window.
  call.windowGiven = window >= 0;
  call.placer.window = window >= 0 ? window : DEFAULT_WINDOW;
  if (call.workloads >= 0) reader.pos = call.workloads;
  return call;
}

/** Whether this instance holds the snapshot the call names. */
function holdsSnapshot(call: PlacementCall): bool {
  const id = call.snapshotId;
  return (
    resident !== null &&
    id !== null &&
    id === residentId &&
    call.snapshotVersion === residentVersion
  );
}

function failed(message: string): i32 {
  setError(message);
  return 1;
}

function numberOr(value: Value, fallback: f64): f64 {
  return value.kind === ValueKind.Number ? value.asNumber() : fallback;
}
