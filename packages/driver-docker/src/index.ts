/**
 * The Docker workload driver: OCI containers through the Docker Engine API (dockerode), exits
 * from `/events` with a resync after every reconnect, and the `docker` kind for the agent.
 */
export {
  DockerDriver,
  type DockerDriverOptions,
  defaultDockerSocket,
} from './docker-driver.js';
export {
  type ContainerCreateBody,
  type ContainerInfo,
  type ContainerSummary,
  type DockerEngine,
  dockerEngine,
  type ExecHandle,
  type ExecState,
} from './docker-engine.js';
export {
  createDockerKind,
  type DockerKindOptions,
  dockerKind,
  probeDocker,
} from './docker-kind.js';
