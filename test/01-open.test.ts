/**
 * open(): every path kind this host offers (regular files on ext4 and tmpfs), create/exclusive/
 * size/sparse/mode, windows, the kinds that must be refused, and system errors in Node's shape.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'node-pmem';
import {
  PAGE, MiB, SHM, tmpDir, freshPath, makeFile, pattern, readAt, throwsCode, negErrno, probeOpen,
  allocatedBytes, RANGE, VALUE, runFixture, assertCleanExit,
} from './helpers';

const DISK = tmpDir();
const TMPFS = tmpDir(SHM);

function fsType(dir: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
}

describe('the hosts filesystems are what this suite assumes', () => {
  it('os.tmpdir() is a disk filesystem and /dev/shm is tmpfs', () => {
    assert.notEqual(fsType(DISK), 'tmpfs', `${DISK} should not be tmpfs`);
    assert.equal(fsType(TMPFS), 'tmpfs');
  });
});

/** Why strace cannot watch a child's system calls here, or null when it can. */
const NO_STRACE = (() => {
  const r = spawnSync('strace', ['-qq', '-e', 'trace=none', 'true'], { encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'strace is not installed (apt-get install strace)';
  if (r.error !== undefined || r.status !== 0) return `strace cannot trace a child here: ${r.error?.message ?? r.stderr.trim()}`;
  return null;
})();

/**
 * The fallocate calls open(file, options) makes on `file`, in a child under strace (posix_fallocate
 * is one fallocate(2)): [offset, length] of each.
 */
function fallocatesOf(file: string, options: object = {}): [number, number][] {
  const r = runFixture('open-probe.js', [file, JSON.stringify(options)], {
    node: 'strace',
    nodeArgs: ['-f', '-qq', '-y', '-e', 'trace=fallocate', process.execPath],
  });
  assertCleanExit(r);
  assert.match(r.stdout, /"ok":true/, r.log);
  const calls: [number, number][] = [];
  for (const line of r.stderr.split('\n')) {
    const m = /fallocate\(\d+<(.*)>, 0, (\d+), (\d+)\)\s+= 0$/.exec(line);
    if (m !== null && m[1] === file) calls.push([Number(m[2]), Number(m[3])]);
    else assert.ok(!line.includes(file), `an fallocate of ${file} that did not succeed: ${line}`);
  }
  return calls;
}

for (const [label, dir] of [['disk (' + os.tmpdir() + ')', DISK], ['tmpfs (/dev/shm)', TMPFS]] as const) {
  describe(`regular file on ${label}`, () => {
    it('create + size makes a file of that size and maps all of it', () => {
      const file = freshPath(dir);
      const m = open(file, { create: true, size: MiB });
      try {
        assert.equal(m.path, file);
        assert.equal(m.kind, 'file');
        assert.equal(m.length, MiB);
        assert.equal(m.offset, 0);
        assert.equal(m.closed, false);
        assert.equal(m.readOnly, false);
        assert.equal(m.alignment, PAGE);
        assert.equal(m.buffer.byteLength, MiB);
        assert.equal(fs.statSync(file).size, MiB);
        // a new file reads as zeros
        assert.ok(m.bytes().every((b) => b === 0));
      } finally {
        m.close();
      }
      assert.equal(m.closed, true);
    });

    it('sparse:false (the default) allocates the mapped blocks up front', () => {
      const file = freshPath(dir);
      const m = open(file, { create: true, size: 4 * MiB });
      try {
        assert.ok(allocatedBytes(file) >= 4 * MiB, `st_blocks*512 = ${allocatedBytes(file)}, want >= ${4 * MiB}`);
      } finally {
        m.close();
      }
    });

    it('sparse:false also fills a hole in the middle of an existing file (and skips nothing else)', () => {
      const file = freshPath(dir);
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, Buffer.alloc(MiB, 1), 0, MiB, 0);
      fs.writeSync(fd, Buffer.alloc(MiB, 2), 0, MiB, 3 * MiB); // [1 MiB, 3 MiB) is a hole
      fs.closeSync(fd);
      assert.ok(allocatedBytes(file) < 3 * MiB, 'the hole is there before the open');
      const m = open(file);
      try {
        assert.ok(allocatedBytes(file) >= 4 * MiB, `st_blocks*512 = ${allocatedBytes(file)}, want >= ${4 * MiB}`);
        assert.equal(m.bytes(0, 1)[0], 1);
        assert.equal(m.bytes(3 * MiB, 1)[0], 2);
      } finally {
        m.close();
      }
    });

    it('sparse:true leaves the file unallocated', () => {
      const file = freshPath(dir);
      const m = open(file, { create: true, size: 4 * MiB, sparse: true });
      try {
        assert.equal(fs.statSync(file).size, 4 * MiB);
        assert.ok(allocatedBytes(file) < MiB, `st_blocks*512 = ${allocatedBytes(file)}, want a sparse file`);
      } finally {
        m.close();
      }
    });

    it('an existing sparse file opened writable without options gets allocated (default sparse:false)', () => {
      const file = freshPath(dir);
      fs.closeSync(fs.openSync(file, 'w'));
      fs.truncateSync(file, 2 * MiB);
      assert.ok(allocatedBytes(file) < MiB, 'precondition: the file starts sparse');
      const m = open(file);
      try {
        assert.ok(allocatedBytes(file) >= 2 * MiB, `st_blocks*512 = ${allocatedBytes(file)}`);
      } finally {
        m.close();
      }
    });

    it('open() calls posix_fallocate on a window with a hole and skips it on one without (strace)', { skip: NO_STRACE ?? false }, () => {
      const file = freshPath(dir);
      fs.closeSync(fs.openSync(file, 'w'));
      fs.truncateSync(file, 2 * MiB);
      assert.deepEqual(fallocatesOf(file), [[0, 2 * MiB]], 'a sparse file is allocated');
      const allocated = allocatedBytes(file);
      assert.ok(allocated >= 2 * MiB, `st_blocks*512 = ${allocated}`);
      const again = fallocatesOf(file);
      if (dir === TMPFS) {
        assert.deepEqual(again, [], 'the same file, now allocated: no fallocate');
      } else {
        // SEEK_HOLE reports blocks that posix_fallocate reserved and nothing has written yet as a
        // hole on some kernels (ext4 on 6.1: unwritten extents), so open() may allocate the same
        // range again, which changes nothing; never anything else.
        assert.ok(again.length === 0 || JSON.stringify(again) === JSON.stringify([[0, 2 * MiB]]), `the same file, now allocated: ${JSON.stringify(again)}`);
      }
      assert.equal(allocatedBytes(file), allocated);
      const written = freshPath(dir);
      makeFile(written, 2 * MiB);
      assert.deepEqual(fallocatesOf(written), [], 'a file written to its end: no fallocate');
    });

    it('a window is allocated when it has a hole, with its own offset and length (strace)', { skip: NO_STRACE ?? false }, () => {
      const file = freshPath(dir);
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, Buffer.alloc(MiB, 1), 0, MiB, 0);
      fs.writeSync(fd, Buffer.alloc(MiB, 2), 0, MiB, 3 * MiB); // [1 MiB, 3 MiB) is a hole
      fs.closeSync(fd);
      assert.deepEqual(fallocatesOf(file, { offset: 3 * MiB, length: MiB }),
        // tmpfs can only tell from the block count of the whole file; SEEK_HOLE looks at the window.
        dir === TMPFS ? [[3 * MiB, MiB]] : [],
        'a window with no hole, after one');
      assert.deepEqual(fallocatesOf(file, { offset: 2 * MiB, length: MiB }), [[2 * MiB, MiB]], 'a window over the hole');
    });

    it('readOnly opens a sparse file without allocating it', () => {
      const file = freshPath(dir);
      fs.closeSync(fs.openSync(file, 'w'));
      fs.truncateSync(file, 2 * MiB);
      const m = open(file, { readOnly: true });
      try {
        assert.equal(m.readOnly, true);
        assert.equal(m.length, 2 * MiB);
        assert.ok(allocatedBytes(file) < MiB, `st_blocks*512 = ${allocatedBytes(file)}`);
      } finally {
        m.close();
      }
    });

    it('an existing file opens without create and shows its contents', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 3 * PAGE + 123);
      const m = open(file);
      try {
        assert.equal(m.length, data.length, 'a size that is not a page multiple maps exactly');
        assert.equal(m.buffer.byteLength, data.length);
        assert.deepEqual(Buffer.from(m.bytes()), data);
        assert.deepEqual(m.read(0, data.length), data);
      } finally {
        m.close();
      }
    });

    it('create on an existing file never truncates it', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 8 * PAGE);
      const m = open(file, { create: true, size: PAGE });
      try {
        assert.equal(m.length, 8 * PAGE);
        assert.deepEqual(m.read(0, data.length), data);
      } finally {
        m.close();
      }
      assert.deepEqual(fs.readFileSync(file), data);
    });

    it('create with a larger size extends an existing file with zeros', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 2 * PAGE + 5);
      const m = open(file, { create: true, size: 4 * PAGE });
      try {
        assert.equal(m.length, 4 * PAGE);
        assert.deepEqual(m.read(0, data.length), data);
        assert.ok(m.read(data.length, 4 * PAGE - data.length).every((b) => b === 0));
      } finally {
        m.close();
      }
      assert.equal(fs.statSync(file).size, 4 * PAGE);
    });

    it('create + exclusive makes a new file', () => {
      const file = freshPath(dir);
      const m = open(file, { create: true, exclusive: true, size: PAGE });
      m.close();
      assert.equal(fs.statSync(file).size, PAGE);
    });

    it('create + exclusive on an existing file fails with EEXIST and leaves it untouched', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 3 * PAGE);
      const past = new Date(Date.now() - 3600_000);
      fs.utimesSync(file, past, past);
      const before = fs.statSync(file);
      throwsCode(() => open(file, { create: true, exclusive: true, size: 16 * PAGE }), {
        code: 'EEXIST', errno: negErrno('EEXIST'), syscall: /open/, path: file,
      });
      const afterStat = fs.statSync(file);
      assert.equal(afterStat.size, before.size);
      assert.equal(afterStat.mtimeMs, before.mtimeMs);
      assert.equal(afterStat.mode, before.mode);
      assert.deepEqual(fs.readFileSync(file), data);
    });

    it('mode: a created file gets 0o600 by default, or the mode given', () => {
      const a = freshPath(dir);
      open(a, { create: true, size: PAGE }).close();
      assert.equal(fs.statSync(a).mode & 0o777, 0o600);
      const b = freshPath(dir);
      open(b, { create: true, size: PAGE, mode: 0o640 }).close();
      assert.equal(fs.statSync(b).mode & 0o777, 0o640);
    });

    it('a window maps [offset, offset+length) of the file', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 16 * PAGE);
      const m = open(file, { offset: 2 * PAGE, length: 3 * PAGE });
      try {
        assert.equal(m.offset, 2 * PAGE);
        assert.equal(m.length, 3 * PAGE);
        assert.equal(m.buffer.byteLength, 3 * PAGE);
        assert.deepEqual(Buffer.from(m.bytes()), data.subarray(2 * PAGE, 5 * PAGE));
        m.write(0, 'window start', { persist: true });
      } finally {
        m.close();
      }
      assert.equal(readAt(file, 2 * PAGE, 12).toString(), 'window start');
      // outside the window nothing changed
      assert.deepEqual(readAt(file, 0, 2 * PAGE), data.subarray(0, 2 * PAGE));
      assert.deepEqual(readAt(file, 5 * PAGE, 11 * PAGE), data.subarray(5 * PAGE));
    });

    it('a window without length runs to the end of the file; a length need not be a page multiple', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 10 * PAGE + 77);
      const a = open(file, { offset: 4 * PAGE });
      try {
        assert.equal(a.length, 6 * PAGE + 77);
        assert.deepEqual(Buffer.from(a.bytes()), data.subarray(4 * PAGE));
      } finally {
        a.close();
      }
      const b = open(file, { length: 100 });
      try {
        assert.equal(b.length, 100);
        assert.equal(b.buffer.byteLength, 100);
        assert.deepEqual(Buffer.from(b.bytes()), data.subarray(0, 100));
      } finally {
        b.close();
      }
    });

    it('an offset that is not page aligned is ERR_PMEM_UNALIGNED', () => {
      const file = freshPath(dir);
      makeFile(file, 8 * PAGE);
      for (const offset of [1, 512, PAGE / 2, PAGE + 64, 3 * PAGE - 1]) {
        throwsCode(() => open(file, { offset }), 'ERR_PMEM_UNALIGNED', `offset ${offset}`);
        throwsCode(() => open(file, { offset, length: PAGE }), 'ERR_PMEM_UNALIGNED', `offset ${offset} + length`);
      }
    });

    it('a window beyond the end of the file is ERR_OUT_OF_RANGE', () => {
      const file = freshPath(dir);
      const data = makeFile(file, 8 * PAGE);
      throwsCode(() => open(file, { offset: 16 * PAGE }), RANGE, 'offset past the end');
      throwsCode(() => open(file, { length: 8 * PAGE + 1 }), RANGE, 'length past the end');
      throwsCode(() => open(file, { offset: 4 * PAGE, length: 4 * PAGE + 1 }), RANGE, 'offset+length past the end');
      throwsCode(() => open(file, { offset: 7 * PAGE, length: 2 * PAGE }), RANGE, 'offset+length past the end');
      assert.deepEqual(fs.readFileSync(file), data, 'refused windows change nothing');
    });

    it('create + size + window: the window is validated against the new size', () => {
      const file = freshPath(dir);
      const m = open(file, { create: true, size: 8 * PAGE, offset: 4 * PAGE });
      try {
        assert.equal(m.length, 4 * PAGE);
      } finally {
        m.close();
      }
    });

    it('a symbolic link to a regular file is followed', () => {
      const file = freshPath(dir);
      const data = makeFile(file, PAGE);
      const link = freshPath(dir, 'link');
      fs.symlinkSync(file, link);
      const m = open(link);
      try {
        assert.equal(m.kind, 'file');
        assert.deepEqual(m.read(0, PAGE), data);
      } finally {
        m.close();
      }
    });

    it('an empty file is ERR_PMEM_EMPTY (writable and readOnly)', () => {
      const file = freshPath(dir);
      fs.writeFileSync(file, '');
      throwsCode(() => open(file), 'ERR_PMEM_EMPTY', 'writable');
      throwsCode(() => open(file, { readOnly: true }), 'ERR_PMEM_EMPTY', 'readOnly');
      assert.equal(fs.statSync(file).size, 0);
    });

    it('size without create is ERR_INVALID_ARG_VALUE and changes nothing', () => {
      const file = freshPath(dir);
      const data = makeFile(file, PAGE);
      throwsCode(() => open(file, { size: 4 * PAGE }), VALUE, 'size without create');
      assert.deepEqual(fs.readFileSync(file), data);
      const missing = freshPath(dir);
      throwsCode(() => open(missing, { size: PAGE }), VALUE, 'size without create (missing file)');
      assert.equal(fs.existsSync(missing), false);
    });

    it('a failed create leaves no file behind', () => {
      // no size for a new file: nothing to map
      const a = freshPath(dir);
      // the contract does not name the code for "no size"; either of these describes it
      let err: NodeJS.ErrnoException | undefined;
      try {
        open(a, { create: true }).close();
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
      assert.ok(err, 'create of a new file without size did not throw');
      assert.ok(['ERR_INVALID_ARG_VALUE', 'ERR_PMEM_EMPTY'].includes(String(err.code)), `code ${err.code}: ${err.message}`);
      assert.equal(fs.existsSync(a), false, 'create without size left a file');
      // a window that does not fit the new file
      const b = freshPath(dir);
      throwsCode(() => open(b, { create: true, size: 4 * PAGE, offset: 8 * PAGE }), RANGE);
      assert.equal(fs.existsSync(b), false, 'out-of-range window left a file');
      // an unaligned window
      const c = freshPath(dir);
      throwsCode(() => open(c, { create: true, size: 4 * PAGE, offset: 100 }), 'ERR_PMEM_UNALIGNED');
      assert.equal(fs.existsSync(c), false, 'unaligned window left a file');
      // bad options found before anything happens
      const d = freshPath(dir);
      throwsCode(() => open(d, { create: true, size: PAGE, granularity: 'x' as never }), VALUE);
      assert.equal(fs.existsSync(d), false, 'bad granularity left a file');
    });
  });
}

