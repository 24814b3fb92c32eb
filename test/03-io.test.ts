/**
 * Data in and out: views, read, write (every data type), fill, flush/drain/persist/persistAsync,
 * at every tier, at sizes around the 256 B non-temporal threshold and at unaligned offsets.
 * A shadow copy of what was written is compared with the mapping after every step and with the
 * file (read with fs) after close: the bytes persisted must be in the file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it, before, after } from 'node:test';
import { open, cpuInfo } from 'node-pmem';
import { PAGE, MiB, SHM, tmpDir, freshPath, pattern, readAt, pageDirty, Mapping } from './helpers';

const DISK = tmpDir();
const TMPFS = tmpDir(SHM);

const THRESHOLD = cpuInfo().nonTemporalThreshold;

/** Sizes around the cache line, the non-temporal threshold and the page. */
const SIZES = [
  1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 191, 200, 255, 256, 257, 300, 383, 511, 512, 513,
  1000, 1023, 2049, 4095, 4096, 4097, 8191, 65536 + 3,
];
const MODS = [0, 1, 31, 63];

type Tier = 'auto' | 'byte' | 'cacheline' | 'page';
const TIERS: Tier[] = ['auto', 'byte', 'cacheline', 'page'];

describe('the non-temporal threshold the sizes are built around', () => {
  it('is 256 bytes (libpmem default)', () => {
    assert.equal(THRESHOLD, 256);
  });
});

