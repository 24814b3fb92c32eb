/**
 * The persistent queue of examples/queue (issue 17's worked example of node-pmem/heap), under the
 * crash simulator and as an API.
 *
 * Crash tests: a workload of pushes, shifts and pushMany batches - one too large for the heap
 * (ERR_HEAP_NO_SPACE: nothing changes), two that throw midway (an iterator that throws, a bad
 * value after good ones: nothing changes), a shift and push in one caller transaction, a value
 * that takes a whole chunk, the queue drained to empty and refilled - runs once on a simulated
 * mapping, at the cacheline, byte and page tiers and as kill -9 images; a second one walks the
 * allocator's paths (a run emptied and released, its chunk reused for a large value, a batch out
 * of chunks). At every crash point the recovered queue must hold exactly the state after every
 * acknowledged op (plus, at most, the op in flight, applied entirely), its structure must check
 * out (count, tail, headers), the heap must hold exactly its nodes and the root (no leaked node,
 * none used twice), and it must take a new push and shift that survive the next recovery. Two
 * negative controls must be caught: a queue that stores its links through ref.getBytes() without
 * declaring them to the transaction (tx.add), and one that frees a shifted node in a transaction
 * of its own (a leak). The images checked are counted, with a minimum.
 *
 * API tests: order, types, reopen, space reuse, all-or-nothing batches, every error code, the
 * composition with a caller's transaction; the demo and the README's examples run.
 *
 * Files: a directory in /dev/shm (or the temp dir) removed when the file ends; a run killed
 * before that leaves one that the next run of the suite removes (test/helpers sweeps dead pids).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Heap, REF_BYTES, type Ref } from 'node-pmem/heap';
import { crashTest, currentCrashPoint, type CrashKind, type CrashTestResult, type Mapping, type RecoverContext } from 'node-pmem/testing';
import { REPO_ROOT, assertCleanExit, runNode, tmpDir } from './helpers';
import { classify, parseFences } from './helpers/readme';

// The queue is plain JavaScript; from dist-test/test this reaches the repository's examples/queue.
const QUEUE_DIR = path.resolve(__dirname, '../../examples/queue');
const queueModule = require(path.join(QUEUE_DIR, 'queue.js'));

type Value = string | Buffer;
interface Queue extends Iterable<Value> {
  readonly length: number;
  readonly heap: Heap;
  readonly closed: boolean;
  push(value: unknown): number;
  pushMany(values: unknown): number;
  shift(): Value | undefined;
  peek(): Value | undefined;
  values(): Generator<Value>;
  toArray(): Value[];
  check(): { length: number; valueBytes: number };
  close(): void;
  _storePointer(ref: Ref, at: number, target: Ref | null): void;
}
interface QueueClass {
  new (...args: never[]): Queue;
  open(path: string, options?: object): Queue;
  fromHeap(heap: Heap): Queue;
}
const PersistentQueue: QueueClass = queueModule.PersistentQueue;
const LAYOUT: string = queueModule.LAYOUT;
const ROOT_SIZE: number = queueModule.ROOT_SIZE;
const ROOT_MAGIC: number = queueModule.ROOT_MAGIC;

/** A broken queue: its links are stored through a view of the mapping, not declared to the transaction (no tx.add). */
class UnloggedQueue extends (PersistentQueue as unknown as new (...args: never[]) => Queue) {
  override _storePointer(ref: Ref, at: number, target: Ref | null): void {
    const view = ref.getBytes(at, REF_BYTES);
    if (target === null) view.fill(0);
    else {
      view.set(Buffer.from(this.heap.uuid, 'hex').subarray(0, 8), 0);
      new DataView(view.buffer, view.byteOffset, REF_BYTES).setFloat64(8, target.offset, true);
    }
  }
}
const UnloggedQueueClass = UnloggedQueue as unknown as QueueClass;

const { R_MAGIC, R_HEAD, R_TAIL, R_COUNT, N_NEXT } = queueModule.offsets as Record<string, number>;
/** Another broken queue: shift unlinks the head in one transaction and frees it in a second one (a crash between leaks the node). */
class LeakyQueue extends (PersistentQueue as unknown as new (...args: never[]) => Queue) {
  override shift(): Value | undefined {
    const heap = this.heap;
    const root = heap.root;
    const head = root.getRef(R_HEAD!);
    if (head === null) return undefined;
    const value = this.peek();
    heap.transaction(() => {
      const next = head.getRef(N_NEXT!);
      root.setRef(R_HEAD!, next);
      if (next === null) root.setRef(R_TAIL!, null);
      root.setF64(R_COUNT!, root.getF64(R_COUNT!) - 1);
    });
    heap.free(head);
    return value;
  }
}
const LeakyQueueClass = LeakyQueue as unknown as QueueClass;

