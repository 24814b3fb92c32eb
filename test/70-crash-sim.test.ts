/**
 * Crash simulator (node-pmem/testing, issue 7): power-failure consistency checked from node:test.
 *
 * A tiny commit protocol is the subject throughout: DATA (256 bytes, lines 1-4) then a FLAG
 * (line 0) saying the data is valid. Recovery fails when the flag is set and the data is not
 * all there. The correct protocol must pass every crash point; each broken one must be caught at
 * the crash point where it first goes wrong, and replayFailure must reproduce the failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './helpers';
import {
  crashTest,
  replayFailure,
  createSimulatedMapping,
  currentCrashPoint,
  durableImage,
  unpersistedLines,
  type CrashTestOptions,
  type CrashFailure,
  type Mapping,
} from 'node-pmem/testing';

const FLAG = 0;
const DATA = 64;
const DATA_LEN = 256;
const PAYLOAD = Buffer.alloc(DATA_LEN, 0).map((_, i) => (i * 7 + 1) & 0xff);

function codeOf(code: string, cls?: Function) {
  return (e: unknown) => {
    assert.ok(e instanceof Error, `expected an Error, got ${String(e)}`);
    if (cls !== undefined) assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}`);
    assert.equal((e as { code?: string }).code, code, (e as Error).message);
    return true;
  };
}
const TYPE = codeOf('ERR_INVALID_ARG_TYPE', TypeError);
const VALUE = codeOf('ERR_INVALID_ARG_VALUE', TypeError);
const RANGE = codeOf('ERR_OUT_OF_RANGE', RangeError);

/** Throws when the flag says "committed" and the data is not the payload. */
function checkCommit(image: Uint8Array, flagAt = FLAG, dataAt = DATA): void {
  const flag = new DataView(image.buffer, image.byteOffset).getUint32(flagAt, true);
  if (flag === 0) return;
  assert.equal(flag, 1, 'flag is 0 or 1');
  const data = image.subarray(dataAt, dataAt + DATA_LEN);
  if (!Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(PAYLOAD)) {
    throw new Error('commit flag set but the data is incomplete');
  }
}

function setFlag(m: Mapping, at = FLAG): void {
  m.dataView(at, 4).setUint32(0, 1, true);
}

const recover = async (image: Uint8Array) => checkCommit(image);

