/**
 * Shared helpers of the host test suite: temporary directories that clean themselves up, exact
 * error assertions, deterministic byte patterns and child-process runners.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { open } from 'node-pmem';

export type Mapping = ReturnType<typeof open>;

/** The kernel's page size (what mapping.alignment and the page tier's flushUnit must be). */
export const PAGE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Directory that holds the compiled fixtures (dist-test/test/fixtures). */
export const FIXTURES = path.resolve(__dirname, '..', 'fixtures');

/** The repository root (the directory whose package.json is node-pmem's). */
export const REPO_ROOT = (() => {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'node-pmem') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the node-pmem repository root above ' + __dirname);
    dir = up;
  }
})();

/** Where the tmpfs tests put their files. */
export const SHM = '/dev/shm';

/**
 * A fresh directory under `base` (os.tmpdir() by default), removed recursively when the test
 * file finishes (registered with node:test's after hook).
 */
export function tmpDir(base: string = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(base, `node-pmem-test-${process.pid}-`));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what an aborted run (kill, Ctrl-C, a crash) left behind: `node-pmem-test-<pid>-*`
 * directories whose process is gone, and unnamed ones (from before the pid was in the name) older
 * than an hour. Runs once when the helpers load; returns what it removed.
 */
export function sweepStaleTestDirs(bases: string[] = [os.tmpdir(), SHM]): string[] {
  const removed: string[] = [];
  for (const base of bases) {
    let names: string[];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith('node-pmem-test-')) continue;
      const dir = path.join(base, name);
      const owner = /^node-pmem-test-(\d+)-/.exec(name);
      let stale: boolean;
      try {
        stale = owner ? !alive(Number(owner[1])) : Date.now() - fs.statSync(dir).mtimeMs > 3600_000;
      } catch {
        continue;
      }
      if (!stale) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}
sweepStaleTestDirs();

let counter = 0;
/** A path that does not exist yet inside dir. */
export function freshPath(dir: string, stem = 'f'): string {
  counter++;
  return path.join(dir, `${stem}-${process.pid}-${counter}.bin`);
}

/** Deterministic, non-repeating-looking bytes (so shifted or truncated copies are caught). */
export function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Write a regular file of `size` bytes filled with `content` (repeated) or a pattern. */
export function makeFile(file: string, size: number, seed = 7): Buffer {
  const data = pattern(size, seed);
  fs.writeFileSync(file, data, { mode: 0o600 });
  return data;
}

/** Read `length` bytes at `position` of a file or device with plain fs. */
export function readAt(file: string, position: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, out, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ErrorShape {
  code: string;
  /** The expected class: TypeError, RangeError or Error. */
  type?: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor;
  message?: RegExp;
  errno?: number;
  syscall?: string | RegExp;
  path?: string;
}

function checkError(err: unknown, shape: ErrorShape, what: string): void {
  assert.ok(err instanceof Error, `${what}: expected an Error, got ${String(err)}`);
  const e = err as NodeJS.ErrnoException;
  assert.equal(e.code, shape.code, `${what}: code ${e.code} (message: ${e.message})`);
  if (shape.type) assert.ok(e instanceof shape.type, `${what}: ${e.constructor.name} is not a ${shape.type.name} (${e.message})`);
  if (shape.message) assert.match(e.message, shape.message, `${what}: message`);
  if (shape.errno !== undefined) assert.equal(e.errno, shape.errno, `${what}: errno`);
  if (shape.syscall instanceof RegExp) assert.match(String(e.syscall), shape.syscall, `${what}: syscall`);
  else if (shape.syscall !== undefined) assert.equal(e.syscall, shape.syscall, `${what}: syscall`);
  if (shape.path !== undefined) assert.equal(e.path, shape.path, `${what}: path`);
}

/** fn must throw synchronously an error of exactly this shape; returns the error. */
export function throwsCode(fn: () => unknown, shape: ErrorShape | string, what = 'call'): NodeJS.ErrnoException {
  const s: ErrorShape = typeof shape === 'string' ? { code: shape } : shape;
  let caught: unknown;
  let threw = false;
  try {
    fn();
  } catch (err) {
    threw = true;
    caught = err;
  }
  assert.ok(threw, `${what}: expected ${s.code} but nothing was thrown`);
  checkError(caught, s, what);
  return caught as NodeJS.ErrnoException;
}

export const TYPE: ErrorShape = { code: 'ERR_INVALID_ARG_TYPE', type: TypeError };
export const VALUE: ErrorShape = { code: 'ERR_INVALID_ARG_VALUE', type: TypeError };
export const RANGE: ErrorShape = { code: 'ERR_OUT_OF_RANGE', type: RangeError };
export const CLOSED: ErrorShape = { code: 'ERR_PMEM_CLOSED', type: Error };
export const READ_ONLY: ErrorShape = { code: 'ERR_PMEM_READ_ONLY', type: Error };

/**
 * For promise-returning methods: an error must come out either as a synchronous throw or as a
 * rejection (both are Node practice); anything else fails.
 */
export async function throwsOrRejects(fn: () => unknown, shape: ErrorShape, what = 'call'): Promise<void> {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    checkError(err, shape, what);
    return;
  }
  assert.ok(result instanceof Promise, `${what}: neither threw nor returned a promise`);
  let rejected = false;
  try {
    await result;
  } catch (err) {
    rejected = true;
    checkError(err, shape, what);
  }
  assert.ok(rejected, `${what}: expected ${shape.code}, but the promise resolved`);
}

