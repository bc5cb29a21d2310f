/**
 * Khutulun's built-in plugins: the orchestration behaviour that ships as Wasm
 * (`@khutulun/plugins-builtin`'s khutulun.wasm: `restart_delay`, `place`), registered by
 * default so every deploy exercises the Wasm path. See README.md for the functions.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PluginEntity } from '@khutulun/floria';
import { contentDigest } from './content-digest.js';
import { PluginError } from './plugin-error.js';

/** The name the built-in Wasm plugin is registered and called under. */
export const BUILTIN_PLUGIN = 'khutulun';

/**
 * The built-in plugin entities (today one: `khutulun`, granted `log`), with their digests.
 * Throws a `LOAD_FAILED` PluginError if `@khutulun/plugins-builtin` has not been built.
 */
export function builtinPlugins(): PluginEntity[] {
  let location: string;
  let bytes: Uint8Array;
  try {
    location = createRequire(import.meta.url).resolve('@khutulun/plugins-builtin/khutulun.wasm');
    bytes = readFileSync(location);
  } catch (cause) {
    throw new PluginError('khutulun.wasm is missing: run `npm run build` (build:extra) first', {
      code: 'LOAD_FAILED',
      plugin: BUILTIN_PLUGIN,
      cause,
    });
  }
  return [
    {
      id: { kind: 'plugin', directory: ['khutulun'], name: BUILTIN_PLUGIN },
      metadata: { builtin: 'true' },
      classes: [],
      pluginKind: 'wasm',
      digest: contentDigest(bytes),
      location,
      grants: ['log'],
    },
  ];
}