describe('crashTest: the commit protocol', () => {
  for (const granularity of ['cacheline', 'byte', 'page'] as const) {
    it(`the correct protocol passes every crash point (${granularity})`, async () => {
      // Page tier: data in page 1, flag in page 0 so the units differ.
      const dataAt = granularity === 'page' ? 4096 : DATA;
      const result = await crashTest({
        size: 16384,
        granularity,
        workload: (m) => {
          m.write(dataAt, PAYLOAD);
          m.persist(dataAt, DATA_LEN);
          setFlag(m);
          m.persist(FLAG, 4);
        },
        recover: (image) => checkCommit(image, FLAG, dataAt),
      });
      assert.deepEqual(result.failures, []);
      assert.equal(result.crashPoints, 3, 'two fences + the end');
      assert.equal(result.unitSize, granularity === 'page' ? 512 : 8, 'tearing at words (sectors at page tier) by default');
      assert.ok(result.imagesChecked >= 3);
    });
  }

  it('flag persisted before the data: fails at crash point 0 with only the flag line kept', async () => {
    const opts: CrashTestOptions = {
      size: 4096,
      granularity: 'cacheline',
      workload: (m) => {
        setFlag(m);
        m.persist(FLAG, 4); // fence #0: the flag is durable before any data exists
        m.write(DATA, PAYLOAD, { persist: true }); // fence #1
      },
      recover,
      maxFailures: 100,
    };
    const result = await crashTest(opts);
    assert.equal(result.crashPoints, 3);
    assert.ok(result.failures.length >= 2);
    const first = result.failures[0];
    assert.equal(first.crashPoint, 0);
    assert.deepEqual(first.keptUnits, [0]);
    assert.deepEqual(first.keptVariants, [0]);
    assert.equal(first.kind, 'all', 'the image where everything landed');
    assert.equal(first.maybeUnits, 1);
    assert.match(first.operation, /fence #0: persist\(0, 4\)/);
    assert.match(first.message, /crash point 0 .*incomplete/);
    assert.match(String((first.error as Error).message), /incomplete/);
    // At crash point 1 the flag is durable: the image with no data landed fails too.
    assert.ok(result.failures.some((f) => f.crashPoint === 1 && f.keptUnits.length === 0));
    // Nothing after the data's fence fails.
    assert.ok(result.failures.every((f) => f.crashPoint <= 1));
  });

  it('data stored but never flushed: fails before the flag fence and at the end', async () => {
    const opts: CrashTestOptions = {
      size: 4096,
      workload: (m) => {
        m.write(DATA, PAYLOAD); // no persist
        setFlag(m);
        m.persist(FLAG, 4); // fence #0
      },
      recover,
      maxFailures: 1000,
    };
    const result = await crashTest(opts);
    assert.equal(result.crashPoints, 2);
    assert.ok(result.failures.length > 0);
    assert.equal(result.failures[0].crashPoint, 0);
    // A failing image at crash point 0 kept the flag's word and dropped some word of the data
    // (words 8-39: lines 1-4).
    for (const f of result.failures.filter((x) => x.crashPoint === 0)) {
      assert.ok(f.keptUnits.includes(0));
      assert.ok(Array.from({ length: 32 }, (_, i) => 8 + i).some((w) => !f.keptUnits.includes(w)));
      assert.equal(f.maybeUnits, 33);
    }
    // At the end the flag is durable and no data line is: the "none" extreme fails.
    const end = result.failures.find((f) => f.crashPoint === 1 && f.keptUnits.length === 0);
    assert.ok(end, 'end-of-workload failure with nothing landed');
    assert.equal(end.operation, 'end of workload');
    assert.equal(end.kind, 'none');
  });

  it('flush without a fence before the flag: fails at the flag fence', async () => {
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        m.write(DATA, PAYLOAD);
        m.flush(DATA, DATA_LEN); // no drain: the write-backs may complete after the flag lands
        setFlag(m);
        m.persist(FLAG, 4); // fence #0 also completes the data flush
      },
      recover,
    });
    assert.equal(result.crashPoints, 2);
    assert.ok(result.failures.length > 0);
    assert.ok(result.failures.every((f) => f.crashPoint === 0), 'after the fence both are durable');
  });

  it('flush + drain of the data before the flag passes', async () => {
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        m.write(DATA, PAYLOAD);
        m.flush(DATA, DATA_LEN);
        m.drain();
        setFlag(m);
        m.flush(FLAG, 4);
        m.drain();
      },
      recover,
    });
    assert.deepEqual(result.failures, []);
    assert.equal(result.crashPoints, 3);
  });

  it('markDirty + persistDirty before the flag passes; persistDirty after the flag fails', async () => {
    const good = await crashTest({
      size: 4096,
      workload: (m) => {
        m.bytes(DATA, DATA_LEN).set(PAYLOAD);
        m.markDirty(DATA, 100);
        m.markDirty(DATA + 100, DATA_LEN - 100);
        const r = m.persistDirty();
        assert.deepEqual(r, { extents: 1, bytes: DATA_LEN });
        setFlag(m);
        m.persist(FLAG, 4);
      },
      recover,
    });
    assert.deepEqual(good.failures, []);
    const bad = await crashTest({
      size: 4096,
      workload: (m) => {
        m.bytes(DATA, DATA_LEN).set(PAYLOAD);
        m.markDirty(DATA, DATA_LEN);
        setFlag(m);
        m.persist(FLAG, 4);
        m.persistDirty();
      },
      recover,
    });
    assert.ok(bad.failures.length > 0);
    assert.equal(bad.failures[0].crashPoint, 0);
  });

  it('persistAsync: awaited before the flag passes, not awaited fails', async () => {
    const good = await crashTest({
      size: 4096,
      workload: async (m) => {
        m.write(DATA, PAYLOAD);
        await m.persistAsync(DATA, DATA_LEN);
        setFlag(m);
        m.persist(FLAG, 4);
      },
      recover,
    });
    assert.deepEqual(good.failures, []);
    assert.equal(good.crashPoints, 3);
    const bad = await crashTest({
      size: 4096,
      workload: async (m) => {
        m.write(DATA, PAYLOAD);
        const p = m.persistAsync(DATA, DATA_LEN);
        setFlag(m);
        m.persist(FLAG, 4); // the JS-thread fence does not complete the pool's flush
        await p;
      },
      recover,
      maxFailures: 100,
    });
    assert.ok(bad.failures.length > 0);
    assert.equal(bad.failures[0].crashPoint, 0);
    assert.match(bad.failures[0].operation, /persist\(0, 4\)/);
  });

  it('byte tier: no flush needed, but a fence must order data before flag', async () => {
    const good = await crashTest({
      size: 4096,
      granularity: 'byte',
      workload: (m) => {
        m.bytes(DATA, DATA_LEN).set(PAYLOAD);
        m.drain();
        setFlag(m);
        m.drain();
      },
      recover,
    });
    assert.deepEqual(good.failures, []);
    const bad = await crashTest({
      size: 4096,
      granularity: 'byte',
      workload: (m) => {
        m.bytes(DATA, DATA_LEN).set(PAYLOAD);
        setFlag(m);
        m.drain();
      },
      recover,
    });
    assert.ok(bad.failures.length > 0);
    assert.ok(bad.failures.every((f) => f.crashPoint === 0), 'after the fence everything is durable');
  });

  it('page tier: an msync (flush) makes its pages durable at once; flag page first fails', async () => {
    const bad = await crashTest({
      size: 16384,
      granularity: 'page',
      workload: (m) => {
        m.write(4096, PAYLOAD);
        setFlag(m);
        m.flush(FLAG, 4); // msync of page 0 only
        m.drain(); // no-op at page tier: not a crash point
        m.flush(4096, DATA_LEN);
      },
      recover: (image) => checkCommit(image, FLAG, 4096),
      maxFailures: 100,
    });
    assert.equal(bad.crashPoints, 3, 'two msyncs + the end');
    assert.equal(bad.unitSize, 512, 'sectors');
    assert.ok(bad.failures.length > 0);
    assert.equal(bad.failures[0].crashPoint, 0);
    assert.ok(bad.failures.some((f) => f.crashPoint === 1 && f.keptUnits.length === 0));
    assert.ok(bad.failures.every((f) => f.keptUnits.every((l) => l * 512 < 2 * 4096)), 'only sectors of pages 0 and 1');
  });
});

