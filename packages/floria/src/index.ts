/** Floria: the graph data system (classes, templates, vertexes, first-class edges, expressions, events) and the store contract. */

export {
  BUILTIN_PLUGIN,
  builtinFunctions,
  idToValue,
  registerBuiltinFunctions,
} from './builtin-functions.js';
export {
  allClasses,
  classAncestors,
  type EntityLookup,
  entityIsInClass,
} from './class-ancestry.js';
export {
  directoryKey,
  isInDirectory,
  joinDirectory,
  parentDirectory,
  parseDirectory,
} from './directory.js';
export type * from './dispatch.js';
export {
  AccessDenied,
  EvaluationError,
  type FloriaErrorCode,
  type FloriaErrorShape,
  InstantiationError,
  InvalidId,
  isFloriaError,
  PermissionDenied,
  SerializationError,
  TargetNotFound,
  UnknownFunction,
} from './errors.js';
export { EventRouter, type EventRouterOptions, HANDLER_FAILED } from './event-router.js';
export { call, type EvaluationContext, evaluate, list, literal, map } from './expression.js';
export {
  type FunctionContext,
  FunctionRegistry,
  type PluginFunction,
  RoutingDispatcher,
} from './function-registry.js';
export { type HostFunctionsOptions, hostFunctions } from './host-functions.js';
export { idFromPath, idFromValue, idKey, isEntityKind, makeId, parseIdKey, sameId } from './id.js';
export { type InstantiateOptions, type InstantiationResult, instantiate } from './instantiate.js';
export * from './model.js';
export { ScopedStore } from './scoped-store.js';
export {
  deserialize,
  SERIALIZATION_FORMATS,
  type SerializationFormat,
  serialize,
} from './serialize.js';
export type * from './store.js';
export {
  type Problem,
  readOnlyChanges,
  type UpdateOptions,
  type UpdateResult,
  update,
} from './update.js';
export { isValue, valuesEqual } from './value.js';
