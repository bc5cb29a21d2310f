/** In-memory Floria store. */
export { openMemoryStore } from './memory-store.js';
