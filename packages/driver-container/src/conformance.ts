/** The container conformance suite (vitest), run by each OCI engine's driver tests. */
export {
  type ContainerDriverConformance,
  describeContainerDriverConformance,
} from './describe-container-driver-conformance.js';
export { accepts, freePort, waitForTcp } from './testing/tcp.js';