/** Negative errno as Node reports it (os.constants.errno is positive). */
export function negErrno(name: keyof typeof os.constants.errno): number {
  return -os.constants.errno[name];
}

/** Open descriptors of this process (to catch fd leaks). */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export interface ChildResult extends SpawnSyncReturns<string> {
  /** stdout + stderr, for assertion messages. */
  log: string;
}

/** Run `node [nodeArgs] script [args]` synchronously with a generous timeout. */
export function runNode(
  script: string,
  args: string[] = [],
  opts: { nodeArgs?: string[]; timeout?: number; uid?: number; gid?: number; cwd?: string; env?: NodeJS.ProcessEnv; node?: string } = {},
): ChildResult {
  const r = spawnSync(opts.node ?? process.execPath, [...(opts.nodeArgs ?? []), script, ...args], {
    encoding: 'utf8',
    timeout: opts.timeout ?? 30_000,
    cwd: opts.cwd ?? REPO_ROOT,
    uid: opts.uid,
    gid: opts.gid,
    env: { ...(opts.env ?? process.env), NODE_OPTIONS: '' },
  });
  return Object.assign(r, { log: `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}\n--- status ${r.status} signal ${r.signal} error ${r.error?.message ?? 'none'}` });
}

/** Run a compiled fixture (dist-test/test/fixtures/<name>.js). */
export function runFixture(name: string, args: string[] = [], opts: Parameters<typeof runNode>[2] = {}): ChildResult {
  return runNode(path.join(FIXTURES, name), args, opts);
}

/** The exit of a child must be a normal exit with code 0 (no signal, no timeout). */
export function assertCleanExit(r: ChildResult): void {
  assert.equal(r.error, undefined, `child failed to run or timed out\n${r.log}`);
  assert.equal(r.signal, null, `child died of a signal\n${r.log}`);
  assert.equal(r.status, 0, `child exit code\n${r.log}`);
}

/** Allocated bytes of a file (st_blocks is in 512-byte units on Linux). */
export function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}

/** Flags of the first cpu in /proc/cpuinfo. */
export function cpuFlags(): Set<string> {
  const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const line = text.split('\n').find((l) => /^flags\s*:/.test(l));
  return new Set(line ? line.replace(/^flags\s*:\s*/, '').trim().split(/\s+/) : []);
}

export type ProbeResult =
  | { ok: true; kind: string; granularity: string; length: number; readOnly: boolean; first: number[] }
  | { ok: false; name: string; ctor: string; code?: string; errno?: number; syscall?: string; path?: string; message: string };

/** Run fixtures/open-probe in a child: open(file, options) there and report the outcome. */
export function probeOpen(file: string, options: object = {}, extra: string[] = [], opts: Parameters<typeof runNode>[2] = {}): ProbeResult {
  const r = runFixture('open-probe.js', [file, JSON.stringify(options), ...extra], { timeout: 15_000, ...opts });
  assertCleanExit(r);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ProbeResult;
  } catch {
    throw new Error(`open-probe printed no JSON\n${r.log}`);
  }
}

/**
 * Kernel view of a mapped page's PG_dirty bit: finds the mapping of `file` in /proc/self/maps,
 * translates the virtual address of byte `offset` of that mapping through /proc/self/pagemap to
 * a page frame and reads KPF_DIRTY (bit 4) from /proc/kpageflags (root only). After msync(MS_SYNC)
 * the kernel has written the page back and the bit is clear; a store makes it dirty again.
 * Returns null when the page is not present (never touched).
 */
export function pageDirty(file: string, offset: number): boolean | null {
  const real = fs.realpathSync(file);
  const lines = fs.readFileSync('/proc/self/maps', 'utf8').split('\n');
  const mine = lines.filter((l) => l.endsWith(' ' + real) || l.endsWith('\t' + real));
  assert.equal(mine.length, 1, `expected one mapping of ${real} in /proc/self/maps, found ${mine.length}`);
  const [range] = mine[0]!.split(/\s+/);
  const start = BigInt('0x' + range!.split('-')[0]);
  const va = start + BigInt(offset);
  const pagemap = readU64('/proc/self/pagemap', Number((va / BigInt(PAGE)) * 8n));
  if (pagemap >> 63n === 0n) return null;
  const pfn = pagemap & ((1n << 55n) - 1n);
  assert.notEqual(pfn, 0n, 'pagemap hides page frames (needs CAP_SYS_ADMIN)');
  const flags = readU64('/proc/kpageflags', Number(pfn * 8n));
  return ((flags >> 4n) & 1n) === 1n;
}

function readU64(file: string, position: number): bigint {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(8);
    assert.equal(fs.readSync(fd, b, 0, 8, position), 8, `short read of ${file}`);
    return b.readBigUInt64LE(0);
  } finally {
    fs.closeSync(fd);
  }
}

/** A deterministic PRNG (mulberry32): floats in [0, 1), the same sequence for a seed everywhere. The library's. */
export const prng = (require(path.join(REPO_ROOT, 'dist', 'testing', 'crash.js')) as typeof import('../../lib/testing/crash')).prng;