describe('crashTest: what is caught and how images are chosen', () => {
  it('stores through bytes() and dataView() views are caught at every crash point', async () => {
    const seen: number[][] = [];
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        m.bytes(128, 8).set([1, 2, 3, 4, 5, 6, 7, 8]); // line 2, word 16
        m.drain(); // crash point 0: word 16 maybe
        assert.deepEqual(unpersistedLines(m), [2]);
        m.bytes()[200] = 5; // line 3, word 25
        m.persist(128, 8); // crash point 1: words 16 and 25 maybe, then line 2 durable
        assert.deepEqual(unpersistedLines(m), [3]);
        m.dataView(1000, 8).setFloat64(0, Math.PI); // line 15, word 125
        new Uint32Array(m.buffer, 4000, 1)[0] = 7; // line 62, word 500, through the buffer getter
      }, // crash point 2 (end): words 25, 125 and 500 maybe
      recover: (_image, ctx) => {
        if (ctx.kind === 'all') seen[ctx.crashPoint] = ctx.keptUnits;
      },
      imagesPerPoint: 0,
    });
    assert.equal(result.crashPoints, 3);
    assert.deepEqual(seen, [[16], [16, 25], [25, 125, 500]]);
  });

  it('a line stored again after its flush may land with either content', async () => {
    const contents = new Set<number>();
    await crashTest({
      size: 4096,
      workload: (m) => {
        m.fill(64, 64, 0xaa);
        m.flush(64, 64);
        m.fill(64, 64, 0xbb); // after the flush: not guaranteed by the fence
        m.drain(); // crash point 0
        assert.equal(durableImage(m)[64], 0xaa, 'the flushed content is what the fence made durable');
        assert.deepEqual(unpersistedLines(m), [1]);
      },
      recover: (image, ctx) => {
        if (ctx.crashPoint === 0) contents.add(image[64]);
        if (ctx.crashPoint === 1) assert.notEqual(image[64], 0, 'durable after the fence');
      },
    });
    assert.deepEqual([...contents].sort(), [0, 0xaa, 0xbb]);
  });

  it('small maybe-sets are enumerated exhaustively, larger ones sampled with extremes', async () => {
    const images = new Map<number, Set<string>>();
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        m.fill(0, 64 * 3, 1); // 3 lines
        m.drain(); // crash point 0: 8 combinations
        m.fill(0, 64 * 10, 2); // 10 lines
        m.drain(); // crash point 1: 1024 combinations; nothing was flushed, so nothing is durable
      }, // crash point 2 (end): the same state as crash point 1, not checked again
      recover: (image, ctx) => {
        const set = images.get(ctx.crashPoint) ?? new Set<string>();
        images.set(ctx.crashPoint, set);
        set.add(`${ctx.kind}:${Buffer.from(image.subarray(0, 640)).toString('hex')}`);
      },
      imagesPerPoint: 8,
      atomicUnit: 64, // whole lines: the counts below are of lines
    });
    assert.equal(result.crashPoints, 3);
    const p0 = [...images.get(0)!];
    assert.equal(p0.length, 8);
    assert.equal(p0.filter((s) => s.startsWith('exhaustive:')).length, 6);
    assert.equal(p0.filter((s) => s.startsWith('none:')).length, 1);
    assert.equal(p0.filter((s) => s.startsWith('all:')).length, 1);
    const p1 = [...images.get(1)!];
    assert.equal(p1.length, 10, 'none + all + 8 distinct random');
    assert.equal(p1.filter((s) => s.startsWith('none:')).length, 1);
    assert.equal(p1.filter((s) => s.startsWith('all:')).length, 1);
    assert.equal(result.duplicateCrashPoints, 1);
    assert.equal(images.has(2), false);
    assert.equal(result.imagesChecked, 8 + 10);
  });

  it('is reproducible: the same seed gives the same failures, another seed other images', async () => {
    const opts = (seed: number): CrashTestOptions => ({
      size: 8192,
      seed,
      workload: (m) => {
        m.write(DATA, PAYLOAD);
        setFlag(m);
        m.persist(FLAG, 4);
      },
      recover,
      maxFailures: 1000,
    });
    const strip = (fs: CrashFailure[]) => fs.map((f) => [f.crashPoint, f.kind, f.imageSeed, f.keptUnits, f.imageHash]);
    const a = await crashTest(opts(42));
    const b = await crashTest(opts(42));
    const c = await crashTest(opts(43));
    assert.deepEqual(strip(a.failures), strip(b.failures));
    assert.notDeepEqual(strip(a.failures), strip(c.failures));
    assert.ok(a.failures.every((f) => f.seed === 42));
  });

  it('identical consecutive crash points are checked once; every fence still counts', async () => {
    let calls = 0;
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        for (let i = 0; i < 5; i++) m.drain();
        m.fill(0, 8, 1, { persist: true });
        m.drain();
      },
      recover: () => {
        calls++;
      },
    });
    assert.equal(result.crashPoints, 8);
    assert.equal(result.duplicateCrashPoints, 4 + 1);
    assert.equal(result.imagesChecked, calls);
  });

  it('a recover that changes the image does not leak into the next image', async () => {
    let calls = 0;
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        for (let i = 0; i < 6; i++) m.fill(i * 64, 64, 1 + i);
        m.drain();
        m.fill(0, 64 * 6, 9, { persist: true });
      },
      recover: (image) => {
        calls++;
        assert.equal(image[4000], 0, 'untouched by the previous recover');
        image[4000] = 1; // e.g. recovery writing its own marker
        image.fill(7, 0, 64 * 6); // and rewriting maybe-lines
      },
      maxFailures: 1000,
    });
    assert.deepEqual(result.failures.map((f) => f.message), []);
    assert.ok(calls > result.imagesChecked, 'the first crash point was checked again with fresh copies');
  });

  it('a change to the image is caught even when a later image rewrites that line', async () => {
    // Line 0 is a maybe-line: images that keep it rewrite it, which must not hide that an earlier
    // recover changed it in an image that did not keep it.
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        for (let i = 0; i < 8; i++) m.fill(i * 64, 64, 1 + i);
        m.drain();
      },
      recover: (image, ctx) => {
        const keptLine0 = ctx.keptUnits.includes(0);
        assert.equal(image[0], keptLine0 ? 1 : 0, 'line 0 is what the image says');
        image[0] = 0xee;
      },
      maxFailures: 1000,
    });
    assert.deepEqual(result.failures.map((f) => f.message), []);
  });

  it('maxFailures stops early', async () => {
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        for (let i = 0; i < 10; i++) m.fill(i * 64, 64, 1, { persist: true });
      },
      recover: () => {
        throw new Error('always');
      },
      maxFailures: 3,
    });
    assert.equal(result.failures.length, 3);
    assert.equal(result.truncated, true);
  });

  it('currentCrashPoint lets recovery check durability of acknowledged writes', async () => {
    const run = (persistValue: boolean) => {
      const acked: { value: number; at: number }[] = [];
      return crashTest({
        size: 4096,
        workload: (m) => {
          assert.equal(currentCrashPoint(m), 0);
          for (let v = 1; v <= 3; v++) {
            m.dataView(128, 4).setUint32(0, v, true);
            if (persistValue) m.persist(128, 4);
            else m.drain(); // a fence, but the store was never flushed
            acked.push({ value: v, at: currentCrashPoint(m) });
          }
        },
        recover: (image, ctx) => {
          const got = new DataView(image.buffer).getUint32(128, true);
          const due = acked.filter((a) => a.at <= ctx.crashPoint).pop();
          if (due !== undefined && got < due.value) throw new Error(`acknowledged ${due.value} lost: read ${got}`);
        },
      });
    };
    const good = await run(true);
    assert.deepEqual(good.failures, []);
    assert.equal(good.crashPoints, 4);
    const bad = await run(false);
    assert.ok(bad.failures.length > 0);
    assert.equal(bad.failures[0].crashPoint, 1, 'the first write was acknowledged after fence #0');
    assert.match(bad.failures[0].message, /acknowledged 1 lost/);
  });

  it('initialImage is the media before the workload', async () => {
    const initial = new Uint8Array(4096);
    initial[0] = 1; // a committed flag from an earlier life...
    initial.set(PAYLOAD, DATA); // ...and its data
    const result = await crashTest({
      initialImage: initial,
      workload: (m) => {
        assert.equal(m.length, 4096);
        assert.equal(m.bytes(0, 1)[0], 1);
        // Overwriting committed data in place without a log is not crash-safe.
        m.fill(DATA, DATA_LEN, 0, { persist: true });
      },
      recover,
    });
    assert.ok(result.failures.length > 0);
    assert.equal(result.failures[0].crashPoint, 0);
  });

  it('a workload that throws rejects crashTest with its error', async () => {
    await assert.rejects(
      crashTest({
        size: 4096,
        workload: () => {
          throw new Error('boom');
        },
        recover,
      }),
      /boom/,
    );
  });
});

