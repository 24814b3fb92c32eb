/**
 * The KV store's ordered index (lib/kv/btree.ts, issue 14): a copy-on-write B+-tree in the
 * mapping. Checked against a sorted model: random sets and deletes, ranges, reverse, seek,
 * snapshots under writes, reopen from a checkpoint, a full region, and every crash image of a
 * workload of sets, deletes and checkpoints (torn words and kills).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'node-pmem';
import { crashTest, currentCrashPoint, createSimulatedMapping, type Mapping } from 'node-pmem/testing';
import { REPO_ROOT, freshPath, prng as rng, tmpDir } from './helpers';

// Internal to the package: from its build (dist/), as the store uses it.
const { BTree, MAX_KEY } = require(path.join(REPO_ROOT, 'dist', 'kv', 'btree.js')) as typeof import('../dist/kv/btree');
type Tree = import('../dist/kv/btree').BTree;

const DIR = tmpDir();
const META = Buffer.alloc(16);

/** Keys of every shape: empty, 0x00 and 0xff bytes, prefixes of each other, up to MAX_KEY. */
function keyOf(r: () => number): Buffer {
  const shape = Math.floor(r() * 6);
  if (shape === 0) return Buffer.from(`k${Math.floor(r() * 5000)}`);
  if (shape === 1) return Buffer.alloc(Math.floor(r() * 4), Math.floor(r() * 2) * 0xff);
  if (shape === 2) return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 12) }, () => (r() < 0.5 ? 0 : 0xff)));
  if (shape === 3) return Buffer.alloc(Math.floor(r() * MAX_KEY) + 1, Math.floor(r() * 256));
  return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function sortedModel(model: Map<string, number>): [string, number][] {
  return [...model].sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
}

function contents(tree: Tree, bounds = {}, reverse = false): [string, number][] {
  const out: [string, number][] = [];
  const c = tree.cursor(bounds, reverse);
  for (let e = c.next(); e !== undefined; e = c.next()) out.push([hex(e[0]), e[1]]);
  c.close();
  return out;
}

function mapped(size: number): Mapping {
  return open(freshPath(DIR, 'btree'), { create: true, size });
}

