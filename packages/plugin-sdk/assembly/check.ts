// Compiles the SDK once on its own (the SDK's build:extra), so a broken SDK fails the build.
import { Call, handle, Value } from '@khutulun/plugin-sdk';

export function echo(): i32 {
  return handle((call: Call): Value => call.args);
}
