#!/usr/bin/env node
// `khutulun-top --socket PATH`: the terminal dashboard against an agent's API socket, without
// the CLI (tests and development use it; users run `khutulun top`).
import { ApiClient } from '@khutulun/api';
import { unixSocketFetch } from '@khutulun/api/node';
import { runTop } from '../lib/index.js';

const at = process.argv.indexOf('--socket');
const socket = at >= 0 ? process.argv[at + 1] : undefined;
if (!socket) {
  process.stderr.write('usage: khutulun-top --socket PATH\n');
  process.exit(2);
}
await runTop({ api: new ApiClient({ fetch: unixSocketFetch(socket) }) });
process.exit(0);
