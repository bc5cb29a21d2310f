import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import type {
  Accepted,
  Deleted,
  Health,
  HostItem,
  HostStateChange,
  PluginKind,
  PluginSummary,
  ServiceDetail,
  ServiceSummary,
  ValidateResult,
} from '@khutulun/api';
import {
  type Entity,
  evaluate,
  hostFunctions,
  type Id,
  type PluginEntity,
  type Query,
  type TraverseOptions,
  type Value,
  type Vertex,
} from '@khutulun/floria';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { UpgradeWebSocket } from 'hono/ws';
import { isAgentError, requestErrors } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import { RELAYED_HEADER } from './api-relay.js';
import { PLUGIN_DIRECTORY } from './backends.js';
import { dashboardRoutes, tokenAuth } from './dashboard-routes.js';
import { isAboutService, type ServiceController } from './service-controller.js';
import {
  readRecord,
  readRecords,
  type ServiceRecord,
  serviceDirectories,
} from './service-record.js';
import { uploadsPath } from './state-dir.js';
import { isMap } from './values.js';
import { workloadRoutes } from './workload-routes.js';
import { workloadItems } from './workload-views.js';

/** What the API needs from the running agent. */
export interface ApiContext {
  services: AgentServices;
  controller: ServiceController;
  startedAt: string;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Serves WebSockets (exec) on the server this API runs on. */
  upgradeWebSocket?: UpgradeWebSocket;
}

/**
 * Builds the HTTP/JSON API (see API.md). Errors from every route become the one error body
 * here, in `onError`, and nowhere else.
 */
