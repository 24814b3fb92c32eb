/**
 * node-pmem/heap under the crash simulator: a workload of transactions that change many ranges,
 * allocate and free objects of every path (small classes, whole chunks), nest, abort (a throw,
 * tx.abort(), an inner failure the outer function catches), overflow the undo log and run out of
 * space runs once on a simulated mapping; at every crash point the pool is reopened from each
 * image and must hold exactly the state after every acknowledged operation (or, for the one in
 * flight, the state after it), with no object leaked or lost (the allocator's count matches what
 * the root reaches), and must take a new transaction. Two broken heaps (the log never flushed; the
 * commit point made durable before the data) must be caught. Then kill -9 rounds of a writer
 * process on a real file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Heap, type Ref } from 'node-pmem/heap';
import { crashTest, currentCrashPoint, type CrashKind, type Mapping } from 'node-pmem/testing';
import { tmpDir } from './helpers';

const LAYOUT = 'crash-test';
const SIZE = 2 * 1024 * 1024;
const LOG_SIZE = 8192;
const UUID = new Uint8Array(16).fill(0x5a);
const SLOTS = 8;
const COUNTERS = 32;
const ROOT_SIZE = SLOTS * 16 + COUNTERS * 4;

let totalImages = 0;

/** What the pool must hold: each slot's object (its usable size and bytes) or null, and the root's counters. */
interface Model {
  slots: (Buffer | null)[];
  counters: number[];
}

const cloneModel = (m: Model): Model => ({ slots: m.slots.map((b) => (b === null ? null : Buffer.from(b))), counters: [...m.counters] });

function digestOfModel(m: Model): string {
  const parts = m.slots.map((b) => (b === null ? '-' : `${b.length}:${createHash('sha1').update(b).digest('hex').slice(0, 12)}`));
  return `${parts.join(',')}|${m.counters.join(',')}|objects ${1 + m.slots.filter((b) => b !== null).length}`;
}

function digestOfHeap(heap: Heap): string {
  const root = heap.root;
  const parts: string[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const r = root.getRef(16 * i);
    parts.push(r === null ? '-' : `${r.size}:${createHash('sha1').update(r.getBytes()).digest('hex').slice(0, 12)}`);
  }
  const counters = Array.from({ length: COUNTERS }, (_, j) => root.getU32(SLOTS * 16 + 4 * j));
  return `${parts.join(',')}|${counters.join(',')}|objects ${heap.stats().objects}`;
}

function usable(size: number): number {
  if (size > 32768) return Math.ceil(size / 65536) * 65536;
  let s = 64;
  while (s < size) s *= 2;
  return s;
}

