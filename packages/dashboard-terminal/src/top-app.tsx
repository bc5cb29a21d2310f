/**
 * `khutulun top`: services, workloads (state, restarts, CPU and memory where the kind reports
 * them) and a live event tail, kept current from the event stream.
 *
 * Keys: j/k move, enter details, l logs, r restart, d delete (asks), / filter, esc back, q quit.
 */
import {
  type ApiClient,
  type ApiEvent,
  eventService,
  eventWorkload,
  isApiError,
  type LiveState,
  type LiveView,
  stateTone,
  type WorkloadDetail,
  type WorkloadItem,
} from '@khutulun/api';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';

type Mode = 'list' | 'details' | 'logs' | 'filter' | 'confirm';

const TONE_COLOURS = { ok: 'green', busy: 'yellow', bad: 'red', idle: 'gray' } as const;

function toneColour(state: string): string {
  return TONE_COLOURS[stateTone(state)];
}

/** How many lines of logs the logs view keeps. */
const LOG_LINES = 500;

/**
 * How often `top` asks for CPU and memory while it is open, like top(1): the agent measures
 * only when asked (its drivers read /proc, libpod or Docker stats then), never on its own.
 */
export const USAGE_INTERVAL_MS = 2_000;

type Usage = Pick<WorkloadItem, 'cpuPercent' | 'memoryMb'>;

