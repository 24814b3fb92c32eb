/**
 * Mappings larger than 4 GiB: a sparse 6 GiB file, offsets past 2^32 everywhere (write, fill,
 * persist, markDirty, windows), read back with fs at those offsets.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it, before, after } from 'node:test';
import { open } from 'node-pmem';
import { GiB, MiB, PAGE, tmpDir, freshPath, pattern, readAt, allocatedBytes, Mapping } from './helpers';

const DIR = tmpDir();
const SIZE = 6 * GiB;

describe('a sparse 6 GiB file', () => {
  let file: string;
  let m: Mapping;

  before(() => {
    file = freshPath(DIR, 'large');
    m = open(file, { create: true, size: SIZE, sparse: true });
  });
  after(() => {
    if (m && !m.closed) m.close();
    if (file) fs.rmSync(file, { force: true });
  });

  it('maps all of it without allocating it', () => {
    assert.equal(m.length, SIZE);
    assert.equal(m.buffer.byteLength, SIZE);
    assert.equal(fs.statSync(file).size, SIZE);
    assert.ok(allocatedBytes(file) < 64 * MiB, `sparse file allocated ${allocatedBytes(file)} bytes`);
  });

  const spots = [
    { at: 4 * GiB - 3, what: 'straddling 4 GiB' },
    { at: 4 * GiB + 12345, what: 'just past 4 GiB' },
    { at: 5 * GiB + 1, what: 'at 5 GiB + 1' },
    { at: SIZE - 6 * PAGE - 7, what: 'near the end' },
  ];

  it('write with persist past 4 GiB, visible through views and read()', () => {
    for (const [i, { at, what }] of spots.entries()) {
      for (const len of [10, 300, 5000]) {
        const data = pattern(len, i * 10 + len);
        assert.equal(m.write(at, data, { persist: true }), len, what);
        assert.ok(m.read(at, len).equals(data), `read ${what}`);
        assert.ok(Buffer.from(m.bytes(at, len)).equals(data), `bytes ${what}`);
        assert.equal(m.bytes(at, len).byteOffset, at);
        assert.equal(m.dataView(at, 4).getUint8(0), data[0]);
      }
    }
  });

  it('the last byte, fill, flush, persist, persistAsync and persistDirty past 4 GiB', async () => {
    m.write(SIZE - 1, Buffer.from([0x5a]), { persist: true });
    m.fill(SIZE - 3 * PAGE, 100, 0x7e, { persist: true });
    m.flush(SIZE - 3 * PAGE, 100);
    m.drain();
    m.persist(SIZE - 3 * PAGE, 3 * PAGE);
    await m.persistAsync(5 * GiB, PAGE);
    const v = m.bytes(SIZE - 2 * PAGE, 16);
    v.fill(0x33);
    m.markDirty(SIZE - 2 * PAGE, 16);
    m.markDirty(4 * GiB + 64, 1);
    assert.deepEqual({ ...m.persistDirty() }, { extents: 2, bytes: 2 * PAGE });
    const tail = m.bytes(SIZE - 1);
    assert.equal(tail.byteLength, 1);
    assert.equal(tail[0], 0x5a);
  });

  it('a whole-mapping view is either exact or a clean RangeError (typed arrays may be capped)', () => {
    let v: Uint8Array | undefined;
    try {
      v = m.bytes();
    } catch (err) {
      assert.ok(err instanceof RangeError, `bytes() over 6 GiB threw ${String(err)}`);
    }
    if (v) {
      assert.equal(v.byteLength, SIZE);
      assert.equal(v[SIZE - 1], 0x5a);
    }
  });

  it('after close, fs reads the bytes back at offsets past 4 GiB', () => {
    m.close();
    for (const [i, { at, what }] of spots.entries()) {
      const len = 5000;
      assert.ok(readAt(file, at, len).equals(pattern(len, i * 10 + len)), what);
    }
    assert.equal(readAt(file, SIZE - 1, 1)[0], 0x5a);
    assert.ok(readAt(file, SIZE - 3 * PAGE, 100).every((b) => b === 0x7e));
    assert.ok(readAt(file, SIZE - 2 * PAGE, 16).every((b) => b === 0x33));
    assert.ok(allocatedBytes(file) < 64 * MiB, 'writing a few spots allocated the whole file');
  });

  it('a window starting past 4 GiB maps the right bytes', () => {
    const at = spots[2]!.at; // 5 GiB + 1
    const w = open(file, { offset: 5 * GiB, length: 64 * 1024 });
    try {
      assert.equal(w.offset, 5 * GiB);
      assert.equal(w.length, 64 * 1024);
      assert.ok(w.read(at - 5 * GiB, 5000).equals(pattern(5000, 2 * 10 + 5000)));
      w.write(0, 'window at 5 GiB', { persist: true });
    } finally {
      w.close();
    }
    assert.equal(readAt(file, 5 * GiB, 15).toString(), 'window at 5 GiB');
    const end = open(file, { offset: SIZE - 2 * GiB, readOnly: true });
    try {
      assert.equal(end.length, 2 * GiB);
      assert.equal(end.read(2 * GiB - 1, 1)[0], 0x5a);
    } finally {
      end.close();
    }
  });
});
