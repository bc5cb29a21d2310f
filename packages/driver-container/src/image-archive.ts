/**
 * Images without a registry: an image archive (root file system tarball, OCI archive,
 * docker-archive) is imported into the engine once per digest (the sha256 of the file) and
 * reused by every workload that names the same file content. An image Khutulun imported is
 * removed when the last container using it goes, and only then: the engine itself refuses to
 * remove an image any container (Khutulun's or anyone's) still uses.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ImageArchive } from './container-spec.js';

/** The repository every archive is imported into; the tag is the file's sha256. */
export const ARCHIVE_REPOSITORY = 'localhost/khutulun/archive';

/** The reference an archive with this digest is imported as (`localhost/khutulun/archive:<sha256>`). */
export function archiveReference(digest: string): string {
  return `${ARCHIVE_REPOSITORY}:${digest}`;
}

/** True for a reference `archiveReference` made (an image Khutulun imported and may remove). */
export function isArchiveReference(reference: string): boolean {
  return reference.startsWith(`${ARCHIVE_REPOSITORY}:`);
}

/** The sha256 of a file, hex, read as a stream. */
export async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What an engine does for `ArchiveImages`. */
export interface ImageStore {
  /** Whether the store holds `reference`. */
  exists(reference: string): Promise<boolean>;
  /** Imports (rootfs) or loads and tags (OCI, docker-archive) the archive as `reference`. */
  put(archive: ImageArchive, reference: string): Promise<void>;
  /**
   * Removes `reference` unless a container uses it; true if it was removed, false if it is
   * in use or already gone.
   */
  removeUnlessUsed(reference: string): Promise<boolean>;
}

/**
 * The once-per-digest import of image archives into one engine, and their removal when
 * unused. Work on one reference is serialised: an import and a removal of the same image
 * never overlap, and a container being created holds its image until `release`.
 */
export class ArchiveImages {
  readonly #store: ImageStore;
  /** Digests of files read (or being read), by path, size, modification time and inode. */
  readonly #digests = new Map<string, Promise<string>>();
  /** Per reference: the check-or-import in flight, which concurrent creates share. */
  readonly #ensuring = new Map<string, Promise<boolean>>();
  /** Per reference: the tail of its chain of operations, and how many creates hold it. */
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #holds = new Map<string, number>();

  constructor(store: ImageStore) {
    this.#store = store;
  }

  /** The digest of an archive file (memoised per path, size and modification time). */
  async digest(file: string): Promise<string> {
    const info = await stat(file);
    const key = `${file}\0${info.size}\0${info.mtimeMs}\0${info.ino}`;
    let digest = this.#digests.get(key);
    if (!digest) {
      digest = fileDigest(file);
      this.#digests.set(key, digest);
      digest.catch(() => this.#digests.delete(key));
    }
    return digest;
  }

  /** Runs `work` after every earlier operation on `reference`. */
  #serial<T>(reference: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(reference) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.#chains.set(reference, tail);
    void tail.then(() => {
      if (this.#chains.get(reference) === tail) this.#chains.delete(reference);
    });
    return next;
  }

  /**
   * Makes sure the archive is in the store and holds it for a create: resolves with its
   * reference and whether it was imported for this call (concurrent calls share one check
   * and import, and all see it). Call `release` once the container exists
   * (or its create failed).
   */
  async acquire(archive: ImageArchive): Promise<{ reference: string; imported: boolean }> {
    const reference = archiveReference(await this.digest(archive.file));
    this.#holds.set(reference, (this.#holds.get(reference) ?? 0) + 1);
    try {
      let ensuring = this.#ensuring.get(reference);
      if (!ensuring) {
        ensuring = this.#serial(reference, async () => {
          if (await this.#store.exists(reference)) return false;
          await this.#store.put(archive, reference);
          return true;
        });
        this.#ensuring.set(reference, ensuring);
        const done = () => {
          if (this.#ensuring.get(reference) === ensuring) this.#ensuring.delete(reference);
        };
        ensuring.then(done, done);
      }
      const imported = await ensuring;
      return { reference, imported };
    } catch (error) {
      this.release(reference);
      throw error;
    }
  }

  /** Ends a hold taken by `acquire`. */
  release(reference: string): void {
    const n = (this.#holds.get(reference) ?? 1) - 1;
    if (n > 0) this.#holds.set(reference, n);
    else this.#holds.delete(reference);
  }

  /**
   * Removes an imported image if no container uses it and no create holds it. True if it
   * was removed.
   */
  removeIfUnused(reference: string): Promise<boolean> {
    if (!isArchiveReference(reference)) return Promise.resolve(false);
    return this.#serial(reference, async () => {
      if (this.#holds.get(reference)) return false;
      return this.#store.removeUnlessUsed(reference);
    });
  }
}
