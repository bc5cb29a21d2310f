/**
 * A workload: what it is and what it made (properties, attributes, the exact commands and
 * files), live logs (follow, filter, download), a terminal, restart and delete.
 */
import { isApiError, type LogStream, type WorkloadDetail } from '@khutulun/api';
import { useEffect, useMemo, useRef, useState } from 'react';
import { useApi, useLive, useLiveStore } from '../context.js';
import { execSupported } from '../exec-support.js';
import { navigate, serviceHref, type WorkloadTab, workloadHref } from '../route.js';
import { Terminal } from '../terminal.js';
import { Confirm, StateBadge, show } from '../widgets.js';

export function WorkloadPage({
  service,
  name,
  tab,
}: {
  service: string;
  name: string;
  tab: WorkloadTab;
}) {
  const api = useApi();
  const live = useLiveStore();
  const { workloads, hosts, lastSeq } = useLive();
  const item = workloads.get(`${service}/${name}`);
  const [detail, setDetail] = useState<WorkloadDetail | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const state = item?.state ?? detail?.state;
  const kind = item?.kind ?? detail?.kind;
  // The terminal is offered unless the workload's host says its kind cannot run commands.
  const exec = execSupported(hosts, item?.host ?? detail?.host, kind) !== false;

  // The details are read again when the workload's live state changes (a restart, an exit).
  // biome-ignore lint/correctness/useExhaustiveDependencies: state and pid trigger a refetch
  useEffect(() => {
    let cancelled = false;
    api
      .workload(service, name)
      .then((d) => !cancelled && setDetail(d))
      .catch((e: Error) => !cancelled && setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [api, service, name, state, item?.pid, item?.restarts]);

  const restart = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.restart(service, name);
    } catch (e) {
      setError(isApiError(e) ? `${e.message} (${e.code})` : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setConfirm(false);
    try {
      await api.deleteService(service, false);
      void live.reload();
      navigate('#/');
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const tabLink = (t: WorkloadTab, label: string) => (
    <button
      type="button"
      role="tab"
      aria-selected={tab === t}
      onClick={() => navigate(workloadHref(service, name, t))}
    >
      {label}
    </button>
  );

  return (
    <>
      <h1>
        <a href={serviceHref(service)}>{service}</a> / {name}{' '}
        {state && <StateBadge state={state} />}
        <span style={{ flex: 1 }} />
        <button
          type="button"
          className="action"
          onClick={restart}
          disabled={busy}
          data-testid="restart"
        >
          {busy ? 'Restarting…' : 'Restart'}
        </button>
        <button
          type="button"
          className="danger action"
          onClick={() => setConfirm(true)}
          data-testid="delete-service"
          title={`A workload is deleted with its service: every workload of ${service}`}
        >
          Delete service {service}
        </button>
      </h1>
      {error && <p className="error">{error}</p>}
      <dl className="kv panel">
        <dt>Kind</dt>
        <dd data-testid="kind">{kind}</dd>
        <dt>Host</dt>
        <dd>{item?.host ?? detail?.host}</dd>
        {(item?.pid ?? detail?.pid) !== undefined && (
          <>
            <dt>PID</dt>
            <dd data-testid="pid">{item?.pid ?? detail?.pid}</dd>
          </>
        )}
        {(item?.containerId ?? detail?.containerId) && (
          <>
            <dt>Container</dt>
            <dd className="mono">{item?.containerId ?? detail?.containerId}</dd>
          </>
        )}
        {detail?.image && (
          <>
            <dt>Image</dt>
            <dd>{detail.image}</dd>
          </>
        )}
        <dt>Restarts</dt>
        <dd>{item?.restarts ?? detail?.restarts ?? 0}</dd>
        <dt>Ports</dt>
        <dd>{show(item?.ports ?? detail?.ports) || '—'}</dd>
        <dt>Started</dt>
        <dd>{item?.startedAt ?? detail?.startedAt ?? '—'}</dd>
      </dl>
      <div className="tabs" role="tablist">
        {tabLink('details', 'Details')}
        {tabLink('logs', 'Logs')}
        {exec && tabLink('terminal', 'Terminal')}
      </div>
      {tab === 'details' && detail && <Details detail={detail} />}
      {tab === 'logs' && <Logs service={service} name={name} key={`${service}/${name}`} />}
      {tab === 'terminal' &&
        (exec ? (
          <Terminal service={service} name={name} kind={kind} />
        ) : (
          <p className="panel muted" data-testid="no-exec">
            Workloads of kind {kind} cannot run commands: there is no terminal.
          </p>
        ))}
      <span hidden data-seq={lastSeq} />
      <Confirm
        open={confirm}
        title={`Delete service ${service}?`}
        confirmLabel={`Delete service ${service}`}
        onConfirm={remove}
        onCancel={() => setConfirm(false)}
      >
        A workload is deleted with its whole service: every workload of <b>{service}</b> is stopped,
        and its ports, files and graph are removed.
      </Confirm>
    </>
  );
}

function Details({ detail }: { detail: WorkloadDetail }) {
  return (
    <div className="grid2">
      <section className="panel">
        <h2>What it ran</h2>
        <pre data-testid="commands">{detail.commands.join('\n') || detail.commandLine}</pre>
        <h2>Files it made</h2>
        <table data-testid="files">
          <tbody>
            {detail.files.map((f) => (
              <tr key={f.path}>
                <td className="mono">{f.path}</td>
                <td className="muted">{f.purpose}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>Process</h2>
        <dl className="kv">
          <dt>Command</dt>
          <dd className="mono">{detail.command.map(show).join(' ')}</dd>
          <dt>Working directory</dt>
          <dd className="mono">{detail.workingDirectory ?? '—'}</dd>
          <dt>User</dt>
          <dd>{detail.user ?? '—'}</dd>
          <dt>Restart policy</dt>
          <dd>{detail.restartPolicy ?? '—'}</dd>
          <dt>Exit</dt>
          <dd>
            {detail.exitCode ?? '—'} {detail.signal ? `(${detail.signal})` : ''}
          </dd>
          <dt>Environment</dt>
          <dd className="mono">
            {Object.entries(detail.environment ?? {}).map(([k, v]) => (
              <div key={k}>
                {k}={show(v)}
              </div>
            ))}
          </dd>
        </dl>
      </section>
      <section className="panel">
        <h2>Properties</h2>
        <KeyValues values={detail.properties} testId="properties" />
        <h2>Attributes</h2>
        <KeyValues values={detail.attributes} testId="attributes" />
        {Object.keys(detail.details).length > 0 && (
          <>
            <h2>Driver details</h2>
            <KeyValues values={detail.details} />
          </>
        )}
      </section>
    </div>
  );
}

function KeyValues({ values, testId }: { values: Record<string, unknown>; testId?: string }) {
  return (
    <dl className="kv" data-testid={testId}>
      {Object.entries(values).map(([k, v]) => (
        <div key={k} style={{ display: 'contents' }}>
          <dt>{k}</dt>
          <dd className="mono">{show(v) || '—'}</dd>
        </div>
      ))}
    </dl>
  );
}

/** How much log text the page keeps (the download fetches the whole files). */
const LOG_LIMIT = 2_000_000;

function Logs({ service, name }: { service: string; name: string }) {
  const api = useApi();
  const [stream, setStream] = useState<LogStream>('both');
  const [follow, setFollow] = useState(true);
  const [filter, setFilter] = useState('');
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>();
  const box = useRef<HTMLPreElement>(null);
  const pinned = useRef(true);

  useEffect(() => {
    const controller = new AbortController();
    setText('');
    setError(undefined);
    const append = (piece: string) =>
      setText((old) => {
        const next = old + piece;
        return next.length > LOG_LIMIT ? next.slice(-LOG_LIMIT) : next;
      });
    const done = follow
      ? api.followLogs(service, name, { stream, tail: 1000 }, append, controller.signal)
      : api.logs(service, name, { stream, tail: 1000 }).then(append);
    done.catch((e: Error) => setError(e.message));
    return () => controller.abort();
  }, [api, service, name, stream, follow]);

  const shown = useMemo(() => {
    const f = filter.trim();
    if (!f) return text;
    let test: (line: string) => boolean;
    try {
      const re = new RegExp(f, 'i');
      test = (line) => re.test(line);
    } catch {
      const lower = f.toLowerCase();
      test = (line) => line.toLowerCase().includes(lower);
    }
    return text
      .split('\n')
      .filter((line) => test(line))
      .join('\n');
  }, [text, filter]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll after each new text
  useEffect(() => {
    const el = box.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [shown]);

  const download = async () => {
    const whole = await api.logs(service, name, { stream });
    const blob = new Blob([whole], { type: 'text/plain' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${service}-${name}-${stream}.log`;
    a.click();
    // Revoked once the browser has started the download (at once may cancel it).
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  };

  return (
    <section className="panel">
      <div className="toolbar">
        <label>
          Stream{' '}
          <select value={stream} onChange={(e) => setStream(e.target.value as LogStream)}>
            <option value="both">stdout + stderr</option>
            <option value="stdout">stdout</option>
            <option value="stderr">stderr</option>
          </select>
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />{' '}
          Follow
        </label>
        <input
          type="search"
          placeholder="Filter (text or regular expression)"
          aria-label="Filter logs"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          style={{ flex: 1, minWidth: 200 }}
        />
        <button type="button" onClick={download} data-testid="download-logs">
          Download
        </button>
      </div>
      {error && <p className="error">{error}</p>}
      <pre
        className="logs"
        ref={box}
        data-testid="logs"
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {shown}
      </pre>
    </section>
  );
}
