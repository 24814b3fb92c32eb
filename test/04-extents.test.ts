/**
 * markDirty / persistDirty: ranges are recorded, then sorted and coalesced to the flush unit
 * (64-byte lines at cacheline/byte tier, pages at page tier), flushed once, and cleared.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'node-pmem';
import { createSimulatedMapping, unpersistedLines } from 'node-pmem/testing';
import { PAGE, MiB, tmpDir, freshPath, throwsCode, RANGE, TYPE, pattern, REPO_ROOT } from './helpers';

const DIR = tmpDir();

function mapping(size: number, granularity: 'byte' | 'cacheline' | 'page' | 'auto') {
  return open(freshPath(DIR), { create: true, size, sparse: true, granularity });
}

for (const tier of ['cacheline', 'byte'] as const) {
  describe(`persistDirty at '${tier}' coalesces to 64-byte lines`, () => {
    it('marks at 0..10 and 50..70 are one extent of two lines (128 bytes)', () => {
      const m = mapping(64 * 1024, tier);
      try {
        assert.equal(m.flushUnit, 64);
        assert.equal(m.dirtyCount, 0);
        m.markDirty(0, 10);
        m.markDirty(50, 20);
        assert.equal(m.dirtyCount, 2);
        assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: 128 });
        assert.equal(m.dirtyCount, 0, 'cleared after success');
        assert.deepEqual({ ...m.persistDirty() }, { extents: 0, bytes: 0 }, 'nothing left to flush');
      } finally {
        m.close();
      }
    });

    it('disjoint lines stay apart, adjacent and overlapping ones merge, order does not matter', () => {
      const m = mapping(64 * 1024, tier);
      try {
        const cases: Array<{ marks: Array<[number, number]>; extents: number; bytes: number }> = [
          { marks: [[0, 1]], extents: 1, bytes: 64 },
          { marks: [[63, 1]], extents: 1, bytes: 64 },
          { marks: [[63, 2]], extents: 1, bytes: 128 },
          { marks: [[64, 64]], extents: 1, bytes: 64 },
          { marks: [[64, 65]], extents: 1, bytes: 128 },
          { marks: [[0, 1], [128, 1]], extents: 2, bytes: 128 },
          { marks: [[128, 1], [0, 1]], extents: 2, bytes: 128 },
          { marks: [[0, 64], [64, 64]], extents: 1, bytes: 128 },
          { marks: [[128, 64], [0, 64], [64, 64]], extents: 1, bytes: 192 },
          { marks: [[0, 100], [10, 20]], extents: 1, bytes: 128 },
          { marks: [[10, 20], [0, 100]], extents: 1, bytes: 128 },
          { marks: [[5, 1], [5, 1], [5, 1]], extents: 1, bytes: 64 },
          { marks: [[1000, 3000], [100, 1], [5000, 1]], extents: 3, bytes: 64 + (4032 - 960) + 64 },
          { marks: [[0, 64 * 1024]], extents: 1, bytes: 64 * 1024 },
          // in order until a mark goes back: runs already flushed are flushed again after the sort
          { marks: [[0, 1], [256, 1], [128, 1]], extents: 3, bytes: 192 },
          { marks: [[0, 64], [512, 64], [128, 64], [1024, 1]], extents: 4, bytes: 256 },
          { marks: [[0, 64], [512, 64], [448, 64], [4000, 1]], extents: 3, bytes: 64 + 128 + 64 },
          // a mark that starts inside the current run is not out of order
          { marks: [[0, 256], [64, 64], [128, 256]], extents: 1, bytes: 384 },
          { marks: [[1, 0], [640, 1], [0, 0], [64, 1]], extents: 2, bytes: 128 },
        ];
        for (const { marks, extents, bytes } of cases) {
          for (const [o, l] of marks) m.markDirty(o, l);
          assert.ok(m.dirtyCount >= 1 && m.dirtyCount <= marks.length, `dirtyCount ${m.dirtyCount} for ${JSON.stringify(marks)}`);
          assert.deepEqual({ ...m.persistDirty() }, { extents, bytes }, JSON.stringify(marks));
          assert.equal(m.dirtyCount, 0);
        }
      } finally {
        m.close();
      }
    });
  });
}

describe("persistDirty at 'page' coalesces to pages", () => {
  it('flushUnit is the page size; marks are rounded out to pages', () => {
    const m = mapping(64 * PAGE, 'page');
    try {
      assert.equal(m.flushUnit, PAGE);
      m.markDirty(0, 10);
      m.markDirty(50, 20);
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: PAGE });

      m.markDirty(0, 10);
      m.markDirty(PAGE + 10, 10); // the next page: adjacent runs merge
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: 2 * PAGE });

      m.markDirty(PAGE - 1, 2); // straddles two pages
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: 2 * PAGE });

      m.markDirty(10 * PAGE, 1);
      m.markDirty(0, 1);
      m.markDirty(3 * PAGE + 7, PAGE); // pages 3 and 4
      assert.deepEqual({ ...m.persistDirty() }, { extents: 3, bytes: 4 * PAGE });
      assert.equal(m.dirtyCount, 0);
    } finally {
      m.close();
    }
  });

  it("the default tier on a regular file ('auto' → page) coalesces the same way", () => {
    const m = mapping(16 * PAGE, 'auto');
    try {
      assert.equal(m.granularity, 'page');
      m.markDirty(0, 10);
      m.markDirty(50, 20);
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: PAGE });
    } finally {
      m.close();
    }
  });
});

describe('many marks', () => {
  const COUNT = 100_000;
  const STRIDE = 128; // every mark in its own line, one line apart
  const SIZE = 16 * MiB;

  for (const tier of ['cacheline', 'page'] as const) {
    it(`100k disjoint marks at '${tier}' are all flushed and the data reaches the file`, () => {
      const file = freshPath(DIR);
      const m = open(file, { create: true, size: SIZE, sparse: true, granularity: tier });
      const view = m.bytes();
      try {
        // reverse order, so persistDirty has to sort
        for (let i = COUNT - 1; i >= 0; i--) {
          view[i * STRIDE] = (i % 251) + 1;
          m.markDirty(i * STRIDE, 1);
        }
        assert.ok(m.dirtyCount >= 1 && m.dirtyCount <= COUNT, `dirtyCount ${m.dirtyCount}`);
        const r = m.persistDirty();
        if (tier === 'cacheline') {
          assert.deepEqual({ ...r }, { extents: COUNT, bytes: COUNT * 64 });
        } else {
          // 100k * 128 B = 3125 pages exactly, all adjacent: a single run
          const pages = Math.ceil((COUNT * STRIDE) / PAGE);
          assert.deepEqual({ ...r }, { extents: 1, bytes: pages * PAGE });
        }
        assert.equal(m.dirtyCount, 0);
      } finally {
        m.close();
      }
      const data = fs.readFileSync(file);
      for (let i = 0; i < COUNT; i++) {
        if (data[i * STRIDE] !== (i % 251) + 1) assert.fail(`byte of mark ${i} missing in the file`);
      }
    });
  }

  it('100k marks of the same line collapse to one extent', () => {
    const m = mapping(SIZE, 'cacheline');
    try {
      for (let i = 0; i < COUNT; i++) m.markDirty(4096 + (i % 64), 1);
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: 64 });
      assert.equal(m.dirtyCount, 0);
    } finally {
      m.close();
    }
  });

  it('marks interleaved with persistDirty calls: each call flushes exactly what was marked since the last', () => {
    const m = mapping(SIZE, 'cacheline');
    try {
      for (let round = 0; round < 50; round++) {
        const n = 1 + round * 37;
        for (let i = 0; i < n; i++) m.markDirty((round * 997 + i * 192) % (SIZE - 64), 1);
        const r = m.persistDirty();
        // the marks are 192 bytes apart: every one is its own line and its own extent
        assert.deepEqual({ ...r }, { extents: n, bytes: n * 64 }, `round ${round}`);
        assert.equal(m.dirtyCount, 0);
      }
    } finally {
      m.close();
    }
  });
});

describe('markDirty validates its arguments', () => {
  it('wrong types, negative, fractional, NaN, Infinity, beyond the mapping, overflow', () => {
    const m = mapping(16 * PAGE, 'cacheline');
    const len = m.length;
    try {
      for (const [o, l] of [['0', 1], [0, '1'], [null, 1], [0, null], [{}, 1], [0n, 1], [undefined, 1]] as Array<[unknown, unknown]>) {
        throwsCode(() => m.markDirty(o as number, l as number), TYPE, `markDirty(${String(o)}, ${String(l)})`);
      }
      const bad: Array<[number, number]> = [
        [-1, 1], [0, -1], [1.5, 1], [0, 1.5], [NaN, 1], [0, NaN], [Infinity, 1], [0, Infinity],
        [len, 1], [len - 1, 2], [0, len + 1], [len + 1, 0],
        [2 ** 53, 1], [0, 2 ** 53 + 2], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
        [Number.MAX_SAFE_INTEGER, 1], [1, Number.MAX_SAFE_INTEGER],
      ];
      for (const [o, l] of bad) throwsCode(() => m.markDirty(o, l), RANGE, `markDirty(${o}, ${l})`);
      assert.equal(m.dirtyCount, 0, 'a refused mark was recorded');
      assert.deepEqual({ ...m.persistDirty() }, { extents: 0, bytes: 0 });
      // the full range is fine
      m.markDirty(0, len);
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: len });
    } finally {
      m.close();
    }
  });

  it('persistDirty flushes the marked data: it is in the file after close', () => {
    const file = freshPath(DIR);
    const m = open(file, { create: true, size: 8 * PAGE, granularity: 'cacheline' });
    const data = pattern(1000, 5);
    m.bytes(3001, 1000).set(data);
    m.markDirty(3001, 1000);
    const r = m.persistDirty();
    assert.equal(r.extents, 1);
    assert.equal(r.bytes, Math.ceil(4001 / 64) * 64 - Math.floor(3001 / 64) * 64);
    m.close();
    assert.deepEqual(fs.readFileSync(file).subarray(3001, 4001), data);
  });
});

describe('persistRanges: the ranges a caller already holds, in one call', () => {
  /** (offset, length) pairs in no particular order, some overlapping, some touching, one empty. */
  function someRanges(len: number): Float64Array {
    const pairs: number[] = [];
    let seed = 7;
    for (let i = 0; i < 300; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const offset = seed % (len - 512);
      pairs.push(offset, 1 + (seed % 500));
    }
    pairs.push(len - 1, 1, 0, 0, 4096, 64, 4160, 64);
    return Float64Array.from(pairs);
  }

  for (const tier of ['cacheline', 'byte', 'page'] as const) {
    it(`'${tier}': flushes what persistDirty would for the same ranges, leaves them as they were, keeps marked ranges`, () => {
      const m = mapping(64 * PAGE, tier);
      try {
        const ranges = someRanges(m.length);
        const before = ranges.slice();
        m.markDirty(8 * PAGE, 10);
        const got = m.persistRanges(ranges);
        assert.deepEqual(ranges, before, 'the caller\'s array is unchanged');
        assert.equal(m.dirtyCount, 1, 'the range markDirty recorded is still pending');
        assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: m.flushUnit });
        for (let i = 0; i < ranges.length; i += 2) m.markDirty(ranges[i]!, ranges[i + 1]!);
        assert.deepEqual({ ...got }, { ...m.persistDirty() });
        const part = m.persistRanges(ranges, 1);
        const unit = m.flushUnit;
        const start = Math.floor(ranges[0]! / unit) * unit;
        const end = Math.ceil((ranges[0]! + ranges[1]!) / unit) * unit;
        assert.deepEqual({ ...part }, { extents: 1, bytes: end - start }, 'count takes the first pairs only');
        assert.deepEqual({ ...m.persistRanges(ranges, 0) }, { extents: 0, bytes: 0 });
        assert.deepEqual({ ...m.persistRanges(new Float64Array(0)) }, { extents: 0, bytes: 0 });
      } finally {
        m.close();
      }
    });
  }

  /** What any correct sort-and-merge gives: runs of whole units, touching or overlapping ones merged. */
  function expectedRuns(ranges: Float64Array, unit: number): { extents: number; bytes: number } {
    const spans: [number, number][] = [];
    for (let i = 0; i < ranges.length; i += 2) {
      const [offset, length] = [ranges[i]!, ranges[i + 1]!];
      if (length > 0) spans.push([Math.floor(offset / unit) * unit, Math.ceil((offset + length) / unit) * unit]);
    }
    spans.sort((a, b) => a[0] - b[0]);
    let extents = 0;
    let bytes = 0;
    let end = -1;
    for (const [start, stop] of spans) {
      if (start <= end) {
        if (stop > end) {
          bytes += stop - end;
          end = stop;
        }
      } else {
        extents++;
        bytes += stop - start;
        end = stop;
      }
    }
    return { extents, bytes };
  }

  for (const [size, tier] of [[4 * MiB, 'cacheline'], [256 * MiB, 'cacheline'], [16 * MiB, 'page']] as const) {
    it(`'${tier}', ${size / MiB} MiB: long unordered lists (the radix sort's passes) merge as a reference merge does`, () => {
      const m = mapping(size, tier);
      try {
        let seed = size;
        const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
        for (const count of [8, 9, 17, 63, 64, 65, 500, 1024, 1025, 4096]) {
          const ranges = new Float64Array(2 * count);
          for (let i = 0; i < count; i++) {
            const clustered = i % 3 === 0; // near neighbours, so that some runs touch or overlap
            const offset = clustered ? (next() % 64) * 64 + (next() % 130) : next() % size;
            ranges[2 * i] = offset;
            ranges[2 * i + 1] = i % 17 === 0 ? 0 : Math.min(size - offset, 1 + (next() % 300));
          }
          ranges[0] = size - 1;
          ranges[1] = 1;
          assert.deepEqual({ ...m.persistRanges(ranges) }, expectedRuns(ranges, m.flushUnit), `${count} pairs`);
          for (let i = 0; i < count; i++) m.markDirty(ranges[2 * i]!, Math.max(1, ranges[2 * i + 1]!));
          const marked = ranges.map((v, i) => (i % 2 === 1 ? Math.max(1, v) : v));
          assert.deepEqual({ ...m.persistDirty() }, expectedRuns(marked, m.flushUnit), `${count} marks`);
        }
      } finally {
        m.close();
      }
    });
  }

  it('ranges crowded into a few lines, in descending order, far from one outlier (the bucket sort hands over to the radix sort)', () => {
    const m = mapping(64 * MiB, 'cacheline');
    try {
      for (const count of [8, 64, 1000, 1024]) {
        const ranges = new Float64Array(2 * count);
        ranges[0] = 64 * MiB - 64; // the outlier stretches the buckets: every other start lands in the first
        ranges[1] = 64;
        for (let i = 1; i < count; i++) {
          ranges[2 * i] = (count - i) * 128 + (i % 5); // descending, a line every other line: no two touch
          ranges[2 * i + 1] = 1 + (i % 50);
        }
        assert.deepEqual({ ...m.persistRanges(ranges) }, { extents: count, bytes: count * 64 }, `${count} pairs`);
        for (let i = 0; i < count; i++) m.markDirty(ranges[2 * i]!, ranges[2 * i + 1]!);
        assert.deepEqual({ ...m.persistDirty() }, { extents: count, bytes: count * 64 }, `${count} marks`);
      }
    } finally {
      m.close();
    }
  });

  it('a view of the mapping itself may hold the ranges', () => {
    const m = mapping(16 * PAGE, 'cacheline');
    try {
      const ranges = new Float64Array(m.buffer, 8 * PAGE, 4);
      ranges.set([128, 64, 0, 10]);
      assert.deepEqual({ ...m.persistRanges(ranges) }, { extents: 2, bytes: 128 });
      assert.deepEqual([...ranges], [128, 64, 0, 10]);
    } finally {
      m.close();
    }
  });

  it('refuses bad arguments, naming the pair, and promises nothing durable then', () => {
    const m = mapping(16 * PAGE, 'cacheline');
    const len = m.length;
    try {
      for (const bad of [[0, 64], new Uint8Array(16), new BigUint64Array(2), 'x', null, undefined]) {
        throwsCode(() => m.persistRanges(bad as unknown as Float64Array), TYPE, `persistRanges(${String(bad)})`);
      }
      throwsCode(() => m.persistRanges(new Float64Array(3)), { code: 'ERR_INVALID_ARG_VALUE', message: /length 3 is odd/ });
      assert.deepEqual({ ...m.persistRanges(new Float64Array([0, 64, 5]), 1) }, { extents: 1, bytes: 64 }, 'an odd tail past count is not read');
      for (const count of [-1, 1.5, NaN, 3]) throwsCode(() => m.persistRanges(new Float64Array(4), count), RANGE, `count ${count}`);
      throwsCode(() => m.persistRanges(new Float64Array(4), '1' as unknown as number), TYPE);
      const cases: Array<[number, number, string]> = [
        [-1, 1, 'ranges[2]'], [1.5, 1, 'ranges[2]'], [NaN, 1, 'ranges[2]'], [len + 1, 0, 'ranges[2]'],
        [0, -1, 'ranges[3]'], [len - 1, 2, 'ranges[3]'], [0, Infinity, 'ranges[3]'], [1, Number.MAX_SAFE_INTEGER, 'ranges[3]'],
      ];
      for (const [offset, length, name] of cases) {
        const sim = createSimulatedMapping({ size: len, granularity: 'cacheline' });
        try {
          sim.bytes(0, 1)[0] = 1;
          const err = throwsCode(() => sim.persistRanges(new Float64Array([0, 64, offset, length])), RANGE, `(${offset}, ${length})`);
          assert.match(err.message, new RegExp(`"${name.replace(/[[\]]/g, '\\$&')}"`));
          assert.deepEqual(unpersistedLines(sim), [0], 'after the throw nothing is promised durable, the valid first pair included');
        } finally {
          sim.close();
        }
        throwsCode(() => m.persistRanges(new Float64Array([0, 64, offset, length])), RANGE, `native (${offset}, ${length})`);
      }
      const buffer = new ArrayBuffer(32);
      const detached = new Float64Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      throwsCode(() => m.persistRanges(detached), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    } finally {
      m.close();
    }
    throwsCode(() => m.persistRanges(new Float64Array(2)), 'ERR_PMEM_CLOSED');
    const file = freshPath(DIR);
    fs.writeFileSync(file, Buffer.alloc(PAGE));
    const ro = open(file, { readOnly: true });
    try {
      throwsCode(() => ro.persistRanges(new Float64Array([0, 1])), 'ERR_PMEM_READ_ONLY');
    } finally {
      ro.close();
    }
  });

  it('checks pairs against the exact length, not the length rounded up to a line', () => {
    const size = 64 * 16 + 10;
    const sim = createSimulatedMapping({ size, granularity: 'cacheline' });
    const file = freshPath(DIR);
    fs.writeFileSync(file, Buffer.alloc(size));
    const m = open(file, { granularity: 'cacheline' });
    try {
      for (const mapping of [sim, m]) {
        assert.equal(mapping.length, size);
        throwsCode(() => mapping.persistRanges(new Float64Array([size - 5, 6])), RANGE, 'a pair ending past the last byte');
        assert.deepEqual({ ...mapping.persistRanges(new Float64Array([size - 5, 5])) }, { extents: 1, bytes: 64 });
        mapping.markDirty(size - 5, 5);
        assert.deepEqual({ ...mapping.persistDirty() }, { extents: 1, bytes: 64 }, 'persistDirty of the same range');
      }
    } finally {
      sim.close();
      m.close();
    }
  });

  it('makes exactly the lines of its ranges durable (crash simulator)', () => {
    const sim = createSimulatedMapping({ size: 16 * PAGE, granularity: 'cacheline' });
    try {
      for (const line of [0, 1, 2, 5, 9, 40]) sim.bytes(line * 64, 1)[0] = 1;
      sim.persistRanges(new Float64Array([9 * 64 + 3, 1, 0, 130, 40 * 64, 64]));
      assert.deepEqual(unpersistedLines(sim), [5]);
    } finally {
      sim.close();
    }
  });
});

