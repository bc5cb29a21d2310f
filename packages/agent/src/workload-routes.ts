/**
 * The workload routes of the API (`/v1/workloads`): list, show, logs (follow), restart, and
 * exec over a WebSocket. Every kind is reached through the ref stored with the workload.
 *
 * Exec frames are binary, the first byte a channel (Kubernetes' channel protocol): 0 stdin
 * (client to agent), 1 stdout, 2 stderr, 3 control, a JSON object: from the agent
 * `{"type":"exit","code":N}` just before it closes; from the client
 * `{"type":"resize","cols":N,"rows":M}`. Closing stdin: a frame on channel 0 with no data.
 */

import type { Vertex } from '@khutulun/floria';
import { Hono } from 'hono';
import { stream as streamBody } from 'hono/streaming';
import type { UpgradeWebSocket } from 'hono/ws';
import { requestErrors } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import { RELAYED_HEADER } from './api-relay.js';
import { type ExecRequest, execFrames, type FrameSession, type FrameSink } from './exec-frames.js';
import type { ServiceController } from './service-controller.js';
import { readRecords } from './service-record.js';
import { propertyValue } from './values.js';
import { UsageReadings } from './workload-usage.js';
import {
  showWorkload,
  storedRef,
  workloadItem,
  workloadVertex,
  workloadVertexes,
} from './workload-views.js';

