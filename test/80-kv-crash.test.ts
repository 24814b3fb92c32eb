/**
 * The key-value store (node-pmem/kv, issue 4) under the crash simulator (node-pmem/testing):
 * a workload of puts, overwrites, deletes, batches, compactions and ENOSPC refusals runs once on a
 * simulated mapping; then at every crash point, for the extreme images and random subsets of the
 * lines that may or may not have reached media, the store is recovered from the image and must
 * hold exactly the state after every acknowledged op (plus, at most, the one in flight): no
 * acknowledged op lost, no batch half-applied, every read verified. The recovered store must then
 * take new writes (appended over whatever the crash left past the tail) and recover them.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { KvStore, MIN_SIZE } from 'node-pmem/kv';
import { crashTest, currentCrashPoint, type CrashKind, type CrashTestResult, type Mapping, type RecoverContext } from 'node-pmem/testing';

// The op stream is plain JavaScript; from dist-test/test this reaches the repository's examples/kv.
const KV_DIR = path.resolve(__dirname, '../../examples/kv');
const torture = require(path.join(KV_DIR, 'torture.js'));

type Bytes = string | Buffer;
type SingleOp = { type: 'put'; key: Bytes; value: Bytes } | { type: 'del'; key: Bytes };
type Op = SingleOp | { type: 'batch'; ops: SingleOp[] } | { type: 'compact' };
type Model = Map<string, [Bytes, Bytes]>;

/** Images checked by the KV crash tests of this file, in all. */
let totalImages = 0;

/** 8 KiB header + two 8 KiB regions: small enough that the workload compacts several times. */
const SIZE = MIN_SIZE;
/** A log region of a store of SIZE bytes: a quarter of what follows the 8 KiB of headers. */
const REGION = Math.floor((SIZE - 8192) / 4 / 64) * 64;

/** Multi-line records: values of 0.5-3 KiB torn in many ways, in a larger mapping. */
const LARGE_SIZE = MIN_SIZE;
function largeScript(): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < 90; i++) {
    const len = 512 + ((i * 1237) % 2560);
    if (i % 7 === 3) ops.push({ type: 'del', key: `big${(i * 5) % 6}` });
    else if (i % 5 === 4) {
      ops.push({
        type: 'batch',
        ops: [
          { type: 'put', key: `big${i % 6}`, value: Buffer.alloc(len, i) },
          { type: 'put', key: `big${(i + 1) % 6}`, value: 'L'.repeat(len / 2) },
        ],
      });
    } else ops.push({ type: 'put', key: `big${i % 6}`, value: i % 2 ? Buffer.alloc(len, i) : String(i).repeat(len).slice(0, len) });
  }
  return ops;
}

function script(): Op[] {
  const ops: Op[] = [
    { type: 'put', key: 'alpha', value: 'first' },
    { type: 'put', key: Buffer.from([0, 1, 2]), value: Buffer.alloc(150, 9) },
    { type: 'put', key: 'alpha', value: 'second value, longer than the first one' },
    { type: 'del', key: Buffer.from([0, 1, 2]) },
    {
      type: 'batch',
      ops: [
        { type: 'put', key: 'beta', value: 'b'.repeat(70) },
        { type: 'put', key: 'gamma', value: Buffer.alloc(300, 0x5a) },
        { type: 'del', key: 'alpha' },
        { type: 'put', key: 'beta', value: 'b2' },
      ],
    },
    // Larger than the region can ever hold: ENOSPC, nothing changes.
    { type: 'put', key: 'huge', value: 'h'.repeat(REGION + 1) },
    // A batch too large as a whole: ENOSPC, none of it applies.
    { type: 'batch', ops: Array.from({ length: 40 }, (_, i) => ({ type: 'put' as const, key: `bulk${i}`, value: 'v'.repeat(REGION / 40) })) },
    { type: 'put', key: 'ünïcödé', value: 'ключ → value' },
  ];
  for (let i = 0; i < 110; i++) ops.push(torture.opAt(7, i, 12));
  // Overwrites of larger values on a few keys: the log fills and compacts several times.
  for (let i = 0; i < 60; i++) ops.push({ type: 'put', key: `big${i % 5}`, value: Buffer.alloc(2500 + i * 17, i) });
  ops.push({ type: 'compact' });
  ops.push({ type: 'put', key: 'after-compact', value: 'z' });
  return ops;
}

function apply(model: Model, op: Op): void {
  if (op.type === 'compact') return;
  torture.applyToModel(model, op);
}

function run(store: KvStore, op: Op): void {
  if (op.type === 'put') store.put(op.key, op.value);
  else if (op.type === 'del') store.delete(op.key);
  else if (op.type === 'batch') store.batch(op.ops);
  else store.compact();
}

interface Recorded {
  ops: Op[];
  /** ENOSPC or 'ok', per op. */
  outcome: string[];
  /** currentCrashPoint when the format, and each op, returned: durable in crash points >= it. */
  formatAck: number;
  ackAt: number[];
  /** states[j]: the model after the first j ops. */
  states: Model[];
  compactions: number;
}

