#!/usr/bin/env node
'use strict';
/**
 * One hot loop of bench/run.js, alone, for a profiler:
 *
 *   perf stat -e instructions,cycles node bench/profile.js persist64 2000000
 *   perf record -g node --perf-basic-prof bench/profile.js persistDirty64 200000
 *   perf report --no-children --percent-limit 1 --stdio
 *
 * Workloads (counts are operations; "extents" workloads count rounds of n extents):
 *   persist64 N          store 1 byte + mapping.persist(off, 64), 256 lines
 *   persist64-native N   the same through the raw N-API handle (no TS layer)
 *   noop-native N        handle.drain() on a page-tier mapping (N-API call floor: no fence)
 *   persistDirty64 N     64 stores, 64 x markDirty, persistDirty()
 *   persistExtents64 N   64 stores, handle.persistExtents(prefilled pairs, 64): the native part of persistDirty
 *   flushDrain64 N       64 stores, 64 x flush(), drain()
 *   write64 N            write(off, 64 B, { persist: true })
 *   write64-native N     handle.copyPersist(off, src) (no TS layer)
 *   write4k N            write(off, 4 KiB, { persist: true })
 *   write4k-native N     handle.copyPersist(off, src)
 * Prints ns/op (wall clock, including the profiler's overhead).
 */
const fs = require('node:fs');
const path = require('node:path');
const pmem = require('node-pmem');
const { native } = require('../dist/binding.js');

const [what = 'persist64', countArg = '1000000'] = process.argv.slice(2);
const N = Number(countArg);
const FILE = path.join(process.env.BENCH_DIR || '/dev/shm', `node-pmem-profile-${process.pid}.bin`);
const m = pmem.open(FILE, { create: true, size: 64 << 20, granularity: 'cacheline', lock: 'none' });
const u8 = m.bytes();
u8.fill(0);
m.persist();
const nativeOptions = (granularity) => ({ create: false, exclusive: false, size: -1, sparse: false, readOnly: false, offset: 0, length: -1, granularity, lock: 'none', mode: 0o600 });
const h = native.open(FILE, nativeOptions('cacheline'));
const hp = native.open(FILE, nativeOptions('page'));
const EXT = 1 << 20;
let tick = 0;

const pairs = new Float64Array(128);
for (let i = 0; i < 64; i++) {
  pairs[2 * i] = EXT + i * 128;
  pairs[2 * i + 1] = 64;
}
const src4k = Buffer.alloc(4096, 1);
const src64 = Buffer.alloc(64, 1);

const workloads = {
  persist64(n) {
    for (let i = 0; i < n; i++, tick++) {
      const off = (tick % 256) * 64;
      u8[off] = tick;
      m.persist(off, 64);
    }
  },
  'persist64-native'(n) {
    for (let i = 0; i < n; i++, tick++) {
      const off = (tick % 256) * 64;
      u8[off] = tick;
      h.persist(off, 64);
    }
  },
  'noop-native'(n) {
    for (let i = 0; i < n; i++) hp.drain();
  },
  persistDirty64(n) {
    for (let it = 0; it < n; it++, tick++) {
      for (let i = 0; i < 64; i++) u8[EXT + i * 128] = tick;
      for (let i = 0; i < 64; i++) m.markDirty(EXT + i * 128, 64);
      m.persistDirty();
    }
  },
  persistExtents64(n) {
    for (let it = 0; it < n; it++, tick++) {
      for (let i = 0; i < 64; i++) u8[EXT + i * 128] = tick;
      pairs[0] = EXT; // the call leaves (runs, bytes) in the first pair
      pairs[1] = 64;
      h.persistExtents(pairs, 64);
    }
  },
  flushDrain64(n) {
    for (let it = 0; it < n; it++, tick++) {
      for (let i = 0; i < 64; i++) u8[EXT + i * 128] = tick;
      for (let i = 0; i < 64; i++) m.flush(EXT + i * 128, 64);
      m.drain();
    }
  },
  write64(n) {
    for (let i = 0; i < n; i++, tick++) m.write((8 << 20) + (tick % 64) * 64, src64, { persist: true });
  },
  'write64-native'(n) {
    for (let i = 0; i < n; i++, tick++) h.copyPersist((8 << 20) + (tick % 64) * 64, src64);
  },
  'write4k-native'(n) {
    for (let i = 0; i < n; i++, tick++) h.copyPersist((8 << 20) + (tick % 64) * 4096, src4k);
  },
  write4k(n) {
    for (let i = 0; i < n; i++, tick++) m.write((8 << 20) + (tick % 64) * 4096, src4k, { persist: true });
  },
};

const fn = workloads[what];
if (!fn) {
  console.error(`unknown workload ${what}; one of: ${Object.keys(workloads).join(', ')}`);
  process.exit(2);
}
try {
  // Batches of 1000, as bench/run.js times them (one huge loop would run on-stack-replaced code).
  const batch = Math.min(N, 1000);
  for (let i = 0; i < 20; i++) fn(batch); // warm-up: let the JIT optimize
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < N; done += batch) fn(batch);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${what}: ${ns.toFixed(1)} ns/op over ${N} ops`);
} finally {
  h.close();
  hp.close();
  m.close();
  fs.rmSync(FILE, { force: true });
}
