/**
 * Device introspection and health on what the host has (issue 5): deviceInfo on files,
 * directories and a loop block device, bad-block translation through FIEMAP, readSafe turning
 * SIGBUS into an error, deepFlush, the allowBadBlocks option, and the `node-pmem info` command.
 * (Real pmem namespaces, bad-block injection and dirty_shutdown are covered in the guest tests.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deviceInfo, open } from 'node-pmem';
import { REPO_ROOT, SHM, TYPE, assertCleanExit, freshPath, runFixture, throwsCode, tmpDir } from './helpers';

// Internal module (not exported by the package): the FIEMAP translation is tested directly.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const internal = require(path.join(REPO_ROOT, 'dist', 'device-info.js')) as typeof import('../lib/device-info');

const CLI = path.join(REPO_ROOT, 'bin', 'node-pmem.js');

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
}

describe('deviceInfo', () => {
  const dir = tmpDir();

  it('a regular file on the host disk: kind, filesystem from mountinfo, page tier with its reason', () => {
    const file = freshPath(dir);
    fs.writeFileSync(file, Buffer.alloc(8192, 1));
    const info = deviceInfo(file);
    assert.equal(info.kind, 'file');
    assert.equal(info.size, 8192);
    const st = fs.statSync(file);
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(info.filesystem, 'filesystem found');
    assert.ok(mounts.includes(` ${info.filesystem.mountPoint} `), 'mount point comes from mountinfo');
    assert.ok(file.startsWith(info.filesystem.mountPoint), 'mount point is a prefix of the path');
    assert.equal(info.region, null);
    assert.equal(info.tier.granularity, 'page');
    assert.match(info.tier.reason, /MAP_SYNC refused \(EOPNOTSUPP\)/);
    assert.equal(info.tier.mapSync, false);
    assert.ok(info.dax);
    assert.equal(info.dax.effective, false);
    assert.deepEqual(info.badBlocks, []);
    assert.equal(info.healthy, true);
    assert.equal(info.unsafeShutdowns, null);
    assert.ok(info.warnings.some((w) => /page cache only: persist\(\) will call msync/.test(w)), info.warnings.join('; '));
    assert.ok(st.dev > 0);
  });

  it('a tmpfs directory: probes a new file there without leaving one behind', () => {
    const d = tmpDir(SHM);
    const before = fs.readdirSync(d);
    const info = deviceInfo(d);
    assert.equal(info.kind, 'directory');
    assert.equal(info.filesystem?.type, 'tmpfs');
    assert.equal(info.tier.granularity, 'page');
    assert.match(info.tier.reason, /^a new file here: /);
    assert.deepEqual(fs.readdirSync(d), before);
  });

  it('bad input and unsupported paths get coded errors', () => {
    throwsCode(() => deviceInfo(42 as unknown as string), TYPE);
    throwsCode(() => deviceInfo(path.join(dir, 'missing')), { code: 'ENOENT', syscall: 'stat' });
    throwsCode(() => deviceInfo('/dev/null'), 'ERR_PMEM_UNSUPPORTED');
  });

  describe('a loop block device', () => {
    let loop = '';
    let image = '';
    before(() => {
      image = freshPath(dir, 'loop');
      fs.writeFileSync(image, Buffer.alloc(1 << 20));
      loop = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    });
    after(() => {
      if (loop) execFileSync('losetup', ['-d', loop]);
    });

    it('is a block device at page tier; getDax failure is reported, not thrown', () => {
      const info = deviceInfo(loop);
      assert.equal(info.kind, 'block');
      assert.equal(info.size, 1 << 20);
      assert.equal(info.blockDevice, path.basename(loop));
      assert.equal(info.filesystem, null);
      assert.equal(info.tier.granularity, 'page');
      assert.match(info.tier.reason, /BLKDAXGET: EINVAL/);
      assert.equal(info.dax, null);
      assert.match(info.daxError ?? '', /^EINVAL: .*4\.5-4\.6/);
      assert.ok(info.warnings.some((w) => /raw block device/.test(w)));
    });
  });
});

describe('bad-block translation (FIEMAP)', () => {
  const dir = tmpDir();

  it('device ranges that fall inside the file map to file offsets; others are ignored', () => {
    const file = freshPath(dir);
    fs.writeFileSync(file, Buffer.alloc(64 * 1024, 3));
    const { native } = require(path.join(REPO_ROOT, 'dist', 'binding.js')) as typeof import('../lib/binding');
    const extents = native.fileExtents(file);
    assert.ok(extents.length >= 3, 'the file has at least one extent');
    const logical = extents[0]!;
    const physical = extents[1]!;
    const length = extents[2]!;
    assert.ok(length >= 8192);
    const inside = { offset: physical + 4096, length: 512 };
    const straddling = { offset: physical - 512, length: 1024 };
    const elsewhere = { offset: physical + 64 * 1024 * 1024 * 1024, length: 512 };
    const mapped = internal.fileBadBlocks(extents, [elsewhere, inside, straddling]);
    assert.deepEqual(mapped, [
      { offset: logical, length: 512 },
      { offset: logical + 4096, length: 512 },
    ]);
    assert.deepEqual(internal.fileBadBlocks(extents, []), []);
  });
});

describe('readSafe', () => {
  const dir = tmpDir();

  it('returns the same bytes as read(), validates its arguments, and works on readOnly mappings', () => {
    const file = freshPath(dir);
    const m = open(file, { create: true, size: 16384 });
    m.write(100, 'safe bytes', { persist: true });
    assert.deepEqual(m.readSafe(100, 10), m.read(100, 10));
    assert.equal(m.readSafe(0, 0).length, 0);
    throwsCode(() => m.readSafe(16384, 1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => m.readSafe(-1, 1), 'ERR_OUT_OF_RANGE');
    m.close();
    throwsCode(() => m.readSafe(0, 1), 'ERR_PMEM_CLOSED');
    const ro = open(file, { readOnly: true });
    assert.equal(ro.readSafe(100, 10).toString(), 'safe bytes');
    ro.close();
  });

  it('pread path: pages truncated away under the mapping give ERR_PMEM_TRUNCATED, not SIGBUS', () => {
    const r = runFixture('health-sigbus.js', [freshPath(dir)]);
    assertCleanExit(r);
    assert.match(r.stdout, /READ intact/);
    assert.match(r.stdout, /CAUGHT ERR_PMEM_TRUNCATED undefined/);
    assert.match(r.stdout, /ALIVE/);
  });

  // EIO from the guarded copy (a SIGBUS that is not truncation): test/15-faults.
  it('guarded-copy path (as device-dax uses): the SIGBUS becomes ERR_PMEM_TRUNCATED', () => {
    const forced = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist-test', 'test', 'fixtures', 'health-sigbus.js'), freshPath(dir)], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_PMEM_SAFE_READ: 'copy' },
    });
    assert.equal(forced.status, 0, forced.stdout + forced.stderr);
    assert.match(forced.stdout, /READ intact/);
    assert.match(forced.stdout, /CAUGHT ERR_PMEM_TRUNCATED undefined/);
    assert.match(forced.stdout, /ALIVE/);
  });

  it("the guard covers node-pmem's own calls only: an ordinary load from a bad range still dies of SIGBUS", () => {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist-test', 'test', 'fixtures', 'health-sigbus.js'), freshPath(dir), 'then-load'], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_PMEM_SAFE_READ: 'copy' },
    });
    assert.match(r.stdout, /CAUGHT ERR_PMEM_TRUNCATED/);
    assert.match(r.stdout, /LOADING/);
    assert.doesNotMatch(r.stdout, /UNREACHABLE|ALIVE/);
    assert.equal(r.signal, 'SIGBUS', `status ${r.status} signal ${r.signal}\n${r.stderr}`);
  });
});

describe('deepFlush and allowBadBlocks', () => {
  const dir = tmpDir();

  it('deepFlush at page tier persists (msync) and reports that no deep_flush was written', () => {
    const file = freshPath(dir);
    const m = open(file, { create: true, size: 8192 });
    m.write(0, 'deep');
    assert.equal(m.deepFlush(), false);
    assert.equal(m.deepFlush(0, 4), false);
    m.close();
    assert.equal(fs.readFileSync(file).subarray(0, 4).toString(), 'deep');
    const ro = open(file, { readOnly: true });
    throwsCode(() => ro.deepFlush(), 'ERR_PMEM_READ_ONLY');
    ro.close();
  });

  it('allowBadBlocks is validated; a mapping without bad blocks lists none', () => {
    const file = freshPath(dir);
    throwsCode(() => open(file, { create: true, size: 4096, allowBadBlocks: 'yes' as unknown as boolean }), TYPE);
    const m = open(file, { create: true, size: 4096, allowBadBlocks: true });
    assert.deepEqual(m.badBlocks, []);
    m.close();
  });
});

describe('node-pmem info', () => {
  const dir = tmpDir();

  it('prints an aligned table with the tier in words and plain-language warnings; exit 0', () => {
    const file = freshPath(dir);
    fs.writeFileSync(file, Buffer.alloc(4096));
    const r = cli(['info', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(r.stdout, /^ {2}tier {2,}page: durable only after msync/m);
    assert.match(r.stdout, /^ {2}warning: page cache only: persist\(\) will call msync$/m);
    const keyColumns = r.stdout.split('\n').filter((l) => /^ {2}\S/.test(l) && !l.startsWith('  warning')).map((l) => l.slice(2).search(/ {2}\S/));
    assert.ok(new Set(keyColumns).size === 1, `values start in one column: ${keyColumns.join(',')}`);
  });

  it('--json prints what deviceInfo returns', () => {
    const r = cli(['info', '--json', dir]);
    assert.equal(r.status, 0, r.stderr);
    const parsed = JSON.parse(r.stdout);
    assert.equal(parsed.kind, 'directory');
    assert.equal(parsed.path, dir);
    assert.equal(parsed.tier.granularity, 'page');
  });

  it('exit 1 for a bad path (still reporting the good ones) and for usage errors', () => {
    const r = cli(['info', dir, path.join(dir, 'nope')]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /error: ENOENT/);
    assert.match(r.stdout, /tier/);
    assert.equal(cli([]).status, 1);
    assert.equal(cli(['info']).status, 1);
    assert.match(cli(['frobnicate']).stderr, /usage: node-pmem info/);
  });

  it('--help and --version print to stdout and exit 0, as Node CLIs do', () => {
    for (const args of [['--help'], ['-h'], ['help'], ['info', '--help']]) {
      const r = cli(args);
      assert.equal(r.status, 0, args.join(' '));
      assert.match(r.stdout, /^usage: node-pmem info \[--json\] <path\.\.\.>$/m, args.join(' '));
      assert.equal(r.stderr, '');
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = cli([flag]);
      assert.equal(r.status, 0);
      assert.equal(r.stdout.trim(), pkg.version);
    }
  });
});