function describeOp(op: Op | undefined): string {
  if (op === undefined) return 'none';
  if (op.type === 'batch') return `batch of ${op.ops.length}`;
  if (op.type === 'compact') return 'compact';
  return `${op.type} ${JSON.stringify(String(op.key))}`;
}

/**
 * The workload and recovery check for one run. `broken` makes the workload skip the store's
 * persists after the format (a store that forgets to flush): the check must catch it.
 */
function kvCrashTest(
  granularity: 'cacheline' | 'byte' | 'page',
  imagesPerPoint: number,
  seed: number,
  {
    broken = false,
    ops = script(),
    size = SIZE,
    crash = 'power-failure',
    atomicUnit,
  }: { broken?: boolean; ops?: Op[]; size?: number; crash?: CrashKind; atomicUnit?: number } = {},
): Promise<{ result: CrashTestResult; rec: Recorded }> {
  const rec: Recorded = { ops, outcome: [], formatAck: -1, ackAt: [], states: [], compactions: 0 };
  const workload = (m: Mapping) => {
    // A fixed id: reproducible images; a checkpoint of the index every 16 records, so that crash
    // points fall between checkpoints, at them, and in the replayed log after them.
    const store = KvStore.fromMapping(m, { create: true, storeId: 0x6b76, checkpointRecords: 16 });
    rec.formatAck = currentCrashPoint(m);
    if (broken) (m as unknown as { persist: () => void }).persist = () => {};
    for (const op of rec.ops) {
      try {
        run(store, op);
        rec.outcome.push('ok');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        rec.outcome.push('ENOSPC');
      }
      rec.ackAt.push(currentCrashPoint(m));
    }
    rec.compactions = store.stats().compactions;
    store.close();
  };
  const recover = async (_image: Uint8Array, ctx: RecoverContext) => {
    if (rec.states.length === 0) {
      const model: Model = new Map();
      rec.states.push(new Map(model));
      rec.ops.forEach((op, i) => {
        if (rec.outcome[i] === 'ok') apply(model, op);
        rec.states.push(new Map(model));
      });
    }
    const k = ctx.crashPoint;
    let acked = 0;
    while (acked < rec.ackAt.length && rec.ackAt[acked] <= k) acked++;
    const ro = ctx.open({ readOnly: true });
    let store: KvStore;
    try {
      store = KvStore.fromMapping(ro);
    } catch (e) {
      // Before the format's header copy is durable the image is all zeros: not a store yet.
      if ((e as NodeJS.ErrnoException).code === 'ERR_KV_NOT_A_STORE' && rec.formatAck > k) return;
      throw e;
    }
    const candidates = [acked, acked + 1].filter((j) => j < rec.states.length);
    const j = candidates.find((c) => torture.sameState(store, rec.states[c]));
    if (j === undefined) {
      const got = [...store.keys()].map(String).join(', ');
      throw new Error(
        `recovered state matches neither the state after op ${acked} nor after op ${acked + 1} ` +
          `(acknowledged: ${acked}; in flight: ${describeOp(rec.ops[acked])}); keys: [${got}]`,
      );
    }
    ro.close();
    // The recovered store takes new writes over whatever lies past its tail, and they recover.
    const model: Model = new Map(rec.states[j]);
    const w = ctx.open();
    const s2 = KvStore.fromMapping(w, { checkpointRecords: 2 });
    const probe: Op[] = [
      { type: 'put', key: 'probe', value: 'p'.repeat((k % 5) * 16) },
      { type: 'batch', ops: [{ type: 'put', key: 'probe2', value: 'q' }, { type: 'del', key: 'probe' }] },
      { type: 'put', key: Buffer.from([k & 0xff]), value: Buffer.alloc(1 + (k % 90), k & 0xff) },
    ];
    for (const op of probe) {
      run(s2, op);
      apply(model, op);
    }
    assert.ok(torture.sameState(s2, model), 'the store is consistent after writes following recovery');
    w.close();
    const again = KvStore.fromMapping(ctx.open({ readOnly: true }));
    assert.ok(torture.sameState(again, model), 'writes made after recovery survive the next recovery');
  };
  return crashTest({ size, granularity, workload, recover, imagesPerPoint, seed, crash, ...(atomicUnit === undefined ? {} : { atomicUnit }) }).then(
    (result) => ({ result, rec }),
  );
}

