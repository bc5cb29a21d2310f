/** Driver contracts: the lifecycle of workloads and networks, and the errors drivers raise. */

export { diffSpecs } from './diff-specs.js';
export {
  DRIVER_ERROR,
  DriverError,
  type DriverErrorCode,
  type DriverErrorDetails,
  isDriverError,
  type Problem,
} from './driver-error.js';
export type { NetworkDriver, PortRequest, PortReservation } from './network-driver.js';
export { quote, quoteCommand } from './shell-quote.js';
export type {
  ExecOptions,
  ExecSession,
  LogChunk,
  LogOptions,
  Mount,
  PortBinding,
  PropertyDiff,
  Protocol,
  ResourceLimits,
  StopOptions,
  WorkloadDescription,
  WorkloadDiff,
  WorkloadDriver,
  WorkloadEvents,
  WorkloadExit,
  WorkloadFile,
  WorkloadKey,
  WorkloadListener,
  WorkloadRef,
  WorkloadSpec,
  WorkloadState,
  WorkloadStatus,
  WorkloadUsage,
} from './workload-driver.js';
export type {
  DriverContext,
  KindAvailability,
  KindMapping,
  NodeArtifact,
  NodeRelation,
  WorkloadKind,
  WorkloadNode,
} from './workload-kind.js';