describe('crashTest: torn lines, torn pages and kills', () => {
  /** Line 0: a commit word (bytes 0-7) and 56 bytes of data in the same line, one persist for both. */
  const sameLineCommit = (atomicUnit?: number): CrashTestOptions => ({
    size: 4096,
    ...(atomicUnit === undefined ? {} : { atomicUnit }),
    workload: (m) => {
      m.write(8, PAYLOAD.subarray(0, 56));
      m.dataView(0, 8).setBigUint64(0, 1n, true);
      m.persist(0, 64); // no fence between the data and its commit word: the line may land torn
    },
    recover: (image) => {
      if (new DataView(image.buffer, image.byteOffset).getBigUint64(0, true) === 0n) return;
      if (!Buffer.from(image.buffer, image.byteOffset + 8, 56).equals(PAYLOAD.subarray(0, 56))) throw new Error('committed, data torn');
    },
    maxFailures: 1000,
  });

  it('a commit word in the data\'s line without a fence: caught by word tearing (the default), missed by whole lines', async () => {
    const torn = await crashTest(sameLineCommit());
    assert.ok(torn.failures.length > 0, 'word tearing catches it');
    assert.equal(torn.unitSize, 8);
    const f = torn.failures[0];
    assert.equal(f.crashPoint, 0);
    assert.ok(f.keptUnits.includes(0) && f.keptUnits.length < 8, `the commit word landed, not all data words: ${f.keptUnits}`);
    assert.match(f.message, /maybe-units/);
    const whole = await crashTest(sameLineCommit(64));
    assert.deepEqual(whole.failures, [], 'whole-line landing cannot see it');
    assert.equal(whole.unitSize, 64);
  });

  it('torn images replay exactly (the same bytes, the same error)', async () => {
    const torn = await crashTest(sameLineCommit());
    for (const f of torn.failures.slice(0, 5)) {
      await assert.rejects(replayFailure(sameLineCommit(), JSON.parse(JSON.stringify({ ...f, error: undefined }))), /data torn/);
      const fixed = await replayFailure({ ...sameLineCommit(), recover: () => {} }, f);
      assert.equal(fixed.imageHash, f.imageHash);
    }
  });

  it('small sets of torn words are enumerated exhaustively', async () => {
    const images = new Set<string>();
    await crashTest({
      size: 4096,
      workload: (m) => {
        m.bytes(0, 24).fill(0xee); // words 0, 1, 2 of line 0
        m.drain();
      },
      recover: (image, ctx) => {
        if (ctx.crashPoint === 0) images.add(Buffer.from(image.subarray(0, 24)).toString('hex'));
      },
      imagesPerPoint: 16,
    });
    assert.equal(images.size, 8, 'every subset of the three words');
  });

  /** A two-sector record: a magic word at the start of sector 0, its sequence number at the end of sector 1. */
  const twoSectorRecord = (atomicUnit?: number): CrashTestOptions => ({
    size: 8192,
    granularity: 'page',
    ...(atomicUnit === undefined ? {} : { atomicUnit }),
    workload: (m) => {
      const rec = Buffer.alloc(1024, 0x11);
      rec.writeUInt32LE(0x52454331, 0); // 'REC1'
      rec.writeUInt32LE(7, 1020);
      m.write(0, rec);
      m.persist(0, 1024); // msync: the page is written back, maybe torn at a sector
    },
    recover: (image) => {
      const v = new DataView(image.buffer, image.byteOffset);
      // The weak protocol: a record with its magic is taken as whole, with no checksum.
      if (v.getUint32(0, true) === 0x52454331 && v.getUint32(1020, true) !== 7) throw new Error('record torn across sectors');
    },
    maxFailures: 100,
  });

  it('page tier: a two-sector record without a checksum is caught by sector tearing (the default), missed by whole pages', async () => {
    const torn = await crashTest(twoSectorRecord());
    assert.equal(torn.unitSize, 512);
    assert.ok(torn.failures.length > 0, 'sector tearing catches it');
    assert.deepEqual(torn.failures[0].keptUnits, [0], 'sector 0 landed, sector 1 did not');
    const whole = await crashTest(twoSectorRecord(4096));
    assert.deepEqual(whole.failures, [], 'a device that writes pages atomically (BTT) keeps it whole');
  });

  /**
   * The subject of the kill test: a recovery step that applies a pending increment. Word 0 holds
   * the state (bytes 0-3: 0 none, 1 pending, 2 in progress) and the counter (bytes 4-7); line 1
   * the log entry it retires. The state and counter change in several stores, with a flush of the
   * log line in between, and one fence at the end: at every fence word 0 goes from (pending, 10)
   * to (none, 15) in one 8-byte piece, so no power failure can tear it. A kill can stop it between
   * two stores, with "in progress" in the word, and a later recovery takes that as done.
   */
  const STATE = 0;
  const COUNTER = 4;
  const pendingImage = () => {
    const b = Buffer.alloc(4096);
    b.writeUInt32LE(1, STATE);
    b.writeUInt32LE(10, COUNTER);
    b.fill(0x55, 64, 128); // the log entry: +5
    return b;
  };
  const recoveryStep = (m: Mapping) => {
    const v = m.dataView(0, 8);
    const state = v.getUint32(STATE, true);
    if (state === 1) {
      v.setUint32(STATE, 2, true); // in progress
      m.bytes(64, 64).fill(0); // retire the log entry...
      m.flush(64, 64); // ...flushed now, fenced with the rest
      v.setUint32(COUNTER, v.getUint32(COUNTER, true) + 5, true);
      v.setUint32(STATE, 0, true);
      m.persist(0, 8);
    } else if (state === 2) {
      v.setUint32(STATE, 0, true); // the weak part: "in progress" is taken as done
      m.persist(0, 8);
    }
  };
  const rerunRecovery = (_image: Uint8Array, ctx: { open(): Mapping }) => {
    const m = ctx.open();
    recoveryStep(m);
    const counter = m.dataView(COUNTER, 4).getUint32(0, true);
    m.close();
    if (counter !== 15) throw new Error(`counter ${counter} after recovery, not 15`);
  };

  it('a recovery that is not idempotent between its stores is caught by kill images, not by power-failure images', async () => {
    const options: CrashTestOptions = { initialImage: pendingImage(), workload: recoveryStep, recover: rerunRecovery, maxFailures: 100 };
    const power = await crashTest(options);
    assert.deepEqual(power.failures.map((f) => f.message), [], 'at every fence word 0 lands whole, old or new');
    assert.ok(power.imagesChecked > 2);
    const kill = await crashTest({ ...options, crash: 'kill' });
    assert.equal(kill.crash, 'kill');
    assert.ok(kill.failures.length > 0, 'a kill between the stores keeps "in progress"');
    const f = kill.failures[0];
    assert.equal(f.crash, 'kill');
    assert.equal(f.kind, 'kill');
    assert.equal(f.cutAt, null);
    assert.equal(f.operation, 'kill #1: before flush(64, 64)');
    assert.match(f.message, /counter 10 after recovery/);
    await assert.rejects(replayFailure({ ...options, crash: 'kill' }, JSON.parse(JSON.stringify({ ...f, error: undefined }))), /counter 10/);
  });

  it('kill images cut a write or fill after every byte (sampled when long), and keep stores made through views', async () => {
    const cuts: number[] = [];
    const plainCuts: number[] = [];
    const viewsSeen: boolean[] = [];
    const data = Buffer.from('0123456789abcdef');
    const result = await crashTest({
      size: 4096,
      crash: 'kill',
      workload: (m) => {
        m.bytes(2048, 1)[0] = 0x77; // a view store, never persisted
        m.write(0, data, { persist: true });
        m.fill(100, 1000, 0xab, { persist: true });
        m.write(3000, Buffer.from('abcdef')); // without persist: a kill cuts it too
      },
      recover: (image, ctx) => {
        if (ctx.crashPoint > 0) viewsSeen.push(image[2048] === 0x77);
        if (ctx.cutAt === null) return;
        if (ctx.operation.includes('write(3000')) {
          plainCuts.push(ctx.cutAt);
          assert.equal(Buffer.from(image.subarray(3000, 3006)).toString('latin1'), 'abcdef'.slice(0, ctx.cutAt) + '\0'.repeat(6 - ctx.cutAt));
        } else if (ctx.operation.includes('write(0')) {
          cuts.push(ctx.cutAt);
          assert.equal(Buffer.from(image.subarray(0, 16)).toString(), data.subarray(0, ctx.cutAt).toString() + '\0'.repeat(16 - ctx.cutAt));
        } else {
          assert.equal(image.subarray(100, 1100).filter((b) => b === 0xab).length, ctx.cutAt);
          assert.equal(image[100 + ctx.cutAt - 1], 0xab);
          assert.equal(image[100 + ctx.cutAt], 0);
        }
      },
    });
    assert.deepEqual(result.failures, []);
    assert.deepEqual(cuts, Array.from({ length: 15 }, (_, i) => i + 1), 'every byte of a short write');
    assert.ok(viewsSeen.length > 0 && viewsSeen.every(Boolean), 'the view store is in every image after the start: the first call comes after it');
    assert.deepEqual(plainCuts, [1, 2, 3, 4, 5]);
    // The kill points: the start, before each write and the fill, the end; plus the cuts: 15 and 5 of the writes, 16 sampled of the fill.
    assert.equal(result.imagesChecked, 5 + 15 + 5 + 16);
  });
});

