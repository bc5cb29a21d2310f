// Example: an event handler that changes the graph. Declared on a vertex (or template) as
//   eventHandlers: [{ events: ['exited'], plugin: 'restart-counter', function: 'on_exit' }]
// with grants ['get-entity', 'change-graph', 'log'], it counts the exits of a workload in its
// `restarts` property and, past `max_restarts` (default 3), marks it `state: "failed"` and
// emits a `gave-up` event.
import { Call, fail, Host, handle, Value, ValueKind } from '@khutulun/plugin-sdk';

export function on_exit(): i32 {
  return handle((call: Call): Value => {
    const id = call.event.get('id');
    const entity = Host.getEntity(id.isNull ? call.entity : id);
    if (entity === null) {
      const error = Host.lastError;
      return fail(error === null ? 'the entity is gone' : error);
    }
    const properties = entity.get('properties');
    const restarts = properties.path(['restarts', 'value']).asNumber() + 1;
    const maxValue = properties.path(['max_restarts', 'value']);
    const max = maxValue.kind === ValueKind.Number ? maxValue.asNumber() : 3;
    properties.set('restarts', Value.newMap().set('value', Value.ofNumber(restarts)));
    const gaveUp = restarts > max;
    if (gaveUp) properties.set('state', Value.newMap().set('value', Value.ofString('failed')));
    if (!Host.put(entity)) return fail(Host.lastError!);
    if (gaveUp) {
      Host.log('warn', 'giving up after ' + Value.ofNumber(restarts).toJSON() + ' exits');
      if (!Host.emit('gave-up', entity.get('id'), Value.ofNumber(restarts))) {
        return fail(Host.lastError!);
      }
    }
    return Value.ofNumber(restarts);
  });
}
