/** The conformance suite every Floria store backend passes. */
export type { ConformanceOptions } from './describe-store-conformance.js';
export { describeStoreConformance } from './describe-store-conformance.js';
export {
  aClass,
  anEdge,
  anEdgeTemplate,
  aVertex,
  aVertexTemplate,
  collect,
  id,
} from './store-fixtures.js';
export type { BeforeTheCrash, StoreInChild } from './store-in-child.js';
export { expectCommitsFromAnotherProcess, killWriterMidTransaction } from './store-in-child.js';