for (const [fsLabel, dir] of [['disk', DISK], ['tmpfs', TMPFS]] as const) {
  for (const tier of TIERS) {
    describe(`io at granularity '${tier}' on ${fsLabel}`, () => {
      const SIZE = 16 * MiB + 3 * PAGE + 123; // not a multiple of a page or a line
      let file: string;
      let m: Mapping;
      let shadow: Buffer;
      let cursor = 0;
      let seed = 1;

      /** Next free region for `size` bytes, starting `mod` bytes past a 64-byte boundary. */
      function slot(size: number, mod: number): number {
        const base = Math.ceil((cursor + 8) / 64) * 64 + mod;
        cursor = base + size;
        assert.ok(cursor + 8 < SIZE, 'the test file is too small for the test plan');
        return base;
      }

      /** The mapping equals the shadow over [from, to) plus a few guard bytes either side. */
      function check(from: number, to: number, what: string): void {
        const a = Math.max(0, from - 8);
        const b = Math.min(SIZE, to + 8);
        assert.deepEqual(m.read(a, b - a), shadow.subarray(a, b), what);
      }

      before(() => {
        file = freshPath(dir);
        m = open(file, { create: true, size: SIZE, sparse: true, granularity: tier });
        shadow = Buffer.alloc(SIZE);
        assert.equal(m.granularity, tier === 'auto' ? 'page' : tier);
      });
      after(() => {
        if (!m.closed) m.close();
      });

      it('write(Buffer) of every size, aligned and unaligned, with and without persist', () => {
        for (const size of SIZES) {
          for (const mod of MODS) {
            for (const persist of [false, true]) {
              const off = slot(size, mod);
              const data = pattern(size, seed++);
              const n = persist ? m.write(off, data, { persist: true }) : m.write(off, data);
              assert.equal(n, size, `write returned ${n} for ${size} bytes`);
              shadow.set(data, off);
              check(off, off + size, `write ${size} B at ${off} (64k+${mod}), persist ${persist}`);
            }
          }
        }
      });

      it('write of 1 MiB at an aligned and an odd offset, with and without persist', () => {
        for (const mod of [0, 1]) {
          for (const persist of [false, true]) {
            const off = slot(MiB, mod);
            const data = pattern(MiB, seed++);
            assert.equal(m.write(off, data, { persist }), MiB);
            shadow.set(data, off);
            check(off, off + MiB, `1 MiB at ${off}, persist ${persist}`);
          }
        }
      });

      it('write accepts string (utf8), Buffer, Uint8Array, a subarray, DataView, ArrayBuffer and other typed arrays', () => {
        for (const persist of [false, true]) {
          const str = 'héllo, persistent wörld €';
          const strBytes = Buffer.from(str, 'utf8');
          let off = slot(strBytes.length, 1);
          assert.equal(m.write(off, str, { persist }), strBytes.length, 'string: bytes written, not characters');
          shadow.set(strBytes, off);
          check(off, off + strBytes.length, 'string');

          const long = 'x'.repeat(1000) + 'ÿ';
          const longBytes = Buffer.from(long, 'utf8');
          off = slot(longBytes.length, 3);
          assert.equal(m.write(off, long, { persist }), longBytes.length);
          shadow.set(longBytes, off);
          check(off, off + longBytes.length, 'long string');

          const u8 = new Uint8Array(pattern(300, seed++));
          off = slot(u8.length, 5);
          assert.equal(m.write(off, u8, { persist }), 300);
          shadow.set(u8, off);
          check(off, off + 300, 'Uint8Array');

          // a view that does not start at the beginning of its buffer
          const big = pattern(4096, seed++);
          const sub = new Uint8Array(big.buffer, big.byteOffset + 17, 700);
          off = slot(700, 7);
          assert.equal(m.write(off, sub, { persist }), 700);
          shadow.set(sub, off);
          check(off, off + 700, 'Uint8Array with byteOffset');

          const small = big.subarray(1001, 1013);
          off = slot(small.length, 9);
          assert.equal(m.write(off, small, { persist }), 12);
          shadow.set(small, off);
          check(off, off + 12, 'Buffer subarray');

          const dvSrc = pattern(520, seed++);
          const dv = new DataView(dvSrc.buffer, dvSrc.byteOffset + 3, 500);
          off = slot(500, 11);
          assert.equal(m.write(off, dv, { persist }), 500);
          shadow.set(dvSrc.subarray(3, 503), off);
          check(off, off + 500, 'DataView');

          const abSrc = pattern(333, seed++);
          const ab = new ArrayBuffer(333);
          new Uint8Array(ab).set(abSrc);
          off = slot(333, 13);
          assert.equal(m.write(off, ab, { persist }), 333);
          shadow.set(abSrc, off);
          check(off, off + 333, 'ArrayBuffer');

          const u32 = new Uint32Array([0x11223344, 0x55667788, 0xdeadbeef]);
          off = slot(12, 15);
          assert.equal(m.write(off, u32, { persist }), 12, 'typed arrays count bytes, not elements');
          shadow.set(new Uint8Array(u32.buffer), off);
          check(off, off + 12, 'Uint32Array');

          const f64 = new Float64Array(64).map((_, i) => i * Math.PI);
          const f64Part = f64.subarray(3, 40);
          off = slot(f64Part.byteLength, 17);
          assert.equal(m.write(off, f64Part, { persist }), f64Part.byteLength);
          shadow.set(new Uint8Array(f64Part.buffer, f64Part.byteOffset, f64Part.byteLength), off);
          check(off, off + f64Part.byteLength, 'Float64Array subarray');
        }
      });

      it('fill at every size, aligned and unaligned, with and without persist', () => {
        let byte = 1;
        for (const size of [...SIZES, MiB / 2]) {
          for (const mod of [0, 1, 63]) {
            for (const persist of [false, true]) {
              const off = slot(size, mod);
              byte = (byte * 37 + 11) & 0xff || 0xff;
              if (persist) m.fill(off, size, byte, { persist: true });
              else m.fill(off, size, byte);
              shadow.fill(byte, off, off + size);
              check(off, off + size, `fill ${size} B of ${byte} at ${off}, persist ${persist}`);
            }
          }
        }
        // the extreme byte values
        for (const b of [0, 255]) {
          const off = slot(777, 1);
          m.fill(off, 777, b, { persist: true });
          shadow.fill(b, off, off + 777);
          check(off, off + 777, `fill ${b}`);
        }
      });

      it('bytes() and dataView() are live views of the one buffer', () => {
        const ab = m.buffer;
        assert.ok(ab instanceof ArrayBuffer);
        assert.equal(m.buffer, ab, 'buffer is the same ArrayBuffer every time');
        assert.equal(ab.byteLength, SIZE);

        const all = m.bytes();
        assert.ok(all instanceof Uint8Array);
        assert.equal(all.byteLength, SIZE);
        assert.equal(all.byteOffset, 0);
        assert.equal(all.buffer, ab);

        const off = slot(100, 5);
        const v = m.bytes(off, 100);
        assert.equal(v.byteLength, 100);
        assert.equal(v.byteOffset, off);
        assert.equal(v.buffer, ab);
        v.set(pattern(100, 99));
        shadow.set(pattern(100, 99), off);
        check(off, off + 100, 'store through bytes()');

        const tail = m.bytes(SIZE - 10);
        assert.equal(tail.byteLength, 10, 'bytes(offset) runs to the end');
        assert.equal(tail.byteOffset, SIZE - 10);

        const dOff = slot(16, 3);
        const dv = m.dataView(dOff, 16);
        assert.ok(dv instanceof DataView);
        assert.equal(dv.byteLength, 16);
        assert.equal(dv.byteOffset, dOff);
        assert.equal(dv.buffer, ab);
        dv.setUint32(0, 0xcafef00d, true);
        dv.setBigUint64(8, 0x0102030405060708n, false);
        shadow.writeUInt32LE(0xcafef00d, dOff);
        shadow.writeBigUInt64BE(0x0102030405060708n, dOff + 8);
        check(dOff, dOff + 16, 'stores through dataView()');
        assert.equal(m.dataView().byteLength, SIZE);
        assert.equal(m.dataView(SIZE - 4).byteLength, 4);

        // what write() stored is visible through a view taken before
        const wOff = slot(50, 1);
        const before = m.bytes(wOff, 50);
        const data = pattern(50, seed++);
        m.write(wOff, data);
        shadow.set(data, wOff);
        assert.deepEqual(Buffer.from(before), data);

        // Buffer.from(buffer, offset, length) sees the same memory
        const asBuffer = Buffer.from(m.buffer, wOff, 50);
        assert.deepEqual(asBuffer, data);
        m.persist(off, wOff + 50 - off);
      });

      it('read() returns a copy', () => {
        const off = slot(64, 0);
        const data = pattern(64, seed++);
        m.write(off, data);
        shadow.set(data, off);
        const copy = m.read(off, 64);
        assert.ok(Buffer.isBuffer(copy));
        assert.equal(copy.length, 64);
        assert.notEqual(copy.buffer, m.buffer);
        copy.fill(0);
        check(off, off + 64, 'changing the copy changed the mapping');
        assert.equal(m.read(off, 0).length, 0);
      });

      it('flush + drain, persist with and without a range, persistAsync', async () => {
        const ranges: Array<[number, number]> = [
          [0, 1], [1, 10], [PAGE - 1, 2], [63, 130], [PAGE + 5, 3 * PAGE], [SIZE - 1, 1], [SIZE - 300, 300],
        ];
        for (const [off, len] of ranges) {
          m.fill(off, len, 0xa5);
          shadow.fill(0xa5, off, off + len);
          m.flush(off, len);
          m.drain();
          m.persist(off, len);
          const p = m.persistAsync(off, len);
          assert.ok(p instanceof Promise);
          assert.equal(await p, undefined);
          check(off, off + len, `range ${off}+${len}`);
        }
        m.persist(); // the whole mapping
        m.persist(SIZE - 5); // to the end
        assert.equal(await m.persistAsync(), undefined);
        assert.equal(await m.persistAsync(PAGE), undefined);
        // several in flight at once
        await Promise.all([m.persistAsync(0, PAGE), m.persistAsync(PAGE, PAGE), m.persistAsync(), m.persistAsync(1, 1)]);
      });

      it('zero-length operations are no-ops, also at the very end of the mapping', async () => {
        const off = slot(8, 1);
        const snapshot = m.read(0, SIZE);
        for (const at of [0, off, SIZE - 1, SIZE]) {
          assert.equal(m.write(at, ''), 0);
          assert.equal(m.write(at, Buffer.alloc(0), { persist: true }), 0);
          assert.equal(m.write(at, new Uint8Array(0)), 0);
          assert.equal(m.write(at, new ArrayBuffer(0)), 0);
          m.fill(at, 0, 0x77);
          m.fill(at, 0, 0x77, { persist: true });
          m.flush(at, 0);
          m.persist(at, 0);
          await m.persistAsync(at, 0);
          assert.equal(m.bytes(at, 0).byteLength, 0);
          assert.equal(m.read(at, 0).length, 0);
        }
        assert.ok(m.read(0, SIZE).equals(snapshot), 'a zero-length operation changed the mapping');
      });

      it('the whole mapping equals the shadow; after close the file (read with fs) holds every byte', () => {
        assert.ok(m.read(0, SIZE).equals(shadow), 'mapping differs from what was written');
        // MAP_SHARED: the file seen through fs is the same page cache, even before close
        assert.ok(readAt(file, 0, SIZE).equals(shadow), 'fs view differs while mapped');
        m.close();
        const onDisk = fs.readFileSync(file);
        assert.equal(onDisk.length, SIZE);
        assert.ok(onDisk.equals(shadow), 'file differs from what was written');
      });

      it('a new mapping of the file shows the same bytes', () => {
        const again = open(file, { granularity: tier });
        try {
          assert.ok(again.read(0, SIZE).equals(shadow));
        } finally {
          again.close();
        }
      });
    });
  }
}

