/**
 * Faults under a live mapping (issue 13). Another process truncates the file, so the mapped pages
 * past its new end are gone and any access to them raises SIGBUS: node-pmem's own calls throw
 * ERR_PMEM_TRUNCATED instead, on every tier, on the JS thread, on the thread pool (persistAsync)
 * and in a worker, again on every later call, and the mapping still closes. Any other SIGBUS
 * (here: a hole of a sparse file on a full tmpfs) is EIO. An access through a view still kills
 * the process with SIGBUS (checked in a child).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { open } from 'node-pmem';
import {
  CLOSED,
  ErrorShape,
  FIXTURES,
  Mapping,
  PAGE,
  REPO_ROOT,
  SHM,
  freshPath,
  negErrno,
  readAt,
  runFixture,
  throwsCode,
  throwsOrRejects,
  tmpDir,
} from './helpers';

const SIZE = 4 * PAGE;
const LOST = 2 * PAGE; // past the new end once the file is truncated to one page

/** Truncation by another process: the kernel's own behaviour, nothing simulated. */
function truncateFromChild(file: string, size: number): void {
  execFileSync('truncate', ['-s', String(size), file]);
}

function truncated(file: string, size: number): ErrorShape {
  return {
    code: 'ERR_PMEM_TRUNCATED',
    type: Error,
    path: file,
    message: new RegExp(`truncated under its mapping of bytes \\[0, ${SIZE}\\): it is now ${size} bytes\\. .*close\\(\\)`),
  };
}

/** Every call of node-pmem that touches [LOST, LOST + PAGE), synchronously. */
function callsOnTheLostPage(m: Mapping): [string, () => unknown][] {
  return [
    ['write()', () => m.write(LOST, 'lost')],
    ['write() of a page', () => m.write(LOST, Buffer.alloc(PAGE, 3))],
    ['write({ persist: true })', () => m.write(LOST, 'lost', { persist: true })],
    ['write({ persist: true }) of a page (non-temporal stores at cacheline tier)', () => m.write(LOST, Buffer.alloc(PAGE, 3), { persist: true })],
    ['fill()', () => m.fill(LOST, 100, 7)],
    ['fill({ persist: true })', () => m.fill(LOST, 100, 7, { persist: true })],
    ['fill({ persist: true }) of a page', () => m.fill(LOST, PAGE, 7, { persist: true })],
    ['read()', () => m.read(LOST, 100)],
    ['readSafe()', () => m.readSafe(LOST, 100)],
    ['flush()', () => m.flush(LOST, 64)],
    ['persist(offset, length)', () => m.persist(LOST, 64)],
    ['persist()', () => m.persist()],
    [
      'persistDirty()',
      () => {
        m.markDirty(0, 64);
        m.markDirty(LOST, 64);
        return m.persistDirty();
      },
    ],
  ];
}

const TIERS = [
  { name: 'page tier on tmpfs', dir: tmpDir(SHM), options: {}, granularity: 'page' },
  { name: 'the detected tier of the test tmp dir (page on a disk file system: msync writes back)', dir: tmpDir(), options: {}, granularity: null },
  { name: 'cacheline tier forced on DRAM (clwb/clflushopt)', dir: tmpDir(SHM), options: { granularity: 'cacheline' }, granularity: 'cacheline' },
  { name: 'byte tier forced on DRAM (a fence alone)', dir: tmpDir(SHM), options: { granularity: 'byte' }, granularity: 'byte' },
] as const;