describe('kv index: a B+-tree in the mapping', () => {
  it('random sets and deletes of keys of every shape match a sorted model, and the tree verifies', () => {
    const m = mapped(32 << 20);
    const tree = BTree.format(m, 0, m.length, META);
    const model = new Map<string, number>();
    const r = rng(7);
    for (let i = 0; i < 20_000; i++) {
      const key = keyOf(r);
      if (r() < 0.3 && model.size > 0) {
        assert.equal(tree.delete(key) !== undefined, model.delete(hex(key)));
      } else {
        const v = Math.floor(r() * 2 ** 40);
        tree.set(key, v);
        model.set(hex(key), v);
      }
      if (i % 997 === 0) tree.checkpoint(META);
    }
    tree.verify();
    assert.equal(tree.size, model.size);
    assert.deepEqual(contents(tree), sortedModel(model));
    for (const [k, v] of model) assert.equal(tree.get(Buffer.from(k, 'hex')), v);
    assert.equal(tree.get(Buffer.from('absent')), undefined);
    m.close();
  });

  it('ranges (gt, gte, lt, lte), reverse and seek', () => {
    const m = mapped(4 << 20);
    const tree = BTree.format(m, 0, m.length, META);
    const keys = Array.from({ length: 3000 }, (_, i) => Buffer.from(`key${String(i * 3).padStart(6, '0')}`));
    keys.forEach((k, i) => tree.set(k, i));
    const all = contents(tree);
    assert.equal(all.length, 3000);
    const k = (n: number) => Buffer.from(`key${String(n).padStart(6, '0')}`);
    const between = (lo: number, hi: number) => all.filter(([h]) => Buffer.compare(Buffer.from(h, 'hex'), k(lo)) >= 0 && Buffer.compare(Buffer.from(h, 'hex'), k(hi)) <= 0);
    assert.deepEqual(contents(tree, { gte: k(300), lte: k(600) }), between(300, 600));
    assert.deepEqual(contents(tree, { gt: k(300), lt: k(600) }), between(301, 599));
    assert.deepEqual(contents(tree, { gt: k(301), lt: k(599) }), between(302, 598), 'bounds that are not keys');
    assert.deepEqual(contents(tree, { gte: k(300), lte: k(600) }, true), between(300, 600).reverse());
    assert.deepEqual(contents(tree, { gt: k(300), lt: k(600) }, true), between(301, 599).reverse());
    assert.deepEqual(contents(tree, {}, true), [...all].reverse());
    assert.deepEqual(contents(tree, { gt: k(9000) }), []);
    assert.deepEqual(contents(tree, { lt: k(0) }), []);
    const c = tree.cursor({ gte: k(30), lt: k(90) });
    c.seek(k(61));
    assert.equal(c.next()![0].toString(), 'key000063');
    c.seek(k(0)); // before the lower bound: back to it
    assert.equal(c.next()![0].toString(), 'key000030');
    c.seek(k(99)); // past the upper bound: the end
    assert.equal(c.next(), undefined);
    c.close();
    const rc = tree.cursor({}, true);
    rc.seek(k(61));
    assert.equal(rc.next()![0].toString(), 'key000060', 'reverse: the last key <= target');
    rc.close();
    m.close();
  });

  it('a cursor reads a snapshot: writes after it opened are not seen, and it still reads after them', () => {
    const m = mapped(4 << 20);
    const tree = BTree.format(m, 0, m.length, META);
    for (let i = 0; i < 2000; i++) tree.set(Buffer.from(`a${i}`), i);
    const before = contents(tree);
    const c = tree.cursor();
    const first = c.next()!;
    for (let i = 0; i < 2000; i += 2) tree.delete(Buffer.from(`a${i}`));
    for (let i = 0; i < 2000; i++) tree.set(Buffer.from(`b${i}`), -i);
    tree.checkpoint(META);
    const seen: [string, number][] = [[hex(first[0]), first[1]]];
    for (let e = c.next(); e !== undefined; e = c.next()) seen.push([hex(e[0]), e[1]]);
    c.close();
    assert.deepEqual(seen, before);
    tree.verify();
    assert.equal(tree.size, 3000);
    m.close();
  });

  it('reopens at its last checkpoint, with its meta; nodes of trees no longer read are reused', () => {
    const file = freshPath(DIR, 'reopen');
    let m = open(file, { create: true, size: 4 << 20 });
    let tree = BTree.format(m, 8192, m.length - 8192, META);
    for (let i = 0; i < 1500; i++) tree.set(Buffer.from(`x${i}`), i);
    tree.checkpoint(Buffer.from('checkpoint one..'));
    const durable = contents(tree);
    for (let i = 0; i < 1500; i++) tree.delete(Buffer.from(`x${i}`)); // never checkpointed
    m.close();
    m = open(file);
    const reopened = BTree.open(m, 8192, m.length - 8192);
    tree = reopened.tree;
    assert.equal(reopened.meta.subarray(0, 16).toString(), 'checkpoint one..');
    assert.equal(reopened.meta.length, 80, 'META_SIZE bytes, zero-padded');
    assert.deepEqual(contents(tree), durable);
    tree.verify();
    const used = tree.nodeUsage.used;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 1500; i++) tree.set(Buffer.from(`x${i}`), round);
      tree.checkpoint(META);
    }
    assert.ok(tree.nodeUsage.used <= used * 3, `nodes in use stay bounded: ${used} -> ${tree.nodeUsage.used}`);
    m.close();
  });

  it('a full region: ENOSPC before anything changes, and the tree still verifies', () => {
    const m = mapped(256 * 1024);
    const tree = BTree.format(m, 0, m.length, META);
    const model = new Map<string, number>();
    let full = false;
    for (let i = 0; i < 100_000 && !full; i++) {
      const key = Buffer.alloc(200, 0);
      key.write(`k${i}`);
      try {
        tree.set(key, i);
        model.set(hex(key), i);
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
        full = true;
      }
    }
    assert.ok(full);
    tree.verify();
    assert.deepEqual(contents(tree), sortedModel(model));
    m.close();
  });

  it('refuses a region with no checkpoint, and a damaged node, with ERR_KV_CORRUPT', () => {
    const m = mapped(1 << 20);
    assert.throws(() => BTree.open(m, 0, m.length), { code: 'ERR_KV_CORRUPT', message: /no valid checkpoint/ });
    const tree = BTree.format(m, 0, m.length, META);
    for (let i = 0; i < 500; i++) tree.set(Buffer.from(`n${i}`), i);
    tree.checkpoint(META);
    m.close();
    const again = open(m.path);
    const { tree: t } = BTree.open(again, 0, again.length);
    // Overwrite the slot array of every node in use with offsets past the node.
    const b = Buffer.from(again.buffer);
    for (let at = 8192; at + 4096 <= again.length; at += 4096) if (b.readUInt16LE(at) === 1) b.fill(0xff, at + 16, at + 64);
    assert.throws(() => {
      for (let i = 0; i < 500; i++) t.get(Buffer.from(`n${i}`));
    }, { code: 'ERR_KV_CORRUPT' });
    again.close();
  });

  /** A closed 1 MiB region of two levels (the root inner, its leaves), and where its root node is. */
  function twoLevels(): { file: string; rootAt: number; leafAt: number; nodes: number } {
    const m = mapped(1 << 20);
    const tree = BTree.format(m, 0, m.length, META);
    for (let i = 0; i < 2000; i++) tree.set(Buffer.from(`key${i}`), i);
    tree.checkpoint(META);
    const b = Buffer.from(m.buffer);
    // The checkpoint in force: the valid slot with the higher number (both are valid here).
    const slot = b.readUInt32LE(120) > b.readUInt32LE(128 + 120) ? 0 : 128;
    const root = b.readUInt32LE(slot + 16);
    const nodes = b.readUInt32LE(slot + 20);
    const rootAt = 8192 + root * 4096;
    assert.equal(b.readUInt16LE(rootAt), 2, 'the root is an inner node');
    const e = rootAt + b.readUInt16LE(rootAt + 16 + 2); // entry 1
    const leafAt = 8192 + b.readUInt32LE(e + 2 + b.readUInt16LE(e)) * 4096;
    m.close();
    return { file: m.path, rootAt, leafAt, nodes };
  }

  it('the native descent stops at each kind of damage it can meet, with ERR_KV_CORRUPT saying which', () => {
    const cases: [string, (b: Buffer, g: ReturnType<typeof twoLevels>) => void, RegExp][] = [
      ['a node of no kind', (b, g) => b.writeUInt16LE(9, g.leafAt), /header out of bounds/],
      ['slots past the heap', (b, g) => b.writeUInt16LE(2000, g.leafAt + 2), /header out of bounds/],
      ['an empty inner node', (b, g) => b.writeUInt16LE(0, g.rootAt + 2), /header out of bounds/],
      ['an entry past the node', (b, g) => b.fill(0xff, g.leafAt + 16, g.leafAt + 4096 - 8), /entry outside it/],
      ['a child past the region', (b, g) => {
        const e = g.rootAt + b.readUInt16LE(g.rootAt + 16);
        for (let i = 0; i < b.readUInt16LE(g.rootAt + 2); i++) {
          const ei = g.rootAt + b.readUInt16LE(g.rootAt + 16 + 2 * i);
          b.writeUInt32LE(g.nodes + 5, ei + 2 + b.readUInt16LE(ei));
        }
        void e;
      }, /child that is not an allocated node/],
      ['a child that is a free node', (b, g) => {
        for (let i = 0; i < b.readUInt16LE(g.rootAt + 2); i++) {
          const ei = g.rootAt + b.readUInt16LE(g.rootAt + 16 + 2 * i);
          b.writeUInt32LE(g.nodes - 1, ei + 2 + b.readUInt16LE(ei));
        }
      }, /child that is not an allocated node/],
      ['a cycle (every child is the root itself)', (b, g) => {
        const root = (g.rootAt - 8192) / 4096;
        for (let i = 0; i < b.readUInt16LE(g.rootAt + 2); i++) {
          const ei = g.rootAt + b.readUInt16LE(g.rootAt + 16 + 2 * i);
          b.writeUInt32LE(root, ei + 2 + b.readUInt16LE(ei));
        }
      }, /deeper than any tree/],
    ];
    for (const [what, damage, message] of cases) {
      const g = twoLevels();
      const m = open(g.file);
      const { tree } = BTree.open(m, 0, m.length);
      damage(Buffer.from(m.buffer), g);
      assert.throws(() => {
        for (let i = 0; i < 2000; i++) tree.get(Buffer.from(`key${i}`));
      }, { code: 'ERR_KV_CORRUPT', message }, what);
      assert.throws(() => {
        for (let i = 0; i < 2000; i++) tree.set(Buffer.from(`key${i}`), -i);
      }, { code: 'ERR_KV_CORRUPT', message }, `${what}, set`);
      m.close();
    }
  });

  it('a descent through a file truncated under its mapping throws ERR_PMEM_TRUNCATED, and the process lives', () => {
    const g = twoLevels();
    const m = open(g.file);
    const { tree } = BTree.open(m, 0, m.length);
    fs.truncateSync(g.file, 8192); // the nodes are gone: a load from them is a SIGBUS
    assert.throws(() => tree.get(Buffer.from('key1')), { code: 'ERR_PMEM_TRUNCATED' });
    assert.throws(() => tree.set(Buffer.from('key1'), 5), { code: 'ERR_PMEM_TRUNCATED' });
    m.close();
  });
});