describe('crashTest: how kill points are recorded', () => {
  interface Shot {
    image: Buffer;
    /** What the call about to run stores, which a kill cuts after any byte. */
    cut: { offset: number; bytes: Buffer } | null;
  }

  /**
   * A workload that stores every way there is: write/fill, views, a subarray of a view, and the
   * whole ArrayBuffer reached by `route`. Before each call that is a kill point it snapshots the
   * mapping with read() (not a kill point itself): the brute-force answer, "the image at a kill is
   * the live content at that instant".
   */
  const SIZE = 3 * 4096 + 100; // several 4 KiB blocks and a partial last line
  const routes = {
    'mapping.buffer': (m: Mapping) => m.buffer,
    "a view's .buffer": (m: Mapping) => m.bytes(64, 8).buffer,
    "a subarray's .buffer": (m: Mapping) => m.bytes(64, 8).subarray(2, 4).buffer,
    "a DataView's .buffer": (m: Mapping) => m.dataView(64, 8).buffer,
  };
  const storeEveryWay = (shots: Shot[], whole: (m: Mapping) => ArrayBufferLike) => (m: Mapping) => {
    const at = (cut: Shot['cut']) => shots.push({ image: m.read(0, SIZE), cut });
    at(null); // the start
    const v = m.bytes(5000, 200);
    v[3] = 1;
    const data = Buffer.from('written by a call');
    at({ offset: 10, bytes: data });
    m.write(10, data);
    v[150] = 2; // the same view, after the call
    m.dataView(8190, 8).setUint32(2, 0xdeadbeef, true); // a DataView across a block boundary
    at(null);
    m.flush(0, 64);
    v.subarray(10, 20)[0] = 3;
    at({ offset: 12000, bytes: Buffer.alloc(300, 0xcd) });
    m.fill(12000, 300, 0xcd);
    at(null);
    m.drain();
    at(null);
    m.drain(); // nothing stored since the last point: a duplicate
    new Uint8Array(whole(m))[SIZE - 1] = 4; // outside every view handed out
    at(null);
    m.persist(0, 64);
    const tail = Buffer.from('tail!');
    at({ offset: SIZE - 5, bytes: tail });
    m.write(SIZE - 5, tail, { persist: true });
    at(null); // the end
  };

  for (const [route, whole] of Object.entries(routes)) {
    it(`every kill image, cut or not, is the live content at its point, in order (against a snapshot per point; the whole buffer from ${route})`, async () => {
      const shots: Shot[] = [];
      const seen: { k: number; cutAt: number | null; same: boolean }[] = [];
      const result = await crashTest({
        size: SIZE,
        crash: 'kill',
        imagesPerPoint: 1000, // every cut of every call
        workload: storeEveryWay(shots, whole),
        recover: (image, ctx) => {
          const shot = shots[ctx.crashPoint];
          const expected = Buffer.from(shot.image);
          if (ctx.cutAt !== null) shot.cut!.bytes.copy(expected, shot.cut!.offset, 0, ctx.cutAt);
          seen.push({ k: ctx.crashPoint, cutAt: ctx.cutAt, same: expected.equals(image) });
        },
      });
      assert.deepEqual(result.failures, []);
      assert.equal(result.crashPoints, shots.length);
      // The images the model promises, in order: each point but a repeat of the previous one, then its cuts.
      const expected: { k: number; cutAt: number | null; same: boolean }[] = [];
      let duplicates = 0;
      shots.forEach((shot, k) => {
        if (k > 0 && shot.cut === null && shots[k - 1].cut === null && shot.image.equals(shots[k - 1].image)) {
          duplicates++;
          return;
        }
        expected.push({ k, cutAt: null, same: true });
        for (let c = 1; c < (shot.cut?.bytes.length ?? 0); c++) expected.push({ k, cutAt: c, same: true });
      });
      assert.equal(duplicates, 1, 'the workload has one repeated point (the second drain)');
      assert.equal(result.duplicateCrashPoints, duplicates);
      assert.deepEqual(seen, expected);
    });
  }

  // The recorder's count of bytes compared, per kill point, during the crashTest calls of `run`.
  const { KillRecorder } = require(path.join(REPO_ROOT, 'dist', 'testing', 'kill.js')) as typeof import('../lib/testing/kill');
  async function comparedPerPoint(run: () => Promise<unknown>): Promise<number[]> {
    const original = KillRecorder.prototype.point;
    const costs: number[] = [];
    KillRecorder.prototype.point = function (this: InstanceType<typeof KillRecorder>, ...args) {
      const before = this.compared;
      original.apply(this, args);
      costs.push(this.compared - before);
    };
    try {
      await run();
    } finally {
      KillRecorder.prototype.point = original;
    }
    return costs;
  }

  it('a kill point compares what was stored and what views expose, not the whole mapping', async () => {
    const small = 64 * 1024;
    const large = 16 * 1024 * 1024;
    const workload = (m: Mapping) => {
      const header = m.dataView(0, 64);
      for (let i = 0; i < 8; i++) {
        m.write(4096 + i * 256, Buffer.alloc(200, i + 1));
        header.setUint32(0, i, true);
        m.persist(0, 64);
      }
      m.fill(20000, 1000, 0xee);
    };
    const costsAt = (size: number) => comparedPerPoint(() => crashTest({ size, crash: 'kill', workload, recover: () => {} }));
    const atSmall = await costsAt(small);
    const atLarge = await costsAt(large);
    assert.deepEqual(atLarge, atSmall, 'the same cost per point at 64 KiB and at 16 MiB');
    assert.ok(Math.max(...atLarge) < small, `at most ${Math.max(...atLarge)} bytes per point, less than even the small mapping`);
    assert.ok(Math.min(...atLarge.slice(1)) >= 64, 'every point after the start compares at least the header the view exposes');
    // Taking the whole ArrayBuffer exposes all of it: then every later point compares the whole mapping.
    const whole = await comparedPerPoint(() =>
      crashTest({
        size: large,
        crash: 'kill',
        workload: (m) => {
          new Uint8Array(m.buffer)[large - 1] = 1;
          m.persist(0, 64);
          m.persist(0, 64);
        },
        recover: () => {},
      }),
    );
    assert.deepEqual(whole, [0, large, large, large], 'the start (nothing exposed yet), two persists, the end');
  });
});