export function createApi(context: ApiContext): Hono {
  const { services: s, controller } = context;
  const uploads = uploadsPath(s.stateDir);
  const app = new Hono();

  // The bearer token, or the dashboard's session cookie (see dashboard-routes.ts).
  if (context.token) app.use('*', tokenAuth(context.token));
  app.route('/', dashboardRoutes());

  app.get('/v1/health', async (c) =>
    c.json({
      ok: true,
      version: '0.1.0',
      host: s.host,
      pid: process.pid,
      stateDir: s.stateDir,
      store: s.store.backend,
      lastSeq: await s.store.lastSeq(),
      memory: memoryMb(),
    } satisfies Health),
  );

  app.post('/v1/services', async (c) => {
    const body = await jsonBody(c.req.raw);
    const wait = body.wait !== false;
    const inputs = optionalMap(body.inputs, 'inputs');
    const name = optionalString(body.name, 'name');
    return withSource(body.source, uploads, true, async (source) => {
      const request = { source, inputs, ...(name ? { name } : {}) };
      const sinceSeq = await s.store.lastSeq();
      if (wait && (c.req.header('accept') ?? '').includes('text/event-stream')) {
        return streamSSE(c, async (sse) => {
          try {
            const deployed = await controller.deploy(request, (p) => {
              void sse.writeSSE({ event: 'progress', data: JSON.stringify(p) });
            });
            await sse.writeSSE({
              event: 'result',
              data: JSON.stringify(await showService(context, deployed)),
            });
          } catch (error) {
            await sse.writeSSE({ event: 'error', data: JSON.stringify(errorBody(error)) });
          }
        });
      }
      if (!wait) {
        // Answer once the service is stored: a file that does not compile is still a 422.
        let stored: (service: string) => void = () => {};
        const storedOnce = new Promise<string>((resolve) => {
          stored = resolve;
        });
        const started = controller.deploy(request, (p) => {
          if (p.step === 'stored') stored(p.service);
        });
        started.catch((e) => s.log('warn', `deploy: ${(e as Error).message}`));
        const service = await Promise.race([storedOnce, started]);
        return c.json({ service, state: 'deploying', sinceSeq } satisfies Accepted, 202);
      }
      const deployed = await controller.deploy(request);
      return c.json(await showService(context, deployed), 201);
    });
  });

  app.get('/v1/services', async (c) => {
    const records = await readRecords(s.store);
    return c.json(await Promise.all(records.map((r) => serviceSummary(context, r))));
  });

  app.get('/v1/services/:name', async (c) =>
    c.json(await showService(context, c.req.param('name'))),
  );

  app.get('/v1/services/:name/outputs', async (c) => {
    const record = await mustRecord(context, c.req.param('name'));
    return c.json(await outputsOf(context, record.name));
  });

  app.delete('/v1/services/:name', async (c) => {
    const name = c.req.param('name');
    const record = await mustRecord(context, name);
    // In a cluster, the agent that deployed a service deletes it: relayed there, once.
    if (s.cluster && record.host && record.host !== s.host && !c.req.header(RELAYED_HEADER)) {
      return s.cluster.relay(record.host, c.req.raw);
    }
    if (flag(c.req.query('wait'), true)) {
      await controller.remove(name);
      return c.json({ service: name, deleted: true } satisfies Deleted);
    }
    const sinceSeq = await s.store.lastSeq();
    controller.remove(name).catch((e) => s.log('warn', `delete ${name}: ${(e as Error).message}`));
    return c.json({ service: name, state: 'deleting', sinceSeq } satisfies Accepted, 202);
  });

  app.get('/v1/events', async (c) => {
    const since = Number(c.req.query('since') ?? 0);
    const limit = Number(c.req.query('limit') ?? 1000);
    const service = c.req.query('service');
    const events = await s.store.changes(since, limit);
    return c.json(service ? events.filter((e) => isAboutService(e, service)) : events);
  });

  app.get('/v1/events/stream', async (c) => {
    const service = c.req.query('service');
    const from = c.req.query('since') ?? c.req.header('last-event-id');
    const since = from === undefined ? await s.store.lastSeq() : Number(from);
    return streamSSE(c, async (sse) => {
      let chain = Promise.resolve();
      await new Promise<void>((resolve) => {
        const stop = s.store.subscribe(since, (event) => {
          if (service && !isAboutService(event, service)) return;
          chain = chain.then(() =>
            sse.writeSSE({ id: String(event.seq), event: event.type, data: JSON.stringify(event) }),
          );
        });
        sse.onAbort(() => {
          stop();
          resolve();
        });
      });
    });
  });

  app.route('/v1/workloads', workloadRoutes(s, controller, context.upgradeWebSocket));

  app.get('/v1/hosts', async (c) => {
    const offered = s.kinds.offered();
    const own = {
      self: true,
      agentPid: process.pid,
      unavailableKinds: Object.fromEntries(
        offered.filter((k) => !k.available).map((k) => [k.kind, k.reason ?? 'unavailable']),
      ),
      // Which of its kinds run commands in a workload (exec): the dashboard offers a terminal
      // only for those.
      execKinds: s.kinds.execKinds(),
      startedAt: context.startedAt,
    };
    if (s.cluster) {
      // Every host of the cluster, as the registry (the source of truth) has it: the
      // workload count is what each host owns there.
      const records = await s.cluster.hosts();
      return c.json(
        // The cluster's host states must be the API's: a state the API does not name fails here.
        records.map(
          (h): HostItem => ({
            name: h.name,
            state: h.state,
            ...(h.name === s.host ? own : { self: false }),
            address: h.address,
            labels: h.labels,
            kinds: h.kinds,
            ...(h.name !== s.host && h.execKinds ? { execKinds: h.execKinds } : {}),
            capacity: h.capacity,
            epoch: h.epoch,
            workloads: h.workloads,
          }),
        ),
      );
    }
    const workloads = (await s.kinds.list()).length;
    return c.json([
      {
        name: s.host,
        state: 'up',
        ...own,
        address: s.address,
        kinds: offered.filter((k) => k.available).map((k) => k.kind),
        workloads,
      },
    ] satisfies HostItem[]);
  });

  // Drain: no new placements on the host, and its workloads move off (dependencies first);
  // the answer lists the moves. Undrain takes the host back (nothing moves back).
  for (const action of ['drain', 'undrain'] as const) {
    app.post(`/v1/hosts/:name/${action}`, async (c) => {
      if (!s.cluster) {
        throw requestErrors.notImplemented(
          'not-a-cluster',
          `${action} needs a cluster (khutulun agent --bus ...)`,
        );
      }
      const name = c.req.param('name');
      try {
        const host = await s.cluster.cluster.membership[action](name);
        const moved = action === 'drain' ? await controller.drain(name) : [];
        return c.json({
          name: host.name,
          state: host.state,
          epoch: host.epoch,
          moved,
        } satisfies HostStateChange);
      } catch (error) {
        if ((error as { code?: string }).code === 'unknown-host') {
          throw requestErrors.notFound('host-not-found', `no host named "${name}"`, { host: name });
        }
        throw error;
      }
    });
  }

  app.post('/v1/graph/query', async (c) =>
    c.json(await s.store.query((await jsonBody(c.req.raw)) as Query)),
  );
  app.post('/v1/graph/get', async (c) => {
    const body = await jsonBody(c.req.raw);
    const entity = await s.store.get(body.id as unknown as Id);
    if (!entity)
      throw requestErrors.notFound('entity-not-found', 'no such entity', { id: body.id ?? null });
    return c.json(entity);
  });
  app.post('/v1/graph/traverse', async (c) =>
    c.json(await s.store.traverse((await jsonBody(c.req.raw)) as unknown as TraverseOptions)),
  );
  app.get('/v1/graph/services/:name', async (c) => {
    const record = await mustRecord(context, c.req.param('name'));
    const { instances } = serviceDirectories(record.name);
    const [vertexes, edges] = await Promise.all([
      s.store.query({ kind: 'vertex', directory: instances }),
      s.store.query({ kind: 'edge', directory: instances }),
    ]);
    return c.json({ vertexes, edges });
  });

  app.get('/v1/plugins', async (c) => {
    const plugins = await s.store.query({ kind: 'plugin', directory: PLUGIN_DIRECTORY });
    return c.json(plugins.map(pluginSummary));
  });
  app.post('/v1/plugins', async (c) => {
    const body = await jsonBody(c.req.raw);
    const name = optionalString(body.name, 'name');
    const kind = optionalString(body.kind, 'kind');
    if (!name || !kind || !['wasm', 'executable', 'typescript'].includes(kind)) {
      throw requestErrors.badRequest(
        'a plugin needs a name and a kind (wasm, executable, typescript)',
      );
    }
    const entity = await registerPlugin(s, name, kind as 'wasm', body);
    return c.json(pluginSummary(entity), 201);
  });

  app.post('/v1/tosca/validate', async (c) => {
    const body = await jsonBody(c.req.raw);
    return withSource(body.source, uploads, false, async (source) => {
      const result = await s.compile({
        source,
        inputs: optionalMap(body.inputs, 'inputs'),
        validateOnly: true,
      });
      const ok = !result.diagnostics.some((d) => d.severity === 'error');
      return c.json({ ok, diagnostics: result.diagnostics } satisfies ValidateResult);
    });
  });
  app.post('/v1/tosca/compile', async (c) => {
    const body = await jsonBody(c.req.raw);
    return withSource(body.source, uploads, false, async (source) => {
      const result = await s.compile({ source, inputs: optionalMap(body.inputs, 'inputs') });
      const ok = !result.diagnostics.some((d) => d.severity === 'error');
      return c.json({ ok, diagnostics: result.diagnostics, output: result.templates ?? null });
    });
  });

  app.notFound(() => {
    throw requestErrors.notFound('not-found', 'no such route');
  });

  app.onError((error, c) => {
    if (!isAgentError(error)) s.log('error', `API: ${(error as Error).stack ?? error}`);
    return c.json(errorBody(error), (isAgentError(error) ? error.status : 500) as 500);
  });

  return app;
}

