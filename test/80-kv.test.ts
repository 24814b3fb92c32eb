/**
 * The key-value store (node-pmem/kv, lib/kv; issue 4): API, limits and errors, space reclaim and
 * ENOSPC, refusal of files that are not stores, corruption detection, the command line of
 * examples/kv, and a process-level crash test (kill -9 of a writer mid-loop, many times). The
 * power-failure crash tests are in 80-kv-crash.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open as pmemOpen } from 'node-pmem';
import * as kv from 'node-pmem/kv';
import { SHM, tmpDir, freshPath, throwsCode, pattern, readAt, REPO_ROOT } from './helpers';

// The command line and the writer are plain JavaScript; from dist-test/test this reaches the repository's examples/kv.
const KV_DIR = path.resolve(__dirname, '../../examples/kv');
const torture = require(path.join(KV_DIR, 'torture.js'));
const CLI = path.join(KV_DIR, 'cli.js');
const TORTURE = path.join(KV_DIR, 'torture.js');
// Not exported by node-pmem/kv: the checksum the store's records and headers carry.
const { crc32c } = require(path.join(REPO_ROOT, 'dist', 'kv', 'crc32c.js')) as typeof import('../lib/kv/crc32c');

const DIR = tmpDir(SHM);
const MiB = 1024 * 1024;

type Store = kv.KvStore;

function fresh(size = MiB, options: kv.OpenOptions = {}): { file: string; store: Store } {
  const file = freshPath(DIR, 'kv');
  return { file, store: kv.open(file, { create: true, size, ...options }) };
}

/**
 * Open the store in a child process, run `body` (JavaScript, with `store` in scope) and kill the
 * child with SIGKILL: every write it acknowledged is on media, and its index was not checkpointed
 * since its last checkpoint (a close would have done that), so the next open replays the log.
 */