describe('relative paths', () => {
  it('resolve against the current directory (checked in a child started in that directory)', () => {
    const dir = tmpDir();
    const data = makeFile(path.join(dir, 'rel.bin'), PAGE, 11);
    const r = probeOpen('rel.bin', {}, ['write'], { cwd: dir });
    assert.equal(r.ok, true, JSON.stringify(r));
    // the probe wrote 'probe' over the first five bytes before reporting
    if (r.ok) assert.deepEqual(r.first, Array.from(Buffer.concat([Buffer.from('probe'), data.subarray(5, 8)])));
    assert.equal(fs.readFileSync(path.join(dir, 'rel.bin')).subarray(0, 5).toString(), 'probe');
    const c = probeOpen('sub/../new.bin', {}, [], { cwd: dir });
    assert.equal(c.ok, false);
    if (!c.ok) assert.equal(c.code, 'ENOENT');
  });
});

describe('a failed allocation undoes the create or the extension (tmpfs refuses more than it holds)', () => {
  // tmpfs checks a fallocate request against its size limit before allocating anything,
  // so this fails at once with ENOSPC.
  const huge = 2 ** 40; // 1 TiB, more than /dev/shm holds
  it('create of a file too large to allocate: ENOSPC and no file', () => {
    const file = freshPath(TMPFS);
    const e = throwsCode(() => open(file, { create: true, size: huge }), { code: 'ENOSPC', errno: negErrno('ENOSPC'), path: file });
    assert.equal(typeof e.syscall, 'string');
    assert.equal(fs.existsSync(file), false, 'the failed create left a file behind');
  });

  it('extension of an existing file that cannot be allocated: ENOSPC and the file is as before', () => {
    const file = freshPath(TMPFS);
    const data = makeFile(file, 2 * PAGE);
    throwsCode(() => open(file, { create: true, size: huge }), { code: 'ENOSPC', errno: negErrno('ENOSPC') });
    assert.equal(fs.statSync(file).size, 2 * PAGE, 'the file was left extended');
    assert.deepEqual(fs.readFileSync(file), data);
  });
});

