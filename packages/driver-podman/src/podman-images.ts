/**
 * Podman's side of driver-container's `ArchiveImages`: whether an image is in the store,
 * putting an archive there (a rootfs tarball by `images/import`, an OCI or docker archive by
 * `images/load` and a tag), and removing an image unless a container uses it.
 */
import { createReadStream } from 'node:fs';
import type { ImageArchive, ImageStore } from '@khutulun/driver-container';
import { errorMessage, type LibpodClient } from './libpod-client.js';

/** `repo:tag` split at the tag's colon (not a registry port's). */
export function splitReference(reference: string): [string, string] {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  return colon > slash
    ? [reference.slice(0, colon), reference.slice(colon + 1)]
    : [reference, 'latest'];
}

/** Whether the store holds an image. */
export async function imageExists(client: LibpodClient, reference: string): Promise<boolean> {
  return (
    (await client.call('GET', `/images/${encodeURIComponent(reference)}/exists`)).status === 204
  );
}

/** Every image name (`repo:tag`) in the store. */
async function names(client: LibpodClient): Promise<Set<string>> {
  const res = await client.call<{ Names?: string[] }[]>('GET', '/images/json');
  return new Set(res.status === 200 ? (res.body ?? []).flatMap((i) => i.Names ?? []) : []);
}

/** Podman's image store for `ArchiveImages`. */
export function podmanImageStore(client: LibpodClient): ImageStore {
  return {
    exists: (reference) => imageExists(client, reference),
    async put(archive: ImageArchive, reference: string) {
      if (archive.format === 'rootfs') {
        const res = await client.call('POST', '/images/import', {
          query: { reference },
          stream: createReadStream(archive.file),
        });
        if (res.status !== 200) throw new Error(`import: ${errorMessage(res.body)}`);
        return;
      }
      // The names the archive carries are kept only if the store had them before: the image
      // is then known by Khutulun's reference alone, and goes with its last user.
      const before = await names(client);
      const res = await client.call<{ Names?: string[] }>('POST', '/images/load', {
        stream: createReadStream(archive.file),
      });
      if (res.status !== 200) throw new Error(`load: ${errorMessage(res.body)}`);
      const loaded = res.body?.Names ?? [];
      const first = loaded[0];
      if (!first) throw new Error('load: the archive holds no image');
      const [repo, tag] = splitReference(reference);
      const tagged = await client.call('POST', `/images/${encodeURIComponent(first)}/tag`, {
        query: { repo, tag },
      });
      if (tagged.status !== 201)
        throw new Error(`tag ${first} as ${reference}: ${errorMessage(tagged.body)}`);
      for (const name of loaded) {
        if (before.has(name) || name === reference || !name.includes(':')) continue;
        const [r, t] = splitReference(name);
        await client.call('POST', `/images/${encodeURIComponent(name)}/untag`, {
          query: { repo: r, tag: t },
        });
      }
    },
    async removeUnlessUsed(reference) {
      // Without force, libpod refuses (409) while any container uses the image.
      const res = await client.call('DELETE', `/images/${encodeURIComponent(reference)}`);
      return res.status === 200;
    },
  };
}
