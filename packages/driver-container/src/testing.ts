/** Test images built from files (never pulled) and loopback TCP helpers, for tests and benchmarks. */
export {
  BUSYBOX,
  busyboxRootfs,
  busyboxRootfsVariant,
  imageCacheDirectory,
} from './testing/images.js';
export { accepts, freePort, waitForTcp } from './testing/tcp.js';
