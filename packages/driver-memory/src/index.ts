/** The in-memory reference workload driver: passes the conformance suite, runs nothing, scripted by tests. */
export { MemoryDriver, type MemoryDriverOptions } from './memory-driver.js';
export {
  builtinExec,
  type MemoryExecAnswer,
  type MemoryExecHandler,
  type MemoryExecRequest,
  type MemoryExit,
  type MemoryFailure,
  MemoryHost,
  type MemoryHostListener,
  type MemoryOperation,
  type MemoryWorkload,
} from './memory-host.js';
export { type MemoryKind, type MemoryKindOptions, memoryKind } from './memory-kind.js';
