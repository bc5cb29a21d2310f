#!/bin/sh
# Makes busybox-rootfs.tar beside this script: a root file system with Debian's busybox-static
# (apt-get install busybox-static), imported by the container examples as an image artifact.
# No registry is needed: Khutulun imports the tarball once per digest. The tarball is built
# once per busybox into the image cache outside the repository
# ($KHUTULUN_IMAGE_CACHE, else ~/.cache/khutulun/images) and linked here. Deterministic: the
# same busybox gives the same bytes, so a rebuild is imported no second time.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/busybox-rootfs.tar"
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "$busybox is missing: apt-get install busybox-static" >&2; exit 1; }
cache=${KHUTULUN_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/khutulun/images}
mkdir -p "$cache"
version=$(sha256sum "$busybox" | cut -c1-16)
cached="$cache/example-busybox-rootfs-$version.tar"
if [ ! -f "$cached" ]; then
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree/bin" "$tree/etc" "$tree/tmp" "$tree/var/www"
  chmod 1777 "$tree/tmp"
  cp "$busybox" "$tree/bin/busybox"
  for applet in sh ls cat echo env sleep httpd wget nc printf test true false id stat tty; do
    ln -s busybox "$tree/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tree/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"
  printf 'Hello from a container\n' >"$tree/var/www/index.html"
  # Written aside and renamed: a concurrent run never reads half a tarball.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tree" -cf "$cached.$$" .
  mv "$cached.$$" "$cached"
fi
# Linked by rename, so the example's artifact is never missing while another run links it.
ln -sfn "$cached" "$out.$$"
mv -f "$out.$$" "$out"
echo "$out"
