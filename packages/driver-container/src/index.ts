/** What the OCI container kinds share: the spec, its TOSCA mapping, names and labels. */
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
export { containerName, LABELS, workloadLabels } from './names.js';
