/**
 * Test images built from files, never pulled: a busybox-static root file system tarball
 * (enough for shells, `nc`, `httpd`, `wget`), cached outside the clone in
 * `${XDG_CACHE_HOME:-~/.cache}/khutulun/images`, keyed by its content. For tests and
 * benchmarks (`@khutulun/driver-container/testing`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The busybox applets linked in the image. */
const APPLETS = [
  'sh',
  'ash',
  'cat',
  'echo',
  'env',
  'id',
  'ls',
  'pwd',
  'sleep',
  'kill',
  'nc',
  'httpd',
  'wget',
  'grep',
  'mount',
  'df',
  'tty',
  'touch',
  'mkdir',
  'rm',
  'true',
  'false',
  'printf',
  'hostname',
  'ps',
  'stat',
  'head',
  'tail',
  'wc',
  'date',
  'seq',
  'test',
  '[',
  'tr',
  'sed',
];

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n';
/** Bumped when the layout changes, so an old cached tarball is not reused. */
const LAYOUT = 1;

/** Where built test images are cached (outside the clone). */
export function imageCacheDirectory(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'khutulun', 'images');
}

/** The busybox-static binary the image is built from. */
export const BUSYBOX = '/bin/busybox';

/**
 * A root file system tarball with busybox-static, `/etc/passwd` (users `root`, `app` 1000,
 * `nobody`) and `/tmp`; built once per busybox binary and cached. Resolves with its path.
 */
export async function busyboxRootfs(): Promise<string> {
  if (!existsSync(BUSYBOX))
    throw new Error(`${BUSYBOX} is missing: install the busybox-static package`);
  const key = createHash('sha256')
    .update(readFileSync(BUSYBOX))
    .update(`layout ${LAYOUT}\n${APPLETS.join(' ')}\n${PASSWD}${GROUP}`)
    .digest('hex')
    .slice(0, 16);
  const directory = imageCacheDirectory();
  const file = join(directory, `busybox-rootfs-${key}.tar`);
  if (existsSync(file)) return file;
  await mkdir(directory, { recursive: true });
  const root = await mkdtemp(join(directory, '.build-'));
  try {
    const tree = join(root, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'root', 'home/app', 'var/www'])
      await mkdir(join(tree, d), { recursive: true });
    await chmod(join(tree, 'tmp'), 0o1777);
    await writeFile(join(tree, 'bin', 'busybox'), readFileSync(BUSYBOX), { mode: 0o755 });
    for (const applet of APPLETS) await symlink('busybox', join(tree, 'bin', applet));
    await writeFile(join(tree, 'etc', 'passwd'), PASSWD);
    await writeFile(join(tree, 'etc', 'group'), GROUP);
    await writeFile(join(tree, 'var', 'www', 'index.html'), 'khutulun\n');
    const partial = join(root, 'rootfs.tar');
    // Deterministic: same content, same bytes, same digest.
    await run('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      tree,
      '-cf',
      partial,
      '.',
    ]);
    await rename(partial, file);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return file;
}

/**
 * A copy of the busybox rootfs tarball with one extra file, so that it has another digest
 * (for tests of the once-per-digest import and of image removal). Cached per `tag`.
 */
export async function busyboxRootfsVariant(tag: string): Promise<string> {
  const base = await busyboxRootfs();
  const file = base.replace(/\.tar$/, `-${tag.replace(/[^A-Za-z0-9_.-]/g, '_')}.tar`);
  if (existsSync(file)) return file;
  const root = await mkdtemp(join(imageCacheDirectory(), '.variant-'));
  try {
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc', 'variant'), `${tag}\n`);
    const partial = join(root, 'variant.tar');
    await run('cp', [base, partial]);
    await run('tar', [
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      root,
      '-rf',
      partial,
      './etc/variant',
    ]);
    await rename(partial, file);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return file;
}
