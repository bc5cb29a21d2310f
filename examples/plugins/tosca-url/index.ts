// Example: a custom TOSCA function as a Wasm plugin. TOSCA declares it with
//
//   functions:
//     url:
//       signatures:
//         - arguments: [{ type: string }, { type: integer }, { type: string }]
//           result: { type: string }
//           implementation: tosca-url.wasm
//
// and `$url: [host, port, path]` then compiles to a call of plugin `tosca-url`, function `url`
// (see service.yaml beside this file).
import { Call, fail, handle, Value, ValueKind } from '@khutulun/plugin-sdk';

/** `url(host, port, path)`: `http://host:port/path`. */
export function url(): i32 {
  return handle((call: Call): Value => {
    if (call.argCount !== 3) return fail('url needs 3 arguments: host, port, path');
    const host = call.arg(0);
    const port = call.arg(1);
    const path = call.arg(2);
    if (host.kind !== ValueKind.String || host.asString().length === 0) {
      return fail('url: host must be a non-empty string');
    }
    if (port.kind !== ValueKind.Number) return fail('url: port must be a number');
    let p = path.asString();
    if (!p.startsWith('/')) p = '/' + p;
    return Value.ofString('http://' + host.asString() + ':' + port.toJSON() + p);
  });
}