function fillPattern(seed: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

type Step = { name: string; run: (heap: Heap, model: Model) => void };

/** A deterministic script; each step changes the heap and the model the same way, or throws (and then must change neither). */
function script(): Step[] {
  const steps: Step[] = [];
  const counterAt = (j: number) => SLOTS * 16 + 4 * j;
  const put = (heap: Heap, model: Model, slot: number, size: number, seed: number): Ref => {
    const r = heap.alloc(size);
    const bytes = fillPattern(seed, r.size);
    r.setBytes(0, bytes);
    heap.root.setRef(16 * slot, r);
    model.slots[slot] = bytes;
    return r;
  };
  const drop = (heap: Heap, model: Model, slot: number) => {
    const r = heap.root.getRef(16 * slot);
    if (r !== null) heap.free(r);
    heap.root.setRef(16 * slot, null);
    model.slots[slot] = null;
  };
  for (let round = 0; round < 3; round++) {
    const sizes = [100, 4000, 70000, 64, 900, 20000, 2048, 300];
    steps.push({
      name: `round ${round}: fill the slots, one transaction each`,
      run: (heap, model) => {
        for (let s = 0; s < SLOTS; s++) {
          heap.transaction(() => {
            const old = heap.root.getRef(16 * s);
            if (old !== null) heap.free(old);
            put(heap, model, s, sizes[(s + round) % sizes.length]!, round * 100 + s);
            heap.root.setU32(counterAt(s), round * 10 + s);
            model.counters[s] = round * 10 + s;
          });
        }
      },
    });
    steps.push({
      name: `round ${round}: many ranges, overlapping and repeated, in one transaction`,
      run: (heap, model) => {
        heap.transaction((tx) => {
          for (let k = 0; k < 24; k++) {
            const s = (k * 5 + round) % SLOTS;
            const r = heap.root.getRef(16 * s)!;
            const at = ((k * 977 + round * 31) % Math.max(1, r.size - 64)) & ~3;
            tx.add(r.offset + at, 64); // declared twice for some k: logged once
            const view = r.getBytes(at, 64);
            view.fill(k + round);
            model.slots[s]!.fill(k + round, at, at + 64);
            heap.root.setU32(counterAt(8 + (k % 16)), k * (round + 1));
            model.counters[8 + (k % 16)] = k * (round + 1);
          }
        });
      },
    });
    steps.push({
      name: `round ${round}: nested transactions join the outer one`,
      run: (heap, model) => {
        heap.transaction(() => {
          drop(heap, model, 1);
          heap.transaction(() => {
            put(heap, model, 1, 200 + round, 7000 + round);
            heap.transaction(() => {
              heap.root.setU32(counterAt(30), 30 + round);
              model.counters[30] = 30 + round;
            });
          });
          drop(heap, model, 2);
          put(heap, model, 2, 40000, 8000 + round); // two chunks
        });
      },
    });
    steps.push({
      name: `round ${round}: a throw rolls back changes, allocations and frees`,
      run: (heap) => {
        heap.transaction(() => {
          drop(heap, { slots: [], counters: [] }, 3);
          put(heap, { slots: [], counters: [] }, 3, 5000, 1);
          heap.root.getRef(16 * 0)!.setU32(0, 0xdeadbeef);
          heap.root.setU32(counterAt(0), 999);
          throw Object.assign(new Error('workload abort'), { code: 'TEST_ABORT' });
        });
      },
    });
    steps.push({
      name: `round ${round}: tx.abort()`,
      run: (heap) => {
        heap.transaction((tx) => {
          put(heap, { slots: [], counters: [] }, 4, 64, 2);
          tx.abort('changed my mind');
        });
      },
    });
    steps.push({
      name: `round ${round}: an inner failure the outer function catches still rolls everything back`,
      run: (heap) => {
        heap.transaction(() => {
          heap.root.setU32(counterAt(1), 4242);
          try {
            heap.transaction(() => {
              put(heap, { slots: [], counters: [] }, 5, 128, 3);
              throw new Error('inner');
            });
          } catch {
            // swallowed: the transaction is doomed anyway
          }
        });
      },
    });
    steps.push({
      name: `round ${round}: the log overflows midway`,
      run: (heap, model) => {
        heap.transaction((tx) => {
          heap.root.setU32(counterAt(2), 77);
          model.counters[2] = 77; // undone with the model when the step throws
          const r = heap.root.getRef(16 * 2)!; // 64 KiB: more than the 8 KiB log
          tx.add(r.offset, r.size);
        });
      },
    });
    steps.push({
      name: `round ${round}: alloc outside a transaction, then linked by one`,
      run: (heap, model) => {
        const r = heap.alloc(3000); // durable on return: until the link commits, a crash leaks it (the caller's choice)
        r.setBytes(0, fillPattern(9000 + round, r.size)); // durable on return, not logged
        heap.transaction(() => {
          const prev = heap.root.getRef(16 * 6);
          if (prev !== null) heap.free(prev);
          heap.root.setRef(16 * 6, r);
        });
        model.slots[6] = fillPattern(9000 + round, r.size);
      },
    });
    steps.push({
      name: `round ${round}: free outside a transaction`,
      run: (heap, model) => {
        const r = heap.root.getRef(16 * 4);
        heap.root.setRef(16 * 4, null); // unlinked (durable) first, so a crash cannot leave a pointer to freed space
        model.slots[4] = null;
        if (r !== null) heap.free(r);
      },
    });
    steps.push({
      name: `round ${round}: exhaustion`,
      run: (heap) => {
        heap.alloc(1536 * 1024); // more than the pool has left
      },
    });
  }
  return steps;
}

interface Recorded {
  steps: Step[];
  /** states[i]: the model after the first i steps. */
  states: string[];
  /** ackAt[i]: currentCrashPoint when step i returned (or threw). */
  ackAt: number[];
  createdAt: number;
}

/** A mapping whose heap commits wrongly, for the checks that must fail. */
function brokenMapping(m: Mapping, how: 'log-not-flushed' | 'commit-before-data'): Mapping {
  const logStart = 4096;
  const logEnd = logStart + LOG_SIZE;
  let deferred: Float64Array | null = null;
  let deferredN = 0;
  const w = {
    get path() { return m.path; },
    get length() { return m.length; },
    get readOnly() { return m.readOnly; },
    get closed() { return m.closed; },
    bytes: () => m.bytes(),
    fill: (o: number, l: number, b: number, opts?: { persist?: boolean }) => m.fill(o, l, b, opts),
    flush: (o: number, l: number) => m.flush(o, l),
    drain: () => m.drain(),
    persist: (o: number, l: number) => {
      if (how === 'log-not-flushed' && o >= logStart && o < logEnd) return; // the snapshot stays in the cache
      m.persist(o, l);
      if (deferred !== null) {
        m.persistRanges(deferred, deferredN);
        deferred = null;
      }
    },
    persistRanges: (pairs: Float64Array, n: number) => {
      if (how === 'commit-before-data') {
        deferred = pairs.slice(0, 2 * n);
        deferredN = n;
        return { extents: n, bytes: 0 };
      }
      return m.persistRanges(pairs, n);
    },
  };
  return w as unknown as Mapping;
}

function heapCrashTest(
  granularity: 'cacheline' | 'byte' | 'page',
  imagesPerPoint: number,
  seed: number,
  { crash = 'power-failure', broken }: { crash?: CrashKind; broken?: 'log-not-flushed' | 'commit-before-data' } = {},
) {
  const rec: Recorded = { steps: script(), states: [], ackAt: [], createdAt: -1 };
  const workload = (m: Mapping) => {
    const model: Model = { slots: Array(SLOTS).fill(null), counters: Array(COUNTERS).fill(0) };
    const target = broken ? brokenMapping(m, broken) : m;
    const heap = Heap.fromMapping(target, { layout: LAYOUT, create: true, rootSize: ROOT_SIZE, logSize: LOG_SIZE, uuid: UUID });
    rec.createdAt = currentCrashPoint(m);
    rec.states.push(digestOfModel(model));
    for (const step of rec.steps) {
      const before = cloneModel(model);
      try {
        step.run(heap, model);
      } catch (e) {
        // A failed step must leave nothing behind: the model goes back, and so must the heap.
        model.slots = before.slots;
        model.counters = before.counters;
        const code = (e as { code?: string }).code;
        assert.ok(['TEST_ABORT', 'ERR_HEAP_TX_ABORTED', 'ERR_HEAP_TX_LOG_FULL', 'ERR_HEAP_NO_SPACE'].includes(code ?? ''), `${step.name}: ${String(e)}`);
      }
      rec.ackAt.push(currentCrashPoint(m));
      const expected = digestOfModel(model);
      assert.equal(digestOfHeap(heap), expected, `live state after ${step.name}`);
      rec.states.push(expected);
    }
    heap.close();
  };
  const recover = (_image: Uint8Array, ctx: { crashPoint: number; open(): Mapping }) => {
    const k = ctx.crashPoint;
    if (k < rec.createdAt) {
      // Before the create's commit point the file is empty, or an interrupted create: create redoes it.
      const heap = Heap.fromMapping(ctx.open(), { layout: LAYOUT, create: true, rootSize: ROOT_SIZE, logSize: LOG_SIZE, uuid: UUID });
      heap.close();
      return;
    }
    let done = 0;
    while (done < rec.ackAt.length && rec.ackAt[done]! <= k) done++;
    const heap = Heap.fromMapping(ctx.open(), { layout: LAYOUT });
    const actual = digestOfHeap(heap);
    const allowed = [rec.states[done]!];
    if (done + 1 < rec.states.length) allowed.push(rec.states[done + 1]!);
    // A step made of several transactions (the fill) may stop between two of them: each prefix is its
    // own state. The two steps outside transactions may stop between their atomic parts: alloc then
    // link leaks the new object (one more than the root reaches); unlink then free leaves the slot
    // empty with the object not yet freed.
    const name = rec.steps[done]?.name ?? '';
    if (name.includes('outside a transaction')) {
      const leak = (state: string) => state.replace(/objects (\d+)$/, (_m, n: string) => `objects ${Number(n) + 1}`);
      allowed.push(leak(name.includes('alloc outside') ? rec.states[done]! : rec.states[done + 1]!));
    }
    if (!allowed.includes(actual) && !partialFill(rec, done, actual)) {
      throw new Error(`crash point ${k} (${done} steps acknowledged): the pool holds\n  ${actual}\nexpected one of\n  ${allowed.join('\n  ')}`);
    }
    // The recovered pool takes a new transaction, and its allocator counts the change.
    const before = heap.stats().objects;
    heap.transaction(() => {
      const prev = heap.root.getRef(16 * 7);
      if (prev !== null) heap.free(prev);
      const r = heap.alloc(64);
      r.setU32(0, 1);
      heap.root.setRef(16 * 7, r);
    });
    const reached = heap.root.getRef(16 * 7);
    assert.ok(reached !== null && reached.getU32(0) === 1, 'a transaction after recovery');
    assert.ok(heap.stats().objects === before || heap.stats().objects === before + 1, 'alloc after recovery');
    heap.close();
  };
  return { rec, run: () => crashTest({ size: SIZE, granularity, crash, imagesPerPoint, seed, workload, recover }) };
}

/** The fill step is SLOTS transactions: after a crash inside it, slots [0, j) are new and the rest old, for some j. */
function partialFill(rec: Recorded, done: number, actual: string): boolean {
  const step = rec.steps[done];
  if (step === undefined || !step.name.includes('fill the slots')) return false;
  const before = rec.states[done]!.split('|');
  const afterState = rec.states[done + 1]!.split('|');
  const a = actual.split('|');
  const bs = before[0]!.split(',');
  const as = afterState[0]!.split(',');
  const bc = before[1]!.split(',');
  const ac = afterState[1]!.split(',');
  for (let j = 0; j <= SLOTS; j++) {
    const slots = [...as.slice(0, j), ...bs.slice(j)];
    const counters = [...ac.slice(0, j), ...bc.slice(j)];
    const objects = 1 + slots.filter((s) => s !== '-').length;
    if (a[0] === slots.join(',') && a[1] === counters.join(',') && a[2] === `objects ${objects}`) return true;
  }
  return false;
}

describe('node-pmem/heap: crash at every point', () => {
  after(() => {
    console.log(`# heap crash images checked: ${totalImages}`);
    assert.ok(totalImages >= 10_000, `at least 10,000 crash images in all (got ${totalImages})`);
  });

  for (const [granularity, images] of [['cacheline', 24], ['byte', 16], ['page', 12]] as const) {
    it(`power failure at the ${granularity} tier: every acknowledged step survives, nothing half-applied, nothing leaked`, async () => {
      const { run } = heapCrashTest(granularity, images, 17);
      const result = await run();
      totalImages += result.imagesChecked;
      assert.deepEqual(result.failures.map((f) => f.message), []);
      assert.ok(result.crashPoints > 100, `crash points: ${result.crashPoints}`);
    });
  }

  it('kill at every call and inside every write', async () => {
    const { run } = heapCrashTest('cacheline', 8, 3, { crash: 'kill' });
    const result = await run();
    totalImages += result.imagesChecked;
    assert.deepEqual(result.failures.map((f) => f.message), []);
  });

  for (const broken of ['log-not-flushed', 'commit-before-data'] as const) {
    it(`a broken heap (${broken}) is caught`, async () => {
      const { run } = heapCrashTest('cacheline', 8, 5, { broken });
      const result = await run();
      totalImages += result.imagesChecked;
      assert.ok(result.failures.length > 0, `${broken}: ${result.imagesChecked} images, no failure: the checks cannot fail`);
      console.log(`# ${broken}: ${result.failures.length} failures${result.truncated ? " (stopped at maxFailures)" : ""}, the first: ${result.failures[0]!.message.slice(0, 300)}`);
    });
  }
});

describe('node-pmem/heap: kill -9 of a writer process', () => {
  const dir = tmpDir();
  const fixture = path.join(__dirname, 'fixtures', 'heap-writer.js');

  it('rounds of SIGKILL mid-transaction: the pool reopens with its invariant intact', async () => {
    const file = path.join(dir, 'writer.heap');
    let committed = 0;
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, [fixture, file, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (out.includes('running')) {
            clearInterval(poll);
            setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, 30 + round * 25);
          }
        }, 5);
        child.on('exit', () => {
          clearInterval(poll);
          resolve();
        });
      });
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
      assert.equal(child.signalCode, 'SIGKILL', `round ${round}: the writer ended by itself: ${err}`);
      const acked = Math.max(0, ...out.split('\n').filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4))));
      const heap = Heap.open(file, { layout: 'writer' });
      try {
        assert.equal(heap.openReport.cleanShutdown, false, 'a killed writer leaves the pool marked in use');
        const root = heap.root;
        // The writer moves amounts between accounts (objects) and reallocates them: the total never changes.
        let total = 0;
        let accounts = 0;
        for (let i = 0; i < 16; i++) {
          const r = root.getRef(16 * i);
          if (r === null) continue;
          accounts++;
          total += r.getF64(0);
        }
        assert.equal(total, 16 * 1000, `round ${round}: money created or lost`);
        assert.equal(accounts, 16);
        assert.equal(heap.stats().objects, 17, 'the root and 16 accounts: nothing leaked');
        const done = root.getF64(16 * 16);
        assert.ok(done >= acked, `round ${round}: ${acked} transfers acknowledged, ${done} in the pool`);
        committed = done;
      } finally {
        heap.close();
      }
    }
    assert.ok(committed > 0, 'the writers committed transfers');
  });
});
