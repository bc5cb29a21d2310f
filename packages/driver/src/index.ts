/** Driver contracts: the lifecycle of workloads and networks, and the errors drivers raise. */
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
  PortBinding,
  Protocol,
  ReadyOptions,
  StopOptions,
  WorkloadDescription,
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
} from './workload-driver.js';
