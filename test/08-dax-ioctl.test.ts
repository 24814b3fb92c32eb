/**
 * getDax/setDax and block devices, against the real kernel of this host:
 * - regular files and directories answer through statx (effective) and FS_IOC_FS[GS]ETXATTR
 *   (the per-inode FS_XFLAG_DAX). ext4 without a dax mount accepts the flag (probed on this
 *   host's 6.x kernel: the flag is stored, inherited by new files, and has no effect);
 *   tmpfs reports the flags but refuses FS_XFLAG_DAX with EOPNOTSUPP.
 * - a loop block device: BLKDAXGET/BLKDAXSET are unknown commands since Linux 4.7 and loop
 *   answers EINVAL; open() maps it at page granularity through the page cache.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import { open, getDax, setDax } from 'node-pmem';
import {
  PAGE, MiB, SHM, tmpDir, freshPath, makeFile, pattern, readAt, throwsCode, negErrno, VALUE,
} from './helpers';

const DISK = tmpDir();
const TMPFS = tmpDir(SHM);
const LOOP_DIR = tmpDir();

function assertDaxShape(s: ReturnType<typeof getDax>, p: string): void {
  assert.equal(s.path, p);
  assert.ok(['statx+fsxattr', 'statx', 'blkdaxget', 'devdax'].includes(s.mechanism), s.mechanism);
  assert.equal(typeof s.reason, 'string');
  assert.ok(s.reason.length > 0);
}

describe('getDax on files and directories', () => {
  it('a regular file on ext4: statx+fsxattr, not effective, flag clear', () => {
    const file = freshPath(DISK);
    makeFile(file, PAGE);
    const s = getDax(file);
    assertDaxShape(s, file);
    assert.equal(s.mechanism, 'statx+fsxattr', 'ext4 answers FS_IOC_FSGETXATTR');
    assert.equal(s.effective, false);
    assert.equal(s.inodeFlag, false);
  });

  it('a directory on ext4', () => {
    const s = getDax(DISK);
    assertDaxShape(s, DISK);
    assert.equal(s.mechanism, 'statx+fsxattr');
    assert.equal(s.effective, false);
    assert.equal(s.inodeFlag, false);
  });

  it('a file on tmpfs: not effective; the flag is false or unknown', () => {
    const file = freshPath(TMPFS);
    makeFile(file, PAGE);
    const s = getDax(file);
    assertDaxShape(s, file);
    assert.ok(s.mechanism === 'statx+fsxattr' || s.mechanism === 'statx', s.mechanism);
    assert.equal(s.effective, false);
    assert.equal(s.inodeFlag, s.mechanism === 'statx' ? null : false);
  });

  it('a missing path is ENOENT with errno, syscall and path', () => {
    const file = freshPath(DISK);
    const e = throwsCode(() => getDax(file), { code: 'ENOENT', errno: negErrno('ENOENT'), path: file });
    assert.equal(typeof e.syscall, 'string');
    throwsCode(() => setDax(file, true), { code: 'ENOENT', errno: negErrno('ENOENT'), path: file });
    assert.equal(fs.existsSync(file), false, 'setDax created the file');
  });
});

describe('setDax on ext4 without a dax mount (the kernel stores FS_XFLAG_DAX but it has no effect)', () => {
  it('sets and clears the per-inode flag on a file; the effective state stays off', () => {
    const file = freshPath(DISK);
    makeFile(file, PAGE);
    try {
      const on = setDax(file, true);
      assertDaxShape(on, file);
      assert.equal(on.mechanism, 'statx+fsxattr');
      assert.equal(on.inodeFlag, true);
      assert.equal(on.effective, false, 'ext4 is not mounted with dax: the page cache is still used');
      assert.equal(getDax(file).inodeFlag, true);
      // mapping it still finds the page cache
      const m = open(file);
      try {
        assert.equal(m.granularity, 'page');
      } finally {
        m.close();
      }
      // setting the current value again is fine
      assert.equal(setDax(file, true).inodeFlag, true);
      const off = setDax(file, false);
      assert.equal(off.inodeFlag, false);
      assert.equal(off.effective, false);
      assert.equal(getDax(file).inodeFlag, false);
      assert.equal(setDax(file, false).inodeFlag, false);
    } finally {
      try {
        setDax(file, false);
      } catch {
        // the file is removed with its directory anyway
      }
    }
  });

  it('on a directory: new files inherit the flag', () => {
    const dir = path.join(DISK, 'daxdir');
    fs.mkdirSync(dir);
    try {
      assert.equal(setDax(dir, true).inodeFlag, true);
      const child = path.join(dir, 'child.bin');
      makeFile(child, PAGE);
      assert.equal(getDax(child).inodeFlag, true, 'ext4 passes FS_XFLAG_DAX on to new files');
      assert.equal(getDax(child).effective, false);
      assert.equal(setDax(dir, false).inodeFlag, false);
    } finally {
      try {
        setDax(dir, false);
      } catch {
        // removed below
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('setDax on tmpfs: the kernel refuses FS_XFLAG_DAX', () => {
  it('EOPNOTSUPP (errno 95) with errno, syscall and path; the flag is unchanged', () => {
    const file = freshPath(TMPFS);
    makeFile(file, PAGE);
    let e: NodeJS.ErrnoException | undefined;
    try {
      setDax(file, true);
    } catch (err) {
      e = err as NodeJS.ErrnoException;
    }
    assert.ok(e instanceof Error, 'setDax on tmpfs did not throw');
    // EOPNOTSUPP and ENOTSUP are the same number on Linux; libuv (and so Node) names it ENOTSUP
    assert.ok(e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP', `code ${e.code}: ${e.message}`);
    assert.equal(e.errno, negErrno('EOPNOTSUPP'));
    assert.equal(e.path, file);
    assert.equal(typeof e.syscall, 'string');
    assert.ok(e.syscall!.length > 0);
    assert.match(e.message, /^ENOTSUP: operation not supported, /, 'in Node\'s shape, and not "on socket"');
    assert.doesNotMatch(e.message, /socket/);
    const s = getDax(file);
    assert.notEqual(s.inodeFlag, true);
    assert.equal(s.effective, false);
  });
});

describe('a loop block device', () => {
  let image: string;
  let dev: string | undefined;
  const SIZE = 16 * MiB;

  before(() => {
    image = path.join(LOOP_DIR, 'loop.img');
    fs.writeFileSync(image, Buffer.alloc(SIZE));
    try {
      dev = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    } catch (err) {
      throw new Error(
        'this test needs a loop device: `losetup -f --show <file>` failed (run as root on a host with loop devices): ' +
          (err as Error).message,
      );
    }
    assert.match(dev, /^\/dev\/loop\d+$/);
  });

  after(() => {
    if (dev) execFileSync('losetup', ['-d', dev]);
  });

  it('getDax: the kernel answers BLKDAXGET with EINVAL, passed through with an explanation', () => {
    const e = throwsCode(() => getDax(dev!), { code: 'EINVAL', errno: negErrno('EINVAL'), path: dev! });
    assert.equal(typeof e.syscall, 'string');
    assert.match(e.message, /BLKDAXGET/);
    assert.match(e.message, /4\.5/, 'says when the ioctl existed');
    assert.match(e.message, /device-dax|fsdax|\/dev\/dax/i, 'says what replaced it');
  });

  it('setDax: BLKDAXSET answers EINVAL too, for both values', () => {
    for (const enabled of [true, false]) {
      const e = throwsCode(() => setDax(dev!, enabled), { code: 'EINVAL', errno: negErrno('EINVAL'), path: dev! }, `setDax(${enabled})`);
      assert.match(e.message, /BLKDAXSET/);
      assert.match(e.message, /4\.5|4\.6/);
      assert.match(e.message, /device-dax|fsdax|\/dev\/dax/i);
    }
  });

  it('open: kind block, page granularity because BLKDAXGET found no DAX', () => {
    const m = open(dev!);
    try {
      assert.equal(m.kind, 'block');
      assert.equal(m.path, dev);
      assert.equal(m.length, SIZE, 'size from BLKGETSIZE64');
      assert.equal(m.buffer.byteLength, SIZE);
      assert.equal(m.granularity, 'page');
      assert.equal(m.detectedGranularity, 'page');
      assert.equal(m.forced, false);
      assert.equal(m.isPmem, false);
      assert.equal(m.mapSync, false);
      assert.equal(m.flushUnit, PAGE);
      assert.equal(m.alignment, PAGE);
      assert.match(m.granularityReason, /BLKDAXGET/);
      assert.match(m.granularityReason, /EINVAL/);
    } finally {
      m.close();
    }
  });

  it('write + persist reach the device and, through loop, the backing image', async () => {
    const m = open(dev!);
    const a = pattern(5000, 1);
    const b = pattern(300, 2);
    try {
      m.write(3, a, { persist: true });
      m.write(SIZE - 300, b);
      m.persist(SIZE - 300, 300);
      m.fill(8 * MiB + 1, 10_000, 0x6b);
      await m.persistAsync(8 * MiB, 3 * PAGE);
      m.bytes(12 * MiB, 4).set([1, 2, 3, 4]);
      m.markDirty(12 * MiB, 4);
      assert.deepEqual({ ...m.persistDirty() }, { extents: 1, bytes: PAGE });
      // read through the block device with fs while mapped
      assert.ok(readAt(dev!, 3, 5000).equals(a));
    } finally {
      m.close();
    }
    for (const src of [dev!, image]) {
      assert.ok(readAt(src, 3, 5000).equals(a), `${src}: write at 3`);
      assert.ok(readAt(src, SIZE - 300, 300).equals(b), `${src}: write at the end`);
      assert.ok(readAt(src, 8 * MiB + 1, 10_000).every((x) => x === 0x6b), `${src}: fill`);
      assert.deepEqual([...readAt(src, 12 * MiB, 4)], [1, 2, 3, 4], `${src}: markDirty`);
    }
  });

  it('a window of the device, alignment checks, readOnly and locking', () => {
    const w = open(dev!, { offset: 4 * PAGE, length: 2 * PAGE });
    try {
      assert.equal(w.kind, 'block');
      assert.equal(w.length, 2 * PAGE);
      w.write(0, 'window', { persist: true });
      throwsCode(() => open(dev!), 'ERR_PMEM_LOCKED', 'second exclusive open of the device');
    } finally {
      w.close();
    }
    assert.equal(readAt(dev!, 4 * PAGE, 6).toString(), 'window');
    throwsCode(() => open(dev!, { offset: 100 }), 'ERR_PMEM_UNALIGNED');
    throwsCode(() => open(dev!, { offset: SIZE + PAGE }), { code: 'ERR_OUT_OF_RANGE', type: RangeError });
    const ro = open(dev!, { readOnly: true });
    try {
      assert.equal(ro.readOnly, true);
      assert.equal(ro.read(4 * PAGE, 6).toString(), 'window');
      ro.bytes(0, 10).fill(0xff); // private copy
    } finally {
      ro.close();
    }
    assert.notDeepEqual([...readAt(dev!, 0, 10)], Array(10).fill(0xff));
  });

  it('create/size apply to regular files only', () => {
    throwsCode(() => open(dev!, { create: true, size: PAGE }), VALUE);
    throwsCode(() => open(dev!, { size: PAGE }), VALUE);
  });
});
