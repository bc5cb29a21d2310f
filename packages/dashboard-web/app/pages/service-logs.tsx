/**
 * The logs of all a service's workloads in one view, each line marked with its workload:
 * followed live, filtered, downloaded (what users of every anchor keep asking for).
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { useApi, useLive } from '../context.js';
import { serviceHref, workloadHref } from '../route.js';

/** How many workloads are followed at once (each is one open request). */
const FOLLOWED = 25;
/** How many lines the view keeps. */
const LINES = 20_000;

interface Line {
  workload: string;
  text: string;
}

export function ServiceLogsPage({ service }: { service: string }) {
  const api = useApi();
  const { workloads } = useLive();
  const [which, setWhich] = useState('');
  const [filter, setFilter] = useState('');
  const [lines, setLines] = useState<Line[]>([]);
  const box = useRef<HTMLPreElement>(null);
  const names = useMemo(
    () =>
      [...workloads.values()]
        .filter((w) => w.service === service && w.name.includes(which.trim()))
        .map((w) => w.name)
        .sort(),
    [workloads, service, which],
  );
  const followed = names.slice(0, FOLLOWED);
  const key = followed.join(',');

  // biome-ignore lint/correctness/useExhaustiveDependencies: key names the followed workloads
  useEffect(() => {
    const controller = new AbortController();
    setLines([]);
    for (const name of followed) {
      let partial = '';
      api
        .followLogs(
          service,
          name,
          { tail: 200 },
          (text) => {
            const parts = (partial + text).split('\n');
            partial = parts.pop() ?? '';
            if (!parts.length) return;
            setLines((old) => {
              const next = [...old, ...parts.map((t) => ({ workload: name, text: t }))];
              return next.length > LINES ? next.slice(-LINES) : next;
            });
          },
          controller.signal,
        )
        .catch(() => undefined);
    }
    return () => controller.abort();
  }, [api, service, key]);

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f ? lines.filter((l) => l.text.toLowerCase().includes(f)) : lines;
  }, [lines, filter]);
  const width = Math.max(...followed.map((n) => n.length), 4);

  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll after each new line
  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 60) el.scrollTop = el.scrollHeight;
  }, [shown]);

  const download = () => {
    const text = shown.map((l) => `${l.workload.padEnd(width)} | ${l.text}`).join('\n');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([`${text}\n`], { type: 'text/plain' }));
    a.download = `${service}-logs.txt`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  return (
    <>
      <h1>
        <a href="#/">Services</a> / <a href={serviceHref(service)}>{service}</a> / logs
      </h1>
      <div className="toolbar">
        <input
          type="search"
          placeholder="Workloads whose name contains…"
          aria-label="Workloads"
          value={which}
          onChange={(e) => setWhich(e.target.value)}
        />
        <input
          type="search"
          placeholder="Filter lines"
          aria-label="Filter lines"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          style={{ flex: 1, minWidth: 200 }}
        />
        <button type="button" onClick={download}>
          Download
        </button>
        <span className="muted">
          following {followed.length}
          {names.length > followed.length
            ? ` of ${names.length} (narrow the workloads to choose)`
            : ''}
        </span>
      </div>
      <pre className="logs panel" ref={box} data-testid="service-logs-text">
        {shown.map((l, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: lines only grow (and drop from the front)
          <div key={i}>
            <a href={workloadHref(service, l.workload, 'logs')} className="muted">
              {l.workload.padEnd(width)}
            </a>{' '}
            | {l.text}
          </div>
        ))}
      </pre>
    </>
  );
}