// ------------------------------------------------------------------------------------ workload

/** Header, a 4 KiB log, the chunk table and bitmaps, and 4 chunks of 64 KiB: the workload fills it. */
const CHUNKS = 4;
const SIZE = 3 * 4096 + CHUNKS * 65536;
const LOG_SIZE = 4096;
const UUID = new Uint8Array(16).map((_, i) => 0x51 + i);

type Op =
  | { type: 'push'; value: Value }
  | { type: 'shift' }
  | { type: 'pushMany'; values: Value[] }
  /** pushMany over a generator that yields `values` and then throws. */
  | { type: 'pushManyThrowing'; values: Value[] }
  /** pushMany over `values`, whose last element is not a string or bytes. */
  | { type: 'pushManyBad'; values: unknown[] }
  /** In one transaction of the caller's: shift the head and push it back at the tail. */
  | { type: 'rotate' };

function bytes(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** Value i of the mixed stream: strings and bytes of 0..100 bytes (classes 64 and 128 of the heap). */
function valueAt(i: number): Value {
  const len = (i * 37) % 101;
  return i % 2 === 0 ? `v${i}:`.padEnd(len, String.fromCharCode(97 + (i % 26))) : bytes(len, i);
}

function script(): Op[] {
  const ops: Op[] = [
    { type: 'shift' }, // on the empty queue: nothing
    { type: 'push', value: 'alpha' },
    { type: 'push', value: Buffer.from([0, 1, 2]) },
    { type: 'push', value: '' },
    { type: 'push', value: Buffer.alloc(0) },
    { type: 'shift' },
    { type: 'pushMany', values: ['b1', bytes(60, 2), 'b3'.repeat(20)] },
    { type: 'push', value: 'ünïcödé → ключ' },
    { type: 'shift' },
    { type: 'shift' },
    // 10 values of 20 KB (two a chunk): more than the heap holds. Some are allocated before it
    // runs out; ERR_HEAP_NO_SPACE rolls them back.
    { type: 'pushMany', values: Array.from({ length: 10 }, (_, i) => bytes(20_000, i)) },
    { type: 'pushManyThrowing', values: ['t1', bytes(90, 3), 't3'] },
    { type: 'pushManyBad', values: ['g1', bytes(10, 4), 42] },
    { type: 'pushMany', values: [] },
    // A whole chunk (a large object), pushed and later shifted.
    { type: 'push', value: bytes(40_000, 5) },
  ];
  for (let i = 0; i < 36; i++) {
    if (i % 11 === 5) ops.push({ type: 'rotate' });
    else if (i % 3 === 2) ops.push({ type: 'shift' });
    else if (i % 7 === 3) ops.push({ type: 'pushMany', values: [valueAt(100 + i), valueAt(200 + i), valueAt(300 + i)].slice(0, 2 + (i % 2)) });
    else ops.push({ type: 'push', value: valueAt(i) });
  }
  // Drained to empty (tail back to null), then refilled.
  for (let i = 0; i < 24; i++) ops.push({ type: 'shift' });
  ops.push({ type: 'push', value: 'after the drain' });
  ops.push({ type: 'pushMany', values: ['z1', bytes(33, 9)] });
  return ops;
}

/**
 * The allocator's paths under the queue: values of 4000 bytes (the 4 KiB class, 16 a chunk) fill
 * two run chunks; shifting the first 16 empties a run that is not the current one, which goes back
 * to the free chunks inside the shift's transaction; a value of a whole chunk then takes it; a batch
 * of two such values gets one chunk and runs out (ERR_HEAP_NO_SPACE, rolled back).
 */
function allocatorScript(): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < 20; i++) ops.push({ type: 'push', value: i % 2 ? bytes(4000, i) : `s${i}`.padEnd(4000, '.') });
  for (let i = 0; i < 16; i++) ops.push({ type: 'shift' });
  ops.push({ type: 'push', value: bytes(60_000, 1) });
  ops.push({ type: 'pushMany', values: [bytes(4000, 2), 'small'] });
  ops.push({ type: 'pushMany', values: [bytes(60_000, 3), bytes(60_000, 4)] });
  ops.push({ type: 'rotate' });
  for (let i = 0; i < 8; i++) ops.push({ type: 'shift' });
  ops.push({ type: 'push', value: 'end' });
  return ops;
}

/** Pushes and shifts only (the negative control's workload: its broken links must not crash the workload itself). */
function simpleScript(): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < 24; i++) ops.push(i % 4 === 3 ? { type: 'shift' } : { type: 'push', value: valueAt(i) });
  return ops;
}