describe('writes with persist at the very end of a mapping whose length is not a multiple of 64', () => {
  for (const tier of ['byte', 'cacheline', 'page'] as const) {
    it(`at '${tier}': sizes straddling the threshold end exactly at the last byte`, () => {
      const file = freshPath(DISK);
      const size = 2 * PAGE + 37;
      const m = open(file, { create: true, size, granularity: tier });
      const shadow = Buffer.alloc(size);
      try {
        for (const len of [1, 63, 64, 65, 255, 256, 257, 1000, size]) {
          const data = pattern(len, len);
          m.write(size - len, data, { persist: true });
          shadow.set(data, size - len);
          assert.ok(m.read(0, size).equals(shadow), `write of ${len} at the end`);
          m.fill(size - len, len, len & 0xff, { persist: true });
          shadow.fill(len & 0xff, size - len);
          assert.ok(m.read(0, size).equals(shadow), `fill of ${len} at the end`);
        }
      } finally {
        m.close();
      }
      assert.ok(fs.readFileSync(file).equals(shadow));
    });
  }
});

describe("page tier: persist really writes the pages back (PG_dirty read from /proc/kpageflags)", () => {
  // A store into a MAP_SHARED page of an ext4 file sets PG_dirty; msync(MS_SYNC) writes the page
  // back and clears it before returning. So each persisting call must leave its pages clean.
  const PAGES = 16;
  let file: string;
  let m: Mapping;
  let stamp = 1;

  /** Store into the page holding `off` until the kernel shows it dirty (writeback could race). */
  function soil(off: number): void {
    for (let attempt = 0; attempt < 5; attempt++) {
      m.bytes(off, 1)[0] = stamp++ & 0xff || 1;
      if (pageDirty(file, off) === true) return;
    }
    assert.fail(`page of offset ${off} never showed PG_dirty after a store`);
  }
  function assertClean(off: number, what: string): void {
    assert.equal(pageDirty(file, off), false, `${what}: page of offset ${off} is still dirty`);
  }

  before(() => {
    file = freshPath(DISK);
    m = open(file, { create: true, size: PAGES * PAGE + 100 });
    assert.equal(m.granularity, 'page');
  });
  after(() => {
    if (!m.closed) m.close();
  });

  it('persist(offset, length) cleans exactly the pages the range touches, for unaligned ranges', () => {
    soil(PAGE + 5);
    m.persist(PAGE + 5, 3);
    assertClean(PAGE + 5, 'persist inside a page');

    soil(2 * PAGE - 1);
    soil(2 * PAGE);
    m.persist(2 * PAGE - 1, 2);
    assertClean(2 * PAGE - 1, 'persist straddling two pages (first)');
    assertClean(2 * PAGE, 'persist straddling two pages (second)');

    soil(PAGES * PAGE + 50); // the partial last page
    m.persist(PAGES * PAGE + 99, 1);
    assertClean(PAGES * PAGE + 50, 'persist of the last byte');
  });

  it('flush at page tier writes back too (drain has nothing left to do)', () => {
    soil(3 * PAGE + 7);
    m.flush(3 * PAGE + 100, 1);
    m.drain();
    assertClean(3 * PAGE + 7, 'flush');
  });

  it('write and fill with persist', () => {
    soil(4 * PAGE);
    m.write(4 * PAGE + 1000, 'durable', { persist: true });
    assertClean(4 * PAGE, 'write({persist}) short');
    soil(5 * PAGE);
    soil(6 * PAGE);
    m.write(5 * PAGE + 3, pattern(PAGE, 4), { persist: true });
    assertClean(5 * PAGE, 'write({persist}) long, first page');
    assertClean(6 * PAGE, 'write({persist}) long, second page');
    soil(7 * PAGE);
    m.fill(7 * PAGE + 1, 10, 0x42, { persist: true });
    assertClean(7 * PAGE, 'fill({persist})');
  });

  it('persistAsync and persistDirty', async () => {
    soil(8 * PAGE);
    await m.persistAsync(8 * PAGE + 17, 1);
    assertClean(8 * PAGE, 'persistAsync');
    soil(9 * PAGE);
    soil(11 * PAGE);
    m.markDirty(9 * PAGE + 1, 1);
    m.markDirty(11 * PAGE + 4000, 2);
    assert.deepEqual({ ...m.persistDirty() }, { extents: 2, bytes: 2 * PAGE });
    assertClean(9 * PAGE, 'persistDirty (first extent)');
    assertClean(11 * PAGE, 'persistDirty (second extent)');
  });

  it('persist() and persistAsync() without arguments clean every page', async () => {
    for (let p = 0; p <= PAGES; p++) soil(p * PAGE);
    m.persist();
    for (let p = 0; p <= PAGES; p++) assertClean(p * PAGE, 'persist()');
    for (let p = 0; p <= PAGES; p++) soil(p * PAGE);
    await m.persistAsync();
    for (let p = 0; p <= PAGES; p++) assertClean(p * PAGE, 'persistAsync()');
  });

  it('a window: persist at window offsets cleans the right file pages', () => {
    m.close();
    const w = open(file, { offset: 4 * PAGE, length: 4 * PAGE });
    const saved = m;
    m = w;
    try {
      soil(PAGE + 9);
      w.persist(PAGE + 9, 1);
      assertClean(PAGE + 9, 'persist in a window');
    } finally {
      w.close();
      m = saved;
    }
  });
});

