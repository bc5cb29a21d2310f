// A Khutulun plugin: every exported function is a plugin function the host can call as
// `my-plugin:NAME`. Build with `npm run build`; register build/my-plugin.wasm as a
// PluginEntity (pluginKind 'wasm', its sha256 digest, the grants it needs).
import { Call, fail, Host, handle, Value, ValueKind } from '@khutulun/plugin-sdk';

/** `greet(name)`: a greeting for `name`, logged through the host (needs grant `log`). */
export function greet(): i32 {
  return handle((call: Call): Value => {
    const name = call.arg(0);
    if (name.kind !== ValueKind.String) return fail('greet needs a name (a string)');
    const greeting = 'Hello, ' + name.asString() + '!';
    Host.log('info', greeting);
    return Value.ofString(greeting);
  });
}

/** `describe_site()`: the name of the entity the call is about (needs grant `get-entity`). */
export function describe_site(): i32 {
  return handle((call: Call): Value => {
    const entity = Host.getEntity(call.entity);
    if (entity === null) return fail(Host.lastError !== null ? Host.lastError! : 'no such entity');
    return Value.newMap()
      .set('name', entity.path(['id', 'name']))
      .set('property', call.site.get('path'));
  });
}
