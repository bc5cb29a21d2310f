#!/usr/bin/env node
// `npm run bench -- NAME`: runs bench/NAME.mjs against the built packages.
// Each benchmark prints its figures and, as its last line, one JSON object.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
  .map((f) => f.slice(0, -4));
const [name, ...rest] = process.argv.slice(2);
if (!name || !existsSync(join(here, `${name}.mjs`))) {
  console.error(`usage: npm run bench -- NAME [ARGS...]\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const result = spawnSync(process.execPath, ['--expose-gc', join(here, `${name}.mjs`), ...rest], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