/** Fits text to a column: cut with an ellipsis, or padded. */
function cell(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

function metric(value: number | undefined, unit: string): string {
  return value === undefined ? '-' : `${Math.round(value * 10) / 10}${unit}`;
}

/** The whole screen. */
export function TopApp({ api, live }: { api: ApiClient; live: LiveView }) {
  const state: LiveState = useSyncExternalStore(live.subscribe, live.snapshot);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const rows = stdout.rows || 30;
  const columns = stdout.columns || 100;
  const [mode, setMode] = useState<Mode>('list');
  const [selected, setSelected] = useState(0);
  const [filter, setFilter] = useState('');
  const [message, setMessage] = useState('');
  const [detail, setDetail] = useState<WorkloadDetail | undefined>();
  const [logs, setLogs] = useState<string[]>([]);
  const [usage, setUsage] = useState<ReadonlyMap<string, Usage>>(new Map());

  // CPU percent comes from two readings: ask now, then every USAGE_INTERVAL_MS.
  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const items = await api.workloads(undefined, { usage: true });
        if (cancelled) return;
        setUsage(
          new Map(
            items.map((w) => [
              `${w.service}/${w.name}`,
              { cpuPercent: w.cpuPercent, memoryMb: w.memoryMb } as Usage,
            ]),
          ),
        );
      } catch {
        // The agent is away: the live view says so; figures come back with it.
      }
      if (!cancelled) timer = setTimeout(read, USAGE_INTERVAL_MS);
    };
    void read();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api]);

  const workloads = useMemo(() => {
    const f = filter.toLowerCase();
    return [...state.workloads.values()]
      .filter(
        (w) =>
          !f || `${w.service}/${w.name} ${w.state} ${w.kind} ${w.host}`.toLowerCase().includes(f),
      )
      .sort((a, b) => `${a.service}/${a.name}`.localeCompare(`${b.service}/${b.name}`));
  }, [state.workloads, filter]);
  const index = Math.min(selected, Math.max(0, workloads.length - 1));
  const current: WorkloadItem | undefined = workloads[index];

  // The details view follows the workload's state (a restart gives it a new PID).
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch when the state or pid changes
  useEffect(() => {
    if (mode !== 'details' || !current) return;
    let cancelled = false;
    api
      .workload(current.service, current.name)
      .then((d) => !cancelled && setDetail(d))
      .catch((e: Error) => !cancelled && setMessage(e.message));
    return () => {
      cancelled = true;
    };
  }, [mode, current?.service, current?.name, current?.state, current?.pid]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: one follow per workload shown
  useEffect(() => {
    if (mode !== 'logs' || !current) return;
    const controller = new AbortController();
    let partial = '';
    setLogs([]);
    api
      .followLogs(
        current.service,
        current.name,
        { tail: 200 },
        (text) => {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          setLogs((old) => [...old, ...lines].slice(-LOG_LINES));
        },
        controller.signal,
      )
      .catch((e: Error) => setMessage(e.message));
    return () => controller.abort();
  }, [mode, current?.service, current?.name]);

  const act = async (what: string, work: () => Promise<unknown>) => {
    setMessage(`${what}…`);
    try {
      await work();
      setMessage(`${what}: done`);
    } catch (e) {
      setMessage(`${what}: ${isApiError(e) ? `${e.message} (${e.code})` : (e as Error).message}`);
    }
  };

  useInput((input, key) => {
    // Keys typed fast (or pasted) arrive as one chunk: `/abc` starts a filter with `abc`.
    if (mode === 'list' && input.length > 1 && input.startsWith('/')) {
      setMode('filter');
      setFilter(input.slice(1));
      return;
    }
    if (mode === 'filter') {
      if (key.return || key.escape) setMode('list');
      else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setFilter((f) => f + input);
      return;
    }
    if (mode === 'confirm') {
      if (input === 'y' && current) {
        const service = current.service;
        setMode('list');
        void act(`delete ${service}`, () => api.deleteService(service, false)).then(() =>
          live.reload(),
        );
      } else if (input === 'n' || key.escape) {
        setMode('list');
        setMessage('delete cancelled');
      }
      return;
    }
    if (input === 'q' || (key.ctrl && input === 'c')) {
      live.close();
      exit();
      return;
    }
    if (key.escape || (mode !== 'list' && key.leftArrow)) {
      setMode('list');
      return;
    }
    if (input === 'j' || key.downArrow) setSelected(Math.min(workloads.length - 1, index + 1));
    else if (input === 'k' || key.upArrow) setSelected(Math.max(0, index - 1));
    else if (key.return && current) setMode(mode === 'details' ? 'list' : 'details');
    else if (input === 'l' && current) setMode(mode === 'logs' ? 'list' : 'logs');
    else if (input === '/') {
      setMode('filter');
      setFilter('');
    } else if (input === 'r' && current) {
      const { service, name } = current;
      void act(`restart ${service}/${name}`, () => api.restart(service, name));
    } else if (input === 'd' && current) setMode('confirm');
  });

  const services = [...state.services.values()].sort((a, b) => a.name.localeCompare(b.name));
  const eventLines = 6;
  const fixed = 9 + Math.min(services.length, 6) + eventLines;
  const space = Math.max(3, rows - fixed);
  const first = Math.max(0, Math.min(index - Math.floor(space / 2), workloads.length - space));
  const visible = workloads.slice(first, first + space);
  const nameWidth = Math.max(20, Math.min(40, columns - 70));

  return (
    <Box flexDirection="column" width={columns}>
      <Box>
        <Text bold>khutulun top</Text>
        <Text>
          {'  '}
          {state.health ? `agent ${state.health.host} (pid ${state.health.pid})` : 'connecting…'} ·{' '}
          {services.length} services · {state.workloads.size} workloads ·{' '}
        </Text>
        <Text color={state.connected ? 'green' : 'yellow'}>
          {state.connected ? '● live' : '○ reconnecting'}
        </Text>
        {state.error && <Text color="red"> {state.error}</Text>}
      </Box>
      <Text bold color="cyan">
        {cell('SERVICE', nameWidth)} {cell('STATE', 10)} READY
      </Text>
      {services.slice(0, 6).map((s) => (
        <Text key={s.name}>
          {cell(s.name, nameWidth)} <Text color={toneColour(s.state)}>{cell(s.state, 10)}</Text>{' '}
          {s.ready}/{s.workloads}
        </Text>
      ))}
      {services.length > 6 && <Text dimColor>… {services.length - 6} more</Text>}
      <Text> </Text>
      {mode === 'details' && current ? (
        <Details item={current} detail={detail} height={space + 1} />
      ) : mode === 'logs' && current ? (
        <Box flexDirection="column" height={space + 1}>
          <Text bold color="cyan">
            logs of {current.service}/{current.name} (following; esc back)
          </Text>
          {logs.slice(-space).map((line, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: a window of lines
            <Text key={i} wrap="truncate">
              {line}
            </Text>
          ))}
        </Box>
      ) : (
        <Box flexDirection="column" height={space + 1}>
          <Text bold color="cyan">
            {'  '}
            {cell('WORKLOAD', nameWidth)} {cell('KIND', 8)} {cell('STATE', 10)}{' '}
            {cell('RESTARTS', 8)} {cell('PID', 8)} {cell('CPU', 6)} {cell('MEM', 8)} HOST
          </Text>
          {visible.map((w, i) => {
            const here = first + i === index;
            const figures = usage.get(`${w.service}/${w.name}`);
            const measured = w.state === 'running' || w.state === 'unhealthy';
            return (
              <Text key={`${w.service}/${w.name}`} inverse={here} wrap="truncate">
                {here ? '> ' : '  '}
                {cell(`${w.service}/${w.name}`, nameWidth)} {cell(w.kind, 8)}{' '}
                <Text color={toneColour(w.state)}>{cell(w.state, 10)}</Text>{' '}
                {cell(String(w.restarts), 8)} {cell(w.pid === undefined ? '-' : String(w.pid), 8)}{' '}
                {cell(metric(measured ? figures?.cpuPercent : undefined, '%'), 6)}{' '}
                {cell(metric(measured ? figures?.memoryMb : undefined, 'M'), 8)} {w.host}
              </Text>
            );
          })}
          {workloads.length === 0 && (
            <Text dimColor>{filter ? `nothing matches "${filter}"` : 'no workloads'}</Text>
          )}
        </Box>
      )}
      <Text bold color="cyan">
        EVENTS
      </Text>
      {state.events.slice(-eventLines).map((e) => (
        <Text key={e.seq} wrap="truncate" dimColor={e.type === 'updated' || e.type === 'added'}>
          {eventLine(e)}
        </Text>
      ))}
      {mode === 'confirm' && current ? (
        <Text color="red" bold>
          Delete service {current.service} with all its workloads? (y/n)
        </Text>
      ) : mode === 'filter' ? (
        <Text>
          filter: <Text color="yellow">{filter}</Text>▏ (enter to keep, esc)
        </Text>
      ) : (
        <Text dimColor wrap="truncate">
          {message ? `${message} · ` : ''}j/k move · enter details · l logs · r restart · d delete ·
          / filter
          {filter ? ` ("${filter}")` : ''} · q quit
        </Text>
      )}
    </Box>
  );
}

