/**
 * The wire protocol shared by Wasm and executable plugins (see PROTOCOL.md): the call
 * envelope a plugin receives, the host-function requests it may send back, and how those
 * requests are checked against the plugin's grants and carried out.
 */
import type {
  CallSite,
  Entity,
  Expression,
  FloriaEvent,
  FunctionCall,
  HostFunctionName,
  HostFunctions,
  Id,
  Value,
} from '@khutulun/floria';
import { PluginError } from './plugin-error.js';

/** What a plugin receives for one call (JSON). */
export interface CallEnvelope {
  plugin: string;
  function: string;
  arguments: Value[] | Expression[];
  lazy: boolean;
  site: CallSite;
  event?: FloriaEvent;
}

/** A host-function request from a plugin (JSON). */
export interface HostRequest {
  function: string;
  args?: { [key: string]: unknown };
}

/** The answer to a host-function request (JSON): a value, or an error. */
export type HostResponse =
  | { value: unknown }
  | { error: { code: string; message: string; hostFunction?: string } };

/** Which grant each wire host function needs. */
const GRANT_OF: Record<string, HostFunctionName> = {
  log: 'log',
  'get-entity': 'get-entity',
  evaluate: 'evaluate',
  query: 'query',
  traverse: 'query',
  put: 'change-graph',
  delete: 'change-graph',
  emit: 'change-graph',
};

/** The envelope for a call, as sent over the wire. */
export function envelopeOf(call: FunctionCall): CallEnvelope {
  const envelope: CallEnvelope = {
    plugin: call.plugin,
    function: call.function,
    arguments: call.arguments,
    lazy: call.lazy === true,
    site: call.site,
  };
  if (call.event) envelope.event = call.event;
  return envelope;
}

/**
 * The host functions a plugin may use during one call: `host`, narrowed to what `grants`
 * allow. A refused function (not granted, or refused by the host with Floria's
 * `permission-denied`) throws a `DENIED` {@link PluginError} naming it, and `onDenied`
 * learns of it (so a call the plugin then fails is reported as denied, whatever message the
 * plugin gave).
 */
export function grantedHostFunctions(
  host: HostFunctions,
  grants: ReadonlySet<string>,
  call: FunctionCall,
  onDenied: (error: PluginError) => void,
): HostFunctions {
  const deny = (fn: string, reason: string, cause?: unknown): PluginError => {
    const error = new PluginError(`host function '${fn}' ${reason}`, {
      code: 'DENIED',
      plugin: call.plugin,
      function: call.function,
      site: call.site,
      hostFunction: fn,
      cause,
    });
    onDenied(error);
    return error;
  };
  const check = (fn: string): void => {
    const grant = GRANT_OF[fn] ?? fn;
    if (grants.has(grant)) return;
    const granted = [...grants].join(', ') || 'none';
    throw deny(fn, `is not granted (needs grant '${grant}'; granted: ${granted})`);
  };
  // The host may refuse a granted function too (Floria allows no graph changes while it
  // evaluates a property): that is a denial as well, not a plugin failure.
  const refused = (fn: string) => (error: unknown) => {
    if ((error as { code?: unknown } | null)?.code !== 'permission-denied') throw error;
    throw deny(fn, `was refused by the host: ${(error as Error).message}`, error);
  };
  return {
    log(level, message) {
      check('log');
      host.log(level, message);
    },
    async getEntity(id) {
      check('get-entity');
      return host.getEntity(id).catch(refused('get-entity'));
    },
    async evaluate(expression, site) {
      check('evaluate');
      return host.evaluate(expression, site);
    },
    async query(query) {
      check('query');
      return host.query(query).catch(refused('query'));
    },
    async traverse(options) {
      check('traverse');
      return host.traverse(options).catch(refused('traverse'));
    },
    async put(entity) {
      check('put');
      return host.put(entity).catch(refused('put'));
    },
    async delete(id) {
      check('delete');
      return host.delete(id).catch(refused('delete'));
    },
    async emit(event) {
      check('emit');
      return host.emit(event).catch(refused('emit'));
    },
  };
}

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/**
 * Carries out one wire host-function request against (already granted) host functions.
 * Never throws: failures become `{ error }` responses for the plugin.
 */
export async function serveHostRequest(
  request: HostRequest,
  host: HostFunctions,
  site: CallSite,
): Promise<HostResponse> {
  const args = request.args ?? {};
  try {
    switch (request.function) {
      case 'log': {
        const level = String(args['level'] ?? 'info');
        host.log((LEVELS.has(level) ? level : 'info') as 'info', String(args['message'] ?? ''));
        return { value: null };
      }
      case 'get-entity':
        return { value: (await host.getEntity(args['id'] as Id)) ?? null };
      case 'evaluate':
        return {
          value: await host.evaluate(
            args['expression'] as Expression,
            (args['site'] as CallSite | undefined) ?? site,
          ),
        };
      case 'query':
        return { value: await host.query((args['query'] ?? {}) as object) };
      case 'traverse':
        return { value: await host.traverse(args['options'] as never) };
      case 'put':
        await host.put(args['entity'] as Entity);
        return { value: null };
      case 'delete':
        return { value: await host.delete(args['id'] as Id) };
      case 'emit':
        await host.emit(args['event'] as { type: string; id: Id; data?: Value });
        return { value: null };
      default:
        return {
          error: {
            code: 'NOT_FOUND',
            message: `no host function '${request.function}'`,
            hostFunction: request.function,
          },
        };
    }
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown; hostFunction?: unknown };
    return {
      error: {
        code: typeof e.code === 'string' ? e.code : 'FAILED',
        message: String(e.message ?? error),
        ...(typeof e.hostFunction === 'string' ? { hostFunction: e.hostFunction } : {}),
      },
    };
  }
}
