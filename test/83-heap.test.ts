/**
 * node-pmem/heap: the pool, transactions, the allocator and references on real files (and on
 * simulated mappings where a test needs a crash or an unsafe-shutdown count), and every kind of bad
 * input and misuse the issue lists, each with its code and nothing changed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { CHUNK_SIZE, Heap, MIN_POOL_SIZE, REF_BYTES, SIZE_CLASSES, type Ref } from 'node-pmem/heap';
import { createSimulatedMapping, durableImage } from 'node-pmem/testing';
import { freshPath, throwsCode, tmpDir } from './helpers';

const dir = tmpDir(); // removed after the run, also after an aborted one (sweepStaleTestDirs)
const SIZE = 4 << 20;
const LAYOUT = 'unit';

function create(options: Record<string, unknown> = {}): { heap: Heap; file: string } {
  const file = freshPath(dir, 'heap');
  const heap = Heap.open(file, { layout: LAYOUT, create: true, size: SIZE, granularity: 'cacheline', ...options });
  return { heap, file };
}

let simCount = 0;
function sim(options: Record<string, unknown> = {}, size = SIZE) {
  const m = createSimulatedMapping({ size });
  const heap = Heap.fromMapping(m, { layout: LAYOUT, create: true, uuid: new Uint8Array(16).fill(++simCount), ...options });
  return { m, heap };
}

/** What a rolled-back transaction must leave as it was: everything but the log and the count of finished transactions. */
function unlogged(m: { bytes(): Uint8Array }, logSize = 65536): Buffer {
  const b = m.bytes();
  return Buffer.concat([b.subarray(0, 384), b.subarray(392, 4096), b.subarray(4096 + logSize)]);
}