/** Builds the workload routes; `upgradeWebSocket` serves exec (absent: exec answers 501). */
export function workloadRoutes(
  s: AgentServices,
  controller: ServiceController,
  upgradeWebSocket: UpgradeWebSocket | undefined,
): Hono {
  const app = new Hono();
  const usage = new UsageReadings();
  /**
   * The workload, if this agent's drivers run it. In a cluster, another host's workload is
   * refused (`workload-elsewhere`, with that host) when the request was already relayed.
   */
  const here = (vertex: Vertex): Vertex => {
    const host = elsewhere(vertex);
    if (host === undefined) return vertex;
    throw requestErrors.conflict(
      'workload-elsewhere',
      `workload ${vertex.id.name} runs on host ${host}: ask its agent`,
      { workload: vertex.id.name, host },
    );
  };
  /** The host another agent runs the workload on, in a cluster; undefined: this agent. */
  const elsewhere = (vertex: Vertex): string | undefined => {
    const host = propertyValue(vertex, 'host');
    return s.cluster && typeof host === 'string' && host !== s.host ? host : undefined;
  };
  /** The owner's answer, relayed, when another agent runs the workload (once, never again). */
  const relayed = (request: Request, vertex: Vertex): Promise<Response> | undefined => {
    const host = elsewhere(vertex);
    if (host === undefined || !s.cluster) return undefined;
    if (request.headers.has(RELAYED_HEADER)) here(vertex);
    return s.cluster.relay(host, request);
  };

  app.get('/', async (c) => {
    const only = c.req.query('service');
    const records = (await readRecords(s.store)).filter((r) => !only || r.name === only);
    if (only && !records.length) {
      throw requestErrors.notFound('service-not-found', `no service named "${only}"`, {
        service: only,
      });
    }
    // Each item with its vertex: with usage, its stored ref addresses the driver.
    const workloads = (
      await Promise.all(
        records.map(async (r) =>
          (
            await workloadVertexes(s, r)
          ).map((vertex) => ({
            item: workloadItem(s, r.name, vertex),
            vertex,
          })),
        ),
      )
    ).flat();
    if (['1', 'true'].includes(c.req.query('usage') ?? ''))
      await usage.fill(s, workloads, c.req.raw);
    return c.json(workloads.map((w) => w.item));
  });

  app.get('/:service/:name', async (c) => {
    const { service, name } = c.req.param();
    return c.json(await showWorkload(s, service, name));
  });

  app.post('/:service/:name/restart', async (c) => {
    const { service, name } = c.req.param();
    const vertex = await workloadVertex(s, service, name);
    const owner = relayed(c.req.raw, vertex);
    if (owner) return owner;
    await controller.restartWorkload(service, vertex.id.name);
    return c.json(await showWorkload(s, service, vertex.id.name));
  });

  app.get('/:service/:name/logs', async (c) => {
    const { service, name } = c.req.param();
    const vertex = await workloadVertex(s, service, name);
    const owner = relayed(c.req.raw, vertex);
    if (owner) return owner;
    const ref = storedRef(service, vertex);
    const driver = s.kinds.driverOf(ref);
    const which = c.req.query('stream') ?? 'both';
    if (which !== 'stdout' && which !== 'stderr' && which !== 'both')
      throw requestErrors.badRequest('stream must be stdout, stderr or both');
    const follow = ['1', 'true'].includes(c.req.query('follow') ?? '');
    const tailText = c.req.query('tail');
    const tail = tailText === undefined ? undefined : Number(tailText);
    if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0))
      throw requestErrors.badRequest('tail must be a whole number');
    c.header('content-type', 'text/plain; charset=utf-8');
    return streamBody(c, async (out) => {
      const abort = new AbortController();
      out.onAbort(() => abort.abort());
      const chunks = driver.logs(ref, {
        stream: which,
        follow,
        signal: abort.signal,
        ...(tail === undefined ? {} : { tail }),
      });
      try {
        for await (const chunk of chunks) await out.write(chunk.data);
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
    });
  });

  app.get('/:service/:name/exec', async (c, next) => {
    const { service, name } = c.req.param();
    const vertex = await workloadVertex(s, service, name);
    // Another host's workload: the session is relayed to its agent over NATS (once).
    const owner = elsewhere(vertex);
    if (owner !== undefined && c.req.header(RELAYED_HEADER)) here(vertex);
    const ref = owner === undefined ? storedRef(service, vertex) : undefined;
    const driver = ref ? s.kinds.driverOf(ref) : undefined;
    if (!upgradeWebSocket || (ref && !driver?.exec)) {
      throw requestErrors.notImplemented(
        'exec-unsupported',
        `workloads of kind ${ref?.kind ?? propertyValue(vertex, 'kind')} cannot run commands`,
        { service, name, kind: ref?.kind ?? null },
      );
    }
    const command = c.req.queries('command') ?? [];
    if (!command.length) throw requestErrors.badRequest('exec needs a command');
    const size = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
    const columns = size(c.req.query('cols'));
    const rows = size(c.req.query('rows'));
    const request: ExecRequest = {
      command,
      tty: ['1', 'true'].includes(c.req.query('tty') ?? ''),
      ...(columns ? { columns } : {}),
      ...(rows ? { rows } : {}),
    };
    const handler = upgradeWebSocket(() => {
      let session: FrameSession | undefined;
      return {
        onOpen(_event, ws) {
          const sink = {
            send: (frame: Uint8Array) => ws.send(Buffer.from(frame) as Uint8Array<ArrayBuffer>),
            close: (code: number) => ws.close(code),
          };
          session =
            owner === undefined
              ? execFrames(driver!, ref!, request, sink)
              : s.cluster!.relayExec(owner, { service, name: vertex.id.name }, request, sink);
        },
        onMessage(event) {
          const data = event.data;
          session?.frame(
            typeof data === 'string'
              ? Buffer.from(data)
              : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : (data as Buffer)),
          );
        },
        onClose() {
          session?.close();
        },
      };
    });
    return handler(c, next);
  });

  return app;
}

/**
 * Opens an exec session another agent relays here: the workload must be this host's and its
 * kind able to run commands.
 */
export function openExec(
  s: AgentServices,
): (
  target: { service: string; name: string },
  request: ExecRequest,
  sink: FrameSink,
) => Promise<FrameSession> {
  return async ({ service, name }, request, sink) => {
    const vertex = await workloadVertex(s, service, name);
    const host = propertyValue(vertex, 'host');
    if (typeof host === 'string' && host !== s.host)
      throw new Error(`workload ${service}/${name} runs on host ${host}, not ${s.host}`);
    const ref = storedRef(service, vertex);
    const driver = s.kinds.driverOf(ref);
    if (!driver.exec) throw new Error(`workloads of kind ${ref.kind} cannot run commands`);
    return execFrames(driver, ref, request, sink);
  };
}
