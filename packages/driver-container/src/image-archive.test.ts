import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ArchiveImages, archiveReference, fileDigest, type ImageStore } from './image-archive.js';
import { busyboxRootfs, busyboxRootfsVariant } from './testing/images.js';

function fakeStore(): ImageStore & { puts: string[]; images: Set<string>; used: Set<string> } {
  const images = new Set<string>();
  const used = new Set<string>();
  const puts: string[] = [];
  return {
    images,
    used,
    puts,
    exists: async (r) => images.has(r),
    put: async (_archive, r) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      puts.push(r);
      images.add(r);
    },
    removeUnlessUsed: async (r) => !used.has(r) && images.delete(r),
  };
}

describe('ArchiveImages', () => {
  it('imports an archive once per digest, also for concurrent creates', async () => {
    const file = await busyboxRootfs();
    const store = fakeStore();
    const images = new ArchiveImages(store);
    const results = await Promise.all(
      [1, 2, 3].map(() => images.acquire({ file, format: 'rootfs' })),
    );
    const reference = archiveReference(await fileDigest(file));
    expect(results.map((r) => r.reference)).toEqual([reference, reference, reference]);
    // Concurrent creates share one check-and-import.
    expect(results.map((r) => r.imported)).toEqual([true, true, true]);
    expect((await images.acquire({ file, format: 'rootfs' })).imported).toBe(false);
    expect(store.puts).toEqual([reference]);
  });

  it('removes an image only when no create holds it and the engine says it is unused', async () => {
    const file = await busyboxRootfs();
    const store = fakeStore();
    const images = new ArchiveImages(store);
    const { reference } = await images.acquire({ file, format: 'rootfs' });
    expect(await images.removeIfUnused(reference)).toBe(false);
    images.release(reference);
    store.used.add(reference);
    expect(await images.removeIfUnused(reference)).toBe(false);
    store.used.delete(reference);
    expect(await images.removeIfUnused(reference)).toBe(true);
    expect(await images.removeIfUnused('localhost/someone/else:1')).toBe(false);
  });
});

describe('test images', () => {
  it('builds a deterministic busybox rootfs once, and variants with other digests', async () => {
    const file = await busyboxRootfs();
    expect(existsSync(file)).toBe(true);
    expect(await busyboxRootfs()).toBe(file);
    const variant = await busyboxRootfsVariant('test');
    expect(await fileDigest(variant)).not.toBe(await fileDigest(file));
  });
});