describe('kv index under the crash simulator', () => {
  // Sets and deletes with a checkpoint every 40 ops: every image opens at a checkpoint whose state
  // is the last acknowledged one, or the one in flight.
  for (const crash of ['power-failure', 'kill'] as const) {
    for (const granularity of crash === 'kill' ? (['cacheline'] as const) : (['cacheline', 'byte', 'page'] as const)) {
      it(`${crash === 'kill' ? 'kill images' : `${granularity} tier, torn ${granularity === 'page' ? 'sectors' : 'words'}`}: every image opens at an acknowledged checkpoint and verifies`, async () => {
        const states: [string, number][][] = [];
        const ackAt: number[] = [];
        const result = await crashTest({
          size: 512 * 1024,
          granularity,
          crash,
          imagesPerPoint: 12,
          workload: (m) => {
            const tree = BTree.format(m, 0, m.length, Buffer.from([0]));
            states.push([]);
            ackAt.push(currentCrashPoint(m));
            const r = rng(11);
            const model = new Map<string, number>();
            for (let i = 1; i <= 400; i++) {
              const key = Buffer.from(`k${Math.floor(r() * 300)}`.repeat(1 + Math.floor(r() * 8)));
              if (r() < 0.3) {
                tree.delete(key);
                model.delete(hex(key));
              } else {
                tree.set(key, i);
                model.set(hex(key), i);
              }
              if (i % 17 === 0) {
                // A reader in between: its snapshot moves the write epoch on (checkpoints must
                // still alternate their slots).
                const c = tree.cursor();
                c.next();
                c.close();
              }
              if (i % 40 === 0) {
                const meta = Buffer.alloc(16);
                meta.writeUInt32LE(states.length);
                tree.checkpoint(meta);
                states.push(sortedModel(model));
                ackAt.push(currentCrashPoint(m));
              }
            }
          },
          recover: (_image, ctx) => {
            const m = ctx.open({ readOnly: true });
            let opened;
            try {
              opened = BTree.open(m, 0, m.length);
            } catch (e) {
              // Before the format's first checkpoint is durable there is no tree yet.
              if ((e as NodeJS.ErrnoException).code === 'ERR_KV_CORRUPT' && ackAt[0]! > ctx.crashPoint) return;
              throw e;
            }
            const which = opened.meta.readUInt32LE(0);
            let acked = 0;
            while (acked + 1 < ackAt.length && ackAt[acked + 1]! <= ctx.crashPoint) acked++;
            assert.ok(which === acked || which === acked + 1, `checkpoint ${which}, acknowledged ${acked}`);
            opened.tree.verify();
            assert.deepEqual(contents(opened.tree), states[which]);
            m.close();
          },
        });
        const first = result.failures[0];
        assert.equal(result.failures.length, 0, first ? `${first.message}\n${String((first.error as Error)?.stack ?? '')}` : '');
        assert.ok(states.length === 11);
        console.log(`# kv index, ${crash} ${granularity}: ${result.crashPoints} crash points, ${result.imagesChecked} images`);
      });
    }
  }

  it('works on a simulated mapping too (the native descent reads its plain ArrayBuffer)', () => {
    const m = createSimulatedMapping({ size: 128 * 1024 });
    const tree = BTree.format(m, 0, m.length, META);
    tree.set(Buffer.from('a'), 1);
    assert.equal(tree.get(Buffer.from('a')), 1);
    m.close();
  });
});
