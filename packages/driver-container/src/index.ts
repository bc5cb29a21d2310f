/**
 * What the OCI container kinds share: the spec and its TOSCA mapping, names and labels, the
 * plan of a container and its equivalent command line, and the once-per-digest import of
 * image archives. The container conformance suite is in `./conformance`, test images in
 * `./testing`.
 */
export {
  type ContainerPlan,
  checkContainer,
  containerPort,
  planContainer,
  portVariable,
  withContainerCommand,
} from './container-plan.js';
export {
  CONTAINER_TYPE,
  CORE_PROFILE,
  type ContainerProperties,
  containerProperties,
  engineOf,
  IMAGE_ARTIFACT_TYPES,
  type ImageArchive,
  type ImageFormat,
  mapContainer,
  POD_TYPE,
} from './container-spec.js';
export {
  ARCHIVE_REPOSITORY,
  ArchiveImages,
  archiveReference,
  fileDigest,
  type ImageStore,
  isArchiveReference,
} from './image-archive.js';
export {
  containerName,
  isWorkloadOf,
  LABELS,
  ownerOf,
  removesVolumeWith,
  volumeLabels,
  workloadLabels,
} from './names.js';
export {
  type ContainerEngine,
  describeCommands,
  imageImportCommands,
  mountFlag,
  podCreateCommand,
  runCommand,
  volumeCreateCommand,
} from './run-command.js';
