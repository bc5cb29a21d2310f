/**
 * The Podman workload driver: OCI containers and pods through libpod's REST API (a
 * `podman system service` socket), exits from libpod's event stream, and the `podman` kind.
 */
export {
  guardLibpod,
  HttpLibpodClient,
  LIBPOD,
  type LibpodClient,
  LibpodError,
  type LibpodResponse,
  type Query,
} from './libpod-client.js';
export { PodmanDriver, type PodmanDriverOptions } from './podman-driver.js';
export {
  createPodmanKind,
  defaultSocketPath,
  ownSocketPath,
  type PodmanKindOptions,
  podmanKind,
} from './podman-kind.js';
export {
  type PodmanService,
  type PodmanServiceOptions,
  pingSocket,
  startPodmanService,
  storeFlags,
} from './podman-service.js';