for (const tier of TIERS) {
  describe(`a file truncated by another process under its mapping: ${tier.name}`, () => {
    it('every node-pmem call on a lost page throws ERR_PMEM_TRUNCATED, also on later calls; the page left works; close() works', async () => {
      const file = freshPath(tier.dir);
      const m = open(file, { create: true, size: SIZE, ...tier.options });
      if (tier.granularity !== null) assert.equal(m.granularity, tier.granularity);
      m.fill(0, SIZE, 1, { persist: true }); // every page is mapped in before the truncation
      truncateFromChild(file, PAGE);
      const shape = truncated(file, PAGE);
      for (let round = 1; round <= 2; round++) {
        for (const [name, call] of callsOnTheLostPage(m)) throwsCode(call, shape, `${name}, call ${round}`);
        await throwsOrRejects(() => m.persistAsync(), shape, `persistAsync(), call ${round}`);
      }
      // The page still in the file is still mapped: calls on it work and reach the file.
      assert.equal(m.write(0, 'kept', { persist: true }), 4);
      assert.equal(m.write(4, '!'), 1);
      m.persist(0, PAGE);
      await m.persistAsync(0, PAGE);
      assert.equal(m.read(0, 5).toString(), 'kept!');
      assert.equal(readAt(file, 0, 5).toString(), 'kept!');
      m.close();
      assert.equal(m.closed, true);
      throwsCode(() => m.write(LOST, 'x'), CLOSED);
      assert.equal(fs.statSync(file).size, PAGE, 'node-pmem leaves the size of the file alone');
    });

    it('persistAsync on every thread of the pool at once: each one rejects with ERR_PMEM_TRUNCATED', async () => {
      const file = freshPath(tier.dir);
      const m = open(file, { create: true, size: SIZE, ...tier.options });
      m.fill(0, SIZE, 1, { persist: true });
      truncateFromChild(file, 0);
      const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => m.persistAsync(i % 2 ? 0 : LOST)));
      for (const [i, r] of results.entries()) {
        assert.equal(r.status, 'rejected', `persistAsync ${i} resolved`);
        assert.equal((r as PromiseRejectedResult).reason.code, 'ERR_PMEM_TRUNCATED', `persistAsync ${i}: ${(r as PromiseRejectedResult).reason}`);
      }
      throwsCode(() => m.write(0, 'x'), truncated(file, 0), 'a write at offset 0 once the file is empty');
      m.close();
    });
  });
}

describe('a file truncated under a mapping made in a worker thread', () => {
  const dir = tmpDir(SHM);
  for (const granularity of ['auto', 'cacheline'] as const) {
    it(`the worker's own calls and its persistAsync throw ERR_PMEM_TRUNCATED, and it closes (${granularity})`, async () => {
      const worker = new Worker(path.join(FIXTURES, 'truncated-worker.js'), { workerData: { file: freshPath(dir), page: PAGE, granularity } });
      const errors: Error[] = [];
      worker.on('error', (e) => errors.push(e));
      const [report] = await Promise.race([once(worker, 'message'), once(worker, 'exit').then(() => [undefined])]);
      assert.deepEqual(errors, []);
      const code = 'ERR_PMEM_TRUNCATED';
      assert.deepEqual(report, { codes: { write: code, read: code, persist: code, persistAsync: code }, closed: true });
      await once(worker, 'exit');
    });
  }
});

describe('a view has no guard', () => {
  const dir = tmpDir(SHM);
  for (const [granularity, access] of [['auto', 'load'], ['cacheline', 'store']] as const) {
    it(`a ${access} through a view of a lost page kills the process with SIGBUS (${granularity}), after node-pmem's own call threw`, () => {
      const r = runFixture('truncated-view.js', [freshPath(dir), granularity, access]);
      assert.match(r.stdout, /^CAUGHT ERR_PMEM_TRUNCATED$/m, r.log);
      assert.match(r.stdout, /^TOUCHING$/m, r.log);
      assert.doesNotMatch(r.stdout, /UNREACHABLE|NO-ERROR/, r.log);
      assert.equal(r.signal, 'SIGBUS', r.log);
    });
  }
});

describe('any other SIGBUS is EIO: holes of a sparse file on a full tmpfs', () => {
  const dir = tmpDir();
  const root = process.getuid?.() === 0;
  for (const granularity of ['auto', 'cacheline'] as const) {
    it(`stores, loads and flushes of a hole throw EIO, even through a readOnly mapping; with room again they work (${granularity})`, {
      skip: root ? false : 'needs root to mount a small tmpfs',
    }, () => {
      // In a mount namespace of its own: the tmpfs goes away with the child, whatever happens to it.
      const mountPoint = fs.mkdtempSync(path.join(dir, 'mnt-'));
      const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, path.join(FIXTURES, 'full-fs-sigbus.js'), mountPoint, granularity], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      const log = `status ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`;
      assert.equal(r.status, 0, log);
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line, log);
      const result = JSON.parse(line.slice('RESULT '.length)) as {
        granularity: string;
        outcomes: { call: string; code: string; errno?: number; syscall?: string; path?: string; message?: string }[];
        after: { allocated: string; roomAgain: string };
      };
      const file = path.join(mountPoint, 'sparse.bin');
      const flush = result.granularity === 'page' ? 'msync' : 'persist';
      const expected: [string, string][] = [
        ['write', 'write'],
        ['write persist', 'write'],
        ['fill', 'fill'],
        ['fill persist', 'fill'],
        ['read', 'read'],
        ['persist', flush],
        ['readOnly read', 'read'],
      ];
      assert.deepEqual(result.outcomes.map((o) => o.call), expected.map(([call]) => call));
      for (const [i, o] of result.outcomes.entries()) {
        const syscall = expected[i]![1];
        assert.deepEqual(
          { code: o.code, errno: o.errno, syscall: o.syscall, path: o.path, message: o.message },
          { code: 'EIO', errno: negErrno('EIO'), syscall, path: file, message: `EIO: i/o error, ${syscall} '${file}'` },
          o.call,
        );
      }
      assert.deepEqual(result.after, { allocated: 'allocated', roomAgain: 'x' });
      assert.equal(fs.readdirSync(mountPoint).length, 0, 'the tmpfs was mounted in the child only');
    });
  }
});