function run(q: Queue, op: Op): void {
  if (op.type === 'push') q.push(op.value);
  else if (op.type === 'shift') q.shift();
  else if (op.type === 'pushMany' || op.type === 'pushManyBad') q.pushMany(op.values);
  else if (op.type === 'rotate') {
    q.heap.transaction(() => {
      const head = q.shift();
      if (head !== undefined) q.push(head);
    });
  } else {
    const values = op.values;
    q.pushMany(
      (function* () {
        yield* values;
        throw new Error('the iterator failed midway');
      })(),
    );
  }
}

function apply(state: Value[], op: Op): Value[] {
  if (op.type === 'push') return [...state, op.value];
  if (op.type === 'shift') return state.slice(1);
  if (op.type === 'pushMany') return [...state, ...op.values];
  if (op.type === 'rotate') return state.length === 0 ? state : [...state.slice(1), state[0]!];
  throw new Error(`${op.type} must not succeed`);
}

function sameValue(a: Value, b: Value): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
}

function sameState(got: Value[], want: Value[]): boolean {
  return got.length === want.length && got.every((v, i) => sameValue(v, want[i]!));
}

function show(state: Value[]): string {
  const s = state.map((v) => (typeof v === 'string' ? JSON.stringify(v.length > 12 ? `${v.slice(0, 12)}...` : v) : `<${v.length} bytes>`));
  return `[${s.join(', ')}]`;
}

interface Recorded {
  ops: Op[];
  /** 'ok' or the error code (or 'Error') each op ended with. */
  outcome: string[];
  /** Crash point when the heap create, the queue format and each op returned: durable from there on. */
  createAck: number;
  queueAck: number;
  ackAt: number[];
  /** states[j]: the queue after the first j ops. */
  states: Value[][];
  /** Per recovery: which candidate matched. */
  matchedInFlight: number;
  rolledBack: number;
  /** Images from before the heap create's commit point, created again by recovery. */
  notAPool: number;
}

let totalImages = 0;

function queueCrashTest(
  granularity: 'cacheline' | 'byte' | 'page',
  imagesPerPoint: number,
  seed: number,
  {
    crash = 'power-failure',
    ops = script(),
    Queue = PersistentQueue,
    maxFailures = 10,
  }: { crash?: CrashKind; ops?: Op[]; Queue?: QueueClass; maxFailures?: number } = {},
): Promise<{ result: CrashTestResult; rec: Recorded }> {
  const rec: Recorded = { ops, outcome: [], createAck: -1, queueAck: -1, ackAt: [], states: [], matchedInFlight: 0, rolledBack: 0, notAPool: 0 };

  const workload = (m: Mapping) => {
    const heap = Heap.fromMapping(m, { layout: LAYOUT, create: true, rootSize: ROOT_SIZE, logSize: LOG_SIZE, uuid: UUID });
    rec.createAck = currentCrashPoint(m);
    const q = Queue.fromHeap(heap);
    rec.queueAck = currentCrashPoint(m);
    for (const op of rec.ops) {
      try {
        run(q, op);
        rec.outcome.push('ok');
      } catch (e) {
        rec.outcome.push((e as NodeJS.ErrnoException).code ?? (e as Error).name);
      }
      rec.ackAt.push(currentCrashPoint(m));
    }
    q.close();
    heap.close();
  };

  const recover = (_image: Uint8Array, ctx: RecoverContext) => {
    if (rec.states.length === 0) {
      // The model: each op that returned applies; one that threw changes nothing.
      let state: Value[] = [];
      rec.states.push(state);
      rec.ops.forEach((op, i) => rec.states.push((state = rec.outcome[i] === 'ok' ? apply(state, op) : state)));
    }
    const k = ctx.crashPoint;
    let acked = 0;
    while (acked < rec.ackAt.length && rec.ackAt[acked]! <= k) acked++;
    let m = ctx.open();
    let heap: Heap;
    try {
      heap = Heap.fromMapping(m, { layout: LAYOUT });
    } catch (e) {
      // Before the create's commit point the image is not a pool yet; a create over it works.
      if ((e as NodeJS.ErrnoException).code !== 'ERR_HEAP_NOT_A_POOL' || k >= rec.createAck) throw e;
      heap = Heap.fromMapping(m, { layout: LAYOUT, create: true, rootSize: ROOT_SIZE, logSize: LOG_SIZE, uuid: UUID });
      assert.equal(heap.openReport.created, true);
      rec.notAPool++;
    }
    if (heap.openReport.rolledBack !== null) rec.rolledBack++;
    if (k >= rec.queueAck) assert.equal(heap.root.getU32(R_MAGIC), ROOT_MAGIC, 'the queue format survives once acknowledged');
    const q = PersistentQueue.fromHeap(heap);
    const { length } = q.check();
    const got = q.toArray();
    assert.equal(got.length, length);
    const j = [acked, acked + 1].find((c) => c < rec.states.length && sameState(got, rec.states[c]!));
    if (j === undefined) {
      throw new Error(
        `recovered queue ${show(got)} matches neither the state after op ${acked} ${show(rec.states[acked]!)} ` +
          `nor after op ${acked + 1} (in flight: ${rec.ops[acked]?.type ?? 'none'})`,
      );
    }
    if (j > acked) rec.matchedInFlight++;
    assert.equal(heap.stats().objects, got.length + 1, 'the heap holds the queue nodes and the root, nothing else');

    // The recovered queue takes new work, and it survives the next recovery.
    const probe = `probe ${k}`;
    assert.equal(q.push(probe), got.length + 1);
    const want = [...got, probe];
    const first = q.shift()!;
    assert.ok(sameValue(first, want[0]!), 'shift returns the head');
    want.shift();
    assert.equal(heap.stats().objects, want.length + 1);
    q.close();
    heap.close();
    m.close();
    m = ctx.open();
    const heap2 = Heap.fromMapping(m, { layout: LAYOUT });
    assert.equal(heap2.openReport.cleanShutdown, true);
    assert.equal(heap2.openReport.rolledBack, null);
    const q2 = PersistentQueue.fromHeap(heap2);
    q2.check();
    assert.ok(sameState(q2.toArray(), want), 'the probe push and shift survive');
    assert.equal(heap2.stats().objects, want.length + 1);
    q2.close();
    heap2.close();
  };

  return crashTest({ size: SIZE, granularity, workload, recover, imagesPerPoint, seed, crash, maxFailures }).then((result) => ({ result, rec }));
}