describe('kv store under the crash simulator', () => {
  // Power failures tear lines at 8-byte words and pages at 512-byte sectors (the defaults); kills
  // keep every store made before them.
  const runs = [
    { name: 'cacheline tier, torn words', granularity: 'cacheline', images: 48, crash: 'power-failure' },
    { name: 'byte tier, torn words', granularity: 'byte', images: 24, crash: 'power-failure' },
    { name: 'page tier, torn sectors', granularity: 'page', images: 24, crash: 'power-failure' },
    { name: 'page tier, kill -9 images', granularity: 'page', images: 16, crash: 'kill' },
    { name: 'cacheline tier, kill -9 images', granularity: 'cacheline', images: 16, crash: 'kill' },
  ] as const;
  for (const { name, granularity, images, crash } of runs) {
    it(`${name}: every crash point recovers to an acknowledged state and stays writable`, async () => {
      const { result, rec } = await kvCrashTest(granularity, images, 0x4b56, { crash });
      const first = result.failures[0];
      assert.equal(result.failures.length, 0, first ? `${first.message}\n${String((first.error as Error)?.stack ?? '')}` : '');
      // The workload did what it is meant to exercise.
      assert.ok(rec.compactions >= 3, `compactions: ${rec.compactions}`);
      assert.ok(rec.outcome.filter((o) => o === 'ENOSPC').length >= 2, 'ENOSPC refusals happened');
      assert.ok(rec.ops.some((op, i) => op.type === 'batch' && rec.outcome[i] === 'ok'));
      assert.ok(result.crashPoints > rec.ops.length, `crash points: ${result.crashPoints}`);
      assert.ok(result.imagesChecked >= result.crashPoints - result.duplicateCrashPoints, `images: ${result.imagesChecked}`);
      assert.equal(result.unitSize, crash === 'kill' ? 1 : granularity === 'page' ? 512 : 8);
      totalImages += result.imagesChecked;
      console.log(
        `# kv crash test, ${name}: ${rec.ops.length} ops, ${rec.compactions} compactions, ` +
          `${result.crashPoints} crash points (${result.duplicateCrashPoints} duplicates), ${result.imagesChecked} images, ` +
          `max ${result.maxMaybeUnits} maybe-units, ${result.failures.length} failures`,
      );
    });
  }

  it('cacheline tier, multi-line records (0.5-3 KiB values): every crash point recovers', async () => {
    const { result, rec } = await kvCrashTest('cacheline', 24, 0x1a26e, { ops: largeScript(), size: LARGE_SIZE });
    totalImages += result.imagesChecked;
    const first = result.failures[0];
    assert.equal(result.failures.length, 0, first ? `${first.message}\n${String((first.error as Error)?.stack ?? '')}` : '');
    assert.ok(rec.compactions >= 2, `compactions: ${rec.compactions}`);
    console.log(
      `# kv crash test, large values: ${rec.ops.length} ops, ${rec.compactions} compactions, ${result.crashPoints} crash points, ` +
        `${result.imagesChecked} images, max ${result.maxMaybeUnits} maybe-units, ${result.failures.length} failures`,
    );
  });

  it('catches a store that acknowledges writes it never flushed (negative control)', async () => {
    const { result } = await kvCrashTest('cacheline', 2, 1, { broken: true });
    assert.ok(result.failures.length > 0, 'the check must fail when persists are skipped');
    assert.match(String((result.failures[0].error as Error).message), /matches neither/);
  });
});

describe('kv store: a crash or kill during the first format', () => {
  // The format of a fresh store, then one put. At every crash point: a writable open with
  // create: true succeeds (formatting again what a crash left half-formatted), and once the put
  // was acknowledged it is there: a store that holds data is never formatted over.
  const models = [
    { name: 'torn words (cacheline)', granularity: 'cacheline', crash: 'power-failure' },
    { name: 'torn words (byte)', granularity: 'byte', crash: 'power-failure' },
    { name: 'torn sectors (page)', granularity: 'page', crash: 'power-failure' },
    { name: 'kill images', granularity: 'page', crash: 'kill' },
  ] as const;
  for (const { name, granularity, crash } of models) {
    it(`${name}: every image opens with create: true, and an acknowledged put is never formatted away`, async () => {
      let putAck = -1;
      let refusedReadOnly = 0;
      const result = await crashTest({
        size: SIZE,
        granularity,
        crash,
        imagesPerPoint: 256,
        workload: (m) => {
          const store = KvStore.fromMapping(m, { create: true, storeId: 0x6b76 });
          store.put('k', 'v');
          putAck = currentCrashPoint(m);
          store.close();
        },
        recover: (_image, ctx) => {
          const ro = ctx.open({ readOnly: true });
          try {
            KvStore.fromMapping(ro).close();
          } catch (e) {
            assert.equal((e as NodeJS.ErrnoException).code, 'ERR_KV_NOT_A_STORE', (e as Error).message);
            assert.match((e as Error).message, /is empty \(all zeros\)|holds only an interrupted format/);
            refusedReadOnly++;
          }
          ro.close();
          const w = ctx.open();
          const store = KvStore.fromMapping(w, { create: true });
          if (ctx.crashPoint >= putAck) assert.equal(store.get('k'), 'v', 'the acknowledged put survives');
          store.put('after', 'crash');
          store.close();
          w.close();
          const again = KvStore.fromMapping(ctx.open({ readOnly: true }));
          assert.equal(again.get('after'), 'crash');
        },
      });
      const first = result.failures[0];
      assert.equal(result.failures.length, 0, first ? `${first.message}\n${String((first.error as Error)?.stack ?? '')}` : '');
      assert.ok(refusedReadOnly > 0, 'some images are not a store yet');
      totalImages += result.imagesChecked;
    });
  }

  it(`the KV crash tests of this file checked at least 10,000 images`, () => {
    console.log(`# kv crash tests: ${totalImages} images in all`);
    assert.ok(totalImages >= 10_000, `${totalImages} images`);
  });
});
