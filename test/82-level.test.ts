/**
 * node-pmem/level (lib/level): abstract-level's own test suite run against PmemLevel (in a child
 * process, test/fixtures/level-suite.ts), then what that suite cannot check: persistence across
 * close, reopen and kill -9, binary and empty keys, iteration and snapshots while writes go on
 * (compaction included), clear() in chunks, the store's limits as they show through
 * abstract-level, and the errors of bad locations, files that are not stores and a missing peer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as kv from 'node-pmem/kv';
import { DEFAULT_SIZE, PmemLevel, type PmemLevelOptions } from 'node-pmem/level';
import { FIXTURES, REPO_ROOT, SHM, freshPath, runFixture, throwsCode, tmpDir } from './helpers';

const DIR = tmpDir(SHM);
const MiB = 1024 * 1024;
const { checkAbstractLevel } = require(path.join(REPO_ROOT, 'dist', 'level', 'peer.js')) as typeof import('../lib/level/peer');

/** A PmemLevel on a new file (1 MiB unless options.size says otherwise). */
function fresh<K = string, V = string>(options: PmemLevelOptions<K, V> = {}): PmemLevel<K, V> {
  return new PmemLevel<K, V>(freshPath(DIR, 'level'), { size: MiB, ...options });
}

interface Summary {
  assertions: number;
  pass: number;
  fail: number;
  tests: number;
  stores: number;
}

/** Runs abstract-level's suite in a child; returns its summary line and output. */
function runSuite(size: number, extra: string[] = []): { summary: Summary; status: number | null; log: string } {
  const dir = fs.mkdtempSync(path.join(DIR, 'suite-'));
  const r = runFixture('level-suite.js', [dir, String(size), ...extra], { timeout: 300_000 });
  const line = /^summary (.*)$/m.exec(r.stdout);
  assert.ok(line, `no summary line\n${r.log}`);
  fs.rmSync(dir, { recursive: true, force: true });
  return { summary: JSON.parse(line[1]!) as Summary, status: r.status, log: r.log };
}

describe("abstract-level's test suite", () => {
  it('passes every assertion (stores of 1 MiB in a tmpfs directory, at the page tier)', (t) => {
    // 1 MiB: small, and still room for the suite's largest batches (two of 256 ops into sublevels of one store).
    const { summary, status, log } = runSuite(MiB);
    t.diagnostic(`abstract-level suite: ${summary.assertions} assertions in ${summary.tests} tests, ${summary.pass} passed, ${summary.fail} failed, ${summary.stores} stores`);
    assert.equal(summary.fail, 0, log);
    assert.equal(status, 0, log);
    // About 5,100 with this manifest (memory-level, without createIfMissing, errorIfExists and
    // permanence, gets about 5,120 of its own): far fewer means groups were skipped.
    assert.ok(summary.assertions >= 5000, `only ${summary.assertions} assertions ran`);
    assert.equal(summary.pass, summary.assertions);
  });

  it('its harness reports failures: with puts that store nothing, the same run fails', () => {
    const { summary, status } = runSuite(MiB, ['--drop-puts']);
    assert.equal(status, 1);
    assert.ok(summary.fail > 100, `${summary.fail} failures`);
    assert.ok(summary.assertions >= 1000, `${summary.assertions} assertions`);
  });
});

