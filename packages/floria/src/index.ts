/** Floria: the graph data system (classes, templates, vertexes, first-class edges, expressions, events) and the store contract. */
export type * from './dispatch.js';
export * from './model.js';
export type * from './store.js';
