import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import {
  type Entity,
  type Expression,
  evaluate,
  type FloriaEvent,
  hostFunctions,
  type Id,
  type Value,
  type Vertex,
} from '@khutulun/floria';
import type { AgentServices } from './agent-services.js';
import { isMap, propertyValue } from './values.js';
import type { PolicyTrigger } from './workload-plan.js';

/** A user event handler: the file that implements it and, for plugins, the function. */
export interface Handler {
  path: string;
  function: string;
  /** For a policy trigger: called only when this evaluates to true on the workload. */
  condition?: Expression;
}

/** Where a service's handlers come from: its directory on disk, and its policies' triggers. */
export interface HandlerSources {
  baseDir: string;
  triggers: PolicyTrigger[];
}

/** The workload a handler is called about. */
export interface HandlerTarget {
  service: string;
  name: string;
  vertex: Id;
}

/**
 * User event handlers, run in situ: notifications of the profile's `Events` interface and the
 * operations that policy triggers call. A Wasm or JavaScript plugin is called through the
 * dispatcher; anything else runs as a script with the event as JSON on stdin.
 */
export class EventHandlers {
  private readonly registered = new Set<string>();

  constructor(private readonly s: AgentServices) {}

  /**
   * Runs a user event handler (a notification of the Events interface), detached from the
   * supervision: a Wasm or JavaScript plugin is called through the dispatcher (function = the
   * event's name, argument = the event), anything else runs as a script with the event as
   * JSON on stdin. A failure becomes a `handler-failed` event.
   */
  run(
    sup: HandlerTarget,
    handlers: Handler[] | undefined,
    event: string,
    data: Record<string, Value>,
  ): void {
    for (const handler of handlers ?? []) {
      if (!handler.condition) {
        this.runOneHandler(sup, handler, event, data);
        continue;
      }
      const { store, dispatcher } = this.s;
      void evaluate(handler.condition, {
        site: { entity: sup.vertex },
        dispatcher,
        host: hostFunctions({ reader: store, dispatcher }),
      })
        .then((fire) => {
          if (fire === true) this.runOneHandler(sup, handler, event, data);
        })
        .catch((error) =>
          this.s.log('warn', `trigger condition on ${sup.name}: ${(error as Error).message}`),
        );
    }
  }

  private runOneHandler(
    sup: HandlerTarget,
    handler: Handler,
    event: string,
    data: Record<string, Value>,
  ): void {
    const { path } = handler;
    const failed = (message: string) =>
      void this.s.store
        .transaction((tx) =>
          tx.emit({
            type: 'handler-failed',
            id: sup.vertex,
            data: { event, handler: path, message },
          }),
        )
        .catch(() => {});
    if (/\.(wasm|m?js)$/.test(path)) {
      void this.callPluginHandler(sup, handler, event, data).catch((error) =>
        failed((error as Error).message),
      );
      return;
    }
    const payload = { event, service: sup.service, workload: sup.name, data };
    const child = spawn(path, [], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {
        ...process.env,
        KHUTULUN_EVENT: event,
        KHUTULUN_SERVICE: sup.service,
        KHUTULUN_WORKLOAD: sup.name,
      },
    });
    child.on('error', (error) => failed(error.message));
    child.on('exit', (code) => {
      if (code !== 0) failed(`exited with ${code}`);
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(JSON.stringify(payload));
  }

  /**
   * Calls a plugin handler as Floria's event router would: the event (`workload-<name>`, on
   * the workload's vertex) as `call.event` and first argument, with the host functions to
   * read and change the graph.
   */
  private async callPluginHandler(
    sup: HandlerTarget,
    handler: Handler,
    event: string,
    data: Record<string, Value>,
  ): Promise<void> {
    const name = `handler:${handler.path}`;
    if (!this.registered.has(name)) await this.registerHandlerPlugin(name, handler.path);
    const { store, dispatcher } = this.s;
    const floriaEvent: FloriaEvent = {
      seq: await store.lastSeq(),
      type: `workload-${event}`,
      id: sup.vertex,
      time: new Date().toISOString(),
      data,
    };
    const writer = {
      put: (entity: Entity) => store.put(entity),
      delete: (id: Id) => store.delete(id),
      emit: (e: { type: string; id: Id; data?: Value }) => store.transaction((tx) => tx.emit(e)),
    };
    await dispatcher.dispatch(
      {
        plugin: name,
        function: handler.function,
        arguments: [floriaEvent as unknown as Value],
        site: { entity: sup.vertex },
        event: floriaEvent,
      },
      hostFunctions({ reader: store, dispatcher, writer }),
    );
  }

  private async registerHandlerPlugin(name: string, path: string): Promise<void> {
    const content = await readFile(path);
    this.registered.add(name);
    this.s.plugins.register({
      id: { kind: 'plugin', directory: ['handlers'], name },
      metadata: {},
      classes: [],
      pluginKind: path.endsWith('.wasm') ? 'wasm' : 'typescript',
      digest: `sha256:${createHash('sha256').update(content).digest('hex')}`,
      location: path,
      grants: ['log', 'get-entity', 'query', 'change-graph'],
    });
  }
}

export function handlersOf(vertex: Vertex, sources: HandlerSources): Record<string, Handler[]> {
  const interfaces = propertyValue(vertex, 'tosca:interfaces');
  const handlers: Record<string, Handler[]> = {};
  const add = (event: string, handler: Handler | undefined) => {
    if (!handler) return;
    const list = handlers[event] ?? [];
    handlers[event] = list;
    if (
      !list.some((h) => h.path === handler.path && h.function === handler.function && !h.condition)
    ) {
      list.push(handler);
    }
  };
  // `INTERFACE.NAME`: a notification (or an operation) of one of the node's interfaces.
  const lookup = (name: string): Handler | undefined => {
    const [iface, op] = name.split('.');
    const definition = isMap(interfaces) && iface ? interfaces[iface] : undefined;
    if (!isMap(definition) || !op) return undefined;
    const n = [definition.notifications, definition.operations]
      .map((group) => (isMap(group) ? group[op] : undefined))
      .find(isMap);
    const impl = n?.implementation;
    const primary = isMap(impl) ? impl.primary : undefined;
    const file = isMap(primary) ? (primary.path ?? primary.file) : undefined;
    if (typeof file !== 'string') return undefined;
    // A plugin's function is the notification's name, or its `function` input.
    const fn = isMap(n?.inputs) ? literalString(n.inputs.function) : undefined;
    const path = isAbsolute(file) ? file : join(sources.baseDir, file);
    return { path, function: fn ?? op };
  };
  const events = isMap(interfaces) ? interfaces.events : undefined;
  const notifications = isMap(events) ? events.notifications : undefined;
  for (const event of Object.keys(isMap(notifications) ? notifications : {})) {
    add(event, lookup(`events.${event}`));
  }
  const template = vertex.template?.name;
  for (const trigger of sources.triggers) {
    if (!template || !trigger.targets.includes(template)) continue;
    for (const operation of trigger.operations) {
      const handler = lookup(operation);
      if (handler)
        add(
          trigger.event,
          trigger.condition ? { ...handler, condition: trigger.condition } : handler,
        );
    }
  }
  return handlers;
}

/** A string input, whether stored as a value or as a literal expression. */
function literalString(v: Value | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (isMap(v) && v.kind === 'literal' && typeof v.value === 'string') return v.value;
  return undefined;
}
