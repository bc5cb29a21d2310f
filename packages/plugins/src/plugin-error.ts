/**
 * The one runtime error of the plugin host. It is branded (a registered symbol) rather than
 * recognised by `instanceof`, because plugin errors cross worker, process and package-copy
 * boundaries; use {@link isPluginError}.
 */
import type { CallSite } from '@khutulun/floria';

/** The brand every `PluginError` carries (a registered symbol: equal across package copies). */
export const PLUGIN_ERROR: unique symbol = Symbol.for('khutulun.plugin-error');

/**
 * Why a plugin call failed.
 * - `FAILED`: the plugin itself reported an error (its normal way to refuse a call).
 * - `TIMEOUT`: the call ran past its time limit; the Wasm worker or process was killed.
 * - `TRAP`: the Wasm module trapped (unreachable, out-of-bounds access, abort).
 * - `OUT_OF_MEMORY`: the module hit its memory limit.
 * - `CRASHED`: the executable died (or was killed) while the call was in flight.
 * - `DENIED`: the plugin called a host function it was not granted.
 * - `NOT_FOUND`: no such plugin registered, or the plugin has no such function.
 * - `DIGEST_MISMATCH`: the content does not match the registered `sha256:` digest.
 * - `LOAD_FAILED`: the content could not be loaded (bad module, missing file).
 * - `PROTOCOL`: the plugin answered something the wire protocol does not allow.
 * - `CLOSED`: the host was closed.
 */
export type PluginErrorCode = (typeof PLUGIN_ERROR_CODES)[number];

const PLUGIN_ERROR_CODES = [
  'FAILED',
  'TIMEOUT',
  'TRAP',
  'OUT_OF_MEMORY',
  'CRASHED',
  'DENIED',
  'NOT_FOUND',
  'DIGEST_MISMATCH',
  'LOAD_FAILED',
  'PROTOCOL',
  'CLOSED',
] as const;

/** The error as plain data (what `JSON.stringify` gives), e.g. for the agent's API. */
export interface PluginErrorJson {
  name: 'PluginError';
  code: PluginErrorCode;
  message: string;
  plugin: string;
  function?: string;
  site?: CallSite;
  hostFunction?: string;
}

/** Structured details of a {@link PluginError}. */
export interface PluginErrorDetails {
  code: PluginErrorCode;
  plugin: string;
  /** The plugin function being called, when the failure belongs to a call. */
  function?: string;
  /** Where the call happened. */
  site?: CallSite;
  /** For `DENIED`: the host function that was refused. */
  hostFunction?: string;
  cause?: unknown;
}

/** A failed plugin call or load, naming the plugin, the function and the call site. */
export class PluginError extends Error {
  readonly [PLUGIN_ERROR] = true;
  readonly code: PluginErrorCode;
  readonly plugin: string;
  readonly function: string | undefined;
  readonly site: CallSite | undefined;
  readonly hostFunction: string | undefined;

  constructor(message: string, details: PluginErrorDetails) {
    super(`${label(details)}: ${message}`, { cause: details.cause });
    this.name = 'PluginError';
    this.code = details.code;
    this.plugin = details.plugin;
    this.function = details.function;
    this.site = details.site;
    this.hostFunction = details.hostFunction;
  }

  /** Plain data that `isPluginError` still recognises after a JSON round trip. */
  toJSON(): PluginErrorJson {
    const json: PluginErrorJson = {
      name: 'PluginError',
      code: this.code,
      message: this.message,
      plugin: this.plugin,
    };
    if (this.function !== undefined) json.function = this.function;
    if (this.site !== undefined) json.site = this.site;
    if (this.hostFunction !== undefined) json.hostFunction = this.hostFunction;
    return json;
  }
}

/**
 * Whether `error` is a {@link PluginError}: by its brand (across realms and package copies),
 * or, for one that crossed a process boundary as JSON, by its plain-data shape.
 */
export function isPluginError(error: unknown): error is PluginError | PluginErrorJson {
  if (typeof error !== 'object' || error === null) return false;
  if (PLUGIN_ERROR in error) return true;
  const e = error as Partial<Record<keyof PluginErrorJson, unknown>>;
  return (
    e.name === 'PluginError' &&
    typeof e.message === 'string' &&
    typeof e.plugin === 'string' &&
    (PLUGIN_ERROR_CODES as readonly unknown[]).includes(e.code)
  );
}

function label(details: PluginErrorDetails): string {
  const fn =
    details.function === undefined ? details.plugin : `${details.plugin}:${details.function}`;
  const site = details.site ? ` at ${siteText(details.site)}` : '';
  return `plugin ${fn}${site} [${details.code}]`;
}

/** `vertex /services/hello/web#port`: a call site as people read it. */
export function siteText(site: CallSite): string {
  const { kind, directory, name } = site.entity;
  const path = site.path?.length ? `#${site.path.join('.')}` : '';
  return `${kind} /${[...directory, name].join('/')}${path}`;
}
