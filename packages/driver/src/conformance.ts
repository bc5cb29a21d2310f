/** The conformance suites of the driver contracts (vitest), for each driver's tests. */
export {
  describeNetworkDriverConformance,
  type NetworkDriverConformance,
} from './describe-network-driver-conformance.js';
export {
  type ConformanceCommands,
  describeWorkloadDriverConformance,
  POSIX_COMMANDS,
  type TalkingLines,
  type WorkloadDriverConformance,
} from './describe-workload-driver-conformance.js';
