#!/usr/bin/env bash
# Prints the directory of the official Node.js binaries (bin/, include/) of one release line,
# unpacking the registry's node-linux-<arch>@<major> package into a cache on first use.
# Usage: scripts/node-line.sh <major> [cache-dir]   (cache-dir defaults to .node-lines/)
# NODE_LINE_ARCH=arm64 (or x64) picks another architecture's binaries than this machine's: the
# arm64 headers for a cross build, the arm64 node to run under qemu-user (scripts/arm64.sh).
set -euo pipefail
major=${1:?usage: node-line.sh <major> [cache-dir]}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${2:-$root/.node-lines}
case "${NODE_LINE_ARCH:-$(uname -m)}" in
  x86_64 | x64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node-line.sh: no official Linux binaries for ${NODE_LINE_ARCH:-$(uname -m)}" >&2; exit 1 ;;
esac
native_arch=$(case "$(uname -m)" in x86_64) echo x64 ;; aarch64) echo arm64 ;; esac)
# This machine's own architecture keeps the plain <major> directory.
if [ "$arch" = "$native_arch" ]; then dir=$cache/$major; else dir=$cache/$arch-$major; fi
if [ ! -x "$dir/package/bin/node" ]; then
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  tarball=$(cd "$dir.tmp" && npm pack --silent "node-linux-$arch@$major")
  tar xzf "$dir.tmp/$tarball" -C "$dir.tmp"
  rm -f "$dir.tmp/$tarball"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir/package"
