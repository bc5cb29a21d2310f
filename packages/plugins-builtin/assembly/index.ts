// Khutulun's built-in orchestration behaviour, shipped as a Wasm plugin (khutulun.wasm) so
// that every deploy runs through the Wasm path. The function names and argument shapes are
// documented in packages/plugins/README.md ("Built-in plugin").
import { Call, fail, handle, Value, ValueKind } from '@khutulun/plugin-sdk';

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
 * Chooses the host for a workload; returns its name, or null when no host fits.
 * Argument: `{ workload: { name, host?, labels? }, hosts: [{ name, available?, workloads?,
 * labels? }] }`. A workload pinned with `host` goes there (if that host is available). Else
 * the candidates are the available hosts carrying every label the workload asks for; the one
 * running the fewest workloads wins, ties broken by name.
 */
export function place(): i32 {
  return handle((call: Call): Value => {
    const args = call.arg(0);
    const workload = args.get('workload');
    const hosts = args.get('hosts');
    if (hosts.kind !== ValueKind.List) return fail('place: hosts must be a list');
    const pinned = workload.get('host');
    const wanted = workload.get('labels');
    let best: Value | null = null;
    for (let i = 0; i < hosts.length; i++) {
      const host = hosts.at(i);
      const name = host.get('name');
      if (name.kind !== ValueKind.String) continue;
      if (host.get('available').kind === ValueKind.Bool && !host.get('available').asBool())
        continue;
      if (pinned.kind === ValueKind.String) {
        if (name.asString() === pinned.asString()) return name;
        continue;
      }
      if (!hasLabels(host.get('labels'), wanted)) continue;
      if (best === null || better(host, best)) best = host;
    }
    return best === null ? Value.ofNull() : best.get('name');
  });
}

function better(a: Value, b: Value): bool {
  const la = a.get('workloads').asNumber();
  const lb = b.get('workloads').asNumber();
  if (la !== lb) return la < lb;
  return a.get('name').asString() < b.get('name').asString();
}

function hasLabels(labels: Value, wanted: Value): bool {
  const keys = wanted.keys();
  for (let i = 0; i < keys.length; i++) {
    const want = wanted.get(keys[i]);
    if (labels.get(keys[i]).toJSON() !== want.toJSON()) return false;
  }
  return true;
}

function numberOr(value: Value, fallback: f64): f64 {
  return value.kind === ValueKind.Number ? value.asNumber() : fallback;
}