describe('replayFailure', () => {
  const brokenOptions = (log?: string[]): CrashTestOptions => ({
    size: 8192,
    workload: (m) => {
      m.write(DATA, PAYLOAD); // never flushed
      setFlag(m);
      m.persist(FLAG, 4);
      m.write(1024, 'unrelated', { persist: true });
    },
    recover: (image, ctx) => {
      log?.push(`${ctx.crashPoint}:${ctx.kind}`);
      checkCommit(image);
    },
    captureStacks: true,
    maxFailures: 1000,
  });

  it('reproduces a reported failure exactly, also from JSON', async () => {
    const result = await crashTest(brokenOptions());
    assert.ok(result.failures.length > 0);
    const random = result.failures.find((f) => f.kind === 'random');
    assert.ok(random, 'a random image failed');
    assert.equal(typeof random.imageSeed, 'number');
    assert.match(random.stack ?? '', /70-crash-sim/, 'the fence call site is in the stack');
    for (const f of [result.failures[0], random, result.failures[result.failures.length - 1]]) {
      const log: string[] = [];
      await assert.rejects(replayFailure(brokenOptions(log), f), (e: Error) => {
        assert.equal(e.message, (f.error as Error).message);
        return true;
      });
      assert.deepEqual(log, [`${f.crashPoint}:${f.kind}`], 'recover ran once, on that image');
      const json = JSON.parse(JSON.stringify({ ...f, error: undefined }));
      await assert.rejects(replayFailure(brokenOptions(), json), /incomplete/);
    }
  });

  it('resolves once recovery is fixed, with the fence and its stack', async () => {
    const result = await crashTest(brokenOptions());
    const f = result.failures[0];
    const fixed = { ...brokenOptions(), recover: () => {} };
    const r = await replayFailure(fixed, f);
    assert.equal(r.crashPoint, f.crashPoint);
    assert.equal(r.imageHash, f.imageHash);
    assert.equal(r.operation, f.operation);
    assert.match(r.stack ?? '', /70-crash-sim/);
  });

  it('detects a workload that no longer reaches the same state', async () => {
    const result = await crashTest(brokenOptions());
    const f = result.failures.find((x) => x.keptUnits.length > 0)!;
    const changed: CrashTestOptions = {
      ...brokenOptions(),
      workload: (m) => {
        m.write(DATA, PAYLOAD.subarray(0, 200));
        setFlag(m);
        m.persist(FLAG, 4);
      },
    };
    await assert.rejects(replayFailure(changed, f), codeOf('ERR_PMEM_REPLAY_MISMATCH'));
    await assert.rejects(replayFailure(brokenOptions(), { ...f, crashPoint: 99 }), codeOf('ERR_PMEM_REPLAY_MISMATCH'));
    await assert.rejects(replayFailure(brokenOptions(), { ...f, keptUnits: [100] , keptVariants: [0] }), codeOf('ERR_PMEM_REPLAY_MISMATCH'));
    await assert.rejects(replayFailure(brokenOptions(), { crashPoint: 'x' } as never), TYPE);
  });

  it('refuses a failure whose fields have the wrong type, naming the field', async () => {
    for (const [field, value] of [['keptUnits', 5], ['keptVariants', 'x'], ['imageHash', 3]] as const) {
      await assert.rejects(replayFailure(brokenOptions(), { crashPoint: 0, [field]: value } as never), (e: Error) => {
        TYPE(e);
        assert.match(e.message, new RegExp(`"failure\\.${field}"`));
        return true;
      });
    }
    await assert.rejects(replayFailure(brokenOptions(), { crashPoint: 0, keptUnits: [1], keptVariants: [0, 0] }), VALUE);
  });
});

