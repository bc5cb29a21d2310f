// @khutulun/plugin-sdk: write Khutulun plugin functions in AssemblyScript.
//
//   import { Call, Value, handle } from '@khutulun/plugin-sdk';
//   export function add(): i32 {
//     return handle((call: Call): Value =>
//       Value.ofNumber(call.arg(0).asNumber() + call.arg(1).asNumber()));
//   }
//
// Every exported function is one plugin function (Extism export: no parameters, returns i32).
// See packages/plugins/PROTOCOL.md for the wire protocol this implements.

import { khutulun_call, loadString, readInput, setError, setOutput, storeString } from './kernel';
import { Value } from './value';

export { Value, ValueKind } from './value';

let pendingError: string | null = null;

/** One call: the function name, its arguments, the call site and (for handlers) the event. */
export class Call {
  constructor(
    /** The plugin name the host registered this module under. */
    public plugin: string,
    /** The function being called. */
    public fn: string,
    /** The argument values (for a lazy call, the argument expressions as values). */
    public args: Value,
    /** Whether the arguments are unevaluated expressions. */
    public lazy: bool,
    /** The call site: `{ entity: Id, path?: string[] }`. */
    public site: Value,
    /** The event being handled (a Floria event), or the null value. */
    public event: Value,
  ) {}

  /** The argument at `index`, or the null value when absent. */
  arg(index: i32): Value {
    return this.args.at(index);
  }

  get argCount(): i32 {
    return this.args.length;
  }

  /** The ID of the entity the call is about: `{ kind, directory, name }`. */
  get entity(): Value {
    return this.site.get('entity');
  }

  /** Parses the call envelope; `null` if it is malformed. */
  static parse(text: string): Call | null {
    const envelope = Value.parse(text);
    if (envelope === null) return null;
    return new Call(
      envelope.get('plugin').asString(),
      envelope.get('function').asString(),
      envelope.get('arguments'),
      envelope.get('lazy').asBool(),
      envelope.get('site'),
      envelope.get('event'),
    );
  }
}

/**
 * Runs a plugin function: parses the call, runs `body`, and returns its value to the host,
 * or the error set with `fail`. Return its result from the exported function.
 */
export function handle(body: (call: Call) => Value): i32 {
  const call = Call.parse(readInput());
  if (call === null) {
    setError('malformed call envelope');
    return 1;
  }
  const result = body(call);
  const error = pendingError;
  if (error !== null) {
    pendingError = null;
    setError(error);
    return 1;
  }
  setOutput(result.toJSON());
  return 0;
}

/** Fails the current call with `message` (return its result from the body). */
export function fail(message: string): Value {
  pendingError = message;
  return Value.ofNull();
}

/**
 * The host functions (each needs its grant: `log`, `get-entity`, `evaluate`, `query`,
 * `change-graph`). A refused or failed call returns null (or false) and leaves the reason in
 * `Host.lastError`; the host reports a call that fails after a refusal as DENIED.
 */
export class Host {
  /** The last host-function error message, or null. */
  static lastError: string | null = null;
  /** The last host-function error code (`DENIED`, `FAILED`, ...), or null. */
  static lastErrorCode: string | null = null;

  /** The raw gateway: `{ function, args }` in, the value out (null on error). */
  static call(fn: string, args: Value): Value | null {
    const request = Value.newMap().set('function', Value.ofString(fn)).set('args', args);
    const response = Value.parse(loadString(khutulun_call(storeString(request.toJSON()))));
    if (response === null) {
      Host.lastError = 'malformed host response';
      Host.lastErrorCode = 'PROTOCOL';
      return null;
    }
    if (response.has('error')) {
      const error = response.get('error');
      Host.lastError = error.get('message').asString();
      Host.lastErrorCode = error.get('code').asString();
      return null;
    }
    Host.lastError = null;
    Host.lastErrorCode = null;
    return response.get('value');
  }

  /** Logs through the host (`debug`, `info`, `warn`, `error`). */
  static log(level: string, message: string): bool {
    const args = Value.newMap()
      .set('level', Value.ofString(level))
      .set('message', Value.ofString(message));
    return Host.call('log', args) !== null;
  }

  /** The entity with this ID (a Floria entity as a value), or null if absent or refused. */
  static getEntity(id: Value): Value | null {
    const value = Host.call('get-entity', Value.newMap().set('id', id));
    return value === null || value.isNull ? null : value;
  }

  /** Evaluates a Floria expression at `site` (the current call site if null). */
  static evaluate(expression: Value, site: Value | null = null): Value | null {
    const args = Value.newMap().set('expression', expression);
    if (site !== null) args.set('site', site);
    return Host.call('evaluate', args);
  }

  /** Entities matching a Floria query (a list), or null. */
  static query(query: Value): Value | null {
    return Host.call('query', Value.newMap().set('query', query));
  }

  /** Follows edges from a vertex (Floria traverse options); a list of steps, or null. */
  static traverse(options: Value): Value | null {
    return Host.call('traverse', Value.newMap().set('options', options));
  }

  /** Creates or replaces an entity (event handlers and instantiation). */
  static put(entity: Value): bool {
    return Host.call('put', Value.newMap().set('entity', entity)) !== null;
  }

  /** Deletes an entity; whether it existed (false also on error). */
  static delete(id: Value): bool {
    const value = Host.call('delete', Value.newMap().set('id', id));
    return value !== null && value.asBool();
  }

  /** Emits a custom event about `id`. */
  static emit(type: string, id: Value, data: Value | null = null): bool {
    const event = Value.newMap().set('type', Value.ofString(type)).set('id', id);
    if (data !== null) event.set('data', data);
    return Host.call('emit', Value.newMap().set('event', event)) !== null;
  }
}

/** An entity ID value: `{ kind, directory, name }`. */
export function entityId(kind: string, directory: Array<string>, name: string): Value {
  const dir = Value.newList();
  for (let i = 0; i < directory.length; i++) dir.push(Value.ofString(directory[i]));
  return Value.newMap()
    .set('kind', Value.ofString(kind))
    .set('directory', dir)
    .set('name', Value.ofString(name));
}

/** AssemblyScript's `abort` (selected by the SDK's asconfig): report the message and trap. */
export function abort(message: string | null, file: string | null, line: u32, column: u32): void {
  setError(
    'abort: ' +
      (message === null ? '' : message) +
      ' at ' +
      (file === null ? '?' : file) +
      ':' +
      line.toString() +
      ':' +
      column.toString(),
  );
  unreachable();
}