function eventLine(e: ApiEvent): string {
  const service = eventService(e);
  const workload = eventWorkload(e);
  const subject = service
    ? `${service}${workload ? `/${workload}` : ''}`
    : `${e.id.kind} ${e.id.name}`;
  const data =
    e.type === 'property-changed' && e.data
      ? `${e.data.property}: ${JSON.stringify(e.data.old ?? null)} → ${JSON.stringify(e.data.new ?? null)}`
      : e.data === undefined
        ? ''
        : JSON.stringify(e.data);
  return `${e.time.slice(11, 19)} ${e.type.padEnd(20)} ${subject} ${data}`;
}

function Details({
  item,
  detail,
  height,
}: {
  item: WorkloadItem;
  detail: WorkloadDetail | undefined;
  height: number;
}) {
  return (
    <Box flexDirection="column" height={height}>
      <Text bold color="cyan">
        {item.service}/{item.name} <Text color={toneColour(item.state)}>{item.state}</Text> (esc
        back)
      </Text>
      <Text>
        kind {item.kind} · host {item.host} · pid {item.pid ?? '-'} · restarts {item.restarts}
        {item.containerId ? ` · container ${item.containerId.slice(0, 12)}` : ''}
        {item.image ? ` · image ${item.image}` : ''}
      </Text>
      {detail ? (
        <>
          <Text bold>commands</Text>
          {detail.commands.map((c) => (
            <Text key={c} wrap="truncate">
              {'  '}
              {c}
            </Text>
          ))}
          <Text bold>files</Text>
          {detail.files.map((f) => (
            <Text key={f.path} wrap="truncate">
              {'  '}
              {f.path} <Text dimColor>{f.purpose}</Text>
            </Text>
          ))}
        </>
      ) : (
        <Text dimColor>loading…</Text>
      )}
    </Box>
  );
}
