import { createReadStream, watch } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
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
import { stream as streamBody, streamSSE } from 'hono/streaming';
import { isAgentError, requestErrors } from './agent-error.js';
import type { AgentServices } from './agent-services.js';
import { PLUGIN_DIRECTORY } from './backends.js';
import { isAboutService, type ServiceController } from './service-controller.js';
import {
  readRecord,
  readRecords,
  type ServiceRecord,
  serviceDirectories,
} from './service-record.js';
import { uploadsPath } from './state-dir.js';

/** What the API needs from the running agent. */
export interface ApiContext {
  services: AgentServices;
  controller: ServiceController;
  startedAt: string;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

/**
 * Builds the HTTP/JSON API (see API.md). Errors from every route become the one error body
 * here, in `onError`, and nowhere else.
 */
export function createApi(context: ApiContext): Hono {
  const { services: s, controller } = context;
  const uploads = uploadsPath(s.stateDir);
  const app = new Hono();

  if (context.token) {
    const expected = `Bearer ${context.token}`;
    app.use('*', async (c, next) => {
      if (c.req.header('authorization') !== expected) throw requestErrors.unauthorized();
      await next();
    });
  }

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
    }),
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
        return c.json({ service, state: 'deploying', sinceSeq }, 202);
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
    await mustRecord(context, name);
    if (flag(c.req.query('wait'), true)) {
      await controller.remove(name);
      return c.json({ service: name, deleted: true });
    }
    const sinceSeq = await s.store.lastSeq();
    controller.remove(name).catch((e) => s.log('warn', `delete ${name}: ${(e as Error).message}`));
    return c.json({ service: name, state: 'deleting', sinceSeq }, 202);
  });

  app.get('/v1/workloads', async (c) => {
    const only = c.req.query('service');
    const records = (await readRecords(s.store)).filter((r) => !only || r.name === only);
    if (only && !records.length) throw serviceNotFound(only);
    const items = await Promise.all(records.map((r) => workloadItems(context, r)));
    return c.json(items.flat());
  });

  app.get('/v1/workloads/:service/:name', async (c) => {
    const { service, name } = c.req.param();
    return c.json(await showWorkload(context, service, name));
  });

  app.get('/v1/workloads/:service/:name/logs', async (c) => {
    const { service, name } = c.req.param();
    const which = c.req.query('stream') ?? 'both';
    const files = await logFiles(context, service, name, which);
    const follow = flag(c.req.query('follow'), false);
    const tail = c.req.query('tail') ? Number(c.req.query('tail')) : undefined;
    c.header('content-type', 'text/plain; charset=utf-8');
    return streamBody(c, async (out) => {
      const offsets = new Map<string, number>();
      for (const file of files) {
        const size = (await stat(file).catch(() => undefined))?.size ?? 0;
        const text = size ? await readRange(file, 0, size) : '';
        await out.write(
          tail === undefined
            ? text
            : text
                .split('\n')
                .slice(-(tail + 1))
                .join('\n'),
        );
        offsets.set(file, size);
      }
      if (!follow) return;
      // File-change events (inotify), not polling: each change sends what was appended.
      await new Promise<void>((resolve) => {
        const watchers = files.map((file) =>
          watch(file, async () => {
            const size = (await stat(file).catch(() => undefined))?.size ?? 0;
            const from = offsets.get(file) ?? 0;
            if (size <= from) return;
            offsets.set(file, size);
            await out.write(await readRange(file, from, size));
          }),
        );
        out.onAbort(() => {
          for (const w of watchers) w.close();
          resolve();
        });
      });
    });
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

  app.get('/v1/hosts', async (c) => {
    const workloads = (await s.workloads.list()).length;
    return c.json([
      {
        name: s.host,
        state: 'up',
        self: true,
        agentPid: process.pid,
        address: '127.0.0.1',
        workloads,
        startedAt: context.startedAt,
      },
    ]);
  });

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
      return c.json({ ok, diagnostics: result.diagnostics });
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
function memoryMb(): Record<string, number> {
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

function isMap(v: Value | undefined): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

async function serviceSummary(
  context: ApiContext,
  record: ServiceRecord,
): Promise<Record<string, Value>> {
  const items = await workloadItems(context, record);
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

async function showService(context: ApiContext, name: string): Promise<Record<string, Value>> {
  const record = await mustRecord(context, name);
  return {
    ...(await serviceSummary(context, record)),
    inputs: record.inputs,
    outputs: await outputsOf(context, name),
    workloads: await workloadItems(context, record),
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

/**
 * A workload's vertex by its name (`server-1`), or by its node template's name (`server`)
 * when the service has exactly one instance of it.
 */
async function workloadVertex(context: ApiContext, service: string, name: string): Promise<Vertex> {
  const record = await readRecord(context.services.store, service);
  const names = record?.workloads ?? [];
  const alike = names.filter((n) => n.replace(/-\d+$/, '') === name);
  const resolved = names.includes(name) ? name : alike.length === 1 ? alike[0]! : undefined;
  const vertex = resolved
    ? ((await context.services.store.get({
        kind: 'vertex',
        directory: serviceDirectories(service).instances,
        name: resolved,
      })) as Vertex | undefined)
    : undefined;
  if (!vertex) {
    throw requestErrors.notFound('workload-not-found', `no workload ${service}/${name}`, {
      service,
      name,
    });
  }
  return vertex;
}

async function workloadItems(
  context: ApiContext,
  record: ServiceRecord,
): Promise<Record<string, Value>[]> {
  const { store } = context.services;
  const { instances } = serviceDirectories(record.name);
  const items: Record<string, Value>[] = [];
  for (const name of record.workloads) {
    const vertex = (await store.get({ kind: 'vertex', directory: instances, name })) as
      | Vertex
      | undefined;
    if (vertex) items.push(workloadItem(context, record.name, vertex));
  }
  return items;
}

function workloadItem(context: ApiContext, service: string, vertex: Vertex): Record<string, Value> {
  const v = (n: string) => vertex.properties[n]?.value;
  const item: Record<string, Value> = {
    service,
    name: vertex.id.name,
    host: (v('host') as string) ?? context.services.host,
    kind: 'process',
    state: (v('state') as string) ?? 'pending',
    restarts: (v('restarts') as number) ?? 0,
  };
  if (typeof v('pid') === 'number') item.pid = v('pid')!;
  if (v('ports') !== undefined && v('ports') !== null) item.ports = v('ports')!;
  if (typeof v('started_at') === 'string') item.startedAt = v('started_at')!;
  return item;
}

async function showWorkload(
  context: ApiContext,
  service: string,
  requested: string,
): Promise<Record<string, Value>> {
  const vertex = await workloadVertex(context, service, requested);
  const name = vertex.id.name;
  const { workloads, network } = context.services;
  const ref = { kind: workloads.kind, key: { service, name }, id: `${service}/${name}` };
  const description = await workloads.describe(ref);
  const v = (n: string) => vertex.properties[n]?.value ?? null;
  const command = [v('command'), ...((v('arguments') as Value[]) ?? [])]
    .flat()
    .filter((x) => x !== null);
  const files: Value[] = (description?.files ?? []).map((f) => ({
    path: f.path,
    purpose: f.purpose,
  }));
  const attributes: Record<string, Value> = {};
  const properties: Record<string, Value> = {};
  for (const [key, p] of Object.entries(vertex.properties)) {
    if (key.startsWith('tosca:')) continue;
    (p.metadata?.['tosca.kind'] === 'attribute' ? attributes : properties)[key] = p.value ?? null;
  }
  return {
    ...workloadItem(context, service, vertex),
    command: command as Value[],
    commandLine: description?.commands.join('\n') ?? '',
    commands: [...(description?.commands ?? []), ...(await network.describe({ service, name }))],
    workingDirectory: (description?.details.working_directory as string) ?? v('working_directory'),
    environment: v('environment'),
    user: v('user'),
    restartPolicy: v('restart'),
    exitCode: v('exit_code'),
    signal: v('signal'),
    files,
    details: description?.details ?? {},
    attributes,
    properties,
  };
}

async function logFiles(
  context: ApiContext,
  service: string,
  requested: string,
  which: string,
): Promise<string[]> {
  const { name } = (await workloadVertex(context, service, requested)).id;
  const { workloads } = context.services;
  const description = await workloads.describe({
    kind: workloads.kind,
    key: { service, name },
    id: `${service}/${name}`,
  });
  const wanted = which === 'both' ? ['stdout', 'stderr'] : [which];
  const files = (description?.files ?? [])
    .filter((f) => wanted.some((w) => f.purpose.includes(w) || basename(f.path).startsWith(w)))
    .map((f) => f.path);
  return [...new Set(files)];
}

function readRange(file: string, start: number, end: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    createReadStream(file, { start, end: end - 1 })
      .on('data', (c) => chunks.push(c as Buffer))
      .on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      .on('error', reject);
  });
}

function pluginSummary(plugin: Entity): Record<string, Value> {
  const entity = plugin as unknown as Record<string, unknown> & { id: Id };
  return {
    name: entity.id.name,
    kind: (entity.pluginKind as string) ?? null,
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