describe('the native persistExtents contract (the raw handle under persistDirty)', () => {
  const { native } = require(path.join(REPO_ROOT, 'dist', 'binding.js')) as typeof import('../lib/binding');
  const EINVAL = -22;

  function rawHandle(size: number, granularity: 'cacheline' | 'page' | 'byte') {
    const file = freshPath(DIR);
    const opts = { create: true, exclusive: true, size, sparse: true, readOnly: false, offset: 0, length: -1, granularity, lock: 'none', mode: 0o600 };
    return native.open(file, opts as Parameters<typeof native.open>[1]);
  }

  for (const tier of ['cacheline', 'page', 'byte'] as const) {
    it(`'${tier}': returns the runs and leaves (runs, bytes) in the first pair`, () => {
      const h = rawHandle(64 * PAGE, tier);
      try {
        const unit = tier === 'page' ? PAGE : 64;
        const pairs = new Float64Array([3 * unit + 1, 1, 0, 1, 40 * unit, unit + 1, 0, 0]);
        assert.equal(h.persistExtents(pairs, 4), 3);
        assert.deepEqual([pairs[0], pairs[1]], [3, unit + unit + 2 * unit]);
        // count 0 and pairs that are all empty touch nothing
        const empty = new Float64Array([7, 0, 9, 9]);
        assert.equal(h.persistExtents(empty, 0), 0);
        assert.equal(h.persistExtents(empty, 1), 0);
        assert.deepEqual([...empty], [7, 0, 9, 9]);
      } finally {
        h.close();
      }
    });

    it(`'${tier}': writes (runs, bytes) into the caller's own bytes, on the V8 heap or off it, at any byteOffset`, () => {
      const h = rawHandle(64 * PAGE, tier);
      try {
        const unit = tier === 'page' ? PAGE : 64;
        // 16 bytes (kept on the V8 heap), the same array again (moved off it by the first call),
        // 4 KiB (off-heap from the start), and a view 24 bytes into a larger buffer.
        const small = new Float64Array([unit, 1]);
        const large = new Float64Array(512);
        large.set([0, 1, 5 * unit, unit]);
        const inner = new Float64Array(new ArrayBuffer(256), 24, 4);
        inner.set([2 * unit, 1, 9 * unit, 2 * unit]);
        for (const [name, pairs, count, result] of [
          ['on-heap', small, 1, [1, unit]],
          ['on-heap, second call', small, 1, [1, unit]],
          ['off-heap', large, 2, [2, 2 * unit]],
          ['at byteOffset 24', inner, 2, [2, 3 * unit]],
        ] as const) {
          if (name === 'on-heap, second call') small.set([unit, 1]);
          assert.equal(h.persistExtents(pairs, count), result[0], name);
          assert.deepEqual([pairs[0], pairs[1]], result, name);
        }
        assert.deepEqual([...new Float64Array(inner.buffer, 0, 3)], [0, 0, 0], 'nothing written before the view');
      } finally {
        h.close();
      }
    });

    it(`'${tier}': an invalid pair anywhere gives -EINVAL and leaves every pair as it was`, () => {
      const h = rawHandle(16 * PAGE, tier);
      const len = 16 * PAGE;
      try {
        const bad = [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 63, 2 ** 64, len + PAGE, Number.MAX_SAFE_INTEGER];
        for (const v of bad) {
          for (const where of [0, 1, 4, 5, 7]) {
            // in order, out of order after a few pairs, and an out-of-range length
            for (const base of [[0, 64, 128, 64, 256, 64, 512, 64], [0, 64, 512, 64, 256, 64, 128, 64]]) {
              const pairs = new Float64Array(base);
              pairs[where] = v;
              const before = [...pairs];
              assert.equal(h.persistExtents(pairs, 4), EINVAL, `value ${v} at ${where} of ${base}`);
              assert.deepEqual([...pairs], before, `value ${v} at ${where} of ${base}: pairs changed`);
            }
          }
        }
        // offset + length past the end (each alone is fine)
        const over = new Float64Array([0, 64, len - 64, 128]);
        assert.equal(h.persistExtents(over, 2), EINVAL);
        assert.deepEqual([...over], [0, 64, len - 64, 128]);
        // the whole mapping is fine, and so is an end inside the last flush unit (already coalesced input)
        assert.equal(h.persistExtents(new Float64Array([0, len]), 1), 1);
      } finally {
        h.close();
      }
    });
  }

  it('wrong arguments and a closed handle are refused with a status, not a crash', () => {
    const h = rawHandle(16 * PAGE, 'cacheline');
    const call = (...args: unknown[]): number => (h.persistExtents as (...a: unknown[]) => number).apply(h, args);
    assert.equal(call(new Float64Array(4), 3), EINVAL, 'count beyond the array');
    assert.equal(call(new Float32Array(4), 1), EINVAL, 'not a Float64Array');
    assert.equal(call([0, 64], 1), EINVAL, 'a plain array');
    assert.equal(call(new Float64Array(4), -1), EINVAL);
    assert.equal(call(new Float64Array(4), 1.5), EINVAL);
    // The methods are the handle class's: on any other receiver V8 refuses the call.
    const unbound = h.persistExtents;
    assert.throws(() => unbound(new Float64Array([0, 64]), 1), /Illegal invocation/);
    assert.throws(() => h.persistExtents.call({}, new Float64Array([0, 64]), 1), /Illegal invocation/);
    assert.throws(() => h.persist.call(Object.create(h), 0, 64), /Illegal invocation/);
    h.close();
    assert.equal(h.persistExtents(new Float64Array([0, 64]), 1), -9, 'EBADF once closed');
  });
});