/** The agent's memory, in MB: what an operator watches on a long-running agent. */
function memoryMb(): Health['memory'] {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return {
    rss: mb(m.rss),
    heapTotal: mb(m.heapTotal),
    heapUsed: mb(m.heapUsed),
    external: mb(m.external),
  };
}

/** The API's error body for any thrown value (also sent as the last SSE `error` event). */
export function errorBody(error: unknown): { error: Record<string, Value> } {
  if (isAgentError(error)) {
    const body: Record<string, Value> = { code: error.code, message: error.message };
    if (error.details) body.details = error.details;
    if (error.diagnostics?.length) body.diagnostics = error.diagnostics;
    if (error.cause !== undefined) body.cause = causeOf(error.cause);
    return { error: body };
  }
  return {
    error: { code: 'internal', message: error instanceof Error ? error.message : String(error) },
  };
}

function causeOf(cause: unknown): Value {
  if (typeof cause === 'object' && cause !== null) {
    const c = cause as { code?: unknown; message?: unknown };
    return {
      code: typeof c.code === 'string' ? c.code : 'error',
      message: typeof c.message === 'string' ? c.message : String(cause),
    };
  }
  return { code: 'error', message: String(cause) };
}

/**
 * Resolves a request's `source` to a local path: an absolute path as is; an upload is written
 * to a directory of its own under `uploads`. `keep`: the upload stays (a deployed service
 * owns it, and the agent removes it with the service); otherwise it is removed after `work`.
 */
async function withSource<T>(
  source: Value | undefined,
  uploads: string,
  keep: boolean,
  work: (path: string) => Promise<T>,
): Promise<T> {
  const src = isMap(source) ? source : undefined;
  if (src && typeof src.path === 'string') {
    if (!isAbsolute(src.path)) throw requestErrors.badRequest('source.path must be absolute');
    return work(src.path);
  }
  if (src && typeof src.content === 'string' && typeof src.filename === 'string') {
    await mkdir(uploads, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(uploads, 'upload-'));
    const file = join(dir, basename(src.filename));
    await writeFile(file, Buffer.from(src.content, 'base64'));
    try {
      return await work(file);
    } finally {
      if (!keep) await rm(dir, { recursive: true, force: true });
    }
  }
  throw requestErrors.badRequest('source must be { path } or { filename, content }');
}

