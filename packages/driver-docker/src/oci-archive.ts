/**
 * OCI archives for a daemon that loads only docker-archives (dockerd before 25 reads
 * `manifest.json` and nothing else). An OCI image layout already holds everything a
 * docker-archive needs (the config, with its `rootfs.diff_ids`, and the layers, compressed or
 * not), so the conversion only writes the `manifest.json` that points at them.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

/** The architecture name OCI uses for this machine. */
function ociArchitecture(): string {
  return (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' }[process.arch as string] ??
    process.arch
  );
}

function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex || !/^[a-z0-9]+$/.test(algorithm) || !/^[a-f0-9]+$/.test(hex))
    throw new Error(`bad digest ${digest}`);
  return join('blobs', algorithm, hex);
}

/**
 * An OCI archive as a docker-archive stream (for `POST /images/load`). The archive is unpacked
 * into a temporary directory, removed by `cleanup` once the daemon has read the stream.
 */
export async function ociAsDockerArchive(
  file: string,
): Promise<{ stream: Readable; cleanup(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'khutulun-oci-'));
  const cleanup = () => rm(directory, { recursive: true, force: true });
  try {
    await run('tar', ['-C', directory, '-xf', file]);
    const readJson = async (path: string) =>
      JSON.parse(await readFile(join(directory, path), 'utf8')) as Record<string, unknown>;
    let index = await readJson('index.json');
    let manifest: Record<string, unknown> | undefined;
    for (let depth = 0; depth < 3 && !manifest; depth++) {
      const descriptors = (index.manifests ?? []) as Descriptor[];
      const chosen =
        descriptors.find(
          (d) => d.platform?.os === 'linux' && d.platform.architecture === ociArchitecture(),
        ) ?? descriptors[0];
      if (!chosen) throw new Error(`${file}: index.json names no image`);
      const next = await readJson(blobPath(chosen.digest));
      if (INDEX_TYPES.has(String(chosen.mediaType ?? next.mediaType))) index = next;
      else manifest = next;
    }
    if (!manifest) throw new Error(`${file}: no image manifest within three index levels`);
    const config = manifest.config as Descriptor | undefined;
    const layers = (manifest.layers ?? []) as Descriptor[];
    if (!config) throw new Error(`${file}: the image manifest has no config`);
    const dockerManifest = [
      {
        Config: blobPath(config.digest),
        RepoTags: null,
        Layers: layers.map((l) => blobPath(l.digest)),
      },
    ];
    await writeFile(join(directory, 'manifest.json'), JSON.stringify(dockerManifest));
    const tar = spawn('tar', ['-C', directory, '-cf', '-', '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return { stream: tar.stdout, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
