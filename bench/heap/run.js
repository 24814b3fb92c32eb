#!/usr/bin/env node
'use strict';
/**
 * node-pmem/heap (lib/heap) against C libpmemobj: transactions, the allocator, and a transactional
 * sorted-list insert, the same operations on both sides, measured in one run with C and JS
 * alternating rounds, printed as ratios of medians. See bench/README.md, "node-pmem/heap against
 * libpmemobj (issue 17)".
 *
 *   node bench/heap/run.js            full run (about a minute on a quiet machine)
 *   node bench/heap/run.js --smoke    a few seconds: every path, tiny sample counts (CI); exits
 *                                     non-zero only when something is broken
 *
 * Both sides use a pool file in the same DRAM-backed directory, at the forced cacheline tier:
 * node-pmem with granularity 'cacheline', the C side (bench/heap/heapbench.c, built with
 * cc -O2 ... -lpmemobj into bench/.build/) with PMEM_IS_PMEM_FORCE=1. Without libpmemobj's header
 * (Debian: libpmemobj-dev) or a C compiler the JS rows run alone, and the run says so.
 *
 * Rows (each the ratio of the node-pmem median to the libpmemobj median, target <= 1.5x):
 *   1  a transaction changing 1, 4 and 16 disjoint 64 B ranges at random 64 B-aligned offsets of
 *      one 1 MiB object: tx.add(offset, 64) + an 8-byte store through a view of the mapping,
 *      against TX_BEGIN + pmemobj_tx_add_range + the store + TX_END (per transaction); and, as a
 *      diagnostic row without a target, an empty transaction on each side
 *   2  alloc + free of 64 B and 4 KiB objects (zeroed): outside transactions heap.alloc + heap.free
 *      against pmemobj_zalloc + pmemobj_free; in transactions, alloc in one transaction and free in
 *      a later one (heap.transaction(() => heap.alloc(n)), heap.transaction(() => heap.free(r)))
 *      against TX { pmemobj_tx_zalloc } and TX { pmemobj_tx_free }. A batch of objects is
 *      allocated, then freed (per alloc+free pair)
 *   4  (no C row) Heap.open's time against the number of live objects and the pool's size
 *   5  (no C row) fragmentation: a random mix of sizes allocated until the first ERR_HEAP_NO_SPACE,
 *      then a random half freed and the pool refilled, five times: utilization, size-class
 *      rounding, and the largest free object against the free bytes
 *   3  inserts of random keys into 64 sorted singly linked lists (bucket = key % 64), one
 *      transaction each: walk to the predecessor, allocate a 64 B node, set its key and next, link
 *      it (logging the predecessor's next pointer or the bucket head). The lists are emptied
 *      (untimed) before each sample of 512 inserts, so they stay about 8 nodes long (per insert)
 *
 * Options: --smoke, --rounds N, --no-c (JS rows only), --only tx,alloc,list,open,frag, --dir DIR (where the
 * pool files go, default /dev/shm), --json FILE (raw results; default
 * bench/.build/heap-last-results.json), --markdown (print the table as Markdown), --help.
 *
 * Exit status: 1 when anything is broken (a section threw, a result is missing or not finite, the
 * C harness failed to build although libpmemobj's header is there); 2 for an unknown option.
 * Missed targets never fail the run: they are reported in the table.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { Heap } = require('node-pmem/heap');
const { summarize, fmtNs, fmtSize } = require('../lib/stats');
const { debVersion, harness, HarnessUnavailable, BUILD_DIR } = require('../lib/charness');
const { printTable: printResultTable } = require('../lib/table');
const { Series, rounds } = require('../lib/series');

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const FLAGS = ['smoke', 'no-c', 'markdown', 'help'];
const VALUED = ['rounds', 'only', 'dir', 'json'];
const SECTION_NAMES = ['tx', 'alloc', 'list', 'open', 'frag'];
function usage(status, message) {
  if (message) {
    console.error(`bench/heap: ${message} (node bench/heap/run.js --help lists the options)`);
    process.exit(status);
  }
  const header = fs.readFileSync(__filename, 'utf8').match(/\/\*\*([\s\S]*?)\*\//)[1];
  console.log(header.split('\n').map((l) => l.replace(/^ \* ?/, '')).join('\n').trim());
  process.exit(status);
}
const opts = {};
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].startsWith('--') ? argv[i].slice(2) : null;
  if (argv[i] === '-h' || name === 'help') usage(0);
  if (FLAGS.includes(name)) opts[name] = true;
  else if (VALUED.includes(name) && i + 1 < argv.length) opts[name] = argv[++i];
  else usage(2, VALUED.includes(name) ? `${argv[i]} needs a value` : `unknown argument ${argv[i]}`);
}
if (opts.rounds !== undefined && !(Number.isSafeInteger(Number(opts.rounds)) && Number(opts.rounds) > 0)) usage(2, `--rounds must be a positive integer, got ${opts.rounds}`);
const ONLY = opts.only?.split(',').filter(Boolean) ?? null;
for (const s of ONLY ?? []) if (!SECTION_NAMES.includes(s)) usage(2, `--only: unknown section ${s} (one of ${SECTION_NAMES.join(', ')})`);

const SMOKE = opts.smoke === true;
const WANT_C = opts['no-c'] !== true;
const DIR = opts.dir ?? '/dev/shm';
const JSON_OUT = opts.json ?? path.join(BUILD_DIR, SMOKE ? 'heap-smoke-results.json' : 'heap-last-results.json');
const MARKDOWN = opts.markdown === true;

const CFG = SMOKE
  ? { rounds: 2, samples: 3, warmup: 1, prime: 200, txBatch: 50, txRanges: [0, 1, 4, 16], allocBatch: 32, allocSizes: [64, 4096], listBatch: 64, buckets: 64 }
  : { rounds: 20, samples: 20, warmup: 3, prime: 20_000, txBatch: 1000, txRanges: [0, 1, 4, 16], allocBatch: 256, allocSizes: [64, 4096], listBatch: 512, buckets: 64 };
if (opts.rounds) CFG.rounds = Number(opts.rounds);
const TARGET = 1.5;

// Layout shared with heapbench.c: the root holds a 16-byte pointer, then MAX_BUCKETS list heads.
const POOL_SIZE = 128 << 20;
const BIG_SIZE = 1 << 20;
const SLOTS = BIG_SIZE / 64;
const SETS = 4096;
const MAX_BUCKETS = 1024;
const HEADS = 16;
const ROOT_SIZE = HEADS + MAX_BUCKETS * 16;
const NODE_SIZE = 64;

/** The same bijective 32-bit mix as heapbench.c (and bench/kv/run.js). */
function mix(i) {
  let x = (i + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

// ---------------------------------------------------------------- results
const series = new Series({ positive: true });
const { record, stat, roundRatios } = series;
const rows = [];
const notes = [];
const errors = [];

const spread = (st) => `${fmtNs(st.median)} [${fmtNs(st.p10)}–${fmtNs(st.p90)}]`;

/** One row: node-pmem (id js) against libpmemobj (id c), or the JS figure alone without C. */
function row(section, label, js, c, { target = TARGET } = {}) {
  const sa = stat(js);
  if (!HAVE_C) {
    rows.push({ section, label, value: spread(sa), baseline: 'n/a (no libpmemobj)', ratio: '', target: target ? `≤ ${target}×` : '—', status: 'NO C' });
    return;
  }
  const sb = stat(c);
  const ratio = sa.median / sb.median;
  const rr = roundRatios(js, c);
  rows.push({
    section,
    label,
    value: spread(sa),
    baseline: spread(sb),
    ratio: `${ratio.toFixed(2)}× [${rr.p10.toFixed(2)}–${rr.p90.toFixed(2)}]`,
    target: target ? `≤ ${target}×` : '—',
    status: target ? (ratio <= target ? 'MET' : 'MISSED') : 'info',
    ratioValue: ratio,
  });
}

// ---------------------------------------------------------------- the C harness
const heapbench = harness({
  name: 'heapbench',
  src: path.join(__dirname, 'heapbench.c'),
  libs: ['-lpmemobj'],
  headers: ['libpmemobj.h'],
  install: 'install Debian\'s libpmemobj-dev (apt-get install -y libpmemobj-dev)',
  env: { PMEM_IS_PMEM_FORCE: '1' },
});
const C_POOL = path.join(DIR, `node-pmem-heapbench-${process.pid}.pool`);
let HAVE_C = false;

/** Builds the harness when it is missing or older than its source. Returns null, or why C is unavailable. */
function buildC() {
  try {
    heapbench.build();
    return null;
  } catch (error) {
    if (!(error instanceof HarnessUnavailable)) throw error;
    return `${error.message}: running the JS rows only`;
  }
}

function runC(section, ...args) {
  const out = heapbench.run(C_POOL, section, CFG.samples, CFG.warmup, ...args);
  for (const o of Object.values(out)) if (Array.isArray(o.samples)) record(o.id, o.samples);
  return out;
}

/** Alternate C and JS within each round, flipping the order every round. */

/** Warm up, then `samples` timings of fn(batch) in ns per operation; `before` (untimed) runs ahead of each. */
function sample(fn, batch, { before, after } = {}) {
  const out = [];
  for (let s = -CFG.warmup; s < CFG.samples; s++) {
    if (before) before();
    const t0 = process.hrtime.bigint();
    fn(batch);
    const ns = Number(process.hrtime.bigint() - t0);
    if (after) after();
    if (s >= 0) out.push(ns / batch);
  }
  return out;
}

// ---------------------------------------------------------------- the JS side
const JS_POOL = path.join(DIR, `node-pmem-heapbench-${process.pid}.heap`);
let heap;
let f64; // a Float64Array over the whole mapping
let root;

function openHeap() {
  heap = Heap.open(JS_POOL, { layout: 'node-pmem-heapbench', create: true, size: POOL_SIZE, granularity: 'cacheline', rootSize: ROOT_SIZE });
  const u8 = heap.mapping.bytes();
  f64 = new Float64Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 3);
  root = heap.root;
  if (heap.mapping.granularity !== 'cacheline') throw new Error(`the heap's mapping is at the ${heap.mapping.granularity} tier, not cacheline`);
}

// 1. transactions of k ranges
let big = null;
let tick = 0;
function makeTxRunner(k) {
  if (big === null) big = heap.alloc(BIG_SIZE);
  const offs = new Float64Array(SETS * Math.max(k, 1));
  const region = k ? Math.floor(SLOTS / k) : 0;
  for (let t = 0; t < SETS; t++) for (let i = 0; i < k; i++) offs[t * k + i] = big.offset + (i * region + (mix(t * k + i) % region)) * 64;
  const h = heap;
  const view = f64;
  return (batch) => {
    for (let n = 0; n < batch; n++, tick++) {
      const first = (tick & (SETS - 1)) * k;
      const value = tick;
      h.transaction((tx) => {
        for (let i = 0; i < k; i++) {
          const off = offs[first + i];
          tx.add(off, 64);
          view[off / 8] = value;
        }
      });
    }
  };
}

function benchTx() {
  const runners = CFG.txRanges.map((k) => [k, makeTxRunner(k)]);
  for (const [, run] of runners) run(CFG.prime);
  rounds(
    CFG.rounds,
    HAVE_C && (() => runC('tx', CFG.txBatch, CFG.txRanges.join(','))),
    () => {
      for (const [k, run] of runners) record(`js.tx.${k}`, sample(run, CFG.txBatch));
    },
  );
  const S = '1 transaction (per tx)';
  for (const k of CFG.txRanges) {
    if (k === 0) row(S, '(diag) empty transaction: heap.transaction(() => {}) vs TX_BEGIN {} TX_END', 'js.tx.0', 'c.tx.0', { target: null });
    else row(S, `${k} × 64 B range${k > 1 ? 's' : ''}: tx.add + 8 B store (view) vs pmemobj_tx_add_range + store`, `js.tx.${k}`, `c.tx.${k}`);
  }
}

// 2. alloc + free
function makeAllocRunners(size) {
  const refs = new Array(CFG.allocBatch).fill(null);
  const h = heap;
  const atomic = (batch) => {
    for (let i = 0; i < batch; i++) refs[i] = h.alloc(size);
    for (let i = 0; i < batch; i++) h.free(refs[i]);
  };
  const inTx = (batch) => {
    for (let i = 0; i < batch; i++) refs[i] = h.transaction(() => h.alloc(size));
    for (let i = 0; i < batch; i++) {
      const r = refs[i];
      h.transaction(() => h.free(r));
    }
  };
  return { atomic, inTx };
}

function benchAlloc() {
  const runners = CFG.allocSizes.map((size) => [size, makeAllocRunners(size)]);
  for (const [, r] of runners) {
    for (let i = 0; i < CFG.prime; i += CFG.allocBatch) {
      r.atomic(CFG.allocBatch);
      r.inTx(CFG.allocBatch);
    }
  }
  rounds(
    CFG.rounds,
    HAVE_C && (() => runC('alloc', CFG.allocBatch, CFG.allocSizes.join(','))),
    () => {
      for (const [size, r] of runners) {
        record(`js.alloc.atomic.${size}`, sample(r.atomic, CFG.allocBatch));
        record(`js.alloc.tx.${size}`, sample(r.inTx, CFG.allocBatch));
      }
    },
  );
  const S = '2 alloc + free (per pair)';
  for (const size of CFG.allocSizes) {
    row(S, `${fmtSize(size)}, no tx: heap.alloc + heap.free vs pmemobj_zalloc + pmemobj_free`, `js.alloc.atomic.${size}`, `c.alloc.atomic.${size}`);
  }
  for (const size of CFG.allocSizes) {
    row(S, `${fmtSize(size)}, tx alloc, later tx free: tx(alloc), tx(free) vs TX{pmemobj_tx_zalloc}, TX{pmemobj_tx_free}`, `js.alloc.tx.${size}`, `c.alloc.tx.${size}`);
  }
}

// 3. sorted-list insert
function listInsert(key) {
  const h = heap;
  const r = root;
  const nb = CFG.buckets;
  h.transaction(() => {
    const headAt = HEADS + (key % nb) * 16;
    let prev = null;
    let cur = r.getRef(headAt);
    while (cur !== null && cur.getU32(0) < key) {
      prev = cur;
      cur = cur.getRef(8);
    }
    const node = h.alloc(NODE_SIZE);
    node.setU32(0, key);
    node.setRef(8, cur);
    if (prev === null) r.setRef(headAt, node);
    else prev.setRef(8, node);
  });
}
function listInserts(batch) {
  for (let i = 0; i < batch; i++) listInsert(mix(i));
}
/** Empties every list in one transaction (untimed). */
function listReset() {
  heap.transaction((tx) => {
    tx.add(root.offset + HEADS, MAX_BUCKETS * 16);
    for (let b = 0; b < MAX_BUCKETS; b++) {
      let cur = root.getRef(HEADS + b * 16);
      while (cur !== null) {
        const next = cur.getRef(8);
        heap.free(cur);
        cur = next;
      }
      root.setRef(HEADS + b * 16, null);
    }
  });
}
/** Sorted, in the right buckets, `expected` nodes (untimed). */
function listCheck(expected) {
  let count = 0;
  for (let b = 0; b < CFG.buckets; b++) {
    let last = 0;
    for (let cur = root.getRef(HEADS + b * 16); cur !== null; cur = cur.getRef(8)) {
      const key = cur.getU32(0);
      if (key < last || key % CFG.buckets !== b) throw new Error(`list ${b} is out of order or holds a key of another bucket`);
      last = key;
      count++;
    }
  }
  if (count !== expected) throw new Error(`the lists hold ${count} nodes, expected ${expected}`);
}

function benchList() {
  for (let i = 0; i < CFG.prime; i += CFG.listBatch) {
    listReset();
    listInserts(CFG.listBatch);
  }
  listReset();
  rounds(
    CFG.rounds,
    HAVE_C && (() => runC('list', CFG.listBatch, CFG.buckets)),
    () => record('js.list.insert', sample(listInserts, CFG.listBatch, { before: listReset, after: () => listCheck(CFG.listBatch) })),
  );
  listReset();
  row('3 sorted-list insert (per insert)', `${CFG.listBatch} random keys, ${CFG.buckets} lists (${Math.round(CFG.listBatch / CFG.buckets)} nodes each at the end), 1 tx per insert: walk, alloc 64 B node, link`, 'js.list.insert', 'c.list.insert');
}

// 4. open: what rebuilding the allocator's state costs, against live objects and pool size (no C row:
// pmemobj_open defers its heap's rebuild to the first allocation in each zone, so the two opens do
// not measure the same work)
function single(section, label, value) {
  rows.push({ section, label, value, baseline: '', ratio: '', target: '—', status: 'info' });
}

function timeOpens(file, times) {
  const ms = [];
  for (let i = 0; i < times; i++) {
    const t0 = process.hrtime.bigint();
    const h = Heap.open(file, { layout: 'node-pmem-heapbench-open' });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    h.close();
  }
  return summarize(ms);
}

function benchOpen() {
  const S = '4 open (ms)';
  const cases = SMOKE ? [[16 << 20, 0], [16 << 20, 1000]] : [[256 << 20, 0], [256 << 20, 100_000], [256 << 20, 1_000_000], [1 << 30, 0], [4 * 2 ** 30 - 65536, 0]];
  for (const [size, objects] of cases) {
    const file = path.join(DIR, `node-pmem-heapbench-open-${process.pid}.pool`);
    fs.rmSync(file, { force: true });
    try {
      const h = Heap.open(file, { layout: 'node-pmem-heapbench-open', create: true, size, granularity: 'cacheline' });
      for (let i = 0; i < objects; i++) h.alloc(64, { zero: false });
      const live = h.stats().objects - 1;
      if (live !== objects) throw new Error(`open: ${live} objects allocated, expected ${objects}`);
      h.close();
      const st = timeOpens(file, SMOKE ? 2 : 7);
      single(S, `Heap.open of a ${fmtSize(size)} pool holding ${objects.toLocaleString('en')} live objects of 64 B (median of ${SMOKE ? 2 : 7})`, `${st.median.toFixed(2)} ms [${st.p10.toFixed(2)}–${st.p90.toFixed(2)}]`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
}

// 5. fragmentation: a random mix of sizes allocated until the first ERR_HEAP_NO_SPACE, then churn
// (free a random half, refill until full again) several times
function benchFrag() {
  const S = '5 fragmentation';
  const file = path.join(DIR, `node-pmem-heapbench-frag-${process.pid}.pool`);
  fs.rmSync(file, { force: true });
  const size = SMOKE ? 8 << 20 : 64 << 20;
  const h = Heap.open(file, { layout: 'node-pmem-heapbench-frag', create: true, size, granularity: 'cacheline' });
  try {
    let x = 0x2545f491;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    // Sizes log-uniform over 16 B .. 256 KiB: mostly small objects, some that take whole chunks.
    const pick = () => Math.max(1, Math.round(16 * 2 ** (rnd() * 14)));
    const live = [];
    let requested = 0;
    const fill = () => {
      for (;;) {
        const want = pick();
        let r;
        try {
          r = h.alloc(want, { zero: false });
        } catch (e) {
          if (e.code !== 'ERR_HEAP_NO_SPACE') throw e;
          return;
        }
        live.push([r, want]);
        requested += want;
      }
    };
    const report = (when) => {
      const st = h.stats();
      single(S, `${when}: allocated / heap (utilization when an allocation first fails)`, `${((100 * st.allocatedBytes) / st.heapSize).toFixed(1)} %`);
      single(S, `${when}: requested / allocated (internal fragmentation: size-class rounding)`, `${((100 * requested) / st.allocatedBytes).toFixed(1)} %`);
      single(S, `${when}: largest free object / free bytes (external fragmentation)`, `${fmtSize(st.largestFree)} of ${fmtSize(st.freeBytes)} (${((100 * st.largestFree) / Math.max(1, st.freeBytes)).toFixed(1)} %)`);
    };
    fill();
    report(`${fmtSize(size)} pool, first fill`);
    const churns = SMOKE ? 1 : 5;
    for (let c = 0; c < churns; c++) {
      for (let i = live.length - 1; i >= 0; i--) {
        if (rnd() < 0.5) {
          const [r, want] = live[i];
          h.free(r);
          requested -= want;
          live[i] = live[live.length - 1];
          live.pop();
        }
      }
      fill();
    }
    report(`after ${churns} rounds of freeing a random half and refilling`);
  } finally {
    h.close();
    fs.rmSync(file, { force: true });
  }
}

// ---------------------------------------------------------------- table
function printTable() {
  const head = ['section', 'benchmark', 'node-pmem/heap median [p10–p90]', 'libpmemobj median [p10–p90]', 'ratio [per-round p10–p90]', 'target', 'status'];
  const body = rows.map((r) => [r.section, r.label, r.value, r.baseline, r.ratio, r.target, r.status]);
  printResultTable(head, body, { markdown: MARKDOWN });
}

// ---------------------------------------------------------------- main
const SECTIONS = [
  ['tx', benchTx],
  ['alloc', benchAlloc],
  ['list', benchList],
  ['open', benchOpen],
  ['frag', benchFrag],
];

function main() {
  const started = Date.now();
  const loadStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  let cInfo = null;
  if (WANT_C) {
    let why;
    try {
      why = buildC();
    } catch (error) {
      console.error(`bench/heap: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    if (why) {
      console.error(`bench/heap: ${why}`);
      notes.push(why);
    } else HAVE_C = true;
  } else notes.push('--no-c: JS rows only');
  try {
    openHeap();
    if (HAVE_C) cInfo = runC('info');
    for (const [name, fn] of SECTIONS) {
      if (ONLY && !ONLY.includes(name)) continue;
      const t0 = Date.now();
      try {
        fn();
      } catch (error) {
        errors.push(`${name}: ${error.stack || error}`);
        rows.push({ section: name, label: `section "${name}" failed`, value: String(error.message).split('\n')[0], baseline: '', ratio: '', target: '', status: 'ERROR' });
      }
      if (!SMOKE) process.stderr.write(`bench/heap: ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    const stats = heap.stats();
    if (stats.objects !== (big ? 2 : 1)) errors.push(`leak: the heap holds ${stats.objects} objects after the run (expected the root${big ? ' and the 1 MiB object' : ''})`);
  } catch (error) {
    errors.push(`setup: ${error.stack || error}`);
  } finally {
    if (heap && !heap.closed) heap.close();
    fs.rmSync(JS_POOL, { force: true });
    fs.rmSync(C_POOL, { force: true });
  }
  const loadEnd = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const seconds = (Date.now() - started) / 1000;
  const cpus = os.cpus();
  const objVersion = debVersion('libpmemobj1');
  console.log(`node-pmem/heap vs libpmemobj${SMOKE ? ' (smoke: tiny sample counts, numbers not meaningful)' : ''}: ${cpus[0]?.model ?? 'unknown cpu'}, ${os.availableParallelism()} cpus, ${os.type()} ${os.release()}, node ${process.version}, libpmemobj ${HAVE_C ? `${objVersion ?? 'unknown version'} (API ${cInfo?.info?.api ?? '?'})` : 'n/a'}`);
  console.log(`pools: ${DIR} (${POOL_SIZE >> 20} MiB each); node-pmem granularity 'cacheline', C with PMEM_IS_PMEM_FORCE=1`);
  console.log(`load average 1/5/15 min: ${loadStart} at start, ${loadEnd} at end; ${CFG.rounds} rounds of ${CFG.samples} samples, C and JS alternating; ${seconds.toFixed(0)} s`);
  console.log('ratio = node-pmem/heap median / libpmemobj median (lower is better); brackets: p10–p90 of the samples, of the per-round ratios.\n');
  printTable();
  for (const n of notes) console.log(`\nnote: ${n}`);
  const met = rows.filter((r) => r.status === 'MET').length;
  const missed = rows.filter((r) => r.status === 'MISSED').length;
  console.log(`\ntargets (≤ ${TARGET}× libpmemobj): ${HAVE_C ? `${met} met, ${missed} missed` : 'not checked (no C baseline)'}${SMOKE ? ' (smoke run: not meaningful; it only proves every path works)' : ''}`);
  try {
    fs.mkdirSync(path.dirname(JSON_OUT), { recursive: true });
    const raw = series.summaries();
    fs.writeFileSync(JSON_OUT, `${JSON.stringify({ smoke: SMOKE, config: CFG, node: process.version, libpmemobj: HAVE_C ? objVersion : null, loadStart, loadEnd, seconds, rows, notes, errors, series: raw }, null, 2)}\n`);
  } catch (error) {
    errors.push(`writing ${JSON_OUT}: ${error.message}`);
  }
  if (errors.length) {
    for (const e of errors) console.error(`\nbench/heap: ERROR in ${e}`);
    process.exitCode = 1;
  }
}

main();
