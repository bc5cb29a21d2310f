import { openMemoryStore } from '@khutulun/store-memory';
import { describeFloriaScenarios } from './floria-scenarios.js';

describeFloriaScenarios('memory', { open: async () => openMemoryStore() });
