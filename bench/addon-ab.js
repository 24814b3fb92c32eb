#!/usr/bin/env node
'use strict';
/**
 * Two builds of the addon in one process, on one file, batch by batch: what a change to the native
 * hot paths costs, without the process-to-process spread of two bench/run.js runs (on the shared
 * machine of bench/README.md the same build moves by up to 10 % from one process to the next).
 * Raw handles, forced cacheline tier on /dev/shm, as bench/run.js; each build copies from its own
 * mapping of the same bytes, so neither is favoured by where its source sits.
 *
 *   node bench/addon-ab.js <A.node> <B.node> [--rounds N]
 *
 * Prints, per call: the median ns of A and of B over all batches, and the median [p10–p90] of the
 * per-round ratios B/A (each round runs one batch of each, in alternating order). An A/A run (the
 * same file twice, e.g. a copy of it) shows the noise floor.
 */
const fs = require('node:fs');
const path = require('node:path');
const { summarize } = require('./lib/stats');
const { randomSlot } = require('./lib/random-slot');

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 40;
if (args.length !== 2 || !(Number.isSafeInteger(ROUNDS) && ROUNDS > 0)) {
  console.error('usage: node bench/addon-ab.js <A.node> <B.node> [--rounds N]');
  process.exit(2);
}
const BATCH = 1000;
const WARMUP = 5;

const file = path.join('/dev/shm', `node-pmem-ab-${process.pid}.bin`);
// 16 MiB for the fixed-slot rows, and a 1 GiB span for the random ones (sparse here, faulted in below).
const SPAN = 1 << 30;
fs.writeFileSync(file, '');
fs.truncateSync(file, SPAN + (16 << 20));
const OPTIONS = { create: false, exclusive: false, size: -1, sparse: false, readOnly: false, offset: 0, length: -1, granularity: 'cacheline', lock: 'none', mode: 0o600 };

function load(addon) {
  const module = { exports: {} };
  process.dlopen(module, path.resolve(addon));
  return module.exports.open(file, OPTIONS);
}

/** The calls, each timed over one batch; they keep the handle and its views in locals. */
function calls(handle) {
  const view = new Uint8Array(handle.buffer());
  const source = (size) => view.subarray(12 << 20, (12 << 20) + size);
  const pairs = new Float64Array(2 * 64);
  view.subarray(0, SPAN).fill(0); // fault every page in: this build's mapping has its own page tables
  let tick = 0;
  const copyPersist = (size) => {
    const src = source(size);
    return (n) => {
      for (let i = 0; i < n; i++, tick++) handle.copyPersist((8 << 20) + (tick & 63) * size, src);
    };
  };
  return {
    'persist(64 B)': (n) => {
      for (let i = 0; i < n; i++, tick++) {
        const off = (tick & 255) * 64;
        view[off] = tick;
        handle.persist(off, 64);
      }
    },
    'persist(64 B), random 1 GiB': (n) => {
      for (let i = 0; i < n; i++, tick++) {
        const off = randomSlot(tick, SPAN / 64) * 64;
        view[off] = tick;
        handle.persist(off, 64);
      }
    },
    'copyPersist(4 KiB), random 1 GiB': (n) => {
      const src = source(4096);
      for (let i = 0; i < n; i++, tick++) handle.copyPersist(randomSlot(tick, SPAN / 4096) * 4096, src);
    },
    'copyPersist(64 B)': copyPersist(64),
    'copyPersist(256 B)': copyPersist(256),
    'copyPersist(4 KiB)': copyPersist(4096),
    ...Object.fromEntries([64, 512].map((count) => {
      // Unordered ranges (an index's random keys): the sort persistRanges does before it flushes.
      const ranges = new Float64Array(2 * count);
      const scratch = new Float64Array(2 * count);
      return [`persistRanges(${count} x 64 B), random lines of 1 GiB`, (n) => {
        for (let i = 0; i < n; i++, tick += count) {
          for (let j = 0; j < count; j++) {
            ranges[2 * j] = randomSlot(tick + j, SPAN / 64) * 64;
            ranges[2 * j + 1] = 64;
          }
          handle.persistRanges(ranges, count, scratch);
        }
      }];
    })),
    // In-order lines 128 B apart, each stored to first: persistDirty's native half (which rewrites
    // the pairs, so they are filled again each call), and persistRanges of pairs filled once.
    ...Object.fromEntries([1, 8, 64].map((count) => [`persistExtents(${count} x 64 B)`, (n) => {
      for (let i = 0; i < n; i++, tick++) {
        for (let j = 0; j < count; j++) {
          const off = (1 << 20) + j * 128;
          view[off] = tick;
          pairs[2 * j] = off;
          pairs[2 * j + 1] = 64;
        }
        handle.persistExtents(pairs, count);
      }
    }])),
    ...Object.fromEntries([64, 512].map((count) => {
      const ranges = new Float64Array(2 * count);
      for (let j = 0; j < count; j++) {
        ranges[2 * j] = (1 << 20) + j * 128;
        ranges[2 * j + 1] = 64;
      }
      const scratch = new Float64Array(2 * count);
      return [`persistRanges(${count} x 64 B), in order`, (n) => {
        for (let i = 0; i < n; i++, tick++) {
          for (let j = 0; j < count; j++) view[(1 << 20) + j * 128] = tick;
          handle.persistRanges(ranges, count, scratch);
        }
      }];
    })),
  };
}

const handles = args.map(load);
const runs = handles.map(calls);
const fmt = (x) => x.toFixed(1);
try {
  console.log(`A ${args[0]}\nB ${args[1]}\n${ROUNDS} rounds of ${BATCH} calls each\n`);
  for (const name of Object.keys(runs[0])) {
    const times = [[], []];
    const ratios = [];
    for (let w = 0; w < WARMUP; w++) for (const run of runs) run[name](BATCH);
    for (let r = 0; r < ROUNDS; r++) {
      const t = [0, 0];
      for (const k of r % 2 ? [0, 1] : [1, 0]) {
        const t0 = process.hrtime.bigint();
        runs[k][name](BATCH);
        t[k] = Number(process.hrtime.bigint() - t0) / BATCH;
        times[k].push(t[k]);
      }
      ratios.push(t[1] / t[0]);
    }
    const [a, b] = times.map(summarize);
    const q = summarize(ratios);
    console.log(`${name.padEnd(26)} A ${fmt(a.median).padStart(7)} ns  B ${fmt(b.median).padStart(7)} ns  B/A ${q.median.toFixed(3)} [${q.p10.toFixed(3)}–${q.p90.toFixed(3)}]`);
  }
} finally {
  for (const h of handles) h.close();
  fs.rmSync(file, { force: true });
}