describe('PmemLevel: persistence', () => {
  it('data survives close and reopen, through the same instance and a new one, and reads back with node-pmem/kv', async () => {
    const location = freshPath(DIR, 'level');
    const db = new PmemLevel<string, string>(location, { size: MiB });
    await db.put('a', '1');
    await db.batch([
      { type: 'put', key: 'b', value: '2' },
      { type: 'put', key: 'c', value: '3' },
      { type: 'del', key: 'a' },
    ]);
    const sub = db.sublevel<string, { n: number }>('json', { valueEncoding: 'json' });
    await sub.put('x', { n: 7 });
    await db.close();
    assert.equal(db.status, 'closed');
    await db.open();
    assert.deepEqual(await db.keys().all(), ['!json!x', 'b', 'c']);
    await db.close();
    const again = new PmemLevel<string, string>(location, { createIfMissing: false });
    assert.deepEqual(await again.getMany(['a', 'b', 'c']), [undefined, '2', '3']);
    assert.deepEqual(await again.sublevel<string, { n: number }>('json', { valueEncoding: 'json' }).get('x'), { n: 7 });
    await again.close();
    // The same file is a node-pmem/kv store: utf8 keys and values were stored as strings.
    const store = kv.open(location);
    assert.deepEqual([...store], [['!json!x', '{"n":7}'], ['b', '2'], ['c', '3']]);
    store.close();
  });

  it('a new store has options.size bytes (default 64 MiB); an existing one keeps its own', async () => {
    const location = freshPath(DIR, 'level');
    const db = new PmemLevel(location);
    await db.open();
    assert.equal(fs.statSync(location).size, DEFAULT_SIZE);
    assert.equal(DEFAULT_SIZE, 64 * MiB);
    await db.close();
    const small = fresh({ size: kv.MIN_SIZE });
    await small.open();
    assert.equal(fs.statSync(small.location).size, kv.MIN_SIZE);
    await small.close();
    const reopened = new PmemLevel(location, { size: kv.MIN_SIZE });
    await reopened.open();
    assert.equal(fs.statSync(location).size, DEFAULT_SIZE);
    await reopened.close();
  });

  it('every write whose promise resolved is there after kill -9 of the writer', async () => {
    const location = freshPath(DIR, 'level');
    const level = path.join(REPO_ROOT, 'dist', 'level', 'index.js');
    const script = `const { PmemLevel } = require(${JSON.stringify(level)});
      (async () => {
        const db = new PmemLevel(${JSON.stringify(location)}, { size: ${4 * MiB}, valueEncoding: 'json' });
        for (let i = 0; ; i++) {
          if (i % 2) await db.batch([{ type: 'put', key: 'k' + i, value: { i } }, { type: 'del', key: 'k' + (i - 1) }]);
          else await db.put('k' + i, { i });
          console.log(i); // acknowledged
          if (i === 300) process.kill(process.pid, 'SIGKILL');
        }
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const acked = Number(r.stdout.trim().split('\n').pop());
    assert.equal(acked, 300);
    const db = new PmemLevel<string, { i: number }>(location, { valueEncoding: 'json', createIfMissing: false });
    // Odd i deleted k(i-1) in its batch: what is left is k300 alone... and each odd k.
    const entries = await db.iterator().all();
    const want = [...Array.from({ length: 150 }, (_, j) => 2 * j + 1), 300].map((i) => `k${i}`).sort();
    assert.deepEqual(entries.map(([k]) => k), want);
    for (const [k, v] of entries) assert.equal(`k${v.i}`, k);
    await db.close();
  });
});

describe('PmemLevel: keys', () => {
  it('binary keys with 0x00 and 0xff bytes: byte order, ranges, seek, reverse', async () => {
    const db = fresh<Buffer, string>({ keyEncoding: 'buffer' });
    const keys = [[], [0], [0, 0], [0, 0xff], [1], [0x7f, 0xff], [0xff], [0xff, 0], [0xff, 0xff]].map((b) => Buffer.from(b));
    // Put in a scrambled order, as single puts and one batch.
    for (const i of [4, 0, 8, 2]) await db.put(keys[i]!, String(i));
    await db.batch([1, 7, 3, 6, 5].map((i) => ({ type: 'put' as const, key: keys[i]!, value: String(i) })));
    const hex = (ks: Buffer[]) => ks.map((k) => k.toString('hex'));
    assert.deepEqual(hex(await db.keys().all()), ['', '00', '0000', '00ff', '01', '7fff', 'ff', 'ff00', 'ffff']);
    assert.deepEqual(await db.values().all(), ['0', '1', '2', '3', '4', '5', '6', '7', '8']);
    assert.deepEqual(hex(await db.keys({ gt: Buffer.from([0]), lt: Buffer.from([0xff]) }).all()), ['0000', '00ff', '01', '7fff']);
    assert.deepEqual(hex(await db.keys({ gte: Buffer.from([0xff]), reverse: true }).all()), ['ffff', 'ff00', 'ff']);
    assert.deepEqual(hex(await db.keys({ lte: Buffer.from([0, 0xff]), reverse: true, limit: 3 }).all()), ['00ff', '0000', '00']);
    const it = db.keys({ gte: Buffer.from([0, 0]), lt: Buffer.from([0xff, 0xff]) });
    it.seek(Buffer.from([0, 0x80]));
    assert.equal((await it.next())!.toString('hex'), '00ff');
    it.seek(Buffer.from([0]));
    assert.equal(await it.next(), undefined, 'a target before the range ends the iteration (abstract-level)');
    it.seek(Buffer.from([0xff, 0x80]));
    assert.equal(await it.next(), undefined, 'a target past the range too');
    it.seek(Buffer.from([0x80]));
    assert.equal((await it.next())!.toString('hex'), 'ff', 'and a seek back into the range resumes');
    await it.close();
    // The same key, whatever the encoding it is given in: utf8 'a' is the byte 0x61.
    await db.put(Buffer.from('a'), 'bytes');
    assert.equal(await db.get('a', { keyEncoding: 'utf8' }), 'bytes');
    assert.equal(await db.get(new Uint8Array([0x61]), { keyEncoding: 'view' }), 'bytes');
    await db.close();
  });

  it('the empty key (as "" or as zero bytes: the same key), also in a tree deep enough to have inner nodes', async () => {
    const db = fresh({ size: 16 * MiB });
    await db.put('', 'empty');
    assert.equal(await db.get(''), 'empty');
    assert.equal(await db.get(Buffer.alloc(0), { keyEncoding: 'buffer' }), 'empty');
    // 2,000 keys of 40 bytes: a few dozen leaves and an inner level above them.
    for (let base = 0; base < 2000; base += 200) {
      await db.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `key-${String(base + i).padStart(36, '0')}`, value: 'v' })));
    }
    await db.put('', 'still first');
    const first = await db.iterator({ limit: 2 }).all();
    assert.deepEqual(first.map(([k]) => k), ['', `key-${'0'.repeat(36)}`]);
    assert.equal(first[0]![1], 'still first');
    assert.deepEqual(await db.keys({ reverse: true, lte: '', limit: 5 }).all(), ['']);
    assert.deepEqual(await db.keys({ lt: '' }).all(), []);
    assert.equal((await db.keys({ gt: '' }).all()).length, 2000);
    await db.del(Buffer.alloc(0), { keyEncoding: 'buffer' });
    assert.equal(await db.has(''), false);
    await db.close();
    await db.open();
    assert.equal(await db.has(''), false);
    assert.equal((await db.keys().all()).length, 2000);
    await db.close();
  });

  it('values come back in the encoding asked for, whatever they were stored as', async () => {
    const db = fresh();
    await db.put('s', 'text'); // stored as a string
    await db.put('b', Buffer.from('bytes'), { valueEncoding: 'buffer' }); // stored as bytes
    assert.deepEqual(await db.get('s', { valueEncoding: 'buffer' }), Buffer.from('text'));
    assert.deepEqual(await db.get('s', { valueEncoding: 'view' }), Buffer.from('text'));
    assert.equal(await db.get('b'), 'bytes');
    assert.deepEqual(db.getSync('b', { valueEncoding: 'buffer' }), Buffer.from('bytes'));
    assert.deepEqual(await db.getMany(['s', 'b'], { valueEncoding: 'buffer' }), [Buffer.from('text'), Buffer.from('bytes')]);
    assert.deepEqual(await db.iterator({ keyEncoding: 'buffer', valueEncoding: 'utf8' }).all(), [[Buffer.from('b'), 'bytes'], [Buffer.from('s'), 'text']]);
    await db.close();
  });
});

describe('PmemLevel: snapshots and iteration while writing', () => {
  it('an iterator reads the state when it was made, through puts, deletes, a batch and a clear', async () => {
    const db = fresh();
    await db.batch(['a', 'b', 'c', 'd'].map((k) => ({ type: 'put' as const, key: k, value: k.toUpperCase() })));
    const it = db.iterator();
    const keys = db.keys({ reverse: true });
    assert.deepEqual(await it.next(), ['a', 'A']);
    await db.put('b', 'changed');
    await db.del('c');
    await db.put('bb', 'new');
    await db.batch([{ type: 'put', key: 'e', value: 'E' }, { type: 'del', key: 'd' }]);
    await db.clear({ gte: 'a', lt: 'b' });
    assert.deepEqual(await it.all(), [['b', 'B'], ['c', 'C'], ['d', 'D']]);
    assert.deepEqual(await keys.all(), ['d', 'c', 'b', 'a']);
    assert.deepEqual(await db.iterator().all(), [['b', 'changed'], ['bb', 'new'], ['e', 'E']]);
    await db.close();
  });

  it('an explicit snapshot serves get, getSync, getMany, has, iterators and clear until closed', async () => {
    const db = fresh();
    await db.put('k', 'before');
    await db.put('gone', 'x');
    const snapshot = db.snapshot();
    await db.put('k', 'after');
    await db.del('gone');
    await db.put('new', 'y');
    assert.equal(await db.get('k', { snapshot }), 'before');
    assert.equal(db.getSync('k', { snapshot }), 'before');
    assert.deepEqual(await db.getMany(['k', 'gone', 'new'], { snapshot }), ['before', 'x', undefined]);
    assert.deepEqual(await db.hasMany(['gone', 'new'], { snapshot }), [true, false]);
    assert.deepEqual(await db.keys({ snapshot }).all(), ['gone', 'k']);
    // clear() with a snapshot deletes what the snapshot holds: 'new' stays.
    await db.clear({ snapshot });
    assert.deepEqual(await db.iterator().all(), [['new', 'y']]);
    await snapshot.close();
    await assert.rejects(db.get('k', { snapshot }), { code: 'LEVEL_SNAPSHOT_NOT_OPEN' });
    await db.close();
  });

  it('iterators survive the compaction writes cause; one held across two compactions makes the write that needs the second fail with ENOSPC until it is closed', async () => {
    // 1 MiB: logs of 256 KiB, so 1 KiB overwrites of one key compact every ~250 puts.
    const db = fresh();
    await db.batch(Array.from({ length: 10 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: `v${i}` })));
    const it = db.iterator();
    assert.deepEqual(await it.next(), ['k0', 'v0']);
    const big = 'x'.repeat(1024);
    let written = 0;
    let refused: NodeJS.ErrnoException | undefined;
    for (; written < 2000 && refused === undefined; written++) {
      try {
        await db.put('k5', big);
      } catch (e) {
        refused = e as NodeJS.ErrnoException;
      }
    }
    assert.ok(refused, 'a second compaction was needed and refused');
    assert.equal(refused.code, 'ENOSPC');
    assert.match(refused.message, /iterator or snapshot opened before the last compaction/);
    assert.ok(written > 250, `${written} puts before the refusal: the first compaction went through`);
    // The iterator still reads its snapshot, whose records the first compaction left in place.
    assert.deepEqual(await it.all(), Array.from({ length: 9 }, (_, j) => [`k${j + 1}`, `v${j + 1}`]));
    await it.close();
    await db.put('k5', big);
    assert.equal(await db.get('k5'), big);
    await db.close();
  });
});

describe('PmemLevel: clear()', () => {
  it('more keys than one chunk: ranges, limit, reverse, and every key outside stays', async () => {
    const db = fresh({ size: DEFAULT_SIZE });
    const key = (i: number) => `k${String(i).padStart(5, '0')}`;
    for (let base = 0; base < 3000; base += 150) {
      await db.batch(Array.from({ length: 150 }, (_, i) => ({ type: 'put' as const, key: key(base + i), value: 'v' })));
    }
    await db.clear({ gte: key(100), lt: key(1300), limit: 1100 });
    let left = await db.keys().all();
    assert.equal(left.length, 1900);
    assert.equal(left[99], key(99));
    assert.equal(left[100], key(1200), 'limit: the first 1,100 of the range went');
    await db.clear({ gt: key(1500), reverse: true, limit: 700 });
    left = await db.keys().all();
    assert.equal(left.length, 1200);
    assert.equal(left.at(-1), key(2299), 'reverse: the last 700 went');
    await db.clear({ lte: key(1250) });
    left = await db.keys().all();
    assert.equal(left[0], key(1251));
    await db.clear();
    assert.deepEqual(await db.keys().all(), []);
    await db.close();
  });

  // A chunk that did not move past the keys it deleted would read them again from the snapshot forever.
  it('with a snapshot, chunk after chunk (the keys it deleted are still in the snapshot it reads)', { timeout: 30_000 }, async () => {
    const db = fresh({ size: DEFAULT_SIZE });
    const key = (i: number) => `k${String(i).padStart(5, '0')}`;
    for (let base = 0; base < 2000; base += 200) {
      await db.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: key(base + i), value: 'v' })));
    }
    const snapshot = db.snapshot();
    await db.put(key(5000), 'after the snapshot');
    await db.clear({ snapshot, reverse: true, gte: key(1000), limit: 800 });
    let left = await db.keys().all();
    assert.equal(left.length, 1201);
    assert.deepEqual([left[1199], left[1200]], [key(1199), key(5000)], 'reverse: 1,999 down to 1,200 went');
    await db.clear({ snapshot });
    left = await db.keys().all();
    assert.deepEqual(left, [key(5000)]);
    await snapshot.close();
    await db.close();
  });

  it('in a small store, a range of more keys than a chunk is cleared (in chunks, each an atomic batch)', async () => {
    // 1 MiB, 600 keys: more than a chunk (512), so clear() takes two batches.
    const db = fresh();
    for (let i = 0; i < 600; i++) await db.put(`k${String(i).padStart(4, '0')}`, 'v');
    await db.clear({ gte: 'k0010' });
    assert.deepEqual(await db.keys().all(), Array.from({ length: 10 }, (_, i) => `k${String(i).padStart(4, '0')}`));
    await db.close();
  });
});

describe('PmemLevel: limits and errors', () => {
  it('the location must be a non-empty string; options.size an integer in [MIN_SIZE, MAX_SIZE]', () => {
    throwsCode(() => new PmemLevel(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    throwsCode(() => new PmemLevel(undefined as unknown as string), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    throwsCode(() => new PmemLevel(''), { code: 'ERR_INVALID_ARG_VALUE', type: TypeError });
    throwsCode(() => new PmemLevel('x', 'utf8' as never), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    throwsCode(() => new PmemLevel('x', { size: '1M' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE', type: TypeError });
    throwsCode(() => new PmemLevel('x', { size: kv.MIN_SIZE - 1 }), { code: 'ERR_OUT_OF_RANGE', type: RangeError });
    throwsCode(() => new PmemLevel('x', { size: 1.5 * MiB + 0.5 }), { code: 'ERR_OUT_OF_RANGE', type: RangeError });
  });

  it('a file that is not a store is refused (LEVEL_DATABASE_NOT_OPEN, cause ERR_KV_NOT_A_STORE) and left as it was', async () => {
    const file = freshPath(DIR, 'other');
    const content = Buffer.alloc(MiB, 'not a store ');
    fs.writeFileSync(file, content);
    const db = new PmemLevel(file);
    await assert.rejects(db.open(), (e: Error & { code?: string; cause?: { code?: string } }) => {
      assert.equal(e.code, 'LEVEL_DATABASE_NOT_OPEN');
      assert.equal(e.cause?.code, 'ERR_KV_NOT_A_STORE');
      return true;
    });
    assert.equal(db.status, 'closed');
    assert.ok(fs.readFileSync(file).equals(content), 'not modified');
  });

  it('createIfMissing: false, errorIfExists, a directory, and a store another PmemLevel has open', async () => {
    const cause = (code: string) => (e: Error & { code?: string; cause?: { code?: string; path?: string } }) => {
      assert.equal(e.code, 'LEVEL_DATABASE_NOT_OPEN');
      assert.equal(e.cause?.code, code);
      return true;
    };
    const missing = freshPath(DIR, 'missing');
    await assert.rejects(new PmemLevel(missing, { createIfMissing: false }).open(), cause('ENOENT'));
    assert.equal(fs.existsSync(missing), false, 'nothing was created');
    const db = fresh();
    await db.open();
    await db.close();
    await assert.rejects(db.open({ errorIfExists: true }), cause('EEXIST'));
    await assert.rejects(new PmemLevel(DIR).open(), cause('ERR_PMEM_UNSUPPORTED'));
    await db.open();
    await assert.rejects(new PmemLevel(db.location).open(), cause('ERR_PMEM_LOCKED'));
    await db.close();
  });

  it('errorIfExists is atomic: a file created after any check of ours is EEXIST, never opened as new', async () => {
    const location = freshPath(DIR, 'raced');
    const other = kv.open(location, { create: true, size: kv.MIN_SIZE });
    other.put('theirs', 'kept');
    other.close();
    const before = fs.readFileSync(location);
    // The race, made deterministic: every stat of the path reports it missing, as if the other
    // process created it right after. A check-then-create open would then open their store.
    const mutableFs = fs as { statSync: typeof fs.statSync };
    const statSync = fs.statSync;
    mutableFs.statSync = ((p: fs.PathLike, o?: fs.StatSyncOptions) => (p === location ? undefined : statSync(p, o))) as typeof fs.statSync;
    const db = new PmemLevel(location, { size: kv.MIN_SIZE });
    try {
      await assert.rejects(db.open({ errorIfExists: true }), (e: Error & { code?: string; cause?: { code?: string } }) => {
        assert.equal(e.code, 'LEVEL_DATABASE_NOT_OPEN');
        assert.equal(e.cause?.code, 'EEXIST');
        return true;
      });
    } finally {
      mutableFs.statSync = statSync;
    }
    assert.ok(fs.readFileSync(location).equals(before), 'their store is untouched');
    // Without a race it creates the store.
    const created = freshPath(DIR, 'created');
    const db2 = new PmemLevel(created, { size: kv.MIN_SIZE });
    await db2.open({ errorIfExists: true });
    await db2.put('k', 'v');
    await db2.close();
    await db2.open({ errorIfExists: false, createIfMissing: false });
    assert.equal(await db2.get('k'), 'v');
    await db2.close();
  });

  it('a snapshot of another database is refused', async () => {
    const a = fresh();
    const b = fresh();
    await Promise.all([a.open(), b.open()]);
    const snapshot = b.snapshot();
    await assert.rejects(a.get('k', { snapshot }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => a.getSync('k', { snapshot }), { code: 'ERR_INVALID_ARG_VALUE' });
    await snapshot.close();
    await Promise.all([a.close(), b.close()]);
  });

  it("the store's limits: a key over 1024 bytes, and a batch too large for the index (ENOSPC, nothing written)", async () => {
    const db = fresh();
    await assert.rejects(db.put('k'.repeat(1025), 'v'), { code: 'ERR_KV_KEY_TOO_LARGE' });
    await db.put('k'.repeat(1024), 'v');
    // 400 keys of 1000 bytes: more than a 1 MiB store's log and index hold.
    const big = Array.from({ length: 400 }, (_, i) => ({ type: 'put' as const, key: `${i}`.padStart(1000, 'k'), value: 'v' }));
    await assert.rejects(db.batch(big), { code: 'ENOSPC' });
    const ops = Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: 'v' }));
    await assert.rejects(db.batch().put('a', '1').put('b', '2').put('c', 'x'.repeat(17 * MiB)).write(), { code: 'ERR_KV_VALUE_TOO_LARGE' });
    assert.deepEqual(await db.keys().all(), ['k'.repeat(1024)], 'neither batch wrote anything');
    await db.batch(ops.slice(0, 30));
    assert.equal((await db.keys().all()).length, 31);
    await db.close();
  });

  it('without abstract-level 3 where node-pmem is installed, loading says to install it (ERR_PMEM_PEER_DEPENDENCY)', () => {
    const dir = fs.mkdtempSync(path.join(DIR, 'peer-'));
    const e = throwsCode(() => checkAbstractLevel(dir), { code: 'ERR_PMEM_PEER_DEPENDENCY', message: /npm install abstract-level@3/ });
    assert.equal((e.cause as NodeJS.ErrnoException).code, 'MODULE_NOT_FOUND');
    fs.mkdirSync(path.join(dir, 'node_modules', 'abstract-level'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', 'abstract-level', 'package.json'), '{ "name": "abstract-level", "version": "2.0.2" }');
    throwsCode(() => checkAbstractLevel(dir), { code: 'ERR_PMEM_PEER_DEPENDENCY', message: /needs abstract-level 3\.x; .* is version 2\.0\.2/ });
    assert.equal(checkAbstractLevel(FIXTURES), require('abstract-level/package.json').version, 'the repository has it');
  });
});
