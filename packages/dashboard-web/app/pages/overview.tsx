/** Overview: the hosts (state, kinds, capacity, workloads) and the services (state, ready, outputs). */
import type { HostItem } from '@khutulun/api';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useApi, useLive } from '../context.js';
import { navigate, serviceHref } from '../route.js';
import { StateBadge, show, useListKeys } from '../widgets.js';

export function OverviewPage() {
  const { hosts, services, workloads, health } = useLive();
  const api = useApi();
  const list = useMemo(
    () => [...services.values()].sort((a, b) => a.name.localeCompare(b.name)),
    [services],
  );
  const [outputs, setOutputs] = useState<Record<string, Record<string, unknown>>>({});
  const [selected, setSelected] = useState(0);
  const names = list.map((s) => `${s.name}:${s.state}`).join(',');

  // Outputs are evaluated by the agent on request: fetch them when the services change.
  // biome-ignore lint/correctness/useExhaustiveDependencies: names summarises list
  useEffect(() => {
    let cancelled = false;
    Promise.all(
      list.map((s) =>
        api
          .outputs(s.name)
          .then((o) => [s.name, o] as const)
          .catch(() => [s.name, {}] as const),
      ),
    ).then((pairs) => {
      if (!cancelled) setOutputs(Object.fromEntries(pairs));
    });
    return () => {
      cancelled = true;
    };
  }, [api, names]);

  const kindsByHost = useMemo(() => {
    const kinds = new Map<string, Set<string>>();
    for (const w of workloads.values()) {
      const set = kinds.get(w.host) ?? new Set<string>();
      set.add(w.kind);
      kinds.set(w.host, set);
    }
    return kinds;
  }, [workloads]);

  const open = useCallback((i: number) => list[i] && navigate(serviceHref(list[i].name)), [list]);
  useListKeys(list.length, selected, setSelected, open);

  return (
    <>
      <h1>Overview</h1>
      <div className="grid2">
        <section className="panel" aria-labelledby="hosts-title">
          <h2 id="hosts-title">Hosts</h2>
          <table data-testid="hosts">
            <thead>
              <tr>
                <th>Host</th>
                <th>State</th>
                <th>Kinds</th>
                <th>Capacity</th>
                <th>Workloads</th>
              </tr>
            </thead>
            <tbody>
              {hosts.map((h) => (
                <tr key={h.name}>
                  <td>
                    {h.name} {h.self && <span className="muted">(this agent)</span>}
                    {h.epoch !== undefined && <span className="muted"> epoch {h.epoch}</span>}
                    <div className="muted mono">{h.address}</div>
                  </td>
                  <td>
                    <StateBadge state={h.state} />
                  </td>
                  <td>
                    {(h.kinds ?? [...(kindsByHost.get(h.name) ?? [])]).join(', ') || '—'}
                    {Object.entries(h.unavailableKinds ?? {}).map(([kind, why]) => (
                      <div key={kind} className="muted" title={why}>
                        no {kind}: {why}
                      </div>
                    ))}
                  </td>
                  <td>{capacity(h.capacity)}</td>
                  <td>{h.workloads}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {health && (
            <p className="muted">
              Agent {health.version} on {health.host} (PID {health.pid}), {health.store} store,{' '}
              {health.memory.rss} MB RSS
            </p>
          )}
        </section>
        <section className="panel" aria-labelledby="services-title">
          <h2 id="services-title">Services</h2>
          {list.length === 0 ? (
            <p className="muted">
              No services yet. <a href="#/deploy">Deploy one</a>.
            </p>
          ) : (
            <table data-testid="services">
              <thead>
                <tr>
                  <th>Service</th>
                  <th>State</th>
                  <th>Ready</th>
                  <th>Outputs</th>
                </tr>
              </thead>
              <tbody>
                {list.map((s, i) => (
                  <tr
                    key={s.name}
                    className="clickable"
                    aria-selected={i === selected}
                    onClick={() => navigate(serviceHref(s.name))}
                  >
                    <td>
                      <a href={serviceHref(s.name)}>{s.name}</a>
                    </td>
                    <td>
                      <StateBadge state={s.state} />
                    </td>
                    <td>
                      {s.ready}/{s.workloads}
                    </td>
                    <td className="mono">
                      {Object.entries(outputs[s.name] ?? {}).map(([k, v]) => (
                        <div key={k}>
                          {k}: {show(v)}
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="muted">
            <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> opens; <kbd>1</kbd> overview,{' '}
            <kbd>2</kbd> events, <kbd>3</kbd> deploy.
          </p>
        </section>
      </div>
    </>
  );
}

/** CPU cores and memory, from the host's placement capacity. */
function capacity(c: HostItem['capacity']): string {
  if (!c) return '—';
  const parts: string[] = [];
  if (c.cpuMillicores !== undefined) parts.push(`${Math.round(c.cpuMillicores / 100) / 10} CPUs`);
  if (c.memoryBytes !== undefined) parts.push(`${Math.round(c.memoryBytes / 2 ** 27) / 8} GiB`);
  return parts.join(', ') || '—';
}