describe('recovery through a Mapping (context.open)', () => {
  it('maps the crash image in place, one at a time, closed after recover', async () => {
    const opened: Mapping[] = [];
    const result = await crashTest({
      size: 4096,
      workload: (m) => {
        m.write(DATA, PAYLOAD, { persist: true });
        setFlag(m);
        m.persist(FLAG, 4);
      },
      recover: (image, ctx) => {
        const m = ctx.open();
        opened.push(m);
        assert.equal(m.length, 4096);
        assert.equal(m.granularity, 'cacheline');
        assert.throws(() => ctx.open(), codeOf('ERR_PMEM_LOCKED'));
        checkCommit(m.bytes());
        // Recovery may repair the image (e.g. clear a torn flag) and persist.
        m.fill(FLAG, 4, 0, { persist: true });
        assert.equal(image[FLAG], 0, 'the mapping is the image, in place');
        m.close();
        assert.equal(image.byteLength, 0, 'close detaches the image like munmap');
        const again = ctx.open({ readOnly: true });
        opened.push(again);
        assert.equal(again.bytes(FLAG, 1)[0], 0, 'reopened with the contents left behind');
        assert.throws(() => again.persist(), codeOf('ERR_PMEM_READ_ONLY'));
      },
    });
    assert.deepEqual(result.failures, []);
    assert.ok(opened.length >= 2 * result.imagesChecked);
    assert.ok(opened.every((m) => m.closed), 'closed when recover settles');
    let late: { open(): Mapping } | undefined;
    await crashTest({ size: 4096, workload: () => {}, recover: (_i, ctx) => void (late = ctx) });
    assert.throws(() => late!.open(), codeOf('ERR_INVALID_STATE'));
  });
});

describe('createSimulatedMapping: same Mapping API, validation and lifetime', () => {
  it('has the forced tier and the properties of a mapping', () => {
    for (const [granularity, unit] of [['cacheline', 64], ['byte', 64], ['page', 4096]] as const) {
      const m = createSimulatedMapping({ size: 8192, granularity, path: '/sim/x' });
      try {
        assert.equal(m.length, 8192);
        assert.equal(m.path, '/sim/x');
        assert.equal(m.granularity, granularity);
        assert.equal(m.forced, true);
        assert.equal(m.kind, 'file');
        assert.equal(m.flushUnit, unit);
        assert.equal(m.isPmem, granularity !== 'page');
        assert.equal(m.buffer.byteLength, 8192);
        assert.equal(m.readOnly, false);
      } finally {
        m.close();
      }
    }
  });

  it('closed: ERR_PMEM_CLOSED, views detached, close twice is a no-op', async () => {
    const m = createSimulatedMapping({ size: 4096 });
    const view = m.bytes(0, 16);
    m.close();
    assert.equal(m.closed, true);
    assert.equal(view.byteLength, 0, 'views are detached');
    assert.throws(() => m.persist(), codeOf('ERR_PMEM_CLOSED'));
    assert.throws(() => m.bytes(), codeOf('ERR_PMEM_CLOSED'));
    assert.throws(() => m.buffer, codeOf('ERR_PMEM_CLOSED'));
    await assert.rejects(m.persistAsync(), codeOf('ERR_PMEM_CLOSED'));
    m.close();
  });

  it('validates arguments like a real mapping', () => {
    using m = createSimulatedMapping({ size: 4096 });
    assert.throws(() => m.write(4090, 'too long'), RANGE);
    assert.throws(() => m.bytes(-1), RANGE);
    assert.throws(() => m.persist(0.5, 1), RANGE);
    assert.throws(() => m.write(0, 42 as never), TYPE);
    assert.equal(m.write(0, ''), 0);
  });

  it('readOnly: stores through the API are refused', () => {
    using m = createSimulatedMapping({ size: 4096, readOnly: true });
    assert.throws(() => m.write(0, 'x'), codeOf('ERR_PMEM_READ_ONLY'));
    assert.throws(() => m.flush(0, 1), codeOf('ERR_PMEM_READ_ONLY'));
  });

  it('tracks durability: durableImage and unpersistedLines', async () => {
    using m = createSimulatedMapping({ size: 8192 });
    m.bytes(100, 2).set([9, 9]); // line 1
    m.write(5000, 'x'); // line 78
    assert.deepEqual(unpersistedLines(m), [1, 78]);
    assert.equal(durableImage(m)[100], 0);
    m.persist(64, 64);
    assert.equal(durableImage(m)[100], 9);
    assert.deepEqual(unpersistedLines(m), [78]);
    await m.persistAsync(5000, 1);
    assert.deepEqual(unpersistedLines(m), []);
    assert.equal(durableImage(m)[5000], 'x'.charCodeAt(0));
    assert.throws(() => durableImage({} as Mapping), TYPE);
  });

  it('persistAsync completes after close, and its range is durable', async () => {
    const m = createSimulatedMapping({ size: 4096 });
    m.write(0, 'abc');
    const pending = m.persistAsync(0, 3);
    m.close();
    await pending;
    assert.equal(Buffer.from(durableImage(m).subarray(0, 3)).toString(), 'abc');
  });

  it('validates its own options', () => {
    assert.throws(() => createSimulatedMapping(undefined as never), TYPE);
    assert.throws(() => createSimulatedMapping({}), TYPE);
    assert.throws(() => createSimulatedMapping({ size: 0 }), RANGE);
    assert.throws(() => createSimulatedMapping({ size: 64, granularity: 'auto' as never }), VALUE);
    assert.throws(() => createSimulatedMapping({ size: 64, initialImage: new Uint8Array(32) }), VALUE);
    assert.throws(() => createSimulatedMapping({ size: 64, readOnly: 1 as never }), TYPE);
    const m = createSimulatedMapping({ initialImage: Buffer.from('hello') });
    assert.equal(m.length, 5);
    assert.equal(m.read(0, 5).toString(), 'hello');
    m.close();
  });
});

