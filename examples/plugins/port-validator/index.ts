// Example: a validator. Floria evaluates a property's `validator` after its value is set; it
// must return true, or a string saying why the value is not valid. Used as
//   validator: { kind: 'call', plugin: 'port-validator', function: 'valid_port',
//                arguments: [<the value>, { kind: 'literal', value: { min: 1024 } }] }
import { Call, handle, Value, ValueKind } from '@khutulun/plugin-sdk';

/** `valid_port(value, { min?, max? })`: true for an integer port within [min, max]. */
export function valid_port(): i32 {
  return handle((call: Call): Value => {
    const value = call.arg(0);
    const options = call.arg(1);
    const min = options.get('min').kind === ValueKind.Number ? options.get('min').asNumber() : 1;
    const max =
      options.get('max').kind === ValueKind.Number ? options.get('max').asNumber() : 65535;
    if (value.kind !== ValueKind.Number) return Value.ofString('a port must be a number');
    const port = value.asNumber();
    if (port !== Math.floor(port)) return Value.ofString('a port must be an integer');
    if (port < min || port > max) {
      return Value.ofString(
        'port ' +
          value.toJSON() +
          ' is outside ' +
          Value.ofNumber(min).toJSON() +
          '..' +
          Value.ofNumber(max).toJSON(),
      );
    }
    return Value.ofBool(true);
  });
}