describe('kinds that cannot be mapped are refused with ERR_PMEM_UNSUPPORTED', () => {
  const dir = DISK;
  it('a directory', () => {
    throwsCode(() => open(dir), 'ERR_PMEM_UNSUPPORTED', 'writable');
    throwsCode(() => open(dir, { readOnly: true }), 'ERR_PMEM_UNSUPPORTED', 'readOnly');
  });

  it('a fifo (checked in a child process, so a blocking open cannot hang the suite)', () => {
    const fifo = freshPath(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const options of [{}, { readOnly: true }]) {
      const r = probeOpen(fifo, options);
      assert.equal(r.ok, false, `fifo opened with ${JSON.stringify(options)}`);
      if (!r.ok) assert.equal(r.code, 'ERR_PMEM_UNSUPPORTED', r.message);
    }
  });

  it('a unix socket', async () => {
    const sock = freshPath(dir, 'sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      throwsCode(() => open(sock), 'ERR_PMEM_UNSUPPORTED', 'writable');
      throwsCode(() => open(sock, { readOnly: true }), 'ERR_PMEM_UNSUPPORTED', 'readOnly');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  const chardevs = ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/full', '/dev/mem'].filter((p) => fs.existsSync(p));
  for (const dev of chardevs) {
    it(`character device ${dev}`, () => {
      throwsCode(() => open(dev), 'ERR_PMEM_UNSUPPORTED', 'writable');
      throwsCode(() => open(dev, { readOnly: true }), 'ERR_PMEM_UNSUPPORTED', 'readOnly');
    });
  }

  it('a symbolic link to /dev/null is judged by its target', () => {
    const link = freshPath(dir, 'nulllink');
    fs.symlinkSync('/dev/null', link);
    throwsCode(() => open(link), 'ERR_PMEM_UNSUPPORTED');
  });

  it('create on a directory does not turn it into anything', () => {
    const sub = path.join(dir, 'subdir-' + process.pid);
    fs.mkdirSync(sub);
    throwsCode(() => open(sub, { create: true, size: PAGE }), 'ERR_PMEM_UNSUPPORTED');
    assert.ok(fs.statSync(sub).isDirectory());
  });
});

describe('system errors carry code, negative errno, syscall and path', () => {
  it('ENOENT for a missing file without create', () => {
    const file = freshPath(DISK);
    const e = throwsCode(() => open(file), { code: 'ENOENT', errno: negErrno('ENOENT'), path: file });
    assert.equal(typeof e.syscall, 'string');
    assert.ok(e.syscall!.length > 0);
    assert.match(e.message, /ENOENT/);
    assert.equal(fs.existsSync(file), false);
  });

  it('ENOENT for create in a directory that does not exist', () => {
    const file = path.join(DISK, 'no-such-dir', 'f.bin');
    throwsCode(() => open(file, { create: true, size: PAGE }), { code: 'ENOENT', errno: negErrno('ENOENT'), path: file });
  });

  it('ENOTDIR when a path component is a file', () => {
    const file = freshPath(DISK);
    makeFile(file, PAGE);
    const bad = path.join(file, 'child');
    throwsCode(() => open(bad), { code: 'ENOTDIR', errno: negErrno('ENOTDIR'), path: bad });
  });

  describe('EACCES for a user without permission (child process as nobody)', () => {
    // root bypasses permission checks, so the probe runs as uid/gid 65534
    const dir = tmpDir();
    fs.chmodSync(dir, 0o755);
    const privateFile = path.join(dir, 'private.bin');
    const readable = path.join(dir, 'readable.bin');
    makeFile(privateFile, PAGE);
    makeFile(readable, PAGE, 3);
    fs.chmodSync(privateFile, 0o600);
    fs.chmodSync(readable, 0o644);
    const nobody = { uid: 65534, gid: 65534 };

    it('precondition: this suite runs as root', () => {
      assert.equal(process.getuid?.(), 0, 'the EACCES checks need root to start a child as nobody');
    });

    it('writable open of a 0600 root file → EACCES', () => {
      const r = probeOpen(privateFile, {}, [], nobody);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.code, 'EACCES', r.message);
        assert.equal(r.errno, negErrno('EACCES'));
        assert.equal(r.path, privateFile);
        assert.equal(typeof r.syscall, 'string');
      }
    });

    it('readOnly open of a 0600 root file → EACCES', () => {
      const r = probeOpen(privateFile, { readOnly: true }, [], nobody);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.code, 'EACCES', r.message);
    });

    it('a 0644 file: readOnly works, writable → EACCES', () => {
      const ro = probeOpen(readable, { readOnly: true }, [], nobody);
      assert.equal(ro.ok, true, JSON.stringify(ro));
      if (ro.ok) assert.deepEqual(ro.first, Array.from(pattern(8, 3)));
      const rw = probeOpen(readable, {}, [], nobody);
      assert.equal(rw.ok, false);
      if (!rw.ok) assert.equal(rw.code, 'EACCES', rw.message);
    });

    it('create in a directory the user cannot write → EACCES, nothing created', () => {
      const file = path.join(dir, 'new.bin');
      const r = probeOpen(file, { create: true, size: PAGE }, [], nobody);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.code, 'EACCES', r.message);
      assert.equal(fs.existsSync(file), false);
    });
  });
});
