/**
 * The container spec the OCI kinds (`podman`, `docker`) share, and its mapping from the
 * profile's `Container` and `Pod` node types. The spec's properties are plain JSON values (the
 * agent stores them), in TOSCA's snake_case like every kind's.
 */
import type {
  KindMapping,
  NodeArtifact,
  Problem,
  WorkloadNode,
  WorkloadSpec,
} from '@khutulun/driver';
import type { Value } from '@khutulun/floria';

/** The profile's name as it appears in compiled class names. */
export const CORE_PROFILE = 'io.khutulun.core';
/** The node type every OCI container is in. */
export const CONTAINER_TYPE = `node:${CORE_PROFILE}/Container`;
/** A pod: containers sharing one network namespace, its ports published on the pod. */
export const POD_TYPE = `node:${CORE_PROFILE}/Pod`;
/** The relationship of a container to its pod. */
export const IN_POD_TYPE = `relationship:${CORE_PROFILE}/InPod`;
/** The artifact types of images: a root file system tarball, an OCI archive, a docker-archive. */
export const IMAGE_ARTIFACT_TYPES = {
  rootfs: `artifact:${CORE_PROFILE}/RootfsArchive`,
  'oci-archive': `artifact:${CORE_PROFILE}/OciArchive`,
  'docker-archive': `artifact:${CORE_PROFILE}/DockerArchive`,
} as const;

/** How an image archive is laid out. */
export type ImageFormat = keyof typeof IMAGE_ARTIFACT_TYPES;

/** An image to import from a file (once per digest), instead of pulling from a registry. */
export interface ImageArchive {
  file: string;
  format: ImageFormat;
}

/** A container's or pod's spec properties (`WorkloadSpec.properties` of the OCI kinds). */
export interface ContainerProperties {
  /** `container`, or `pod` (the pod's infra container, holding the network namespace). */
  type: 'container' | 'pod';
  /**
   * The image reference in the engine's store. With `image_archive`, the reference the
   * archive is imported as (default `localhost/khutulun/<sha256 of the file>`).
   */
  image?: string;
  image_archive?: ImageArchive;
  entrypoint?: string[];
  command?: string[];
  environment: Record<string, string>;
  user?: string;
  working_directory?: string;
  hostname?: string;
  /** The signal `stop` sends first (default SIGTERM). */
  stop_signal?: string;
  /** The OCI runtime (e.g. `kata-runtime` for Kata Containers); default the engine's. */
  runtime?: string;
  /** For a container in a pod: the pod workload's name in the same service. */
  pod?: string;
}

/** The engine a Container node asks for (its `engine` property; default podman). */
export function engineOf(node: WorkloadNode): string {
  const engine = node.properties.engine;
  return typeof engine === 'string' ? engine : 'podman';
}

/**
 * Maps a `Container` or `Pod` node to the container spec properties. The image comes from the
 * node's `image` property, or from an image artifact (the artifact named `image`, else the
 * only image artifact), imported by the driver.
 */
export function mapContainer(node: WorkloadNode): KindMapping {
  const problems: Problem[] = [];
  const p = node.properties;
  if (node.types.includes(POD_TYPE)) {
    const out: ContainerProperties = { type: 'pod', environment: {} };
    if (typeof p.hostname === 'string') out.hostname = p.hostname;
    return { properties: out as unknown as Record<string, Value>, problems };
  }
  const out: ContainerProperties = { type: 'container', environment: stringMap(p.environment) };
  const archive = imageArchiveOf(node.artifacts);
  if (archive) out.image_archive = archive;
  if (typeof p.image === 'string' && p.image) out.image = p.image;
  if (!out.image && !out.image_archive) {
    problems.push({
      path: ['image'],
      message:
        'a container needs an image: the `image` property (an image in the engine) or an image artifact (RootfsArchive, OciArchive or DockerArchive)',
    });
  }
  for (const name of ['entrypoint', 'command'] as const) {
    const v = p[name];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) out[name] = v.map(String);
    else problems.push({ path: [name], message: `${name} must be a list of strings` });
  }
  for (const name of ['user', 'working_directory', 'hostname', 'stop_signal', 'runtime'] as const) {
    const v = p[name];
    if (typeof v === 'string' && v) out[name] = v;
    else if (typeof v === 'number') out[name] = String(v);
  }
  const pod = node.relations.find((r) => r.types.includes(IN_POD_TYPE));
  if (pod) out.pod = pod.target;
  return { properties: out as unknown as Record<string, Value>, problems };
}

/** The image artifact of a node: the one named `image`, else the only one of an image type. */
function imageArchiveOf(artifacts: Record<string, NodeArtifact>): ImageArchive | undefined {
  const formatOf = (a: NodeArtifact): ImageFormat | undefined =>
    (Object.keys(IMAGE_ARTIFACT_TYPES) as ImageFormat[]).find((f) =>
      a.types.includes(IMAGE_ARTIFACT_TYPES[f]),
    );
  const named = artifacts.image;
  const candidates = named ? [named] : Object.values(artifacts).filter((a) => formatOf(a));
  const artifact = candidates.length === 1 ? candidates[0] : undefined;
  const format = artifact ? formatOf(artifact) : undefined;
  return artifact && format ? { file: artifact.file, format } : undefined;
}

/**
 * A spec's container properties, read back (the driver's side). Numbers and booleans in the
 * environment are passed as their strings.
 */
export function containerProperties(spec: WorkloadSpec): ContainerProperties {
  const p = spec.properties as unknown as ContainerProperties;
  return { ...p, environment: stringMap(p.environment as unknown as Value) };
}

function stringMap(v: Value | undefined): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || x === undefined) continue;
    out[k] = typeof x === 'object' ? JSON.stringify(x) : String(x);
  }
  return out;
}
