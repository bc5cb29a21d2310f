// The one conformance suite, run against each plugin kind.
import { fileURLToPath } from 'node:url';
import { describePluginConformance } from './describe-plugin-conformance.js';

const fixture = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

describePluginConformance({
  kind: 'wasm',
  location: fixture('build/fixtures/conformance.wasm'),
  crashCode: 'TRAP',
  exhaust: { code: 'OUT_OF_MEMORY' },
});

describePluginConformance({
  kind: 'executable',
  location: fixture('fixtures/conformance-executable.mjs'),
  crashCode: 'CRASHED',
  // The fixture runs node with a 32 MiB heap: exhausting it kills the process.
  exhaust: { code: 'CRASHED' },
});

describePluginConformance({
  kind: 'typescript',
  location: fixture('fixtures/conformance-module.mjs'),
  crashCode: 'FAILED',
  exhaust: {
    skip: 'in-process modules share the host heap; a memory limit needs isolation (use Wasm)',
  },
});
