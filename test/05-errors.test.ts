/**
 * Bad input everywhere, use after close, readOnly mappings and flock-based locking.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import { open, getDax, setDax, liveMappings } from 'node-pmem';
import {
  PAGE, tmpDir, freshPath, makeFile, throwsCode, throwsOrRejects, probeOpen, pattern, fdCount,
  TYPE, VALUE, RANGE, CLOSED, READ_ONLY, Mapping, REPO_ROOT,
} from './helpers';

const DIR = tmpDir();

/** Numbers that are never a valid offset or length. */
const BAD_NUMBERS: number[] = [-1, -4096, 1.5, 0.1, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 54, 2 ** 64, -0.5];
/** Values of the wrong type where a number is required. */
const NOT_NUMBERS: unknown[] = ['0', '1', {}, [], true, 1n, () => 0, Symbol('x')];

describe('open() argument validation', () => {
  const file = freshPath(DIR);
  before(() => makeFile(file, 8 * PAGE));

  it('path must be a string', () => {
    for (const p of [undefined, null, 1, {}, [], true, Symbol('p')]) {
      throwsCode(() => open(p as never), TYPE, `open(${String(p)})`);
    }
  });

  it('a path with a NUL byte is refused (not truncated to another file)', () => {
    throwsCode(() => open(file + '\0suffix'), VALUE);
  });

  it('options must be an object', () => {
    for (const o of ['x', 1, true, Symbol('o')]) throwsCode(() => open(file, o as never), TYPE, `options ${String(o)}`);
  });

  it('boolean options must be booleans', () => {
    for (const key of ['create', 'exclusive', 'sparse', 'readOnly']) {
      for (const v of ['yes', 1, {}, 'true']) {
        throwsCode(() => open(file, { [key]: v } as never), TYPE, `${key}: ${String(v)}`);
      }
    }
  });

  it('numeric options must be numbers', () => {
    for (const key of ['size', 'offset', 'length', 'mode']) {
      for (const v of ['4096', {}, 1n, true]) {
        const opts = key === 'size' ? { create: true, size: v } : { [key]: v };
        throwsCode(() => open(file, opts as never), TYPE, `${key}: ${String(v)}`);
      }
    }
  });

  it('numeric options out of range: negative, NaN, fractional, Infinity, > 2^53', () => {
    for (const v of BAD_NUMBERS) {
      throwsCode(() => open(file, { create: true, size: v }), RANGE, `size ${v}`);
      throwsCode(() => open(file, { offset: v }), RANGE, `offset ${v}`);
      throwsCode(() => open(file, { length: v }), RANGE, `length ${v}`);
    }
    for (const v of [-1, 0.5, NaN, Infinity, 2 ** 53]) {
      throwsCode(() => open(freshPath(DIR), { create: true, size: PAGE, mode: v }), RANGE, `mode ${v}`);
    }
    assert.equal(fs.statSync(file).size, 8 * PAGE);
  });

  it('unknown option keys are ERR_INVALID_ARG_VALUE naming the key and the closest known one; nothing is opened or created', () => {
    const f = freshPath(DIR);
    const fds = fdCount();
    for (const [options, key, hint] of [
      [{ creat: true, size: 4096 }, 'creat', 'create'],
      [{ create: true, szie: 4096 }, 'szie', 'size'],
      [{ readonly: true }, 'readonly', 'readOnly'],
      [{ granularty: 'page' }, 'granularty', 'granularity'],
      [{ create: true, size: 4096, persistent: true }, 'persistent', null],
    ] as const) {
      throwsCode(() => open(f, options as never), VALUE, key);
      const e = (() => {
        try {
          open(f, options as never);
        } catch (err) {
          return err as Error;
        }
        return null;
      })()!;
      assert.match(e.message, new RegExp(`'options\\.${key}' is not an option of open\\(\\)`));
      if (hint) assert.match(e.message, new RegExp(`did you mean '${hint}'`));
      else assert.doesNotMatch(e.message, /did you mean/);
      assert.ok(!fs.existsSync(f), `${key}: a file was created`);
    }
    assert.equal(fdCount(), fds);
  });

  it('enum options: unknown values are ERR_INVALID_ARG_VALUE', () => {
    for (const g of ['x', 'Byte', 'cachelines', '']) throwsCode(() => open(file, { granularity: g as never }), VALUE, `granularity ${g}`);
    for (const l of ['x', 'Exclusive', 'write', '']) throwsCode(() => open(file, { lock: l as never }), VALUE, `lock ${l}`);
  });

  it('size without create is ERR_INVALID_ARG_VALUE', () => {
    throwsCode(() => open(file, { size: 8 * PAGE }), VALUE);
  });

  it('exclusive without create is ERR_INVALID_ARG_VALUE (it only means something with create)', () => {
    throwsCode(() => open(file, { exclusive: true }), VALUE);
  });

  it('failed opens of every kind leak no descriptors, locks or mappings', () => {
    const holder = freshPath(DIR);
    makeFile(holder, PAGE);
    const empty = freshPath(DIR);
    fs.writeFileSync(empty, '');
    const held = open(holder);
    const fds = fdCount();
    const live = liveMappings();
    try {
      for (let i = 0; i < 100; i++) {
        throwsCode(() => open(holder), 'ERR_PMEM_LOCKED');
        throwsCode(() => open(empty), 'ERR_PMEM_EMPTY');
        throwsCode(() => open(DIR), 'ERR_PMEM_UNSUPPORTED');
        throwsCode(() => open('/dev/null'), 'ERR_PMEM_UNSUPPORTED');
        throwsCode(() => open(file, { offset: 1 }), 'ERR_PMEM_UNALIGNED');
        throwsCode(() => open(file, { offset: 64 * PAGE }), RANGE);
        throwsCode(() => open(file, { length: 64 * PAGE }), RANGE);
        throwsCode(() => open(freshPath(DIR)), 'ENOENT');
        throwsCode(() => open(file, { create: true, exclusive: true, size: PAGE }), 'EEXIST');
      }
      assert.equal(fdCount(), fds, 'file descriptors leaked by failed opens');
      assert.equal(liveMappings(), live);
    } finally {
      held.close();
    }
    open(file).close(); // and no lock was left on the files that failed late
  });

  it('validation happens before anything is opened: no lock is left behind', () => {
    throwsCode(() => open(file, { granularity: 'bad' as never }), VALUE);
    const m = open(file); // exclusive: would fail if a refused open kept a lock
    m.close();
  });
});

