import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@khutulun/store-sqlite';
import { afterAll } from 'vitest';
import { describeFloriaScenarios } from './floria-scenarios.js';

const directory = mkdtempSync(join(tmpdir(), 'floria-scenarios-'));
let files = 0;
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describeFloriaScenarios('sqlite', () => openSqliteStore(join(directory, `store-${++files}.db`)));
