#!/usr/bin/env node
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Builds the example plugins (and checks the template project compiles) into build/:
// run by @khutulun/plugin-sdk's build:extra, so `npm run build` builds them from source.
import { main } from 'assemblyscript/asc';

const here = dirname(fileURLToPath(import.meta.url));
const sdkConfig = join(here, '..', '..', 'packages', 'plugin-sdk', 'asconfig.json');
// The template builds with its own asconfig.json (which extends the SDK's), as users will.
const examples = {
  'tosca-url': ['tosca-url/index.ts', sdkConfig],
  'restart-counter': ['restart-counter/index.ts', sdkConfig],
  'port-validator': ['port-validator/index.ts', sdkConfig],
  template: ['template/assembly/index.ts', join(here, 'template', 'asconfig.json')],
};
for (const [name, [source, config]] of Object.entries(examples)) {
  const { error, stderr } = await main(
    [join(here, source), '--config', config, '--outFile', join(here, 'build', `${name}.wasm`)],
    {},
  );
  if (error) {
    process.stderr.write(stderr.toString());
    console.error(`example ${name}: ${error.message}`);
    process.exit(1);
  }
}
console.log(`built ${Object.keys(examples).length} example plugins in ${join(here, 'build')}`);
