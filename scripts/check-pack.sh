#!/usr/bin/env bash
# The tarball a user installs: `npm pack` (which prebuilds a binary per line), then, for each line,
# `npm install --ignore-scripts` of it into a new project and a require, an import and the CLI with
# nothing but that line's node on PATH (no compiler, make or python3), and node-pmem/level without
# and then with abstract-level (installed from the registry). Used by .ci/run.
# Usage: scripts/check-pack.sh [major ...]   (default: 22 24 26)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(22 24 26)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" >"$work/pack.log"
tarball=$(ls "$work"/node-pmem-*.tgz)
echo "check-pack: $(basename "$tarball"), $(du -k "$tarball" | cut -f1) KiB, binaries: $(tar tzf "$tarball" | grep -c 'lib/binding/.*pmem.node$')"
for major in "${lines[@]}"; do
  dir=$(scripts/node-line.sh "$major")
  project=$work/consumer-$major
  mkdir -p "$project" && echo '{ "name": "consumer", "private": true }' >"$project/package.json"
  (cd "$project" && PATH="$dir/bin:$PATH" npm install --silent --ignore-scripts --no-audit --no-fund "$tarball")
  f=$work/check-$major.bin
  (cd "$project" && env -i PATH="$dir/bin" HOME="$work" "$dir/bin/node" -e "
    const p = require('node-pmem'); const m = p.open('$f', { create: true, size: 4096 });
    m.write(0, 'ok', { persist: true }); if (m.read(0, 2).toString() !== 'ok') process.exit(1); m.close();" &&
    env -i PATH="$dir/bin" HOME="$work" "$dir/bin/node" --input-type=module -e "
    import { open } from 'node-pmem'; import { crashTest } from 'node-pmem/testing'; import { KvStore } from 'node-pmem/kv';
    if (typeof open !== 'function' || typeof crashTest !== 'function' || typeof KvStore !== 'function') process.exit(1);" &&
    env -i PATH="$dir/bin" HOME="$work" "$dir/bin/node" node_modules/.bin/node-pmem info "$f" >/dev/null &&
    # node-pmem/level: without its optional peer it says so; with abstract-level installed, it works.
    env -i PATH="$dir/bin" HOME="$work" "$dir/bin/node" -e "
    try { require('node-pmem/level'); process.exit(1); } catch (e) { if (e.code !== 'ERR_PMEM_PEER_DEPENDENCY') throw e; }" &&
    PATH="$dir/bin:$PATH" npm install --silent --ignore-scripts --no-audit --no-fund abstract-level@3 &&
    env -i PATH="$dir/bin" HOME="$work" "$dir/bin/node" --input-type=module -e "
    import { PmemLevel } from 'node-pmem/level'; const db = new PmemLevel('$f.level', { size: 262144 });
    await db.put('k', 'ok'); await db.close(); await db.open(); if (await db.get('k') !== 'ok') process.exit(1); await db.close();")
  echo "check-pack: Node $("$dir/bin/node" --version): installed with --ignore-scripts, require, import, node-pmem/level and node-pmem info work without a compiler"
done