describe('method argument validation', () => {
  let m: Mapping;
  let len: number;
  before(() => {
    m = open(freshPath(DIR), { create: true, size: 4 * PAGE + 100 });
    len = m.length;
  });
  after(() => m.close());

  /** Methods taking (offset, length) and how to call them with those two. */
  const ranged: Array<[string, (o: number, l: number) => unknown]> = [
    ['bytes', (o, l) => m.bytes(o, l)],
    ['dataView', (o, l) => m.dataView(o, l)],
    ['read', (o, l) => m.read(o, l)],
    ['flush', (o, l) => m.flush(o, l)],
    ['persist', (o, l) => m.persist(o, l)],
    ['fill', (o, l) => m.fill(o, l, 1)],
    ['fill+persist', (o, l) => m.fill(o, l, 1, { persist: true })],
    ['markDirty', (o, l) => m.markDirty(o, l)],
  ];

  it('offset and length of the wrong type → ERR_INVALID_ARG_TYPE', () => {
    for (const [name, call] of ranged) {
      for (const v of NOT_NUMBERS) {
        throwsCode(() => call(v as number, 1), TYPE, `${name}(${String(v)}, 1)`);
        throwsCode(() => call(0, v as number), TYPE, `${name}(0, ${String(v)})`);
      }
    }
  });

  it('offset and length negative, NaN, fractional, Infinity, > 2^53 → ERR_OUT_OF_RANGE', () => {
    for (const [name, call] of ranged) {
      for (const v of BAD_NUMBERS) {
        throwsCode(() => call(v, 1), RANGE, `${name}(${v}, 1)`);
        throwsCode(() => call(0, v), RANGE, `${name}(0, ${v})`);
      }
    }
  });

  it('ranges beyond the mapping and offset+length overflow → ERR_OUT_OF_RANGE', () => {
    const beyond: Array<[number, number]> = [
      [len, 1], [len - 1, 2], [0, len + 1], [len + 1, 0], [len + PAGE, 0],
      [Number.MAX_SAFE_INTEGER, 1], [1, Number.MAX_SAFE_INTEGER], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
      [2 ** 52, 2 ** 52], [2 ** 32, 1], [0, 2 ** 32 + 1],
    ];
    for (const [name, call] of ranged) {
      for (const [o, l] of beyond) throwsCode(() => call(o, l), RANGE, `${name}(${o}, ${l})`);
    }
    // one-argument forms
    for (const o of [len + 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      throwsCode(() => m.bytes(o), RANGE, `bytes(${o})`);
      throwsCode(() => m.dataView(o), RANGE, `dataView(${o})`);
      throwsCode(() => m.persist(o), RANGE, `persist(${o})`);
    }
  });

  it('persistAsync validates the same way (a throw or a rejection)', async () => {
    for (const v of ['0', {}, true]) await throwsOrRejects(() => m.persistAsync(v as never, 1), TYPE, `persistAsync(${String(v)}, 1)`);
    for (const v of BAD_NUMBERS) await throwsOrRejects(() => m.persistAsync(v, 1), RANGE, `persistAsync(${v}, 1)`);
    for (const [o, l] of [[len, 1], [0, len + 1], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]]) {
      await throwsOrRejects(() => m.persistAsync(o!, l!), RANGE, `persistAsync(${o}, ${l})`);
    }
  });

  it('read needs both arguments', () => {
    throwsCode(() => (m.read as (...a: unknown[]) => unknown)(), TYPE, 'read()');
    throwsCode(() => (m.read as (...a: unknown[]) => unknown)(0), TYPE, 'read(0)');
  });

  it('write: data of the wrong type → ERR_INVALID_ARG_TYPE', () => {
    for (const d of [undefined, null, 1, true, {}, [1, 2, 3], 1n, Symbol('d')]) {
      throwsCode(() => m.write(0, d as never), TYPE, `write(0, ${String(d)})`);
    }
    for (const o of NOT_NUMBERS) throwsCode(() => m.write(o as number, 'x'), TYPE, `write(${String(o)}, 'x')`);
  });

  it('write: offsets out of range and data that does not fit → ERR_OUT_OF_RANGE, nothing written', () => {
    const before = m.read(0, len);
    for (const o of BAD_NUMBERS) throwsCode(() => m.write(o, 'x'), RANGE, `write(${o}, 'x')`);
    throwsCode(() => m.write(len - 1, 'ab'), RANGE, 'string past the end');
    throwsCode(() => m.write(len, 'a'), RANGE, 'string at the end');
    throwsCode(() => m.write(len - 10, Buffer.alloc(11)), RANGE, 'buffer past the end');
    throwsCode(() => m.write(len - 10, Buffer.alloc(11), { persist: true }), RANGE, 'buffer past the end, persist');
    throwsCode(() => m.write(1, new ArrayBuffer(len)), RANGE, 'ArrayBuffer past the end');
    throwsCode(() => m.write(Number.MAX_SAFE_INTEGER, 'x'), RANGE);
    throwsCode(() => m.write(len - 1, 'é'), RANGE, 'a 2-byte character at the last byte');
    assert.ok(m.read(0, len).equals(before), 'a refused write changed the mapping');
  });

  it('write: detached sources are ERR_INVALID_ARG_VALUE, never a silent 0-byte write', () => {
    const before = m.read(0, 64);
    const detachedBuffer = (): ArrayBuffer => {
      const ab = new ArrayBuffer(16);
      structuredClone(ab, { transfer: [ab] });
      return ab;
    };
    for (const persist of [false, true]) {
      throwsCode(() => m.write(0, detachedBuffer(), { persist }), VALUE, `detached ArrayBuffer, persist ${persist}`);
      const u8 = new Uint8Array(new ArrayBuffer(16));
      structuredClone(u8.buffer, { transfer: [u8.buffer] });
      throwsCode(() => m.write(0, u8, { persist }), VALUE, `a Uint8Array whose buffer was detached later, persist ${persist}`);
      const dv = new DataView(new ArrayBuffer(16));
      structuredClone(dv.buffer, { transfer: [dv.buffer] });
      throwsCode(() => m.write(0, dv, { persist }), VALUE, `DataView over a detached buffer, persist ${persist}`);
      const f64 = new Float64Array(2);
      structuredClone(f64.buffer, { transfer: [f64.buffer] });
      throwsCode(() => m.write(0, f64, { persist }), VALUE, `Float64Array over a detached buffer, persist ${persist}`);
    }
    assert.ok(m.read(0, 64).equals(before));
    // An empty source that is not detached is still a valid 0-byte write.
    assert.equal(m.write(0, new Uint8Array(0)), 0);
    assert.equal(m.write(0, new Uint8Array(0), { persist: true }), 0);
  });

  it('write: shared, resizable and growable sources copy their current bytes', () => {
    for (const persist of [false, true]) {
      const sab = new SharedArrayBuffer(32);
      new Uint8Array(sab).fill(0x51);
      assert.equal(m.write(64, sab, { persist }), 32);
      assert.ok(m.read(64, 32).every((b) => b === 0x51), `SharedArrayBuffer, persist ${persist}`);
      assert.equal(m.write(96, new Uint8Array(sab, 8, 8), { persist }), 8);
      assert.ok(m.read(96, 8).every((b) => b === 0x51));
      type Resizable = ArrayBuffer & { resize(n: number): void };
      const Ctor = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
      const rab = new Ctor(16, { maxByteLength: 64 });
      const tracking = new Uint8Array(rab); // length-tracking view
      tracking.fill(0x52);
      rab.resize(48);
      tracking.fill(0x53, 16);
      assert.equal(m.write(128, tracking, { persist }), 48, `length-tracking view after a grow, persist ${persist}`);
      assert.ok(m.read(128, 16).every((b) => b === 0x52) && m.read(144, 32).every((b) => b === 0x53));
      rab.resize(8);
      assert.equal(m.write(192, rab, { persist }), 8, 'resizable buffer after a shrink');
      type Growable = SharedArrayBuffer & { grow(n: number): void };
      const GCtor = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Growable;
      const gsab = new GCtor(8, { maxByteLength: 32 });
      gsab.grow(24);
      new Uint8Array(gsab).fill(0x54);
      assert.equal(m.write(256, new Uint8Array(gsab), { persist }), 24);
      assert.ok(m.read(256, 24).every((b) => b === 0x54));
    }
  });

  it('write: an options getter that closes the mapping gives ERR_PMEM_CLOSED, and nothing is written', () => {
    for (const persist of [false, true]) {
      const f = freshPath(DIR);
      makeFile(f, PAGE);
      const victim = open(f);
      const before = victim.read(0, 8);
      const options = {
        get persist() {
          victim.close();
          return persist;
        },
      };
      throwsCode(() => victim.write(0, 'XXXXXXXX', options), CLOSED, `persist ${persist}`);
      assert.ok(fs.readFileSync(f).subarray(0, 8).equals(before));
    }
  });

  it('write/fill options: must be an object with a boolean persist', () => {
    for (const o of ['yes', 1, true]) {
      throwsCode(() => m.write(0, 'x', o as never), TYPE, `write options ${String(o)}`);
      throwsCode(() => m.fill(0, 1, 0, o as never), TYPE, `fill options ${String(o)}`);
    }
    for (const p of ['yes', 1, {}]) {
      throwsCode(() => m.write(0, 'x', { persist: p as never }), TYPE, `persist: ${String(p)}`);
      throwsCode(() => m.fill(0, 1, 0, { persist: p as never }), TYPE, `fill persist: ${String(p)}`);
    }
  });

  it('fill: byte must be an integer in 0..255', () => {
    for (const b of [-1, 256, 1000, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
      throwsCode(() => m.fill(0, 1, b), RANGE, `fill byte ${b}`);
    }
    for (const b of ['1', null, undefined, {}, 1n]) {
      throwsCode(() => m.fill(0, 1, b as number), TYPE, `fill byte ${String(b)}`);
    }
    m.fill(0, 2, 0);
    m.fill(2, 2, 255);
    assert.deepEqual([...m.read(0, 4)], [0, 0, 255, 255]);
  });

  it('the mapping is still fully usable after all the refused calls', () => {
    const data = pattern(len, 3);
    assert.equal(m.write(0, data, { persist: true }), len);
    assert.ok(m.read(0, len).equals(data));
  });
});

describe('use after close', () => {
  it('every method and buffer throw ERR_PMEM_CLOSED; close twice is a no-op', async () => {
    const m = open(freshPath(DIR), { create: true, size: 4 * PAGE });
    m.markDirty(0, 10);
    m.close();
    assert.equal(m.closed, true);
    m.close();
    m.close();
    assert.equal(m.closed, true);
    throwsCode(() => m.buffer, CLOSED, 'buffer');
    throwsCode(() => m.bytes(), CLOSED, 'bytes()');
    throwsCode(() => m.bytes(0, 1), CLOSED, 'bytes(0, 1)');
    throwsCode(() => m.dataView(), CLOSED, 'dataView()');
    throwsCode(() => m.read(0, 1), CLOSED, 'read');
    throwsCode(() => m.write(0, 'x'), CLOSED, 'write');
    throwsCode(() => m.write(0, 'x', { persist: true }), CLOSED, 'write persist');
    throwsCode(() => m.fill(0, 1, 1), CLOSED, 'fill');
    throwsCode(() => m.flush(0, 1), CLOSED, 'flush');
    throwsCode(() => m.drain(), CLOSED, 'drain');
    throwsCode(() => m.persist(), CLOSED, 'persist()');
    throwsCode(() => m.persist(0, 1), CLOSED, 'persist(0, 1)');
    throwsCode(() => m.markDirty(0, 1), CLOSED, 'markDirty');
    throwsCode(() => m.persistDirty(), CLOSED, 'persistDirty');
    await throwsOrRejects(() => m.persistAsync(), CLOSED, 'persistAsync');
    // zero-length calls after close are still refused: the handle is gone, not the range
    throwsCode(() => m.persist(0, 0), CLOSED, 'persist(0, 0)');
    throwsCode(() => m.write(0, ''), CLOSED, "write(0, '')");
    // dispose after close is a no-op too
    m[Symbol.dispose]();
    await m[Symbol.asyncDispose]();
    assert.equal(m.closed, true);
  });

  it('metadata stays readable after close', () => {
    const file = freshPath(DIR);
    const m = open(file, { create: true, size: 4 * PAGE });
    m.close();
    assert.equal(m.path, file);
    assert.equal(m.length, 4 * PAGE);
    assert.equal(m.kind, 'file');
    assert.equal(m.granularity, 'page');
  });
});

describe('readOnly mappings', () => {
  it('views are writable without crashing, but the file never changes', () => {
    const file = freshPath(DIR);
    const data = makeFile(file, 4 * PAGE + 10);
    const m = open(file, { readOnly: true });
    try {
      assert.equal(m.readOnly, true);
      assert.deepEqual(m.read(0, data.length), data);
      const v = m.bytes();
      v.fill(0xee, 0, 2 * PAGE); // private copy-on-write: allowed, stays in this process
      assert.equal(v[0], 0xee);
      const dv = m.dataView();
      dv.setUint32(3 * PAGE, 0x01020304);
      assert.equal(dv.getUint32(3 * PAGE), 0x01020304);
      Buffer.from(m.buffer).write('private', 4 * PAGE);
      // the file seen through fs is untouched while mapped
      assert.deepEqual(fs.readFileSync(file), data);
    } finally {
      m.close();
    }
    assert.deepEqual(fs.readFileSync(file), data, 'stores through a readOnly view reached the file');
  });

  it('write, fill, flush, persist, persistAsync and markDirty throw ERR_PMEM_READ_ONLY', async () => {
    const file = freshPath(DIR);
    const data = makeFile(file, 2 * PAGE);
    const m = open(file, { readOnly: true });
    try {
      throwsCode(() => m.write(0, 'x'), READ_ONLY, 'write');
      throwsCode(() => m.write(0, 'x', { persist: true }), READ_ONLY, 'write persist');
      throwsCode(() => m.fill(0, 10, 1), READ_ONLY, 'fill');
      throwsCode(() => m.fill(0, 10, 1, { persist: true }), READ_ONLY, 'fill persist');
      throwsCode(() => m.flush(0, 10), READ_ONLY, 'flush');
      throwsCode(() => m.persist(), READ_ONLY, 'persist()');
      throwsCode(() => m.persist(0, 10), READ_ONLY, 'persist(0, 10)');
      throwsCode(() => m.markDirty(0, 10), READ_ONLY, 'markDirty');
      await throwsOrRejects(() => m.persistAsync(), READ_ONLY, 'persistAsync');
      // reads work
      assert.deepEqual(m.read(0, 10), data.subarray(0, 10));
      assert.equal(m.bytes(5, 5).byteLength, 5);
    } finally {
      m.close();
    }
    assert.deepEqual(fs.readFileSync(file), data);
  });

  it('a readOnly mapping and a writer coexist with lock:none; the writer reaches the file', () => {
    const file = freshPath(DIR);
    makeFile(file, PAGE);
    const ro = open(file, { readOnly: true, lock: 'none' });
    const rw = open(file, { lock: 'none' });
    try {
      rw.write(0, 'shared', { persist: true });
      assert.equal(fs.readFileSync(file).subarray(0, 6).toString(), 'shared');
      assert.equal(ro.readOnly, true);
    } finally {
      rw.close();
      ro.close();
    }
  });
});

describe('locking (flock: per open file description, so two opens in one process conflict)', () => {
  const fresh = () => {
    const f = freshPath(DIR);
    makeFile(f, 2 * PAGE);
    return f;
  };

  it('a second writable open is ERR_PMEM_LOCKED; after close it works', () => {
    const file = fresh();
    const a = open(file);
    try {
      const e = throwsCode(() => open(file), 'ERR_PMEM_LOCKED');
      assert.match(e.message, /lock/i);
      throwsCode(() => open(file, { lock: 'exclusive' }), 'ERR_PMEM_LOCKED');
      throwsCode(() => open(file, { lock: 'shared' }), 'ERR_PMEM_LOCKED', 'shared against exclusive');
      throwsCode(() => open(file, { readOnly: true }), 'ERR_PMEM_LOCKED', 'readOnly (shared) against exclusive');
    } finally {
      a.close();
    }
    const b = open(file);
    b.close();
  });

  it("lock:'none' maps a file another open holds exclusively", () => {
    const file = fresh();
    const a = open(file);
    const b = open(file, { lock: 'none' });
    try {
      a.write(0, 'from a');
      assert.equal(b.read(0, 6).toString(), 'from a', 'both map the same page cache');
    } finally {
      b.close();
      a.close();
    }
  });

  it('shared + shared is fine; exclusive against shared is refused', () => {
    const file = fresh();
    const a = open(file, { lock: 'shared' });
    const b = open(file, { lock: 'shared' });
    const c = open(file, { readOnly: true });
    try {
      throwsCode(() => open(file), 'ERR_PMEM_LOCKED', 'exclusive against shared');
      throwsCode(() => open(file, { readOnly: true, lock: 'exclusive' }), 'ERR_PMEM_LOCKED', 'readOnly exclusive against shared');
    } finally {
      a.close();
      b.close();
      c.close();
    }
    open(file).close();
  });

  it('readOnly defaults to a shared lock: two readOnly opens coexist', () => {
    const file = fresh();
    const a = open(file, { readOnly: true });
    const b = open(file, { readOnly: true });
    a.close();
    b.close();
  });

  it('another process is refused while this one holds the lock, and gets it after close', () => {
    const file = fresh();
    const a = open(file);
    try {
      const r = probeOpen(file, {});
      assert.equal(r.ok, false, 'another process mapped a locked file');
      if (!r.ok) assert.equal(r.code, 'ERR_PMEM_LOCKED', r.message);
      const none = probeOpen(file, { lock: 'none' });
      assert.equal(none.ok, true, JSON.stringify(none));
    } finally {
      a.close();
    }
    const later = probeOpen(file, {}, ['write']);
    assert.equal(later.ok, true, JSON.stringify(later));
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), 'probe');
  });

  it('a refused open changes nothing: the file and the holder are untouched', () => {
    const file = fresh();
    const data = fs.readFileSync(file);
    const a = open(file);
    try {
      throwsCode(() => open(file, { create: true, size: 64 * PAGE }), 'ERR_PMEM_LOCKED');
      assert.equal(fs.statSync(file).size, 2 * PAGE, 'a locked-out create extended the file');
      assert.deepEqual(a.read(0, data.length), data);
    } finally {
      a.close();
    }
  });
});