function killedAfter(file: string, body: string): void {
  const r = spawnSync(
    process.execPath,
    ['-e', `const kv = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'kv', 'index.js'))}); const store = kv.open(${JSON.stringify(file)}); ${body}; process.kill(process.pid, 'SIGKILL');`],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.signal, 'SIGKILL', `${r.stdout}\n${r.stderr}`);
}

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('kv: API', () => {
  it('put/get/has/delete/count, strings and bytes, value types preserved', () => {
    const { file, store } = fresh();
    assert.equal(store.count, 0);
    assert.equal(store.get('missing'), undefined);
    store.put('s', 'text');
    store.put('b', Buffer.from([1, 2, 3]));
    store.put(new Uint8Array([0, 255]), new Uint16Array([0x0201, 0x0403]));
    store.put('empty', '');
    store.put('', 'the empty key');
    assert.equal(store.get('s'), 'text');
    assert.deepEqual(store.get('b'), Buffer.from([1, 2, 3]));
    assert.deepEqual(store.get(Buffer.from([0, 255])), Buffer.from([1, 2, 3, 4]));
    assert.equal(store.get('empty'), '');
    assert.equal(store.get(''), 'the empty key');
    // A string key and the bytes of its UTF-8 encoding are the same key.
    store.put('ключ', 'v1');
    assert.equal(store.get(Buffer.from('ключ')), 'v1');
    assert.equal(store.has('ключ'), true);
    assert.equal(store.count, 6);
    // get returns a copy: changing it does not change the store.
    const copy = store.get('b') as Buffer;
    copy[0] = 99;
    assert.deepEqual(store.get('b'), Buffer.from([1, 2, 3]));
    assert.equal(store.delete('s'), true);
    assert.equal(store.delete('s'), false);
    assert.equal(store.has('s'), false);
    assert.equal(store.count, 5);
    store.close();
    const again = kv.open(file);
    assert.equal(again.count, 5);
    assert.equal(again.get('ключ'), 'v1');
    assert.equal(again.get('s'), undefined);
    assert.deepEqual(again.get('b'), Buffer.from([1, 2, 3]));
    again.close();
  });

  it('iterates in byte order of the keys (strings as UTF-8), the same after reopen and compaction', () => {
    const { file, store } = fresh();
    for (const k of ['c', 'a', 'd', 'b']) store.put(k, k.toUpperCase());
    store.put('a', 'A2');
    store.delete('d');
    store.put('d', 'D2');
    store.put(Buffer.from([0xff]), Buffer.from([1]));
    store.put(Buffer.from([0x00]), 'zero');
    store.put('é', 'e-acute'); // UTF-8 c3 a9: after 'd', before 0xff
    const want = [[Buffer.from([0]), 'zero'], ['a', 'A2'], ['b', 'B'], ['c', 'C'], ['d', 'D2'], ['é', 'e-acute'], [Buffer.from([0xff]), Buffer.from([1])]];
    assert.deepEqual([...store], want);
    assert.deepEqual([...store.keys()], want.map(([k]) => k));
    store.close();
    const reopened = kv.open(file);
    assert.deepEqual([...reopened.entries()], want);
    reopened.compact();
    assert.deepEqual([...reopened], want);
    reopened.close();
    const third = kv.open(file);
    assert.deepEqual([...third], want);
    assert.equal(third.stats().generation, 1);
    third.close();
  });

  it('ranges (gt, gte, lt, lte), reverse and seek, on keys with 0x00 and 0xff bytes', () => {
    const { store } = fresh();
    const keys = [Buffer.from([]), Buffer.from([0]), Buffer.from([0, 0]), Buffer.from([0, 0xff]), Buffer.from([1]), Buffer.from([0xff]), Buffer.from([0xff, 0])];
    keys.forEach((k, i) => store.put(k, String(i)));
    const hexes = (it: Iterable<kv.KvKey>) => [...it].map((k) => Buffer.from(k as Buffer).toString('hex'));
    assert.deepEqual(hexes(store.keys()), ['', '00', '0000', '00ff', '01', 'ff', 'ff00']);
    assert.deepEqual(hexes(store.keys({ gt: Buffer.from([0]), lt: Buffer.from([0xff]) })), ['0000', '00ff', '01']);
    assert.deepEqual(hexes(store.keys({ gte: Buffer.from([0]), lte: Buffer.from([0xff]) })), ['00', '0000', '00ff', '01', 'ff']);
    assert.deepEqual(hexes(store.keys({ reverse: true, lt: Buffer.from([1]) })), ['00ff', '0000', '00', '']);
    const it = store.iterator({ gte: Buffer.from([0, 0]) });
    it.seek(Buffer.from([0, 0x80]));
    assert.equal((it.next()![0] as Buffer).toString('hex'), '00ff');
    it.seek(Buffer.from([0x10]));
    assert.equal((it.next()![0] as Buffer).toString('hex'), 'ff');
    it.close();
    store.close();
  });
  it('batch: all ops in order, atomically, validated before anything is written', () => {
    const { file, store } = fresh();
    store.put('x', '1');
    store.batch([
      { type: 'put', key: 'a', value: 'A' },
      { type: 'put', key: 'b', value: Buffer.from('B') },
      { type: 'del', key: 'x' },
      { type: 'put', key: 'a', value: 'A2' },
      { type: 'delete', key: 'nope' },
    ]);
    assert.deepEqual([...store], [['a', 'A2'], ['b', Buffer.from('B')]]);
    const before = store.stats().logBytes;
    // The wrong arguments below are what JavaScript can pass; the types refuse them.
    // @ts-expect-error an unknown op type
    throwsCode(() => store.batch([{ type: 'put', key: 'c', value: 'C' }, { type: 'zap', key: 'd' }]), { code: 'ERR_INVALID_ARG_VALUE', type: TypeError });
    throwsCode(() => store.batch([{ type: 'put', key: 'c', value: 'C' }, { type: 'put', key: 'x'.repeat(2000), value: '' }]), { code: 'ERR_KV_KEY_TOO_LARGE', type: RangeError });
    // @ts-expect-error a number value
    throwsCode(() => store.batch([{ type: 'put', key: 'c', value: 7 }]), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    // @ts-expect-error a null op
    throwsCode(() => store.batch([null]), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    // @ts-expect-error not an array
    throwsCode(() => store.batch('ops'), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    assert.equal(store.stats().logBytes, before, 'nothing written by rejected batches');
    assert.equal(store.has('c'), false);
    store.batch([]);
    assert.equal(store.stats().logBytes, before, 'an empty batch writes nothing');
    // The same key twice in one batch: the space accounting follows the last one.
    store.batch([{ type: 'put', key: 'dup', value: 'v'.repeat(50) }, { type: 'put', key: 'dup', value: 'w'.repeat(70) }, { type: 'del', key: 'b' }, { type: 'put', key: 'b', value: 'B2' }]);
    const live = store.stats().liveBytes;
    store.compact();
    assert.equal(store.stats().liveBytes, live, 'live bytes as counted = as compaction finds them');
    assert.equal(store.get('dup'), 'w'.repeat(70));
    store.batch([{ type: 'del', key: 'dup' }, { type: 'put', key: 'b', value: Buffer.from('B') }]);
    store.close();
    const again = kv.open(file);
    assert.deepEqual([...again], [['a', 'A2'], ['b', Buffer.from('B')]]);
    again.close();
  });

  it('an iterator reads the store as it was when it started, while writes and a compaction go on', () => {
    const { store } = fresh(kv.MIN_SIZE * 2); // a 126 KiB log region: the writes below compact it once
    for (let i = 0; i < 20; i++) store.put(`k${String(i).padStart(2, '0')}`, 'v'.repeat(100));
    const seen: [kv.KvKey, kv.KvValue][] = [];
    const start = store.stats().compactions;
    for (const [k, v] of store) {
      seen.push([k, v]);
      for (let j = 0; j < 50; j++) store.put(k, 'w'.repeat(100 + j)); // overwrites: force one compaction
      store.put(`new${seen.length}`, 'x');
    }
    assert.ok(store.stats().compactions > start, 'compacted during the iteration');
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v'.repeat(100)]), 'the snapshot, not the writes');
    for (const [k, v] of store) if (String(k).startsWith('k')) assert.equal(v, 'w'.repeat(149));
    assert.equal(store.count, 40);
    // A snapshot held across two compactions would read overwritten records: the second one is refused.
    const snap = store.snapshot();
    store.compact();
    throwsCode(() => store.compact(), { code: 'ENOSPC', message: /iterator or snapshot opened before the last compaction/ });
    assert.equal(store.get('k00', { snapshot: snap }), 'w'.repeat(149));
    snap.close();
    store.compact();
    throwsCode(() => store.get('k00', { snapshot: snap }), { code: 'ERR_INVALID_ARG_VALUE' });
    store.close();
  });
});

describe('kv: snapshots', () => {
  it('a snapshot of another store is refused (ERR_INVALID_ARG_VALUE) by get, has and iterator, and nothing is read through it', () => {
    const a = fresh().store;
    const b = fresh().store;
    a.put('k', 'in a');
    b.put('k', 'in b');
    const snapA = a.snapshot();
    for (const read of [() => b.get('k', { snapshot: snapA }), () => b.has('k', { snapshot: snapA }), () => b.iterator({ snapshot: snapA })]) {
      throwsCode(read, { code: 'ERR_INVALID_ARG_VALUE', message: /snapshot of this store/ });
    }
    // Each store still reads its own snapshots.
    assert.equal(a.get('k', { snapshot: snapA }), 'in a');
    const snapB = b.snapshot();
    assert.equal(b.get('k', { snapshot: snapB }), 'in b');
    snapA.close();
    snapB.close();
    a.close();
    b.close();
  });
});

/** CRC-32C by its definition, a bit at a time: what the native routines must agree with. */
function crc32cByBits(b: Uint8Array, start: number, end: number, seed: number): number {
  let c = ~seed >>> 0;
  for (let i = start; i < end; i++) {
    c ^= b[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Checks crc32c against the definition at every alignment, a spread of lengths, and seeds; returns the cases checked. */
function checkCrc32c(crc: (b: Uint8Array, start: number, end: number, seed: number) => number): number {
  const b = Buffer.alloc(600);
  for (let i = 0; i < b.length; i++) b[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
  let cases = 0;
  for (let start = 0; start < 24; start++) {
    for (let end = start; end <= start + 300; end += 1 + (end % 7)) {
      const seed = Math.imul(start + 1, end + 1) >>> 0;
      assert.equal(crc(b, start, end, seed), crc32cByBits(b, start, end, seed), `[${start}, ${end}) seed ${seed}`);
      cases++;
    }
  }
  return cases;
}

describe('kv: CRC-32C', () => {
  it('the native crc32c equals the definition (and the standard check value) at every alignment, length and seed', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283); // the CRC-32C check value
    assert.ok(checkCrc32c(crc32c) > 1000);
  });

  it('the table fallback (NODE_PMEM_NO_SSE42; NODE_PMEM_NO_CRC32 on aarch64) computes the same', () => {
    const script = `
      const assert = require('node:assert/strict');
      assert.equal(require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'index.js'))}).cpuInfo().crc32c, 'table');
      const { crc32c } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'kv', 'crc32c.js'))});
      assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
      const b = Buffer.alloc(600);
      for (let i = 0; i < b.length; i++) b[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
      const out = [];
      for (let start = 0; start < 24; start++) for (let end = start; end <= start + 300; end += 1 + (end % 7)) out.push(crc32c(b, start, end, Math.imul(start + 1, end + 1) >>> 0));
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_PMEM_NO_SSE42: '1', NODE_PMEM_NO_CRC32: '1' }, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const fromTable = JSON.parse(r.stdout) as number[];
    let i = 0;
    assert.equal(checkCrc32c(() => fromTable[i++]!), fromTable.length);
  });

  it('refuses a range outside the bytes, and the bytes of a closed mapping', () => {
    const b = Buffer.alloc(16);
    throwsCode(() => crc32c(b, 0, 17), 'EINVAL');
    throwsCode(() => crc32c(b, 9, 8), 'EINVAL');
    throwsCode(() => crc32c(b, -1, 8), 'EINVAL');
    throwsCode(() => crc32c(b, 0, 8, 2 ** 32), 'EINVAL');
    const file = freshPath(SHM, 'crc');
    const m = pmemOpen(file, { create: true, size: 4096 });
    const view = new Uint8Array(m.buffer);
    assert.equal(crc32c(view, 0, 9), crc32cByBits(view, 0, 9, 0));
    m.close();
    fs.rmSync(file, { force: true });
    throwsCode(() => crc32c(view, 0, 0), 'EBADF');
  });
});

describe('kv: limits and errors', () => {
  it('rejects oversized keys and values with RangeError codes, stays usable', () => {
    const { store } = fresh(80 * MiB); // a log region (a quarter) holds the largest value
    const { maxKeyBytes, maxValueBytes } = kv.KvStore.limits;
    assert.equal(maxKeyBytes, 1024);
    assert.equal(maxValueBytes, 16 * MiB);
    store.put('k'.repeat(1024), 'max key');
    throwsCode(() => store.put('k'.repeat(1025), 'x'), { code: 'ERR_KV_KEY_TOO_LARGE', type: RangeError, message: /1025 bytes; the limit is 1024/ });
    // Strings are measured UTF-8 encoded: 513 two-byte characters are 1026 bytes.
    throwsCode(() => store.put('ж'.repeat(513), 'x'), { code: 'ERR_KV_KEY_TOO_LARGE', type: RangeError });
    throwsCode(() => store.get(Buffer.alloc(1025)), { code: 'ERR_KV_KEY_TOO_LARGE', type: RangeError });
    const big = Buffer.alloc(maxValueBytes + 1);
    throwsCode(() => store.put('v', big), { code: 'ERR_KV_VALUE_TOO_LARGE', type: RangeError });
    store.put('v', big.subarray(0, maxValueBytes));
    assert.equal(store.get('v')?.length, maxValueBytes);
    // @ts-expect-error a number key
    throwsCode(() => store.put(42, 'x'), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    // @ts-expect-error a null value
    throwsCode(() => store.put('k', null), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    // @ts-expect-error an object key
    throwsCode(() => store.get({}), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    store.put('still', 'usable');
    assert.equal(store.get('still'), 'usable');
    assert.equal(store.count, 3);
    store.close();
  });

  it('string keys of every length and script read back as put (single-key calls share one encoding buffer)', () => {
    const { store } = fresh(4 * MiB);
    const keys = ['', 'a', 'é', '€'.repeat(341), 'k'.repeat(1024), '\u{1F600}x', 'ab\0cd', 'a\uD800b', 'zz'];
    for (const [i, k] of keys.entries()) store.put(k, `v${i}`);
    // Interleaved lengths: a shorter key encoded after a longer one sees none of its bytes.
    for (const [i, k] of [...keys.entries()].reverse()) {
      assert.equal(store.get(k), `v${i}`, JSON.stringify(k));
      assert.ok(store.has(k));
    }
    assert.equal(store.get('a\uFFFDb'), `v${keys.indexOf('a\uD800b')}`, 'a lone surrogate is U+FFFD, as Buffer.from encodes it');
    assert.equal(store.get('k'.repeat(1023)), undefined);
    assert.equal(store.get('€'.repeat(340)), undefined);
    throwsCode(() => store.put('€'.repeat(342), 'x'), { code: 'ERR_KV_KEY_TOO_LARGE', message: /1026 bytes/ });
    assert.equal(store.get('é'), `v${keys.indexOf('é')}`, 'a refused key leaves no bytes behind');
    assert.ok(store.delete('zz'));
    assert.equal(store.get('zz'), undefined);
    assert.equal(store.get('a'), 'v1');
    const all = [...store.keys()];
    assert.deepEqual(all, keys.filter((k) => k !== 'zz').map((k) => k.replace('\uD800', '\uFFFD')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    store.close();
  });

  it('closed, read-only and locked stores', () => {
    const { file, store } = fresh();
    store.put('a', 'b');
    throwsCode(() => kv.open(file), { code: 'ERR_PMEM_LOCKED' });
    store.close();
    store.close();
    assert.equal(store.closed, true);
    for (const fn of [() => store.get('a'), () => store.put('a', 'c'), () => store.count, () => [...store], () => store.stats()]) {
      throwsCode(fn, 'ERR_KV_CLOSED');
    }
    const ro = kv.open(file, { readOnly: true });
    assert.equal(ro.get('a'), 'b');
    throwsCode(() => ro.put('a', 'c'), 'ERR_KV_READ_ONLY');
    throwsCode(() => ro.delete('a'), 'ERR_KV_READ_ONLY');
    throwsCode(() => ro.batch([]), 'ERR_KV_READ_ONLY');
    throwsCode(() => ro.compact(), 'ERR_KV_READ_ONLY');
    ro.close();
  });

  it('open: ENOENT without create, size required and checked to create', () => {
    const file = freshPath(DIR, 'kv');
    throwsCode(() => kv.open(file), 'ENOENT');
    throwsCode(() => kv.open(file, { create: true }), { code: 'ERR_INVALID_ARG_VALUE', type: TypeError });
    throwsCode(() => kv.open(file, { create: true, size: 1000 }), { code: 'ERR_OUT_OF_RANGE', type: RangeError });
    assert.equal(fs.existsSync(file), false);
    // @ts-expect-error a number path
    throwsCode(() => kv.open(123), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    // An existing store opened with create keeps its contents (size only applies to a new file).
    const s = kv.open(file, { create: true, size: kv.MIN_SIZE });
    s.put('a', '1');
    s.close();
    const t = kv.open(file, { create: true, size: 4 * MiB });
    assert.equal(t.get('a'), '1');
    t.close();
    assert.equal(fs.statSync(file).size, kv.MIN_SIZE);
    // An empty file (as `touch` leaves it) is created at `size`.
    const touched = freshPath(DIR, 'kv');
    fs.writeFileSync(touched, '');
    throwsCode(() => kv.open(touched), 'ERR_PMEM_EMPTY');
    const u = kv.open(touched, { create: true, size: kv.MIN_SIZE });
    u.put('k', 'v');
    u.close();
    assert.equal(fs.statSync(touched).size, kv.MIN_SIZE);
  });
});

describe('kv: exclusive create', () => {
  it('exclusive: creates a missing file; an existing store or empty file is EEXIST and untouched; only with create', () => {
    const file = freshPath(DIR, 'excl');
    const s = kv.open(file, { create: true, exclusive: true, size: kv.MIN_SIZE });
    s.put('k', 'v');
    s.close();
    const before = sha(file);
    throwsCode(() => kv.open(file, { create: true, exclusive: true, size: kv.MIN_SIZE }), 'EEXIST');
    assert.equal(sha(file), before);
    // An empty file is one a plain create formats: exclusive refuses it too.
    const touched = freshPath(DIR, 'excl-touched');
    fs.writeFileSync(touched, '');
    throwsCode(() => kv.open(touched, { create: true, exclusive: true, size: kv.MIN_SIZE }), 'EEXIST');
    assert.equal(fs.statSync(touched).size, 0);
    for (const bad of [{ exclusive: true }, { exclusive: true, create: true, readOnly: true }, { exclusive: 'yes' as unknown as boolean, create: true }]) {
      throwsCode(() => kv.open(freshPath(DIR, 'excl-bad'), { size: kv.MIN_SIZE, ...bad }), { code: 'ERR_INVALID_ARG_VALUE', type: TypeError });
    }
    const again = kv.open(file);
    assert.equal(again.get('k'), 'v');
    again.close();
  });
});

describe('kv: space', () => {
  it('a batch as large as the store: applied when the index has room, refused whole (ENOSPC, nothing written) when not', () => {
    const { file, store } = fresh(kv.MIN_SIZE * 4);
    let n = 0;
    for (; n < 3000; n++) store.put(`key${String(n).padStart(5, '0')}`, 'v');
    store.batch([...store.keys()].map((key) => ({ type: 'del' as const, key }))); // every key at once
    assert.equal(store.count, 0);
    // Far more index than the store has: big keys, each op in a leaf of its own.
    const ops = Array.from({ length: 400 }, (_, i) => ({ type: 'put' as const, key: Buffer.alloc(1000, i % 256).fill(i >> 8, 0, 1), value: 'x' }));
    const before = store.stats().logBytes;
    let refused = false;
    try {
      store.batch(ops);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC', (e as Error).message);
      refused = true;
    }
    if (refused) {
      assert.equal(store.stats().logBytes, before, 'nothing written');
      assert.equal(store.count, 0);
    } else {
      assert.equal(store.count, 400);
    }
    store.put('after', 'ok');
    store.close();
    const again = kv.open(file);
    assert.equal(again.get('after'), 'ok');
    assert.equal(again.count, refused ? 1 : 401);
    again.close();
  });

  it('reclaims overwritten and deleted entries (compaction), crash-safe, no ENOSPC', () => {
    const { file, store } = fresh(kv.MIN_SIZE);
    const region = store.stats().regionBytes;
    let written = 0;
    for (let i = 0; written < region * 20; i++) {
      const v = pattern(50 + (i % 200), i);
      store.put(`key${i % 8}`, v);
      if (i % 5 === 0) store.delete(`key${(i + 3) % 8}`);
      written += 50 + (i % 200);
    }
    const st = store.stats();
    assert.ok(st.compactions >= 10, `compactions: ${st.compactions}`);
    assert.ok(st.logBytes < region);
    const snapshot = [...store];
    store.close();
    const again = kv.open(file);
    assert.deepEqual([...again], snapshot);
    again.close();
  });

  it('a full store throws ENOSPC, stays consistent, and deletes make room again', () => {
    const { file, store } = fresh(kv.MIN_SIZE);
    const value = Buffer.alloc(200, 1);
    let n = 0;
    let err: NodeJS.ErrnoException | undefined;
    for (; n < 1000; n++) {
      try {
        store.put(`key${n}`, value);
      } catch (e) {
        err = e as NodeJS.ErrnoException;
        break;
      }
    }
    assert.ok(err, 'the store filled up');
    assert.equal(err.code, 'ENOSPC');
    assert.match(err.message, /kv store full/);
    assert.ok(n > 5, `stored ${n} before ENOSPC`);
    // The failed put changed nothing; the rest still verifies.
    assert.equal(store.count, n);
    assert.equal(store.has(`key${n}`), false);
    for (let i = 0; i < n; i++) assert.deepEqual(store.get(`key${i}`), value);
    throwsCode(() => store.batch([{ type: 'put', key: 'x', value }]), 'ENOSPC');
    // Deleting always fits, even in a full store, and frees room for puts.
    for (let i = 0; i < n; i += 2) assert.equal(store.delete(`key${i}`), true);
    store.put('after', value);
    store.batch([{ type: 'put', key: 'b1', value }, { type: 'put', key: 'b2', value }]);
    const snapshot = [...store];
    store.close();
    const again = kv.open(file);
    assert.deepEqual([...again], snapshot);
    again.close();
  });
});

describe('kv: what is not a store is refused, not repaired', () => {
  it('a file of other data: ERR_KV_NOT_A_STORE, untouched, even with create', () => {
    const file = freshPath(DIR, 'other');
    fs.writeFileSync(file, pattern(kv.MIN_SIZE, 3));
    const before = sha(file);
    throwsCode(() => kv.open(file), { code: 'ERR_KV_NOT_A_STORE', message: /not a node-pmem kv store/ });
    throwsCode(() => kv.open(file, { create: true, size: kv.MIN_SIZE }), 'ERR_KV_NOT_A_STORE');
    assert.equal(sha(file), before);
  });

  it('an all-zero file: refused without create, formatted with it', () => {
    const file = freshPath(DIR, 'zero');
    fs.writeFileSync(file, Buffer.alloc(kv.MIN_SIZE));
    throwsCode(() => kv.open(file), { code: 'ERR_KV_NOT_A_STORE', message: /empty/ });
    throwsCode(() => kv.open(file, { create: true, readOnly: true }), 'ERR_KV_NOT_A_STORE');
    const s = kv.open(file, { create: true });
    s.put('a', 'b');
    s.close();
  });

  it('a file a crash left half-formatted (the magic and nothing else): refused read-only, formatted with create', () => {
    // The reproduction of issue 13: a kill between the header's magic and its checksum bricked it.
    const file = freshPath(DIR, 'half');
    const b = Buffer.alloc(kv.MIN_SIZE);
    kv.layout.MAGIC.copy(b, 0);
    fs.writeFileSync(file, b);
    throwsCode(() => kv.open(file), { code: 'ERR_KV_NOT_A_STORE', message: /holds only an interrupted format.*create: true/ });
    throwsCode(() => kv.open(file, { create: true, readOnly: true }), { code: 'ERR_KV_NOT_A_STORE', message: /interrupted format/ });
    const s = kv.open(file, { create: true, size: kv.MIN_SIZE });
    s.put('a', 'b');
    s.close();
    const again = kv.open(file);
    assert.equal(again.get('a'), 'b');
    again.close();
  });

  it('any subset of the format\'s header words is an interrupted format; a word of something else is not', () => {
    const file = freshPath(DIR, 'words');
    const s = kv.open(file, { create: true, size: kv.MIN_SIZE });
    s.close();
    const header = fs.readFileSync(file).subarray(0, 64);
    for (let mask = 1; mask < 255; mask += 17) {
      const b = Buffer.alloc(kv.MIN_SIZE);
      for (let w = 0; w < 8; w++) if (mask & (1 << w)) header.copy(b, w * 8, w * 8, w * 8 + 8);
      fs.writeFileSync(file, b);
      const again = kv.open(file, { create: true });
      assert.equal(again.count, 0, `mask ${mask}`);
      again.close();
    }
    const foreign = Buffer.alloc(kv.MIN_SIZE);
    header.copy(foreign, 0, 0, 32); // the first half of a header...
    foreign.writeUInt32LE(0xdeadbeef, 40); // ...and a region size the format would not write
    fs.writeFileSync(file, foreign);
    throwsCode(() => kv.open(file, { create: true }), { code: 'ERR_KV_CORRUPT', message: /both header copies fail/ });
    assert.ok(fs.readFileSync(file).equals(foreign), 'untouched');
  });

  it('a store whose both header copies are torn is refused, never formatted over, when it holds data', () => {
    const { file, store } = fresh(kv.MIN_SIZE * 4);
    store.put('kept', 'data');
    store.close();
    const m = pmemOpen(file);
    m.fill(60, 4, 0xff, { persist: true }); // both copies' checksums
    m.fill(4096 + 60, 4, 0xff, { persist: true });
    m.close();
    const before = sha(file);
    throwsCode(() => kv.open(file, { create: true }), { code: 'ERR_KV_CORRUPT', message: /both header copies fail/ });
    assert.equal(sha(file), before);
  });

  it('a store formatted over an old one never shows the old log', () => {
    const { file, store } = fresh(kv.MIN_SIZE * 4);
    store.put('first', 'same');
    store.put('second', 'old');
    store.close();
    // Wipe the header copies only: the old log is still in region 0.
    const m = pmemOpen(file);
    m.fill(0, kv.layout.DATA_OFFSET, 0, { persist: true });
    m.close();
    throwsCode(() => kv.open(file), { code: 'ERR_KV_NOT_A_STORE', message: /empty/ });
    const fresh2 = kv.open(file, { create: true });
    assert.equal(fresh2.count, 0);
    fresh2.put('first', 'same'); // byte-identical to the old first record but for the store's seed
    fresh2.close();
    const again = kv.open(file);
    assert.deepEqual([...again], [['first', 'same']]);
    again.close();
  });

  it('an interrupted batch is dropped whole, and its leftovers never pass for the log later', () => {
    const { file, store } = fresh(kv.MIN_SIZE * 4);
    store.put('a', '1');
    const X = kv.layout.DATA_OFFSET + store.stats().logBytes; // where the batch starts
    store.close();
    killedAfter(file, `store.batch([{ type: 'put', key: 'b1', value: 'x'.repeat(40) }, { type: 'put', key: 'b2', value: 'y'.repeat(40) }])`);
    const member = 72; // 24-byte header + 2 + 40, padded to 8
    const edit = (fn: (b: Buffer) => void) => {
      const m = pmemOpen(file);
      fn(Buffer.from(m.buffer));
      m.persist();
      m.close();
    };
    edit((b) => b.fill(0, X + 2 * member, X + 2 * member + 24)); // its commit never reached media
    const ro = kv.open(file, { readOnly: true });
    assert.deepEqual([...ro], [['a', '1']]);
    assert.equal(ro.stats().recovery.discardedBatchOps, 2);
    ro.close();
    const header = readAt(file, X, 24);
    kv.open(file).close(); // a writable open breaks the leftover members' chain
    assert.ok(readAt(file, X, 24).equals(Buffer.alloc(24)), 'first member header zeroed');
    // A single put of the same size, killed after its header was stored but before its CRC:
    // the CRC field is whatever was there. The leftover second member must not chain to it.
    edit((b) => {
      header.copy(b, X + 4, 4, 24);
      b[X + 13] = 3; // a single put (string key and value), not a batch member
      b.fill(0x41, X + 24, X + member);
    });
    const s = kv.open(file);
    assert.deepEqual([...s], [['a', '1']], 'a torn tail, not corruption');
    s.put('c', '3');
    s.close();
    const t = kv.open(file, { readOnly: true });
    assert.deepEqual([...t], [['a', '1'], ['c', '3']]);
    t.close();
  });

  it('too small a file: ERR_KV_TOO_SMALL', () => {
    const file = freshPath(DIR, 'small');
    fs.writeFileSync(file, Buffer.alloc(8192));
    throwsCode(() => kv.open(file, { create: true }), { code: 'ERR_KV_TOO_SMALL', type: RangeError });
  });

  it('a store of a newer format version: ERR_KV_VERSION, untouched', () => {
    const { file, store } = fresh(kv.MIN_SIZE);
    store.put('a', 'b');
    store.close();
    // Rewrite both header copies as version 3 (then 1) with a valid checksum.
    const setVersion = (version: number) => {
      const m = pmemOpen(file);
      const b = Buffer.from(m.buffer);
      for (const at of [0, 4096]) {
        b.writeUInt32LE(version, at + 8);
        b.writeUInt32LE(crc32c(b, at, at + 60), at + 60);
      }
      m.persist();
      m.close();
    };
    setVersion(3);
    const before = sha(file);
    throwsCode(() => kv.open(file), { code: 'ERR_KV_VERSION', message: /format version 3; this code reads version 2. Use a newer version/ });
    assert.equal(sha(file), before);
    setVersion(1);
    throwsCode(() => kv.open(file, { create: true }), { code: 'ERR_KV_VERSION', message: /format version 1; this code reads version 2. Copy its data out/ });
  });

  it('both header copies damaged: ERR_KV_CORRUPT; one damaged: the other is used', () => {
    const { file, store } = fresh(kv.MIN_SIZE);
    store.put('a', 'b');
    store.compact();
    store.put('c', 'd');
    store.close();
    const flip = (at: number) => {
      const m = pmemOpen(file);
      m.bytes(at, 1)[0] ^= 0x40;
      m.persist();
      m.close();
    };
    flip(32); // copy 0 torn: copy 1 (the same header) serves
    const s = kv.open(file, { readOnly: true });
    assert.equal(s.stats().generation, 1);
    assert.deepEqual([...s], [['a', 'b'], ['c', 'd']]);
    s.close();
    flip(4096 + 32);
    throwsCode(() => kv.open(file), { code: 'ERR_KV_CORRUPT', message: /both header copies/ });
  });

  it('the index checkpoint in force is the newest valid one: a torn checkpoint falls back to the one before, and the log is replayed from there', () => {
    const { file, store } = fresh(kv.MIN_SIZE * 4);
    store.put('a', '1');
    store.close(); // checkpoint k (slot k & 1)
    killedAfter(file, "store.put('b', '2'); store.compact(); store.put('c', '3')"); // compaction's checkpoint k + 1
    const indexAt = (() => {
      const b = readAt(file, 0, 64);
      return b.readUInt32LE(56) * 4096;
    })();
    const slots = [readAt(file, indexAt, 128), readAt(file, indexAt + 128, 128)];
    const newest = slots[0]!.readUInt32LE(12) > slots[1]!.readUInt32LE(12) ? 0 : 1;
    const m = pmemOpen(file);
    m.bytes(indexAt + newest * 128 + 40, 1)[0] ^= 1; // tear the compaction's checkpoint
    m.persist();
    m.close();
    const s = kv.open(file);
    assert.deepEqual([...s], [['a', '1'], ['b', '2']], 'the log of the checkpoint before, replayed; the compaction never happened');
    assert.equal(s.stats().generation, 0);
    assert.equal(s.stats().recovery.records, 1);
    s.put('d', '4');
    s.close();
    const again = kv.open(file, { readOnly: true });
    assert.deepEqual([...again], [['a', '1'], ['b', '2'], ['d', '4']]);
    again.close();
  });

  it('a record corrupted in the middle of the log is refused on open (replayed part), a corrupted value on get', () => {
    const file = freshPath(DIR, 'kv');
    kv.open(file, { create: true, size: kv.MIN_SIZE * 4 }).close();
    // Written and never checkpointed: the next open replays these three records.
    killedAfter(file, "store.put('first', 'x'.repeat(100)); store.put('second', 'y'.repeat(100)); store.put('third', 'z'.repeat(100))");
    const store = kv.open(file, { readOnly: true });
    assert.equal(store.stats().recovery.records, 3);
    // Corrupt a value byte behind the store's back (lock: 'none'): get refuses to return it.
    const m = pmemOpen(file, { lock: 'none' });
    const at = kv.layout.DATA_OFFSET + kv.layout.REC_HEADER + 'first'.length + 10;
    assert.equal(m.bytes(at, 1)[0], 'x'.charCodeAt(0));
    m.bytes(at, 1)[0] = 'X'.charCodeAt(0);
    m.persist();
    m.close();
    throwsCode(() => store.get('first'), { code: 'ERR_KV_CORRUPT', message: /fails its checksum/ });
    assert.throws(() => [...store], { code: 'ERR_KV_CORRUPT' });
    assert.equal(store.get('second'), 'y'.repeat(100));
    store.close();
    // A read-only open checkpoints nothing: the records are still to be replayed.
    // On open, the log goes on after the bad record: corruption, not a torn tail.
    throwsCode(() => kv.open(file), { code: 'ERR_KV_CORRUPT', message: /log goes on after it/ });
  });
});

describe('kv: command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: REPO_ROOT, timeout: 20_000 });

  it('put, get, del, list, stats, compact across processes', () => {
    const file = freshPath(DIR, 'cli');
    let r = run(file, 'put', 'greeting', 'hello world', '--size', '1M');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok: 1 put durable/);
    assert.equal(fs.statSync(file).size, MiB);
    r = run(file, 'put', 'a', '1', 'b', '2');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 puts durable \(3 keys\)/);
    r = run(file, 'get', 'greeting');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello world\n');
    r = run(file, 'list');
    assert.equal(r.stdout, 'a\t1\nb\t2\ngreeting\thello world\n', 'in key order');
    r = run(file, 'list', 'gr');
    assert.equal(r.stdout, 'greeting\thello world\n');
    r = run(file, 'del', 'a');
    assert.equal(r.status, 0, r.stderr);
    r = run(file, 'get', 'a');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not found: a/);
    r = run(file, 'stats');
    assert.equal(r.status, 0, r.stderr);
    const st = JSON.parse(r.stdout);
    assert.equal(st.count, 2);
    assert.equal(st.version, 2);
    r = run(file, 'compact');
    assert.equal(r.status, 0, r.stderr);
    r = run(file, 'list');
    assert.equal(r.stdout, 'b\t2\ngreeting\thello world\n');
  });

  it('errors: usage, missing file, not a store', () => {
    let r = run();
    assert.equal(r.status, 2);
    assert.match(r.stderr, /usage:/);
    r = run(freshPath(DIR, 'none'), 'get', 'a');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ENOENT: no such file or directory, open '/);
    assert.doesNotMatch(r.stderr, /ENOENT: ENOENT/, 'the code is printed once');
    const other = freshPath(DIR, 'other');
    fs.writeFileSync(other, pattern(kv.MIN_SIZE));
    r = run(other, 'put', 'a', 'b');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ERR_KV_NOT_A_STORE: /);
    r = run(other, 'put', 'a');
    assert.equal(r.status, 2);
  });
});

describe('kv: kill -9 a writer mid-loop, many times', () => {
  it('every acknowledged op survives, the op in flight is all or nothing', async () => {
    const file = freshPath(DIR, 'kill');
    const SEED = 11;
    kv.open(file, { create: true, size: kv.MIN_SIZE }).close(); // formatted before the first child
    let applied = 0; // ops the store holds, as established by the last check
    let model = new Map(); // the model after `applied` ops
    let totalAcks = 0;
    let inFlightLanded = 0;
    let maxCompactions = 0;
    const ROUNDS = 20;
    for (let round = 0; round < ROUNDS; round++) {
      const child = spawn(process.execPath, [TORTURE, file, String(applied), String(SEED)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      // Kill once the writer has acknowledged a number of ops that varies by round, after a
      // further 0-14 ms: the kill lands anywhere in an op, at any speed of machine.
      const minAcks = 20 + ((round * 37) % 200);
      const delay = (round * 13) % 15;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      let timer: NodeJS.Timeout | undefined;
      let lines = 0;
      child.stdout.on('data', (d) => {
        out += d;
        for (const c of String(d)) if (c === '\n') lines++;
        if (timer === undefined && lines >= minAcks) timer = setTimeout(() => child.kill('SIGKILL'), delay);
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000); // a writer that stalls
      const { signal } = await exited;
      clearTimeout(timer);
      clearTimeout(guard);
      assert.equal(signal, 'SIGKILL', `round ${round}: the writer must be killed, not exit (stderr: ${err})`);
      // Acks are printed in op order, starting at `applied`.
      const acked = out.split('\n').filter((l) => l !== '').map(Number).filter((n, i) => n === applied + i).length;
      assert.ok(acked > 0, `round ${round}: no ack (stderr: ${err})`);
      totalAcks += acked;
      const lastAcked = applied + acked; // ops [0, lastAcked) acknowledged
      for (let i = applied; i < lastAcked; i++) torture.applyToModel(model, torture.opAt(SEED, i));
      const withInFlight = torture.applyToModel(new Map(model), torture.opAt(SEED, lastAcked));
      const store = kv.open(file, { readOnly: true });
      const ok = torture.sameState(store, model) ? lastAcked : torture.sameState(store, withInFlight) ? lastAcked + 1 : undefined;
      maxCompactions = Math.max(maxCompactions, store.stats().generation);
      store.close();
      assert.notEqual(ok, undefined, `round ${round}: the reopened store is neither the state after op ${lastAcked} nor after ${lastAcked + 1}`);
      if (ok === lastAcked + 1) {
        inFlightLanded++;
        model = withInFlight;
      }
      applied = ok!;
    }
    assert.ok(totalAcks >= ROUNDS * 20, `acks: ${totalAcks}`);
    assert.ok(maxCompactions > 0, 'compactions happened during the kills');
    console.log(`# kill -9: ${ROUNDS} rounds, ${totalAcks} acknowledged ops, in-flight op landed in ${inFlightLanded} rounds, generation ${maxCompactions}`);
  });
});

describe('npm run demo', () => {
  it('with a path under /dev that is not a device (/dev/shm/...) it creates the file and runs both parts', () => {
    const target = path.join(DIR, 'demo-target');
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'examples', 'demo.js'), target], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /OK: the data came back after close and reopen/);
    assert.doesNotMatch(r.stdout, /skipped on/, 'a file under /dev/shm was taken for a device');
    assert.ok(fs.existsSync(target) && fs.existsSync(`${target}.kv`));
  });

  it('takes a relative path from where `npm run demo` was typed, and prints commands that run there as shown', () => {
    // npm runs the script in the package root and passes the directory it was typed in as INIT_CWD.
    const userDir = fs.mkdtempSync(path.join(DIR, 'user-'));
    const r = spawnSync(process.execPath, [path.join('examples', 'demo.js'), 'store'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, npm_lifecycle_event: 'demo', INIT_CWD: userDir },
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(fs.existsSync(path.join(userDir, 'store.kv')), 'the store is where the user stands');
    const shown = [...r.stdout.matchAll(/^\$ (.*)$/gm)].map((m) => m[1]!);
    assert.ok(shown.length >= 5, r.stdout);
    const get = shown.find((c) => / get greeting$/.test(c))!;
    const expected = r.stdout.split('\n')[r.stdout.split('\n').indexOf(`$ ${get}`) + 1]!.trim();
    for (const command of shown) {
      const again = spawnSync('sh', ['-c', command], {
        cwd: userDir,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` },
      });
      assert.equal(again.status, 0, `${command}\n${again.stdout}\n${again.stderr}`);
      if (command === get) assert.equal(again.stdout.trim(), expected);
    }
  });
});
