/** Test images built from files (never pulled), for tests and benchmarks. */
export {
  BUSYBOX,
  busyboxRootfs,
  busyboxRootfsVariant,
  imageCacheDirectory,
} from './testing/images.js';