describe('getDax / setDax argument validation', () => {
  it('path must be a string, enabled a boolean', () => {
    for (const p of [undefined, null, 1, {}]) {
      throwsCode(() => getDax(p as never), TYPE, `getDax(${String(p)})`);
      throwsCode(() => setDax(p as never, false), TYPE, `setDax(${String(p)})`);
    }
    const file = freshPath(DIR);
    makeFile(file, PAGE);
    for (const e of [undefined, null, 1, 'true', {}]) {
      throwsCode(() => setDax(file, e as never), TYPE, `setDax(file, ${String(e)})`);
    }
  });
});

describe('messages that say what happened', () => {
  it('a /proc file is ERR_PMEM_UNSUPPORTED saying why, not "create it with a size"', () => {
    for (const options of [{ readOnly: true }, {}]) {
      assert.throws(() => open('/proc/self/status', options), (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, 'ERR_PMEM_UNSUPPORTED', e.message);
        assert.match(e.message, /is on procfs: .*cannot be mapped .*fs\.readFileSync/);
        assert.doesNotMatch(e.message, /create it with a size/);
        return true;
      });
    }
  });

  it('a write past the end says the offset and the mapping size it was checked against', () => {
    const f = freshPath(DIR);
    const m = open(f, { create: true, size: 4096 });
    try {
      for (const persist of [false, true]) {
        assert.throws(() => m.write(4090, '0123456789', { persist }), {
          code: 'ERR_OUT_OF_RANGE',
          message: 'The value of "data.byteLength" is out of range. It must be >= 0 && <= 6 (offset 4090 of a 4096-byte mapping). Received 10',
        });
      }
      assert.throws(() => m.persist(4000, 200), { message: /<= 96 \(offset 4000 of a 4096-byte mapping\)\. Received 200$/ });
    } finally {
      m.close();
    }
  });
});

describe('system errors from hot calls', () => {
  it("are in Node's shape: 'CODE: message, syscall \'path\'' with code, errno, syscall and path", () => {
    const { statusError } = require(path.join(REPO_ROOT, 'dist', 'errors.js')) as typeof import('../lib/errors');
    const eio = statusError(-5, 'pread', '/mnt/pmem/f');
    assert.equal(eio.message, "EIO: i/o error, pread '/mnt/pmem/f'");
    assert.deepEqual([eio.code, eio.errno, eio.syscall, eio.path], ['EIO', -5, 'pread', '/mnt/pmem/f']);
    assert.equal(statusError(-95, 'msync', '/x').message, "ENOTSUP: operation not supported, msync '/x'");
    assert.equal(statusError(-22, 'persist', '/x').message, "EINVAL: invalid argument, persist '/x'");
  });
});