describe('heap: pool', () => {
  it('create, reopen at another address, layout, uuid, root', () => {
    const { heap, file } = create({ rootSize: 100 });
    assert.equal(heap.layout, LAYOUT);
    assert.match(heap.uuid, /^[0-9a-f]{32}$/);
    assert.equal(heap.openReport.created, true);
    assert.equal(heap.root.size, 128, 'the root is rounded up to its size class');
    const a = heap.alloc(1000);
    a.setString(0, 'persisted at one address');
    heap.root.setRef(0, a);
    heap.root.setF64(REF_BYTES, Math.PI);
    const uuid = heap.uuid;
    heap.close();
    assert.equal(heap.closed, true);
    // Another mapping of the same file (another address), then a copy of the file.
    for (const f of [file, `${file}.copy`]) {
      if (f !== file) fs.copyFileSync(file, f);
      const again = Heap.open(f, { layout: LAYOUT });
      assert.equal(again.openReport.created, false);
      assert.equal(again.openReport.cleanShutdown, true);
      assert.equal(again.uuid, uuid);
      assert.equal(again.root.getRef(0)!.getString(0), 'persisted at one address');
      assert.equal(again.root.getF64(REF_BYTES), Math.PI);
      again.close();
    }
  });

  it('refuses what is not its pool, and never changes it', () => {
    const { heap, file } = create();
    heap.close();
    throwsCode(() => Heap.open(file, { layout: 'other' }), 'ERR_HEAP_LAYOUT');
    const before = fs.readFileSync(file);
    // A newer format version.
    const newer = `${file}.v2`;
    const v2 = Buffer.from(before);
    v2.writeUInt32LE(2, 8);
    fs.writeFileSync(newer, v2);
    throwsCode(() => Heap.open(newer, { layout: LAYOUT }), 'ERR_HEAP_VERSION');
    assert.ok(fs.readFileSync(newer).equals(v2));
    // A damaged header.
    const bad = `${file}.crc`;
    const damaged = Buffer.from(before);
    damaged[40] ^= 1;
    fs.writeFileSync(bad, damaged);
    throwsCode(() => Heap.open(bad, { layout: LAYOUT }), 'ERR_HEAP_CORRUPT');
    // Not a pool, with or without create.
    const other = `${file}.txt`;
    fs.writeFileSync(other, Buffer.alloc(SIZE, 'not a pool'));
    throwsCode(() => Heap.open(other, { layout: LAYOUT }), 'ERR_HEAP_NOT_A_POOL');
    throwsCode(() => Heap.open(other, { layout: LAYOUT, create: true, size: SIZE }), 'ERR_HEAP_NOT_A_POOL');
    assert.equal(fs.readFileSync(other).toString('latin1', 0, 10), 'not a pool');
    // All zeros: a pool only with create.
    const zeros = `${file}.zero`;
    fs.writeFileSync(zeros, Buffer.alloc(SIZE));
    throwsCode(() => Heap.open(zeros, { layout: LAYOUT }), 'ERR_HEAP_NOT_A_POOL');
    const made = Heap.open(zeros, { layout: LAYOUT, create: true });
    made.close();
    // Too small, and truncated after create.
    const tiny = `${file}.tiny`;
    fs.writeFileSync(tiny, Buffer.alloc(MIN_POOL_SIZE - 4096));
    throwsCode(() => Heap.open(tiny, { layout: LAYOUT, create: true }), 'ERR_HEAP_TOO_SMALL');
    const cut = `${file}.cut`;
    fs.writeFileSync(cut, before.subarray(0, SIZE / 2));
    throwsCode(() => Heap.open(cut, { layout: LAYOUT }), 'ERR_HEAP_CORRUPT');
    assert.ok(fs.readFileSync(file).equals(before), 'the pool itself was never written by the refusals');
  });

  it('options are checked before anything is created', () => {
    const file = freshPath(dir, 'opts');
    throwsCode(() => Heap.open(file, { layout: LAYOUT, create: true }), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => Heap.open(file, { layout: LAYOUT, create: true, size: 100 }), 'ERR_OUT_OF_RANGE');
    throwsCode(() => Heap.open(file, { layout: '', create: true, size: SIZE }), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => Heap.open(file, { layout: 'x'.repeat(64), create: true, size: SIZE }), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => Heap.open(file, { layout: 7 as unknown as string }), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => Heap.open(file, { layout: LAYOUT, bogus: 1 } as never), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => Heap.open(file, null as never), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => Heap.open(file, { layout: LAYOUT, create: true, size: SIZE, logSize: 100 }), 'ERR_OUT_OF_RANGE');
    throwsCode(() => Heap.fromMapping({} as never, { layout: LAYOUT }), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => Heap.open(file, { layout: LAYOUT, create: true, size: SIZE, granularity: 'fast' as never }), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => Heap.open(file, { layout: LAYOUT, create: true, size: SIZE, rootSize: SIZE * 2 }), 'ERR_OUT_OF_RANGE');
    assert.equal(fs.existsSync(file), false, 'no file left by a refused create');
    const { heap, file: f } = create({ rootSize: 64 });
    heap.close();
    throwsCode(() => Heap.open(f, { layout: LAYOUT, rootSize: 4096 }), 'ERR_OUT_OF_RANGE');
  });

  it('the unsafe-shutdown protocol: in use while open, the count stored at open', () => {
    const { m, heap } = sim({ unsafeShutdownCount: 3 });
    heap.root.setU32(0, 1);
    // No close(): the session ends as in a crash. The count moved: refused, unless allowed.
    throwsCode(() => Heap.fromMapping(m, { layout: LAYOUT, unsafeShutdownCount: 4 }), 'ERR_HEAP_UNSAFE_SHUTDOWN');
    const allowed = Heap.fromMapping(m, { layout: LAYOUT, unsafeShutdownCount: 4, allowUnsafeShutdown: true });
    assert.equal(allowed.openReport.unsafeShutdown, true);
    assert.equal(allowed.openReport.cleanShutdown, false);
    allowed.close();
    // A clean close: a changed count says nothing about this pool.
    const clean = Heap.fromMapping(m, { layout: LAYOUT, unsafeShutdownCount: 9 });
    assert.equal(clean.openReport.unsafeShutdown, false);
    assert.equal(clean.openReport.cleanShutdown, true);
    // Not closed, same count: a crash of the process, not of the platform.
    const same = Heap.fromMapping(m, { layout: LAYOUT, unsafeShutdownCount: 9 });
    assert.equal(same.openReport.cleanShutdown, false);
    assert.equal(same.openReport.unsafeShutdown, false);
    // No count at all: unknown.
    const unknown = Heap.fromMapping(m, { layout: LAYOUT });
    assert.equal(unknown.openReport.unsafeShutdown, null);
    assert.equal(durableImage(m)[256 + 7] !== 0, true, 'the in-use mark is durable while open');
  });
});

