import { describeStoreConformance } from '@khutulun/store-conformance';
import { openMemoryStore } from './memory-store.js';

describeStoreConformance('memory', { open: async () => openMemoryStore() });
