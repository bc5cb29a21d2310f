/**
 * Unpacking a CSAR archive (zip or tar.gz) into a directory, so that what runs from it (a
 * process's script, a container's image artifact) is an ordinary file a sysadmin can find.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { SourceReader } from './source-reader.js';

/** What `extractCsar` did. */
export type CsarExtraction =
  | { archive: false }
  | { archive: true; directory: string; files: number }
  | { archive: true; error: string };

/**
 * Writes every entry of the CSAR archive `source` under `directory` (created), keeping its
 * layout, so the directory is a CSAR directory with the same TOSCA.meta. A `source` that is no
 * archive (a YAML file, a directory) is left alone (`archive: false`). An entry whose path
 * would leave the directory is refused, and nothing is written.
 */
export async function extractCsar(source: string, directory: string): Promise<CsarExtraction> {
  const reader = new SourceReader();
  const opened = await reader.open(source);
  const archive = resolve(source);
  const entries = reader.entriesOf(archive);
  if ('error' in opened && !entries) {
    return opened.misuse ? { archive: false } : { archive: true, error: opened.error };
  }
  if (!entries) return { archive: false };
  const root = resolve(directory);
  const targets: Array<[string, Uint8Array]> = [];
  for (const [name, bytes] of entries) {
    const target = resolve(join(root, name));
    if (!target.startsWith(`${root}${sep}`))
      return { archive: true, error: `the CSAR entry ${name} would leave its directory` };
    targets.push([target, bytes]);
  }
  for (const [target, bytes] of targets) {
    await mkdir(dirname(target), { recursive: true });
    // An archive may not carry modes (zip): a script with a #! line stays runnable.
    const script = bytes[0] === 0x23 && bytes[1] === 0x21;
    await writeFile(target, bytes, { mode: script ? 0o755 : 0o644 });
  }
  return { archive: true, directory: root, files: targets.length };
}
