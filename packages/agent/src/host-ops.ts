/**
 * Host operations: in a cluster, each workload's driver operations run on its owner's agent.
 * The agent running a service's lifecycle (deploy, delete, replacement) asks the owner's
 * agent to reserve a workload's ports, start it (until ready), stop it, or release what the
 * service holds on that host, over the cluster's NATS (only members hold its credentials).
 *
 * Protocol, JSON messages:
 * - request, to `khutulun.<cluster>.ops.<host>`: `{ op, args, reply }`;
 * - answers, to `reply`, in order: `{ type: "accepted" }` at once, any number of
 *   `{ type: "progress", progress }`, then `{ type: "done", result }` or
 *   `{ type: "error", error: { code, status, message, details } }`;
 * - a message to `<reply>.cancel` (the requester gave up) aborts the operation.
 *
 * A host that does not accept within 10 s is unreachable (503 `host-unreachable`); one that
 * is declared lost while an operation runs fails it at once (`host-lost`).
 */
import { randomUUID } from 'node:crypto';
import type { DeployProgress } from '@khutulun/api';
import type { Cluster } from '@khutulun/cluster';
import type { Value } from '@khutulun/floria';
import { DeployError, isAgentError } from './agent-error.js';

/** How long a host has to accept an operation. */
const ACCEPT_TIMEOUT_MS = 10_000;

type OpMessage =
  | { type: 'accepted' }
  | { type: 'progress'; progress: DeployProgress }
  | { type: 'done'; result: Value }
  | {
      type: 'error';
      error: { code: string; status: number; message: string; details?: Record<string, Value> };
    };

/** What an operation's handler is given besides its arguments. */
export interface OpContext {
  /** Aborted when the requester gives up. */
  signal: AbortSignal;
  /** Streams a deploy progress step back to the requester. */
  progress(p: DeployProgress): void;
}

/** Runs one operation on this host: `op` by name, with its JSON arguments. */
export type OpHandler = (op: string, args: Value, context: OpContext) => Promise<Value>;

/** The subject a host takes operations on. */
export function opsSubject(base: string, host: string): string {
  return `${base}.ops.${host}`;
}

/** Serves this host's operations with `handle`. Returns the function that stops serving. */
export function serveHostOps(
  nats: Cluster['nats'],
  base: string,
  host: string,
  handle: OpHandler,
): () => void {
  const subscription = nats.subscribe(opsSubject(base, host), {
    callback: (error, message) => {
      if (error) return;
      let request: { op: string; args: Value; reply: string };
      try {
        request = message.json();
      } catch {
        return;
      }
      const send = (m: OpMessage) => nats.publish(request.reply, JSON.stringify(m));
      const abort = new AbortController();
      const cancelled = nats.subscribe(`${request.reply}.cancel`, {
        max: 1,
        callback: () => abort.abort(new Error('the requester gave up')),
      });
      send({ type: 'accepted' });
      handle(request.op, request.args, {
        signal: abort.signal,
        progress: (progress) => send({ type: 'progress', progress }),
      })
        .then((result) => send({ type: 'done', result: result ?? null }))
        .catch((e: unknown) => send({ type: 'error', error: errorFields(e) }))
        .finally(() => cancelled.unsubscribe());
    },
  });
  return () => subscription.unsubscribe();
}

/** How a call ends besides its answer. */
export interface CallOptions {
  signal?: AbortSignal;
  progress?: (p: DeployProgress) => void;
  /** Resolves if the host is declared lost meanwhile: the call fails at once. */
  lost?: Promise<unknown>;
}

/**
 * Runs `op` on `host`'s agent and resolves with its result; rejects with the owner's error
 * (an agent error, rebuilt with its code, status and details), `host-unreachable` (503) if
 * it does not accept in time, or `host-lost` (503) if the host is declared lost meanwhile.
 */
export function callHostOp(
  nats: Cluster['nats'],
  base: string,
  host: string,
  op: string,
  args: Value,
  options: CallOptions = {},
): Promise<Value> {
  const reply = `${base}.opreply.${randomUUID()}`;
  return new Promise<Value>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(acceptTimer);
      subscription.unsubscribe();
      options.signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const fail = (code: string, message: string) =>
      finish(() => reject(new DeployError({ code, status: 503, message, details: { host, op } })));
    const onAbort = () => {
      nats.publish(`${reply}.cancel`, '');
      finish(() => reject(options.signal?.reason ?? new Error('aborted')));
    };
    const subscription = nats.subscribe(reply, {
      callback: (error, message) => {
        if (error) return;
        let m: OpMessage;
        try {
          m = message.json<OpMessage>();
        } catch {
          return;
        }
        if (m.type === 'accepted') clearTimeout(acceptTimer);
        else if (m.type === 'progress') options.progress?.(m.progress);
        else if (m.type === 'done') finish(() => resolve(m.result));
        else finish(() => reject(new DeployError(m.error)));
      },
    });
    const acceptTimer = setTimeout(
      () => fail('host-unreachable', `the agent of host ${host} did not answer (${op})`),
      ACCEPT_TIMEOUT_MS,
    );
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    void options.lost?.then(() => fail('host-lost', `host ${host} was declared lost during ${op}`));
    nats.publish(opsSubject(base, host), JSON.stringify({ op, args, reply }));
  });
}

/**
 * An operation's failure as a requester over the bus receives it: an agent error as it is,
 * anything else as `deploy-failed` (500) with its message. For an operation run here, so that
 * it fails the same way wherever it ran.
 */
export function opError(error: unknown): unknown {
  return isAgentError(error) ? error : new DeployError({ ...errorFields(error), cause: error });
}

function errorFields(error: unknown): {
  code: string;
  status: number;
  message: string;
  details?: Record<string, Value>;
} {
  if (isAgentError(error)) {
    return {
      code: error.code,
      status: error.status,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
    };
  }
  return { code: 'deploy-failed', status: 500, message: (error as Error).message };
}