/**
 * sigbus_guard.h's rule, checked on the built addon: the handler throws out of the faulting
 * access, and the unwinder only passes through a frame it finds no exception table for. A
 * guarded body with one (a destructor added to it, or the body inlined into a frame with a try)
 * would turn a truncation into std::terminate, on whichever path the tests above do not take.
 */
describe('the guard is an exception region the unwinder can cross', () => {
  const addon = path.join(REPO_ROOT, 'build', 'Release', 'pmem.node');
  const tools = ['readelf', 'nm'].filter((tool) => spawnSync(tool, ['--version']).status !== 0);
  const skip = !fs.existsSync(addon)
    ? `no ${addon} (a prebuilt binary is in use)`
    : tools.length > 0
      ? `${tools.join(' and ')} missing (binutils)`
      : false;

  /** The functions the sources built for this architecture mark PMEM_GUARDED_BODY, by name. */
  function guardedBodies(): string[] {
    const names = new Set<string>();
    const ownArch = path.join(REPO_ROOT, 'native', 'arch', process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : 'generic');
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (path.dirname(file) !== path.join(REPO_ROOT, 'native', 'arch') || file === ownArch) walk(file);
        }
        else if (/\.(h|cc)$/.test(entry.name)) {
          for (const m of fs.readFileSync(file, 'utf8').matchAll(/^[ \t]*(?:__attribute__\(\([^\n]*?\)\)\s+)?PMEM_GUARDED_BODY\b([^(;{]*)\(/gm)) {
            names.add(/(\w+)\s*$/.exec(m[1]!)![1]!);
          }
        }
      }
    };
    walk(path.join(REPO_ROOT, 'native'));
    return [...names].sort();
  }

  /** Start addresses of the functions whose unwind entry points to an exception table (LSDA). */
  function withExceptionTables(): Set<bigint> {
    const starts = new Set<bigint>();
    let fde: bigint | null = null;
    for (const line of execFileSync('readelf', ['--debug-dump=frames', addon], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n')) {
      const header = / FDE cie=\w+ pc=([0-9a-f]+)\.\./.exec(line);
      if (header) fde = BigInt(`0x${header[1]}`);
      else if (fde !== null && /^\s+Augmentation data:\s+[0-9a-f]/.test(line)) starts.add(fde);
    }
    return starts;
  }

  it('no guarded body has an exception table of its own', { skip }, () => {
    const bodies = guardedBodies();
    assert.ok(bodies.includes('CopyPersistUnguarded') && bodies.includes('FlushLines'), `marked bodies found: ${bodies.join(', ')}`);
    const tables = withExceptionTables();
    assert.ok(tables.size > 0, 'the try frames have exception tables: the parse sees them');
    const symbols = execFileSync('nm', ['--defined-only', '--demangle', addon], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .split('\n')
      .map((line) => /^([0-9a-f]+) [tTwW] (.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null);
    for (const name of bodies) {
      const own = symbols.filter(([, , sym]) => new RegExp(`(^|::)${name}(<.*>)?\\(`).test(sym!));
      assert.ok(own.length > 0, `${name} is marked PMEM_GUARDED_BODY but has no symbol of its own (inlined?)`);
      for (const [, address, sym] of own) assert.ok(!tables.has(BigInt(`0x${address}`)), `${sym} has an exception table`);
    }
  });
});
