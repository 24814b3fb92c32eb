#!/usr/bin/env bash
# Prints the directory of the official Node.js binaries (bin/, include/) of one release line,
# unpacking the registry's node-linux-<arch>@<major> package into a cache on first use.
# Usage: scripts/node-line.sh <major> [cache-dir]   (cache-dir defaults to .node-lines/)
set -euo pipefail
major=${1:?usage: node-line.sh <major> [cache-dir]}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${2:-$root/.node-lines}
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "node-line.sh: no official Linux binaries for $(uname -m)" >&2; exit 1 ;;
esac
dir=$cache/$major
if [ ! -x "$dir/package/bin/node" ]; then
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  tarball=$(cd "$dir.tmp" && npm pack --silent "node-linux-$arch@$major")
  tar xzf "$dir.tmp/$tarball" -C "$dir.tmp"
  rm -f "$dir.tmp/$tarball"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir/package"
