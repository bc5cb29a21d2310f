/** The container conformance suite (vitest), run by each OCI engine's driver tests. */
export {
  accepts,
  type ContainerDriverConformance,
  describeContainerDriverConformance,
  freePort,
  waitForTcp,
} from './describe-container-driver-conformance.js';