/** The kinds of failure a negative control produced: their messages, numbers and offsets masked, counted. */
function failureKinds(result: CrashTestResult): string {
  const kinds = new Map<string, number>();
  for (const f of result.failures) {
    const m = String((f.error as Error)?.message ?? f.error).split('\n')[0]!.replace(/\d+/g, 'N').replace(/\[.*\]/g, '[...]').slice(0, 90);
    kinds.set(m, (kinds.get(m) ?? 0) + 1);
  }
  return [...kinds].map(([m, n]) => `${n} x ${m}`).join('; ');
}

function assertNoFailures(result: CrashTestResult): void {
  const first = result.failures[0];
  assert.equal(result.failures.length, 0, first ? `${result.failures.length} failures; first: ${first.message}\n${String((first.error as Error)?.stack ?? '')}` : '');
}

describe('persistent queue under the crash simulator', () => {
  const runs = [
    { name: 'cacheline tier, torn words', granularity: 'cacheline', images: 32, crash: 'power-failure' },
    { name: 'byte tier, torn words', granularity: 'byte', images: 12, crash: 'power-failure' },
    { name: 'page tier, torn sectors', granularity: 'page', images: 12, crash: 'power-failure' },
    { name: 'cacheline tier, kill -9 images', granularity: 'cacheline', images: 8, crash: 'kill' },
    { name: 'page tier, kill -9 images', granularity: 'page', images: 8, crash: 'kill' },
  ] as const;
  for (const { name, granularity, images, crash } of runs) {
    it(`${name}: every crash point recovers to an acknowledged state, leaks nothing and stays usable`, async () => {
      const t0 = performance.now();
      const { result, rec } = await queueCrashTest(granularity, images, 0x5155, { crash });
      assertNoFailures(result);
      // The workload did what it is meant to exercise.
      const expected = rec.ops.map((op) =>
        op.type === 'pushManyThrowing' ? 'Error' : op.type === 'pushManyBad' ? 'ERR_INVALID_ARG_TYPE' : op.type === 'pushMany' && op.values.length === 10 ? 'ERR_HEAP_NO_SPACE' : 'ok',
      );
      assert.deepEqual(rec.outcome, expected);
      assert.ok(rec.states.some((s) => s.length >= 10), 'the queue grew');
      assert.equal(rec.states.at(-1)!.length, 3);
      assert.ok(result.crashPoints > rec.ops.length * 3, `crash points: ${result.crashPoints}`);
      assert.ok(result.imagesChecked >= result.crashPoints - result.duplicateCrashPoints, `images: ${result.imagesChecked}`);
      assert.ok(rec.rolledBack > 0, 'some images held a transaction to roll back');
      assert.ok(rec.matchedInFlight > 0, 'some images held the op in flight, applied whole');
      assert.ok(rec.notAPool > 0, 'some images were taken before the heap was created');
      totalImages += result.imagesChecked;
      console.log(
        `# queue crash test, ${name}: ${rec.ops.length} ops, ${result.crashPoints} crash points (${result.duplicateCrashPoints} duplicates), ` +
          `${result.imagesChecked} images (${rec.notAPool} before the heap existed, ${rec.rolledBack} rolled back a transaction, ${rec.matchedInFlight} had the op in flight applied), ` +
          `max ${result.maxMaybeUnits} maybe-units, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    });
  }

  for (const crash of ['power-failure', 'kill'] as const) {
    it(`allocator paths (runs emptied and released, a chunk reused for a large value, a batch out of chunks), ${crash}`, async () => {
      const { result, rec } = await queueCrashTest('cacheline', 8, 0xa110c, { crash, ops: allocatorScript() });
      assertNoFailures(result);
      assert.deepEqual(
        rec.outcome.map((o, i) => (o === 'ok' ? '' : `${i}:${o}`)).filter(Boolean),
        [`${rec.ops.length - 11}:ERR_HEAP_NO_SPACE`],
      );
      assert.ok(rec.rolledBack > 0);
      totalImages += result.imagesChecked;
      console.log(`# queue crash test, allocator paths (${crash}): ${rec.ops.length} ops, ${result.crashPoints} crash points, ${result.imagesChecked} images, max ${result.maxMaybeUnits} maybe-units`);
    });
  }

  it('catches a queue that stores its links without declaring them to the transaction (negative control)', async () => {
    const { result, rec } = await queueCrashTest('cacheline', 2, 7, { ops: simpleScript(), Queue: UnloggedQueueClass, maxFailures: 1000 });
    assert.ok(rec.outcome.every((o) => o === 'ok'), `outcomes: ${rec.outcome.join(', ')}`);
    assert.ok(result.failures.length > 0, 'the crash test must fail when links are stored unlogged');
    const messages = result.failures.map((f) => String((f.error as Error).message));
    assert.ok(messages.some((m) => /no object starts there/.test(m)), 'a link to a node whose allocation was rolled back');
    assert.ok(messages.some((m) => /matches neither|is corrupt/.test(m)), 'a queue that lost a node');
    console.log(`# queue crash test, negative control (unlogged links): ${result.failures.length} of ${result.imagesChecked} images fail: ${failureKinds(result)}`);
    totalImages += result.imagesChecked;
  });

  it('catches a queue that frees a shifted node in a transaction of its own (negative control: a leak)', async () => {
    const { result, rec } = await queueCrashTest('cacheline', 2, 8, { ops: simpleScript(), Queue: LeakyQueueClass, maxFailures: 1000 });
    assert.ok(rec.outcome.every((o) => o === 'ok'), `outcomes: ${rec.outcome.join(', ')}`);
    assert.ok(result.failures.length > 0, 'the crash test must fail when a node can leak');
    assert.ok(
      result.failures.some((f) => /the heap holds the queue nodes and the root/.test(String((f.error as Error).message))),
      `a failure names the leak: ${result.failures[0]!.message}`,
    );
    console.log(`# queue crash test, negative control (leak): ${result.failures.length} of ${result.imagesChecked} images fail: ${failureKinds(result)}`);
    totalImages += result.imagesChecked;
  });

  it('the queue crash tests of this file checked at least 10,000 images', () => {
    console.log(`# queue crash tests: ${totalImages} images in all`);
    assert.ok(totalImages >= 10_000, `${totalImages} images`);
  });
});

// ------------------------------------------------------------------------------------ API

/** Demo files (node-pmem-queue-demo-<pid>.heap) of demos killed before they removed them: their pid is gone. */
function sweepDeadDemoFiles(): void {
  for (const base of new Set([os.tmpdir(), '/dev/shm'])) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^node-pmem-queue-demo-(\d+)\.heap$/.exec(name);
      if (m === null) continue;
      try {
        process.kill(Number(m[1]), 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(base, name), { force: true });
      }
    }
  }
}
sweepDeadDemoFiles();