describe('crashTest option validation', () => {
  const base: CrashTestOptions = { size: 4096, workload: () => {}, recover: () => {} };
  it('Node-style errors for bad options', async () => {
    await assert.rejects(crashTest(undefined as never), TYPE);
    await assert.rejects(crashTest({ ...base, size: undefined }), TYPE);
    await assert.rejects(crashTest({ ...base, size: '4096' as never }), TYPE);
    await assert.rejects(crashTest({ ...base, size: -1 }), RANGE);
    await assert.rejects(crashTest({ ...base, size: 1.5 }), RANGE);
    await assert.rejects(crashTest({ ...base, size: 2 ** 53 }), RANGE);
    await assert.rejects(crashTest({ ...base, granularity: 'auto' as never }), VALUE);
    await assert.rejects(crashTest({ ...base, workload: undefined as never }), TYPE);
    await assert.rejects(crashTest({ ...base, recover: 'x' as never }), TYPE);
    await assert.rejects(crashTest({ ...base, imagesPerPoint: -1 }), RANGE);
    await assert.rejects(crashTest({ ...base, seed: 2 ** 32 }), RANGE);
    await assert.rejects(crashTest({ ...base, seed: NaN }), RANGE);
    await assert.rejects(crashTest({ ...base, extremes: 'yes' as never }), TYPE);
    await assert.rejects(crashTest({ ...base, maxFailures: 0 }), RANGE);
    await assert.rejects(crashTest({ ...base, initialImage: 'abc' as never }), TYPE);
    await assert.rejects(crashTest({ ...base, captureStacks: 1 as never }), TYPE);
    await assert.rejects(crashTest({ ...base, crash: 'oom' as never }), VALUE);
    await assert.rejects(crashTest({ ...base, atomicunit: 64 } as never), (e: Error) => {
      VALUE(e);
      assert.match(e.message, /options\.atomicunit.*not an option of crashTest\(\) \(did you mean 'atomicUnit'\?\)/);
      return true;
    });
    assert.throws(() => createSimulatedMapping({ size: 64, granularty: 'page' } as never), /did you mean 'granularity'/);
    await assert.rejects(crashTest({ ...base, atomicUnit: 4 }), RANGE);
    await assert.rejects(crashTest({ ...base, atomicUnit: 128 }), RANGE, 'larger than a line');
    await assert.rejects(crashTest({ ...base, atomicUnit: 24 }), VALUE);
    await assert.rejects(crashTest({ ...base, granularity: 'page', atomicUnit: 8192 }), RANGE, 'larger than a page');
    assert.equal((await crashTest({ ...base, granularity: 'page', atomicUnit: 8 })).unitSize, 8, 'pmem without BTT tears at words');
  });

  it('a workload with no fence still has the end crash point', async () => {
    const r = await crashTest({ ...base });
    assert.equal(r.crashPoints, 1);
    assert.equal(r.imagesChecked, 1);
    assert.deepEqual(r.failures, []);
  });
});

describe('the node-pmem/testing entry point', () => {
  // dist-test/test/ -> the repository (the package's self-reference resolves from there).
  const root = path.resolve(__dirname, '..', '..');
  const node = (args: string[]) => {
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };

  it('imports from ES modules', () => {
    const out = node([
      '--input-type=module',
      '-e',
      `import { crashTest, replayFailure, createSimulatedMapping } from 'node-pmem/testing';
       const r = await crashTest({ size: 128, workload: (m) => m.persist(), recover: () => {} });
       console.log(typeof replayFailure, typeof createSimulatedMapping, r.crashPoints);`,
    ]);
    assert.equal(out, 'function function 2');
  });

  it('requires from CommonJS without loading the native addon', () => {
    const out = node([
      '-e',
      `const t = require('node-pmem/testing');
       const m = t.createSimulatedMapping({ size: 64 }); m.persist(); m.close();
       const native = Object.keys(require.cache).filter((k) => /binding\.js$|\.node$/.test(k));
       console.log(Object.keys(t).filter((k) => typeof t[k] === 'function').sort().join(','), native.length);`,
    ]);
    assert.equal(
      out,
      'crashTest,createSimulatedMapping,currentCrashPoint,durableImage,replayFailure,unpersistedLines 0',
    );
  });
});