describe('write from a view of the same mapping (overlapping source and destination)', () => {
  // The result must be what Buffer.copy / copyWithin give: the source as it was before the write.
  const moves: Array<[src: number, dst: number, len: number]> = [
    [0, 10, 1000], [10, 0, 1000], [100, 164, 300], [164, 100, 300], [0, 1, 256], [1, 0, 257],
    [4096, 4000, 5000], [4000, 4096, 5000], [200, 200, 512], [7, 3000, 2000], [20_000, 20_064, 64 * 100],
  ];
  for (const tier of ['byte', 'cacheline', 'page'] as const) {
    for (const persist of [false, true]) {
      it(`at '${tier}', persist ${persist}`, () => {
        const file = freshPath(DISK);
        const SIZE = 64 * 1024;
        const m = open(file, { create: true, size: SIZE, granularity: tier });
        const shadow = pattern(SIZE, 42);
        try {
          m.write(0, shadow);
          for (const [src, dst, len] of moves) {
            assert.equal(m.write(dst, m.bytes(src, len), { persist }), len);
            shadow.copyWithin(dst, src, src + len);
            assert.ok(m.read(0, SIZE).equals(shadow), `move ${len} B from ${src} to ${dst}`);
          }
        } finally {
          m.close();
        }
        assert.ok(fs.readFileSync(file).equals(shadow));
      });
    }
  }
});

describe('persistAsync runs off the JavaScript thread', () => {
  it('its promise never settles within the current microtask queue', async () => {
    const m = open(freshPath(DISK), { create: true, size: 4 * MiB });
    try {
      for (const [o, l] of [[0, 4 * MiB], [0, 1], [PAGE, PAGE]] as const) {
        m.fill(o, l, 0x11);
        let settled = false;
        const p = m.persistAsync(o, l).then(() => (settled = true));
        for (let i = 0; i < 20; i++) await null; // microtasks only: no thread-pool completion can be delivered
        assert.equal(settled, false, 'persistAsync settled without a turn of the event loop: it ran on the JS thread');
        await p;
        assert.equal(settled, true);
      }
    } finally {
      m.close();
    }
  });
});
