#!/usr/bin/env bash
# Builds ROMA's container images with podman (or ENGINE=buildah bud, or
# docker) from the Containerfile, without a registry: each image's root
# file system is staged here from build/ and this machine's own libraries.
#
#   roma:TAG         build/roma and the libraries it needs (no TensorFlow)
#   roma-worker:TAG  build/roma, build/roma-worker and TensorFlow's C++
#                    libraries from the wheel in .venv
#
# Usage: scripts/build-images.sh [TAG]   (default latest; ENGINE=podman)
# Then load or push them where the cluster pulls from, and pass the names to
# roma k8s render --image/--worker-image.  Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-latest}
ENGINE=${ENGINE:-podman}
command -v "$ENGINE" >/dev/null || { echo "build-images: $ENGINE not found (apt-get install podman)" >&2; exit 1; }
make -j2 all >/dev/null

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# add_program ROOT FILE: FILE into ROOT/usr/local/bin and every shared
# library ldd resolves for it (and the loader) at the same path in ROOT;
# TensorFlow's libraries go to /usr/local/lib/roma.
add_program() {
  local root=$1 prog=$2 lib to
  install -D -m 0755 "$prog" "$root/usr/local/bin/$(basename "$prog")"
  for lib in $(ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    case "$lib" in
      */tensorflow/*) to=/usr/local/lib/roma/$(basename "$lib") ;;
      *) to=$lib ;;
    esac
    [ -e "$root$to" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$to"
  done
}

# base_files ROOT: the users, the loader's cache and the directories the
# programs use (owned by the non-root user where it writes).
base_files() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" "$root/etc/roma" "$root/var/lib/roma" "$root/models"
  chmod 1777 "$root/tmp"
  [ "$(id -u)" != 0 ] || chown 65532:65532 "$root/var/lib/roma" # the pods mount an emptyDir there anyway
  printf 'root:x:0:0:root:/root:/sbin/nologin\nroma:x:65532:65532:roma:/var/lib/roma:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nroma:x:65532:\n' >"$root/etc/group"
  printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n/usr/local/lib/roma\n' >"$root/etc/ld.so.conf"
  ldconfig -r "$root"
}

build() {
  local name=$1; shift
  local ctx="$stage/$name"
  mkdir -p "$ctx/rootfs"
  for prog in "$@"; do add_program "$ctx/rootfs" "$prog"; done
  base_files "$ctx/rootfs"
  cp Containerfile "$ctx/Containerfile"
  if [ "$ENGINE" = buildah ]; then
    buildah bud -q --build-arg KIND="$name" -t "$name:$TAG" "$ctx" >/dev/null
  else
    "$ENGINE" build -q --build-arg KIND="$name" -t "$name:$TAG" "$ctx" >/dev/null
  fi
  echo "build-images: $name:$TAG ($(du -sh "$ctx/rootfs" | cut -f1) of files)"
}

build roma build/roma
build roma-worker build/roma build/roma-worker
