import { createHash } from 'node:crypto';

/** `sha256:<hex>` of some content: the digest a `PluginEntity` must carry. */
export function contentDigest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
