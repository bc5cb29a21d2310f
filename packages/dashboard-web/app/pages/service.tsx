/** A service: its live topology graph, its workloads, its outputs; delete. */
import type { ServiceGraph, WorkloadItem } from '@khutulun/api';
import type { Core } from 'cytoscape';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useApi, useLive, useLiveStore } from '../context.js';
import { createGraph, graphElements, graphStyle, updateStates } from '../graph.js';
import { navigate, serviceLogsHref, workloadHref } from '../route.js';
import { Confirm, StateBadge, useListKeys } from '../widgets.js';

declare global {
  interface Window {
    /** The graph of the page, for tests and the benchmark. */
    __khutulunGraph?: Core;
  }
}

export function ServicePage({ service }: { service: string }) {
  const api = useApi();
  const live = useLiveStore();
  const { services, workloads, structure, health } = useLive();
  // The graph waits for the workload list: it tells workloads (by host) from other nodes.
  const loaded = health !== undefined;
  const summary = services.get(service);
  const items = useMemo(
    () => [...workloads.values()].filter((w) => w.service === service).sort(byName),
    [workloads, service],
  );
  const [graph, setGraph] = useState<ServiceGraph | undefined>();
  const [error, setError] = useState<string | undefined>();
  // A long list is drawn once the graph is: the topology first, then its thousand rows.
  const [drawn, setDrawn] = useState(false);
  const [filter, setFilter] = useState('');
  const [selected, setSelected] = useState(-1);
  const [confirm, setConfirm] = useState(false);
  const container = useRef<HTMLDivElement>(null);
  const cyRef = useRef<Core | undefined>(undefined);
  const version = structure.get(service) ?? 0;
  // Which workloads (and on which hosts) the service has: the graph is rebuilt when that
  // changes, as the list may arrive after the graph it belongs with.
  const members = useMemo(() => items.map((w) => `${w.name}@${w.host}`).join(','), [items]);

  // The structure: fetched again when entities were added or removed (the live state counts that).
  // biome-ignore lint/correctness/useExhaustiveDependencies: version triggers a refetch
  useEffect(() => {
    let cancelled = false;
    api
      .graph(service)
      .then((g) => {
        performance.mark('khutulun:graph-fetched');
        if (!cancelled) setGraph(g);
      })
      .catch((e: Error) => !cancelled && setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [api, service, version]);

  // The graph itself: rebuilt on a new structure; states are patched below.
  // biome-ignore lint/correctness/useExhaustiveDependencies: items are read once per structure (members says when it changed)
  useEffect(() => {
    if (!graph || !loaded || !container.current) return;
    const element = container.current;
    element.dataset.ready = 'false';
    performance.mark('khutulun:graph-create');
    const cy = createGraph(
      element,
      graphElements(graph, items),
      (name) => navigate(workloadHref(service, name)),
      () => {
        element.dataset.ready = 'true';
        setDrawn(true);
        performance.mark('khutulun:graph-ready');
      },
    );
    performance.mark('khutulun:graph-created');
    cyRef.current = cy;
    window.__khutulunGraph = cy;
    const large = cy.nodes().length > 150;
    const restyle = new MutationObserver(() => cy.style(graphStyle(large)));
    restyle.observe(document.documentElement, {
      attributes: true,
      attributeFilter: ['data-theme'],
    });
    return () => {
      restyle.disconnect();
      cy.destroy();
      cyRef.current = undefined;
    };
  }, [graph, loaded, service, members]);

  useEffect(() => {
    if (cyRef.current) updateStates(cyRef.current, items);
  }, [items]);

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f
      ? items.filter((w) => `${w.name} ${w.state} ${w.host} ${w.kind}`.toLowerCase().includes(f))
      : items;
  }, [items, filter]);
  const open = useCallback(
    (i: number) => shown[i] && navigate(workloadHref(service, shown[i].name)),
    [shown, service],
  );
  const select = useCallback(
    (i: number) => {
      setSelected(i);
      const name = shown[i]?.name;
      const cy = cyRef.current;
      if (cy && name) {
        cy.$(':selected').unselect();
        cy.getElementById(`w:${name}`).select();
      }
    },
    [shown],
  );
  useListKeys(shown.length, selected, select, open);

  const remove = async () => {
    setConfirm(false);
    try {
      await api.deleteService(service, false);
      navigate('#/');
      void live.reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <>
      <h1>
        <a href="#/">Services</a> / {service} {summary && <StateBadge state={summary.state} />}
        {summary && (
          <span className="muted" data-testid="ready">
            {summary.ready}/{summary.workloads} running
          </span>
        )}
        <span style={{ flex: 1 }} />
        <a href={serviceLogsHref(service)} className="action" data-testid="service-logs">
          Logs of all its workloads
        </a>
        <button type="button" className="danger action" onClick={() => setConfirm(true)}>
          Delete service
        </button>
      </h1>
      {error && <p className="error">{error}</p>}
      <div className="legend muted">
        <span className="tone-ok">running</span>
        <span className="tone-busy">starting / restarting / stopping</span>
        <span className="tone-bad">exited / failed / lost</span>
        <span className="tone-idle">stopped / other</span>
        <span className="plain">— connects to, ‐ ‐ depends on, ··· network</span>
        <span className="plain">○ process, ▢ container, ⬡ other kinds, ◇ network</span>
      </div>
      <div className="service-layout">
        <div
          id="graph"
          ref={container}
          data-testid="graph"
          role="img"
          aria-label={`Topology of ${service}`}
        />
        <section className="panel side" aria-label="Workloads">
          <input
            type="search"
            placeholder="Filter workloads"
            aria-label="Filter workloads"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            style={{ width: '100%' }}
          />
          {/* A list of grid rows, not a table: a table re-lays out every row when one cell
              changes, and off-screen rows here skip rendering (content-visibility). */}
          <div className="wl-row wl-head" aria-hidden="true">
            <span>Workload</span>
            <span>State</span>
            <span>Host</span>
          </div>
          <ul
            className="wl-list"
            data-testid="workload-rows"
            aria-label={`Workloads of ${service}`}
          >
            {(drawn || error || shown.length <= 200 ? shown : []).map((w, i) => (
              <Row key={w.name} workload={w} selected={i === selected} />
            ))}
          </ul>
        </section>
      </div>
      <Confirm
        open={confirm}
        title={`Delete ${service}?`}
        confirmLabel="Delete"
        onConfirm={remove}
        onCancel={() => setConfirm(false)}
      >
        Every workload of {service} is stopped and its ports, files and graph are removed.
      </Confirm>
    </>
  );
}

/** Plain code-point order: `localeCompare` costs milliseconds across a thousand names. */
function byName(a: WorkloadItem, b: WorkloadItem): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

const Row = memo(function Row({
  workload: w,
  selected,
}: {
  workload: WorkloadItem;
  selected: boolean;
}) {
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: the row's link is the keyboard path (and j/k/Enter)
    <li
      className="wl-row clickable"
      aria-current={selected ? 'true' : undefined}
      data-selected={selected}
      data-testid="workload-row"
      data-name={w.name}
      data-state={w.state}
      onClick={() => navigate(workloadHref(w.service, w.name))}
    >
      <span>
        <a href={workloadHref(w.service, w.name)}>{w.name}</a>
        <span className="muted">
          {' '}
          {w.kind}
          {w.restarts ? `, ${w.restarts} restarts` : ''}
        </span>
      </span>
      <span>
        <StateBadge state={w.state} />
      </span>
      <span>{w.host}</span>
    </li>
  );
});