describe('heap: transactions', () => {
  it('commit makes every declared range durable; a throw restores them byte for byte', () => {
    const { m, heap } = sim();
    const a = heap.alloc(4096);
    const b = heap.alloc(64);
    const before = unlogged(m);
    assert.throws(() =>
      heap.transaction((tx) => {
        tx.add(a.offset + 100, 200);
        a.getBytes(100, 200).fill(7);
        tx.add(a.offset + 150, 400); // overlaps: only the new part is logged
        a.getBytes(150, 400).fill(8);
        b.setU64(8, 123n);
        b.setBytes(16, Buffer.from('abc'));
        throw new Error('boom');
      }), /boom/);
    assert.ok(unlogged(m).equals(before), 'every byte back, metadata included');
    heap.transaction((tx) => {
      tx.addRef(a);
      a.getBytes().fill(9);
      b.setU32(0, 0xffffffff);
    });
    const durable = durableImage(m);
    assert.equal(durable[a.offset + 4095], 9);
    assert.equal(Buffer.from(durable).readUInt32LE(b.offset), 0xffffffff);
    assert.equal(heap.inTransaction, false);
  });

  it('nested transactions flatten; an inner failure fails the outer one even when caught', () => {
    const { heap } = sim();
    const r = heap.root;
    heap.transaction(() => {
      r.setU32(0, 1);
      heap.transaction(() => r.setU32(4, 2));
      assert.equal(heap.inTransaction, true);
    });
    assert.equal(r.getU32(4), 2);
    const e = throwsCode(() =>
      heap.transaction(() => {
        r.setU32(0, 10);
        try {
          heap.transaction(() => {
            r.setU32(4, 20);
            throw new Error('inner');
          });
        } catch {
          // caught: still rolled back
        }
        throwsCode(() => r.setU32(8, 3), 'ERR_HEAP_TX_ABORTED', 'a doomed transaction takes no more work');
      }), 'ERR_HEAP_TX_ABORTED');
    assert.match(String((e as Error & { cause?: Error }).cause?.message), /inner/);
    assert.equal(r.getU32(0), 1);
    assert.equal(r.getU32(4), 2);
  });

  it('abort(), async functions, a stale tx, close inside', () => {
    const { heap } = sim();
    const r = heap.root;
    const objects = heap.stats().objects;
    const e = throwsCode(() => heap.transaction((tx) => { heap.alloc(64); r.setU32(0, 5); tx.abort('no'); }), 'ERR_HEAP_TX_ABORTED');
    assert.equal((e as Error & { cause?: unknown }).cause, 'no');
    assert.equal(r.getU32(0), 0);
    assert.equal(heap.stats().objects, objects, 'the allocation was undone');
    throwsCode(() => heap.transaction(async () => { r.setU32(0, 6); }), 'ERR_HEAP_TX_ASYNC');
    assert.equal(r.getU32(0), 0);
    let kept: { add(o: number, l: number): void } | null = null;
    heap.transaction((tx) => { kept = tx; });
    throwsCode(() => kept!.add(r.offset, 8), 'ERR_HEAP_TX_STATE');
    throwsCode(() => heap.transaction(() => heap.close()), 'ERR_HEAP_TX_STATE');
    throwsCode(() => heap.transaction(7 as never), 'ERR_INVALID_ARG_TYPE');
  });

  it('tx.add outside the heap, and bad ranges', () => {
    const { heap } = sim();
    heap.transaction((tx) => {
      throwsCode(() => tx.add(0, 8), 'ERR_OUT_OF_RANGE', 'the header');
      throwsCode(() => tx.add(4096, 8), 'ERR_OUT_OF_RANGE', 'the log');
      throwsCode(() => tx.add(SIZE - 4, 8), 'ERR_OUT_OF_RANGE', 'past the end');
      throwsCode(() => tx.add(-1, 8), 'ERR_OUT_OF_RANGE');
      throwsCode(() => tx.add(NaN, 8), 'ERR_OUT_OF_RANGE');
      throwsCode(() => tx.add('1' as never, 8), 'ERR_INVALID_ARG_TYPE');
      tx.add(heap.root.offset, 0);
      throwsCode(() => tx.addRef(heap.root.offset as never), 'ERR_INVALID_ARG_TYPE', 'addRef takes a Ref, not an offset');
      throwsCode(() => tx.addRef(heap.root, 0, heap.root.size + 1), 'ERR_OUT_OF_RANGE');
    });
  });

  it('a range declared again, or overlapping declared ones, is logged once', () => {
    const { heap } = sim({ logSize: 8192 });
    const big = heap.alloc(8192);
    heap.transaction((tx) => {
      // 4 KiB declared 100 times, and in overlapping pieces: 400 KiB if each were logged, 4 KiB once.
      for (let i = 0; i < 100; i++) tx.add(big.offset, 4096);
      for (let i = 0; i < 100; i++) tx.add(big.offset + i * 40, 100);
      big.getBytes(0, 4096).fill(3);
      // Together with the first half only the new 2 KiB is logged: still inside the 8 KiB log.
      tx.add(big.offset + 2048, 4096);
      big.getBytes(2048, 4096).fill(4);
    });
    assert.equal(big.getU8(0), 3);
    assert.equal(big.getU8(6143), 4);
  });

  it('a transaction larger than the log fails before anything changes', () => {
    const { m, heap } = sim({ logSize: 8192 });
    const big = heap.alloc(65536);
    const before = unlogged(m, 8192);
    throwsCode(() =>
      heap.transaction((tx) => {
        heap.root.setU32(0, 1);
        tx.add(big.offset, big.size);
        big.getBytes().fill(1); // never reached
      }), 'ERR_HEAP_TX_LOG_FULL');
    assert.ok(unlogged(m, 8192).equals(before));
    // A smaller one still fits afterwards.
    heap.transaction((tx) => { tx.add(big.offset, 4096); big.getBytes(0, 4096).fill(2); });
    assert.equal(big.getU8(4095), 2);
  });

  it('a crash left in the log is rolled back at open', () => {
    const { m, heap } = sim();
    const r = heap.root;
    r.setU32(0, 1);
    const image = Buffer.from(m.bytes());
    // Stop a transaction midway by copying the mapping while it runs.
    let mid: Buffer | null = null;
    heap.transaction(() => {
      r.setU32(0, 2);
      r.setU32(4, 3);
      mid = Buffer.from(m.bytes());
    });
    const crashed = createSimulatedMapping({ initialImage: mid! });
    const recovered = Heap.fromMapping(crashed, { layout: LAYOUT });
    assert.deepEqual(recovered.openReport.rolledBack, { transaction: recovered.stats().transactions, ranges: 2 });
    assert.equal(recovered.root.getU32(0), 1);
    assert.equal(recovered.root.getU32(4), 0);
    void image;
  });
});