async function jsonBody(request: Request): Promise<Record<string, Value>> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw requestErrors.badRequest('the body must be JSON');
  }
  if (!isMap(body as Value)) throw requestErrors.badRequest('the body must be a JSON object');
  return body as Record<string, Value>;
}

function optionalMap(v: Value | undefined, field: string): Record<string, Value> {
  if (v === undefined || v === null) return {};
  if (!isMap(v)) throw requestErrors.badRequest(`${field} must be an object`);
  return v;
}

function optionalString(v: Value | undefined, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw requestErrors.badRequest(`${field} must be a string`);
  return v;
}

function flag(v: string | undefined, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  return v === '1' || v === 'true';
}

function serviceNotFound(name: string) {
  return requestErrors.notFound('service-not-found', `no service named "${name}"`, {
    service: name,
  });
}

async function mustRecord(context: ApiContext, name: string): Promise<ServiceRecord> {
  const record = await readRecord(context.services.store, name);
  if (!record) throw serviceNotFound(name);
  return record;
}

async function serviceSummary(context: ApiContext, record: ServiceRecord): Promise<ServiceSummary> {
  const items = await workloadItems(context.services, record);
  const ready = items.filter((w) => w.state === 'running').length;
  const state =
    record.state === 'running' ? (ready === items.length ? 'running' : 'degraded') : record.state;
  return {
    name: record.name,
    state,
    workloads: items.length,
    ready,
    createdAt: record.createdAt,
    source: record.source,
  };
}

async function showService(context: ApiContext, name: string): Promise<ServiceDetail> {
  const record = await mustRecord(context, name);
  return {
    ...(await serviceSummary(context, record)),
    inputs: record.inputs,
    outputs: await outputsOf(context, name),
    workloads: await workloadItems(context.services, record),
    directory: serviceDirectories(name).root,
  };
}

/** A service's outputs, evaluated now (so `$get_attribute` outputs see current PIDs, ports). */
async function outputsOf(context: ApiContext, name: string): Promise<Record<string, Value>> {
  const { store, dispatcher } = context.services;
  const vertexes = (await store.query({
    kind: 'vertex',
    directory: serviceDirectories(name).instances,
    metadata: { 'tosca.entity': 'service' },
  })) as Vertex[];
  const service = vertexes[0];
  const outputs: Record<string, Value> = {};
  if (!service) return outputs;
  const host = hostFunctions({ reader: store, dispatcher });
  for (const [key, property] of Object.entries(service.properties)) {
    if (!key.startsWith('output:')) continue;
    let value = property.value ?? null;
    if (property.updater) {
      value = await evaluate(property.updater, {
        site: { entity: service.id, path: [key] },
        dispatcher,
        host,
      }).catch(() => value);
    }
    outputs[key.slice('output:'.length)] = value;
  }
  return outputs;
}

function pluginSummary(plugin: Entity): PluginSummary {
  const entity = plugin as unknown as Record<string, unknown> & { id: Id };
  return {
    name: entity.id.name,
    kind: (entity.pluginKind as PluginKind) ?? null,
    digest: (entity.digest as string) ?? null,
    location: (entity.location as string) ?? null,
    grants: (entity.grants as string[]) ?? [],
  };
}

async function registerPlugin(
  s: AgentServices,
  name: string,
  kind: 'wasm' | 'executable' | 'typescript',
  body: Record<string, Value>,
) {
  const { createHash } = await import('node:crypto');
  const { readFile } = await import('node:fs/promises');
  let content: Buffer;
  let location: string;
  if (typeof body.path === 'string') {
    if (!isAbsolute(body.path)) throw requestErrors.badRequest('path must be absolute');
    content = await readFile(body.path);
    location = body.path;
  } else if (typeof body.content === 'string') {
    content = Buffer.from(body.content, 'base64');
    location = 'inline:';
  } else {
    throw requestErrors.badRequest('a plugin needs a path or a base64 content');
  }
  const grants = Array.isArray(body.grants) ? body.grants.map(String) : [];
  const entity: PluginEntity = {
    id: { kind: 'plugin' as const, directory: PLUGIN_DIRECTORY, name },
    metadata: {},
    classes: [],
    pluginKind: kind,
    digest: `sha256:${createHash('sha256').update(content).digest('hex')}`,
    location,
    ...(location === 'inline:' ? { content: content.toString('base64') } : {}),
    grants,
  };
  await s.store.put(entity);
  s.plugins.register(entity);
  return entity;
}
