/** Bare-process workload driver: detached processes with a tiny shell supervisor each, exits by inotify. */
export { ProcessDriver, type ProcessDriverOptions } from './process-driver.js';
export { mapProcess, PROCESS_TYPE, processKind } from './process-kind.js';
export { portVariable } from './process-plan.js';
