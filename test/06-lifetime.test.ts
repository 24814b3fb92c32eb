/**
 * Lifetime: views after close, misuse patterns in a child process (where a crash cannot take
 * the runner down), moving the ArrayBuffer out of its mapping, and worker_threads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { open, liveMappings } from 'node-pmem';
import { PAGE, MiB, tmpDir, freshPath, runFixture, assertCleanExit, FIXTURES, throwsCode, CLOSED, REPO_ROOT } from './helpers';

const { native } = require(path.join(REPO_ROOT, 'dist', 'binding.js')) as typeof import('../lib/binding');

const DIR = tmpDir();

describe('views after close (in this process)', () => {
  it('Uint8Array, DataView, Buffer.from(buffer) and the ArrayBuffer read as empty; nothing crashes', () => {
    const base = liveMappings();
    const m = open(freshPath(DIR), { create: true, size: 4 * PAGE });
    assert.equal(liveMappings(), base + 1);
    m.write(0, 'data');
    const ab = m.buffer;
    const u8 = m.bytes();
    const part = m.bytes(PAGE, 10);
    const dv = m.dataView();
    const buf = Buffer.from(m.buffer);
    const u32 = new Uint32Array(m.buffer, 8, 4);
    m.close();
    assert.equal(liveMappings(), base);
    assert.equal(ab.byteLength, 0);
    for (const v of [u8, part, buf, u32]) {
      assert.equal(v.byteLength, 0);
      assert.equal(v.length, 0);
      assert.equal(v[0], undefined);
      v[0] = 1; // ignored, not a crash
    }
    assert.equal(buf.toString(), '');
    assert.equal(dv.buffer.byteLength, 0);
    assert.throws(() => dv.getUint8(0), TypeError);
    assert.throws(() => dv.setUint8(0, 1), TypeError);
    throwsCode(() => m.buffer, CLOSED);
  });

  it('liveMappings counts this threads open mappings', () => {
    const base = liveMappings();
    const ms = Array.from({ length: 5 }, () => open(freshPath(DIR), { create: true, size: PAGE }));
    assert.equal(liveMappings(), base + 5);
    ms[2]!.close();
    ms[2]!.close();
    assert.equal(liveMappings(), base + 4);
    for (const m of ms) m.close();
    assert.equal(liveMappings(), base);
  });
});

describe('misuse patterns in a child process', () => {
  it('20+ patterns run and the child exits normally', () => {
    const dir = tmpDir();
    const r = runFixture('lifetime-misuse.js', [dir], { nodeArgs: ['--expose-gc'], timeout: 60_000 });
    const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    assert.deepEqual(fails, [], `patterns failed:\n${fails.join('\n')}\n${r.log}`);
    assertCleanExit(r);
    const oks = r.stdout.split('\n').filter((l) => l.startsWith('OK '));
    const expected = [
      'views-after-close', 'writes-into-detached-views', 'reads-of-detached-views-by-node-apis', 'copies-survive-close',
      'buffer-getter-after-close', 'double-close-and-dispose-after-close', 'old-view-does-not-see-a-new-mapping',
      'close-during-persistAsync', 'close-with-many-persistAsync-in-flight', 'close-inside-persistAsync-callback',
      'using-disposes', 'using-disposes-on-throw', 'using-after-explicit-close', 'await-using-waits-for-persistAsync',
      'Symbol.asyncDispose-direct', 'dropped-without-close-is-unmapped-by-gc-with-a-warning',
      'dropped-mappings-whose-views-are-still-referenced', 'many-open-close-cycles', 'wrong-this',
      'constructing-a-mapping-directly', 'readOnly-views-after-close', 'marks-pending-at-close',
      'close-while-iterating-a-view', 'forced-tiers-lifecycle', 'live-mapping-count-is-back-to-base',
    ];
    assert.ok(expected.length >= 20);
    assert.deepEqual(oks.map((l) => l.slice(3)), expected, r.log);
    assert.match(r.stdout, new RegExp(`^DONE ${expected.length}$`, 'm'));
    assert.match(r.stdout, /^EXITING$/m, 'the exit with a mapping open and work in flight was not reached');
    assert.match(r.stderr, /leak/i, 'the leak warning is printed by default');
  });

  it("moving the mapping's ArrayBuffer elsewhere (transfer lists) cannot reach unmapped memory", () => {
    const dir = tmpDir();
    const r = runFixture('transfer-misuse.js', [dir], { timeout: 30_000 });
    assertCleanExit(r);
    assert.match(r.stdout, /^DONE$/m, r.log);
    assert.doesNotMatch(r.stdout, /^FAIL/m, r.log);
    // Every way of moving the buffer is refused on every line, except the prototype's own
    // transfer() called on it directly on Node 22 (no detach key there); that one is safe.
    const keyed = native.buildInfo().detachKeys;
    const results = new Map(r.stdout.split('\n').filter((l) => l.startsWith('RESULT ')).map((l) => [l.split(' ')[1]!, l]));
    for (const name of ['structuredClone', 'MessageChannel', 'transfer', 'transferToFixedLength', 'transfer-with-length'])
      assert.match(results.get(name) ?? '', / refused \(/, `${name}\n${r.log}`);
    for (const name of ['ArrayBuffer.prototype.transfer.call', 'ArrayBuffer.prototype.transferToFixedLength.call'])
      assert.match(results.get(name) ?? '', keyed ? / refused \(/ : / transferred .*fileIntact=true/, `${name}\n${r.log}`);
    assert.match(results.get('transfer') ?? '', /refused \(Error\)/, 'our own coded refusal');
  });

  it('thread-pool work on views across close() and across the collection of a dropped Mapping', () => {
    const dir = tmpDir();
    const r = runFixture('threadpool-misuse.js', [dir], {
      nodeArgs: ['--expose-gc'],
      timeout: 60_000,
      env: { ...process.env, NODE_PMEM_QUARANTINE_RANGES: '4' },
    });
    const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    assert.deepEqual(fails, [], r.log);
    assertCleanExit(r);
    assert.match(r.stdout, /^DONE 8$/m, r.log);
  });
});

interface WorkerReport {
  written: number;
  liveWhileOpen: number;
  liveAfter: number;
}

function startWorker(job: object): { worker: Worker; report: Promise<WorkerReport | undefined>; exit: Promise<number> } {
  const worker = new Worker(path.join(FIXTURES, 'worker-writer.js'), { workerData: job });
  const report = new Promise<WorkerReport | undefined>((resolve) => {
    worker.once('message', resolve);
    worker.once('exit', () => resolve(undefined));
  });
  const errors: Error[] = [];
  worker.on('error', (e) => errors.push(e));
  const exit = once(worker, 'exit').then(([code]) => {
    if (errors.length) throw errors[0];
    return code as number;
  });
  return { worker, report, exit };
}

function expected(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

describe('worker_threads', () => {
  it("several workers map one file with lock:'none', write disjoint regions and persist", async () => {
    const file = freshPath(DIR);
    const REGION = MiB;
    const N = 6;
    const main = open(file, { create: true, size: N * REGION, lock: 'none' });
    const base = liveMappings();
    try {
      const workers = Array.from({ length: N }, (_, i) =>
        startWorker({ file, offset: i * REGION + (i % 2), length: REGION - 1, seed: i + 1, lock: 'none', end: 'close' }),
      );
      const reports = await Promise.all(workers.map((w) => w.report));
      const codes = await Promise.all(workers.map((w) => w.exit));
      assert.deepEqual(codes, Array(N).fill(0));
      for (const r of reports) {
        assert.ok(r, 'a worker ended without reporting');
        assert.equal(r.written, REGION - 1);
        assert.equal(r.liveWhileOpen, 1, 'each worker counts only its own mappings');
        assert.equal(r.liveAfter, 0);
      }
      assert.equal(liveMappings(), base, "workers' mappings are not counted on the main thread");
      // the main thread's mapping of the same file sees every worker's bytes
      for (let i = 0; i < N; i++) {
        assert.ok(main.read(i * REGION + (i % 2), REGION - 1).equals(expected(REGION - 1, i + 1)), `region ${i} via the mapping`);
      }
    } finally {
      main.close();
    }
    const data = fs.readFileSync(file);
    for (let i = 0; i < N; i++) {
      assert.ok(data.subarray(i * REGION + (i % 2), (i + 1) * REGION + (i % 2) - 1).equals(expected(REGION - 1, i + 1)), `region ${i} in the file`);
    }
  });

  for (const end of ['leak', 'exit'] as const) {
    it(`a worker that ends ('${end}') without closing: its mapping is unmapped and its lock released`, async () => {
      const file = freshPath(DIR);
      fs.writeFileSync(file, Buffer.alloc(4 * PAGE));
      const base = liveMappings();
      const w = startWorker({ file, offset: 100, length: 1000, seed: 9, lock: 'exclusive', end });
      const report = await w.report;
      assert.equal(await w.exit, 0);
      if (report) assert.equal(report.liveAfter, 1, 'the worker still had its mapping');
      assert.equal(liveMappings(), base);
      // exclusive lock: this open fails with ERR_PMEM_LOCKED if the worker's descriptor survived
      const m = open(file);
      try {
        assert.ok(m.read(100, 1000).equals(expected(1000, 9)));
      } finally {
        m.close();
      }
    });
  }

  it('a worker terminated with a mapping open and a persistAsync in flight does not take the process down', async () => {
    const file = freshPath(DIR);
    fs.writeFileSync(file, Buffer.alloc(16 * MiB));
    const w = startWorker({ file, offset: 0, length: 4096, seed: 3, lock: 'exclusive', end: 'hang' });
    const report = await w.report;
    assert.ok(report, 'the worker did not start its work');
    await w.worker.terminate();
    await w.exit;
    const m = open(file); // the terminated worker released its lock
    m.close();
  });

  it('a worker terminated in the middle of a loop of writes and persists: no crash, its lock released', async () => {
    const file = freshPath(DIR);
    fs.writeFileSync(file, Buffer.alloc(4 * MiB));
    for (let round = 0; round < 5; round++) {
      const w = startWorker({ file, offset: round * 4096, length: 64 * 1024, seed: round, lock: 'exclusive', end: 'loop' });
      assert.ok(await w.report, 'the worker did not start its loop');
      await new Promise((resolve) => setTimeout(resolve, 20 + round * 10));
      await w.worker.terminate();
      await w.exit;
      open(file).close(); // the terminated worker released its lock
    }
  });

  it('many short-lived workers leave nothing behind', async () => {
    const file = freshPath(DIR);
    fs.writeFileSync(file, Buffer.alloc(16 * PAGE));
    const base = liveMappings();
    for (let round = 0; round < 4; round++) {
      const ws = Array.from({ length: 4 }, (_, i) =>
        startWorker({ file, offset: i * 4 * PAGE, length: 4 * PAGE, seed: round * 4 + i, lock: 'none', end: i % 2 ? 'leak' : 'close' }),
      );
      assert.deepEqual(await Promise.all(ws.map((w) => w.exit)), [0, 0, 0, 0]);
    }
    assert.equal(liveMappings(), base);
    open(file).close();
  });
});

describe('what an aborted test run leaves behind', () => {
  it('is removed by the next run: dirs of dead test processes go, live ones stay', () => {
    const { sweepStaleTestDirs } = require('./helpers') as typeof import('./helpers');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // has exited
    const base = tmpDir();
    const stale = path.join(base, `node-pmem-test-${dead}-abc123`);
    const live = path.join(base, `node-pmem-test-${process.pid}-def456`);
    const oldStyle = path.join(base, 'node-pmem-test-ghi789');
    for (const d of [stale, live, oldStyle]) fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(oldStyle, hourAgo, hourAgo);
    assert.deepEqual(sweepStaleTestDirs([base]).sort(), [oldStyle, stale].sort());
    assert.ok(fs.existsSync(live));
  });
});
