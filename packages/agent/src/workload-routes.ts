/**
 * The workload routes of the API (`/v1/workloads`): list, show, logs (follow), restart, and
 * exec over a WebSocket. Every kind is reached through the ref stored with the workload.
 *
 * Exec frames are binary, the first byte a channel (Kubernetes' channel protocol): 0 stdin
 * (client to agent), 1 stdout, 2 stderr, 3 control, a JSON object: from the agent
 * `{"type":"exit","code":N}` just before it closes; from the client
 * `{"type":"resize","cols":N,"rows":M}`. Closing stdin: a frame on channel 0 with no data.
 */

import { ExecChannel } from '@khutulun/api';
import type { ExecSession } from '@khutulun/driver';
import type { Vertex } from '@khutulun/floria';
import { Hono } from 'hono';
import { stream as streamBody } from 'hono/streaming';
import type { UpgradeWebSocket } from 'hono/ws';
import { requestErrors } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import { RELAYED_HEADER } from './api-relay.js';
import type { ServiceController } from './service-controller.js';
import { readRecords } from './service-record.js';
import { propertyValue } from './values.js';
import { showWorkload, storedRef, workloadItems, workloadVertex } from './workload-views.js';

/** Builds the workload routes; `upgradeWebSocket` serves exec (absent: exec answers 501). */
export function workloadRoutes(
  s: AgentServices,
  controller: ServiceController,
  upgradeWebSocket: UpgradeWebSocket | undefined,
): Hono {
  const app = new Hono();
  /**
   * The workload, if this agent's drivers run it. In a cluster, another host's workload is
   * refused (`workload-elsewhere`, with that host): for exec, and for a relayed request.
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
    const items = await Promise.all(records.map((r) => workloadItems(s, r)));
    return c.json(items.flat());
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
    const vertex = here(await workloadVertex(s, service, name));
    const ref = storedRef(service, vertex);
    const driver = s.kinds.driverOf(ref);
    if (!driver.exec || !upgradeWebSocket) {
      throw requestErrors.notImplemented(
        'exec-unsupported',
        `workloads of kind ${ref.kind} cannot run commands`,
        { service, name, kind: ref.kind },
      );
    }
    const command = c.req.queries('command') ?? [];
    if (!command.length) throw requestErrors.badRequest('exec needs a command');
    const tty = ['1', 'true'].includes(c.req.query('tty') ?? '');
    const size = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
    const columns = size(c.req.query('cols'));
    const rows = size(c.req.query('rows'));
    const exec = driver.exec.bind(driver);
    const handler = upgradeWebSocket(() => {
      let session: ExecSession | undefined;
      const pending: Uint8Array[] = [];
      let stdinClosed = false;
      return {
        onOpen(_event, ws) {
          const send = (channel: number, data: Uint8Array | string) => {
            const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
            ws.send(Buffer.concat([Buffer.from([channel]), payload]));
          };
          exec(ref, {
            command,
            tty,
            stdin: true,
            ...(columns ? { columns } : {}),
            ...(rows ? { rows } : {}),
          }).then(
            (started) => {
              session = started;
              for (const data of pending) started.stdin?.write(data);
              if (stdinClosed) started.stdin?.end();
              started.stdout.on('data', (d: Buffer) => send(ExecChannel.stdout, d));
              started.stderr?.on('data', (d: Buffer) => send(ExecChannel.stderr, d));
              started.exit.then(
                ({ code }) => {
                  send(ExecChannel.control, JSON.stringify({ type: 'exit', code }));
                  ws.close(1000);
                },
                (error: Error) => {
                  send(ExecChannel.stderr, `${error.message}\n`);
                  send(ExecChannel.control, JSON.stringify({ type: 'exit', code: 126 }));
                  ws.close(1011);
                },
              );
            },
            (error: Error) => {
              send(ExecChannel.stderr, `${error.message}\n`);
              send(ExecChannel.control, JSON.stringify({ type: 'exit', code: 126 }));
              ws.close(1011);
            },
          );
        },
        onMessage(event) {
          const data = event.data;
          const bytes =
            typeof data === 'string'
              ? Buffer.from(data)
              : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : (data as Buffer));
          const channel = bytes[0];
          const payload = bytes.subarray(1);
          if (channel === ExecChannel.stdin) {
            if (!payload.length) {
              stdinClosed = true;
              session?.stdin?.end();
            } else if (session) session.stdin?.write(payload);
            else pending.push(payload);
          } else if (channel === ExecChannel.control) {
            try {
              const control = JSON.parse(payload.toString('utf8')) as {
                type?: string;
                cols?: number;
                rows?: number;
              };
              if (control.type === 'resize' && control.cols && control.rows)
                session?.resize(control.cols, control.rows);
            } catch {
              // A malformed control frame is ignored: the session goes on.
            }
          }
        },
        onClose() {
          session?.kill();
        },
      };
    });
    return handler(c, next);
  });

  return app;
}
