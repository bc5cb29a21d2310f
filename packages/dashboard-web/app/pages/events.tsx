/** Events: the live timeline, filterable by service, host and type; pausable. */
import { type ApiEvent, eventService, eventWorkload } from '@khutulun/api';
import { useMemo, useState } from 'react';
import { useLive } from '../context.js';
import { eventHost, eventMatches } from '../event-filter.js';
import { workloadHref } from '../route.js';
import { show } from '../widgets.js';

/** How many rows the timeline draws (the newest). */
const SHOWN = 500;

export function EventsPage() {
  const { events, workloads, services, hosts } = useLive();
  const [service, setService] = useState('');
  const [host, setHost] = useState('');
  const [type, setType] = useState('');
  const [paused, setPaused] = useState<ApiEvent[] | undefined>();
  const source = paused ?? events;

  const hostOf = useMemo(() => {
    const map = new Map<string, string>();
    for (const w of workloads.values()) map.set(`${w.service}/${w.name}`, w.host);
    return map;
  }, [workloads]);
  const types = useMemo(() => [...new Set(source.map((e) => e.type))].sort(), [source]);

  const rows = useMemo(() => {
    const out: ApiEvent[] = [];
    for (let i = source.length - 1; i >= 0 && out.length < SHOWN; i--) {
      const e = source[i]!;
      if (eventMatches(e, { service, host, type }, hostOf)) out.push(e);
    }
    return out;
  }, [source, service, host, type, hostOf]);

  return (
    <>
      <h1>Events</h1>
      <div className="toolbar">
        <label>
          Service{' '}
          <select value={service} onChange={(e) => setService(e.target.value)} aria-label="Service">
            <option value="">all</option>
            {[...services.keys()].sort().map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Host{' '}
          <select value={host} onChange={(e) => setHost(e.target.value)} aria-label="Host">
            <option value="">all</option>
            {hosts.map((h) => (
              <option key={h.name}>{h.name}</option>
            ))}
          </select>
        </label>
        <label>
          Type{' '}
          <input
            list="event-types"
            value={type}
            onChange={(e) => setType(e.target.value)}
            aria-label="Type"
            placeholder="any"
          />
          <datalist id="event-types">
            {types.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <button type="button" onClick={() => setPaused(paused ? undefined : events)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <span className="muted">
          {rows.length} shown of {source.length}
        </span>
      </div>
      <div className="panel">
        <table className="timeline" data-testid="events">
          <thead>
            <tr>
              <th>#</th>
              <th>Time</th>
              <th>Type</th>
              <th>Service</th>
              <th>Entity</th>
              <th>Data</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => {
              const s = eventService(e);
              const w = eventWorkload(e);
              const h = eventHost(e, hostOf);
              return (
                <tr key={e.seq} data-type={e.type} data-service={s} data-host={h}>
                  <td className="muted">{e.seq}</td>
                  <td className="mono">{e.time.replace('T', ' ').replace('Z', '')}</td>
                  <td>{e.type}</td>
                  <td>{s ?? ''}</td>
                  <td>
                    {s && w ? (
                      <a href={workloadHref(s, w)}>{w}</a>
                    ) : h && !s ? (
                      `host ${h}`
                    ) : (
                      `${e.id.kind} ${e.id.name}`
                    )}
                  </td>
                  <td className="data mono">{summary(e)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}

function summary(e: ApiEvent): string {
  if (e.type === 'property-changed' && e.data)
    return `${e.data.property}: ${show(e.data.old)} → ${show(e.data.new)}`;
  if (e.type === 'removed') return '';
  return show(e.data).slice(0, 300);
}
