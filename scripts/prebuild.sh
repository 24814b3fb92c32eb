#!/usr/bin/env bash
# Builds the addon for every supported Node line into lib/binding/node-v<ABI>-linux-<arch>/pmem.node,
# the layout `bindings` searches and scripts/install.js looks for, so that `npm pack` (prepack) ships
# a binary per line. Each line's official binaries and headers come from the npm registry
# (scripts/node-line.sh). Leaves build/ as the last line built it.
# Usage: scripts/prebuild.sh [major ...]   (default: 22 24 26)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(22 24 26)
base_path=$PATH
gyp=$(node -p "require.resolve('node-gyp/bin/node-gyp.js')")
rm -rf lib/binding
for major in "${lines[@]}"; do
  dir=$(scripts/node-line.sh "$major")
  node="$dir/bin/node"
  tag=node-v$("$node" -p process.versions.modules)-$("$node" -p 'process.platform + "-" + process.arch')
  log=build-$major.log
  echo "prebuild: Node $("$node" --version) -> lib/binding/$tag/pmem.node"
  if ! PATH="$dir/bin:$base_path" npm_config_nodedir="$dir" "$node" "$gyp" rebuild --jobs=2 >"$log" 2>&1; then
    tail -20 "$log" >&2
    exit 1
  fi
  rm -f "$log"
  mkdir -p "lib/binding/$tag"
  # Symbols are not needed to load it; the build marker is data and stays.
  strip --strip-unneeded -o "lib/binding/$tag/pmem.node" build/Release/pmem.node
done