describe('heap: allocator', () => {
  it('size classes, the large path, zeroing', () => {
    const { heap } = sim();
    for (const [ask, size] of [[1, 64], [64, 64], [65, 128], [3000, 4096], [32768, 32768], [32769, CHUNK_SIZE], [CHUNK_SIZE * 2 + 1, CHUNK_SIZE * 3]]) {
      const r = heap.alloc(ask!);
      assert.equal(r.size, size, `alloc(${ask})`);
      assert.ok(r.getBytes().every((b) => b === 0), 'zeroed');
      heap.free(r);
    }
    assert.deepEqual(SIZE_CLASSES.at(-1), 32768);
    const dirty = heap.alloc(64);
    dirty.setU32(0, 0xabcdef);
    heap.free(dirty);
    const reused = heap.alloc(64, { zero: false });
    assert.equal(reused.offset, dirty.offset, 'the freed block is reused first');
    assert.equal(reused.getU32(0), 0xabcdef, 'not zeroed when asked not to');
  });

  it('free: not allocated, twice, the root, inside a block; nothing changes', () => {
    const { m, heap } = sim();
    const a = heap.alloc(256);
    const before = unlogged(m);
    throwsCode(() => heap.free(a.offset + 64), 'ERR_HEAP_BAD_FREE');
    throwsCode(() => heap.free(heap.root), 'ERR_HEAP_BAD_FREE');
    throwsCode(() => heap.free(12345678), 'ERR_HEAP_BAD_FREE');
    throwsCode(() => heap.free(-1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => heap.free('x' as never), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => heap.transaction(() => { heap.free(a); heap.free(a); }), 'ERR_HEAP_BAD_FREE');
    assert.ok(unlogged(m).equals(before));
    heap.free(a);
    throwsCode(() => heap.free(a), 'ERR_HEAP_BAD_FREE');
  });

  it('exhaustion: ERR_HEAP_NO_SPACE and nothing allocated', () => {
    const { heap } = sim({}, MIN_POOL_SIZE + 4 * CHUNK_SIZE);
    const stats = heap.stats();
    throwsCode(() => heap.alloc(stats.heapSize), 'ERR_HEAP_NO_SPACE');
    const kept: Ref[] = [];
    const e = throwsCode(() => { for (;;) kept.push(heap.alloc(4096)); }, 'ERR_HEAP_NO_SPACE');
    assert.match(e.message, /nothing was allocated/);
    assert.equal(heap.stats().objects, stats.objects + kept.length);
    throwsCode(() => heap.transaction(() => { for (let i = 0; i < 100; i++) heap.alloc(4096); }), 'ERR_HEAP_NO_SPACE');
    assert.equal(heap.stats().objects, stats.objects + kept.length, 'the transaction allocated nothing in the end');
    for (const r of kept) heap.free(r);
    assert.equal(heap.stats().objects, stats.objects);
    throwsCode(() => heap.alloc(0), 'ERR_OUT_OF_RANGE');
    throwsCode(() => heap.alloc(1.5), 'ERR_OUT_OF_RANGE');
    throwsCode(() => heap.alloc(2 ** 60), 'ERR_OUT_OF_RANGE');
    throwsCode(() => heap.alloc(64, { zero: 1 } as never), 'ERR_INVALID_ARG_TYPE');
  });

  it('random allocs and frees, some in aborted transactions: live objects never overlap, space is reused', () => {
    const { heap } = sim({}, 8 << 20);
    const live = new Map<number, number>();
    let x = 12345;
    const rnd = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x % n;
    };
    const sizes = [1, 64, 100, 500, 2000, 4096, 9000, 30000, 70000, 200000];
    for (let i = 0; i < 4000; i++) {
      const op = rnd(10);
      if (op < 5 || live.size === 0) {
        try {
          const r = heap.alloc(sizes[rnd(sizes.length)]!);
          assert.ok(!live.has(r.offset));
          live.set(r.offset, r.size);
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'ERR_HEAP_NO_SPACE');
        }
      } else if (op < 8) {
        const offsets = [...live.keys()];
        const off = offsets[rnd(offsets.length)]!;
        heap.free(off);
        live.delete(off);
      } else {
        // Allocate and free inside a transaction that rolls back: nothing of it stays.
        const offsets = [...live.keys()];
        assert.throws(() => heap.transaction(() => {
          heap.alloc(sizes[rnd(sizes.length)]!);
          heap.free(offsets[rnd(offsets.length)]!);
          throw new Error('roll back');
        }), (e: Error & { code?: string }) => e.message === 'roll back' || e.code === 'ERR_HEAP_NO_SPACE');
      }
      if (i % 500 === 0 || i === 3999) {
        const sorted = [...live.entries()].sort((a, b) => a[0] - b[0]);
        for (let k = 1; k < sorted.length; k++) assert.ok(sorted[k - 1]![0] + sorted[k - 1]![1] <= sorted[k]![0], 'objects overlap');
        assert.equal(heap.stats().objects, live.size + 1);
        for (const [off, size] of live) assert.equal(heap.ref(off).size, size);
      }
    }
    for (const off of live.keys()) heap.free(off);
    const s = heap.stats();
    assert.equal(s.objects, 1);
    assert.ok(s.freeChunks >= s.chunks - 1 - SIZE_CLASSES.length, `empty runs go back to the chunk pool (${s.freeChunks} of ${s.chunks} free)`);
  });

  it('the in-memory state is rebuilt on open from the chunk table and bitmaps', () => {
    const { heap, file } = create({ size: 64 << 20 });
    const live: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const r = heap.alloc([64, 200, 1000, 5000, 40000][i % 5]!);
      if (i % 3 === 0) heap.free(r);
      else live.push(r.offset);
    }
    const stats = heap.stats();
    heap.close();
    const again = Heap.open(file, { layout: LAYOUT });
    assert.deepEqual({ ...again.stats(), transactions: 0 }, { ...stats, transactions: 0 });
    for (const off of live) again.ref(off);
    again.close();
  });
});

