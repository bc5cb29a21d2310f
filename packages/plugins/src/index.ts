/** Plugin host: Wasm (Extism), executable and in-process plugins behind one dispatch contract. */
export { BUILTIN_PLUGIN, builtinPlugins } from './builtin-plugins.js';
export { contentDigest } from './content-digest.js';
export type { ModuleCallContext, PluginFunction, PluginModule } from './module-plugin.js';
export {
  isPluginError,
  PLUGIN_ERROR,
  PluginError,
  type PluginErrorCode,
  type PluginErrorDetails,
  type PluginErrorJson,
  siteText,
} from './plugin-error.js';
export {
  createPluginHost,
  PluginHost,
  type PluginHostOptions,
} from './plugin-host.js';
export type { CallEnvelope, HostRequest, HostResponse } from './protocol.js';