function throwsCode(fn: () => unknown, code: string, type: ErrorConstructor = Error): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `${String(e)} is a ${type.name}`);
    assert.equal((e as NodeJS.ErrnoException).code, code, String(e));
    return true;
  });
}

describe('persistent queue API', () => {
  const dir = tmpDir(fs.existsSync('/dev/shm') ? '/dev/shm' : undefined);
  let n = 0;
  const file = () => path.join(dir, `q${++n}.heap`);
  const SMALL = 1 << 20;

  it('push, peek, shift, length, iteration: FIFO order, values back with their type', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    assert.equal(q.length, 0);
    assert.equal(q.peek(), undefined);
    assert.equal(q.shift(), undefined);
    assert.deepEqual(q.toArray(), []);
    assert.equal(q.push('one'), 1);
    assert.equal(q.push(Buffer.from([1, 2, 3])), 2);
    assert.equal(q.push(new Uint8Array([9, 8])), 3);
    assert.equal(q.push(''), 4);
    assert.equal(q.push('ключ → ü'), 5);
    assert.equal(q.length, 5);
    assert.equal(q.peek(), 'one');
    assert.equal(q.length, 5, 'peek does not remove');
    assert.deepEqual([...q], ['one', Buffer.from([1, 2, 3]), Buffer.from([9, 8]), '', 'ключ → ü']);
    assert.equal(q.shift(), 'one');
    const b = q.shift();
    assert.ok(Buffer.isBuffer(b) && b.equals(Buffer.from([1, 2, 3])));
    const u = q.shift();
    assert.ok(Buffer.isBuffer(u), 'a Uint8Array comes back as a Buffer');
    assert.equal(q.shift(), '');
    assert.equal(q.shift(), 'ключ → ü');
    assert.equal(q.shift(), undefined);
    assert.equal(q.length, 0);
    assert.equal(q.heap.stats().objects, 1, 'every node was freed');
    q.close();
  });

  it('a returned Buffer is a copy: the node it came from may be reused', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    q.push(Buffer.from('aaaa'));
    const got = q.shift() as Buffer;
    q.push(Buffer.from('bbbb'));
    assert.equal(got.toString(), 'aaaa');
    q.close();
  });

  it('survives close and reopen (and a large value, and many values)', () => {
    const f = file();
    const big = Buffer.alloc(200_000, 7);
    let q = PersistentQueue.open(f, { create: true, size: 4 << 20 });
    assert.equal(q.heap.openReport.created, true);
    q.pushMany(Array.from({ length: 500 }, (_, i) => (i % 2 ? `s${i}` : Buffer.from([i & 0xff, i >> 8]))));
    q.push(big);
    for (let i = 0; i < 100; i++) q.shift();
    q.close();
    q = PersistentQueue.open(f);
    assert.equal(q.heap.openReport.created, false);
    assert.equal(q.heap.openReport.cleanShutdown, true);
    assert.equal(q.length, 401);
    assert.deepEqual(q.check(), { length: 401, valueBytes: q.toArray().reduce((s, v) => s + Buffer.byteLength(v), 0) });
    assert.deepEqual(q.peek(), Buffer.from([100, 0]));
    const all = q.toArray();
    assert.ok((all.at(-1) as Buffer).equals(big));
    assert.equal(q.heap.stats().objects, 402);
    q.close();
  });

  it('space is reused: a long push/shift cycle does not grow the heap', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    for (let i = 0; i < 2000; i++) {
      q.push(`value ${i}`.repeat(1 + (i % 5)));
      if (i >= 3) q.shift();
    }
    assert.equal(q.length, 3);
    const s = q.heap.stats();
    assert.equal(s.objects, 4);
    assert.ok(s.runChunks <= 2, `run chunks: ${s.runChunks}`);
    q.close();
  });

  it('pushMany is all or nothing: a bad value midway, a throwing iterator, ERR_HEAP_NO_SPACE', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    q.push('keep');
    const before = q.heap.stats();
    throwsCode(() => q.pushMany(['a', Buffer.from('b'), 5, 'c']), 'ERR_INVALID_ARG_TYPE', TypeError);
    assert.throws(
      () =>
        q.pushMany(
          (function* () {
            yield 'x';
            yield 'y';
            throw new Error('boom');
          })(),
        ),
      /boom/,
    );
    const space = q.heap.stats().heapSize;
    throwsCode(() => q.pushMany(Array.from({ length: Math.ceil(space / 20_000) + 2 }, () => Buffer.alloc(20_000))), 'ERR_HEAP_NO_SPACE');
    assert.deepEqual(q.toArray(), ['keep']);
    assert.equal(q.heap.stats().objects, before.objects);
    assert.equal(q.heap.stats().freeBytes, before.freeBytes);
    q.check();
    // An empty batch, a Set, and the queue still works.
    assert.equal(q.pushMany([]), 1);
    assert.equal(q.pushMany(new Set(['s1', 's2'])), 3);
    assert.deepEqual(q.toArray(), ['keep', 's1', 's2']);
    q.close();
  });

  it('a batch that logs more than the undo log holds is ERR_HEAP_TX_LOG_FULL, and nothing changes', () => {
    const q = PersistentQueue.open(file(), { create: true, size: 4 << 20, logSize: 4096 });
    q.push('keep');
    throwsCode(() => q.pushMany(Array.from({ length: 20_000 }, (_, i) => `v${i}`)), 'ERR_HEAP_TX_LOG_FULL');
    assert.deepEqual(q.toArray(), ['keep']);
    assert.equal(q.heap.stats().objects, 2);
    q.check();
    assert.equal(q.pushMany(Array.from({ length: 2000 }, (_, i) => `v${i}`)), 2001);
    q.close();
  });

  it('a value larger than the heap is refused, and nothing changes', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    throwsCode(() => q.push(Buffer.alloc(2 << 20)), 'ERR_OUT_OF_RANGE', RangeError); // the heap's alloc(): larger than the whole heap
    assert.equal(q.length, 0);
    assert.equal(q.heap.stats().objects, 1);
    q.close();
  });

  it('bad input: non-string/bytes values and non-iterables are ERR_INVALID_ARG_TYPE', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    for (const bad of [42, undefined, null, {}, [1], true, 10n, Symbol('s'), new ArrayBuffer(4), new DataView(new ArrayBuffer(4))]) {
      throwsCode(() => q.push(bad), 'ERR_INVALID_ARG_TYPE', TypeError);
    }
    assert.throws(() => q.push(5), /The "value" argument must be of type string or an instance of Buffer or Uint8Array\. Received type number \(5\)/);
    for (const bad of [undefined, null, 5, 'abc', {}]) throwsCode(() => q.pushMany(bad), 'ERR_INVALID_ARG_TYPE', TypeError);
    assert.throws(() => q.pushMany(['ok', {}]), /The "values\[1\]" argument/);
    assert.equal(q.length, 0);
    q.close();
  });

  it('open(): options are checked; layout and pool errors come from the heap', () => {
    throwsCode(() => PersistentQueue.open(42 as unknown as string), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => PersistentQueue.open(file(), null as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => PersistentQueue.open(file(), { create: true, size: SMALL, rootSize: 128 }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => PersistentQueue.open(file(), { create: true }), 'ERR_INVALID_ARG_VALUE', TypeError); // no size to create it
    const missing = file();
    assert.throws(() => PersistentQueue.open(missing), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    const f = file();
    PersistentQueue.open(f, { create: true, size: SMALL }).close();
    throwsCode(() => PersistentQueue.open(f, { layout: 'something-else' }), 'ERR_HEAP_LAYOUT');
    const junk = file();
    fs.writeFileSync(junk, Buffer.alloc(SMALL, 1));
    throwsCode(() => PersistentQueue.open(junk, { create: true }), 'ERR_HEAP_NOT_A_POOL');
    throwsCode(() => new (PersistentQueue as unknown as new () => Queue)(), 'ERR_ILLEGAL_CONSTRUCTOR', TypeError);
  });

  it('fromHeap(): adopts an all-zero root, refuses a root that holds something else, one queue per heap', () => {
    throwsCode(() => PersistentQueue.fromHeap({} as Heap), 'ERR_INVALID_ARG_TYPE', TypeError);
    const heap = Heap.open(file(), { layout: 'mine', create: true, size: SMALL });
    const q = PersistentQueue.fromHeap(heap);
    q.push('x');
    throwsCode(() => PersistentQueue.fromHeap(heap), 'ERR_QUEUE_IN_USE');
    q.close();
    assert.equal(heap.closed, false, 'close() leaves a heap it did not open open');
    const again = PersistentQueue.fromHeap(heap);
    assert.deepEqual(again.toArray(), ['x']);
    again.close();
    heap.close();

    const other = Heap.open(file(), { layout: 'other', create: true, size: SMALL });
    other.root.setU32(0, 7);
    throwsCode(() => PersistentQueue.fromHeap(other), 'ERR_QUEUE_NOT_A_QUEUE');
    other.close();
    const tiny = Heap.open(file(), { layout: 'tiny', create: true, size: SMALL, rootSize: 16 });
    if (tiny.root.size < ROOT_SIZE) throwsCode(() => PersistentQueue.fromHeap(tiny), 'ERR_QUEUE_NOT_A_QUEUE');
    tiny.close();
  });

  it('a closed queue refuses everything with ERR_QUEUE_CLOSED; close is idempotent', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    q.push('a');
    const it = q.values();
    assert.equal(it.next().value, 'a');
    q.close();
    q.close();
    assert.equal(q.closed, true);
    for (const fn of [() => q.length, () => q.push('b'), () => q.pushMany(['b']), () => q.shift(), () => q.peek(), () => [...q], () => q.check(), () => q.heap, () => it.next()]) {
      throwsCode(fn, 'ERR_QUEUE_CLOSED');
    }
  });

  it('changing the queue while iterating throws ERR_QUEUE_MODIFIED', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    q.pushMany(['a', 'b', 'c']);
    const seen: Value[] = [];
    throwsCode(() => {
      for (const v of q) {
        seen.push(v);
        q.shift();
      }
    }, 'ERR_QUEUE_MODIFIED');
    assert.deepEqual(seen, ['a']);
    assert.deepEqual(q.toArray(), ['b', 'c']);
    q.close();
  });

  it('composes with a caller transaction: pushes and shifts in it commit or roll back together', () => {
    const q = PersistentQueue.open(file(), { create: true, size: SMALL });
    q.pushMany(['a', 'b']);
    const heap = q.heap;
    const before = heap.stats();
    assert.throws(
      () =>
        heap.transaction(() => {
          assert.equal(q.shift(), 'a');
          q.push('c');
          assert.deepEqual(q.toArray(), ['b', 'c']);
          throw new Error('changed my mind');
        }),
      /changed my mind/,
    );
    assert.deepEqual(q.toArray(), ['a', 'b']);
    assert.deepEqual(heap.stats(), { ...before, transactions: heap.stats().transactions });
    // A pushMany that fails inside the caller's transaction fails all of it, even if the caller catches the error.
    assert.throws(
      () =>
        heap.transaction(() => {
          q.push('lost too');
          assert.throws(() => q.pushMany(['x', 7]), { code: 'ERR_INVALID_ARG_TYPE' });
        }),
      { code: 'ERR_HEAP_TX_ABORTED' },
    );
    assert.deepEqual(q.toArray(), ['a', 'b']);
    // A move between two queues in one transaction: both or neither.
    const q2 = PersistentQueue.fromHeap(Heap.open(file(), { layout: LAYOUT, create: true, size: SMALL }));
    q2.heap.transaction(() => q2.push('own'));
    heap.transaction(() => q.push(q.shift()!));
    assert.deepEqual(q.toArray(), ['b', 'a']);
    const h2 = q2.heap;
    q2.close();
    h2.close();
    q.close();
  });

  it('the demo runs, prints, and removes its file (and keeps a file it is given)', () => {
    const r = runNode(path.join(QUEUE_DIR, 'demo.js'), [], { timeout: 60_000 });
    assertCleanExit(r);
    assert.match(r.stdout, /^OK: /m);
    assert.equal(r.stderr, '');
    const defaults = [os.tmpdir(), '/dev/shm'].map((d) => path.join(d, `node-pmem-queue-demo-${r.pid}.heap`));
    assert.ok(r.stdout.includes(`node-pmem-queue-demo-${r.pid}.heap`), 'the demo names its file');
    for (const f of defaults) assert.equal(fs.existsSync(f), false, `the demo removes ${f}`);
    const kept = path.join(dir, 'kept.heap');
    const r2 = runNode(path.join(QUEUE_DIR, 'demo.js'), [kept], { timeout: 60_000 });
    assertCleanExit(r2);
    assert.equal(fs.existsSync(kept), true, 'a path given is kept');
    const r3 = runNode(path.join(QUEUE_DIR, 'demo.js'), [kept], { timeout: 60_000 });
    assertCleanExit(r3);
    assert.match(r3.stdout, /from an earlier run/);
    assert.match(r3.stdout, /^OK: /m);
  });

  it("the README's JavaScript examples run", () => {
    const readme = path.join(QUEUE_DIR, 'README.md');
    const parsed = parseFences('examples/queue/README.md', fs.readFileSync(readme, 'utf8'));
    const blocks = classify(parsed.fences);
    assert.deepEqual([...parsed.errors, ...blocks.errors], []);
    assert.ok(blocks.run.length >= 1, 'the README has a runnable example');
    for (const s of blocks.run) {
      // Where a reader of examples/queue runs it: queue.js beside it, node-pmem installed.
      const sdir = fs.mkdtempSync(path.join(dir, 'readme-'));
      fs.mkdirSync(path.join(sdir, 'node_modules'));
      fs.symlinkSync(REPO_ROOT, path.join(sdir, 'node_modules', 'node-pmem'), 'dir');
      fs.copyFileSync(path.join(QUEUE_DIR, 'queue.js'), path.join(sdir, 'queue.js'));
      fs.mkdirSync(path.join(sdir, 'mnt', 'pmem'), { recursive: true });
      const code = s.code.replace(/(['"`])\/mnt\/pmem(?=[/'"`])/g, (_, q: string) => q + path.join(sdir, 'mnt', 'pmem'));
      const f = path.join(sdir, s.type === 'module' ? 'snippet.mjs' : 'snippet.cjs');
      fs.writeFileSync(f, code);
      const r = runNode(f, [], { cwd: sdir, timeout: 60_000 });
      assertCleanExit(r);
      assert.equal(r.stderr, '', `README line ${s.line}: stderr`);
    }
  });
});