describe('heap: references', () => {
  it('typed accessors write through and check their arguments', () => {
    const { heap } = sim();
    const r = heap.alloc(128);
    r.setU8(0, 255);
    r.setU16(2, 65535);
    r.setU32(4, 4e9);
    r.setI32(8, -5);
    r.setU64(16, 2n ** 64n - 1n);
    r.setF64(24, -0.5);
    r.setBytes(32, Buffer.from([1, 2, 3]));
    assert.equal(r.setString(40, 'héllo'), 4 + 6);
    assert.deepEqual([r.getU8(0), r.getU16(2), r.getU32(4), r.getI32(8), r.getU64(16), r.getF64(24), r.getString(40)], [255, 65535, 4e9, -5, 2n ** 64n - 1n, -0.5, 'héllo']);
    assert.deepEqual([...r.getBytes(32, 3)], [1, 2, 3]);
    throwsCode(() => r.setU8(0, 256), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.setU32(0, -1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.setU64(0, 5 as never), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => r.getU32(125), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.getU32(-1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.getU8(NaN), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => r.setString(120, 'too long for the rest'), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.setBytes(0, 'str' as never), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => r.getBytes(0, -5), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.getBytes(0, 2.5), 'ERR_OUT_OF_RANGE');
    throwsCode(() => r.getBytes(0, 'x' as never), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => r.getBytes(100, 29), 'ERR_OUT_OF_RANGE');
    assert.equal(r.getBytes(100, 28).length, 28);
  });

  it('misuse: freed objects, offsets that are no object, another pool', () => {
    const { heap } = sim();
    const other = sim().heap;
    const r = heap.alloc(64);
    heap.root.setRef(0, r);
    throwsCode(() => heap.ref(r.offset + 8), 'ERR_HEAP_BAD_REF');
    throwsCode(() => heap.ref(1), 'ERR_HEAP_BAD_REF');
    throwsCode(() => heap.ref(-1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => heap.root.setRef(0, other.root), 'ERR_HEAP_FOREIGN_REF');
    throwsCode(() => other.free(r), 'ERR_HEAP_FOREIGN_REF');
    throwsCode(() => heap.root.setRef(0, {} as never), 'ERR_INVALID_ARG_TYPE');
    // A pointer copied into another pool's object names nothing there.
    other.root.getBytes(0, REF_BYTES).set(heap.root.getBytes(0, REF_BYTES));
    throwsCode(() => other.root.getRef(0), 'ERR_HEAP_FOREIGN_REF');
    heap.free(r);
    throwsCode(() => r.getU32(0), 'ERR_HEAP_BAD_REF', 'use after free');
    throwsCode(() => heap.root.getRef(0), 'ERR_HEAP_BAD_REF', 'a pointer to freed space');
    heap.root.setRef(0, null);
    assert.equal(heap.root.getRef(0), null);
    heap.close();
    throwsCode(() => heap.root, 'ERR_HEAP_CLOSED');
    throwsCode(() => heap.alloc(64), 'ERR_HEAP_CLOSED');
    throwsCode(() => heap.transaction(() => {}), 'ERR_HEAP_CLOSED');
  });
});

