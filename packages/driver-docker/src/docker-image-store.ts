/**
 * The image store of `ArchiveImages` on Docker: what "import once per digest, remove with the
 * last user" needs from the daemon.
 */
import type { ImageStore } from '@khutulun/driver-container';
import type { DockerEngine } from './docker-engine.js';
import { ociAsDockerArchive } from './oci-archive.js';

/** The image store of `ArchiveImages` on Docker: import, load and tag, remove unless used. */
export function dockerImageStore(engine: DockerEngine): ImageStore {
  return {
    exists: async (reference) => (await engine.imageId(reference)) !== undefined,
    async put(archive, reference) {
      if (archive.format === 'rootfs') return engine.importImage(archive.file, reference);
      const before = new Set(await engine.imageTags());
      let loaded: string[];
      if (archive.format === 'oci-archive') {
        const converted = await ociAsDockerArchive(archive.file);
        try {
          loaded = await engine.loadImage(converted.stream);
        } finally {
          await converted.cleanup();
        }
      } else loaded = await engine.loadImage(archive.file);
      const source = loaded[0];
      if (!source) throw new Error(`docker load ${archive.file} reported no image`);
      await engine.tagImage(source, reference);
      // Only `reference` names it: the tags the archive brought along go, unless they were there.
      for (const name of loaded)
        if (!name.startsWith('sha256:') && name !== reference && !before.has(name))
          await engine.removeImage(name);
    },
    async removeUnlessUsed(reference) {
      const users = await engine.listContainers({ ancestor: [reference] });
      if (users.length) return false;
      return engine.removeImage(reference);
    },
  };
}
