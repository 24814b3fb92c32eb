/**
 * Guest: fsdax. ext4 on an ACPI NFIT fsdax namespace, mounted -o dax / dax=never / dax=inode, and XFS with
 * dax=inode. Checks the kind, tier and MAP_SYNC of file mappings, and getDax/setDax against the kernel.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getDax, open, setDax } from 'node-pmem';
import type { GuestDevice } from '../layout';
import {
  GUEST_ONLY, MiB, bytesOf, device, manifest, mountOptions, nfitTier, persistence, remount, textOf,
} from './env';

describe('fsdax: ext4 on an ACPI NFIT fsdax namespace', { skip: GUEST_ONLY }, () => {
  let dev: GuestDevice;
  let dir: string;
  let file: string;
  const payload = `fsdax payload ${Date.now()}`;

  before(() => {
    dev = device('nfit-fsdax');
    assert.match(mountOptions(dev.mount!), /(^|,)dax(=always)?(,|$)/, `ext4 should start mounted -o dax: ${mountOptions(dev.mount!)}`);
    dir = path.join(dev.mount!, `fsdax-${manifest().phase}`);
    fs.mkdirSync(dir, { recursive: true });
    file = path.join(dir, 'map.bin');
  });

  after(() => {
    // Leave the filesystem as setup mounted it, for the tests that follow in this boot.
    if (dev && !/(^|,)dax(=always)?(,|$)/.test(mountOptions(dev.mount!))) remount(dev, 'dax');
  });

  it('the namespace is fsdax on ACPI.NFIT, persistence domain as the machine says', () => {
    assert.equal(dev.provider, 'ACPI.NFIT');
    assert.equal(dev.mode, 'fsdax');
    assert.equal(dev.persistenceDomain, persistence() === 'cpu' ? 'cpu_cache' : null);
  });

  it(`-o dax: a file maps as kind fsdax, granularity ${nfitTier()}, with MAP_SYNC`, () => {
    const m = open(file, { create: true, size: 4 * MiB });
    try {
      assert.equal(m.kind, 'fsdax');
      assert.equal(m.granularity, nfitTier(), m.granularityReason);
      assert.equal(m.detectedGranularity, nfitTier());
      assert.equal(m.forced, false);
      assert.equal(m.isPmem, true);
      assert.equal(m.mapSync, true);
      assert.equal(m.length, 4 * MiB);
      assert.ok(m.region, 'an fsdax file on an NFIT namespace has a region');
      assert.equal(m.region.provider, 'ACPI.NFIT');
      assert.equal(m.region.name, dev.region);
      assert.equal(m.region.persistenceDomain, dev.persistenceDomain);
      assert.equal(m.region.asyncFlush, false);
      assert.equal(m.write(4096, payload, { persist: true }), payload.length);
      m.bytes(2 * MiB, 3).set([1, 2, 3]);
      m.persist(2 * MiB, 3);
    } finally {
      m.close();
    }
    const again = open(file, { readOnly: true });
    try {
      assert.equal(textOf(again.read(4096, payload.length)), payload);
      assert.deepEqual([...again.read(2 * MiB, 3)], [1, 2, 3]);
    } finally {
      again.close();
    }
  });

  it('-o dax: getDax reports DAX in effect (statx)', () => {
    const s = getDax(file);
    assert.equal(s.path, file);
    assert.equal(s.effective, true, s.reason);
    assert.equal(s.mechanism, 'statx+fsxattr');
  });

  it('dax=never: the same file maps through the page cache (kind file, page tier) with a reason', () => {
    remount(dev, 'dax=never');
    const s = getDax(file);
    assert.equal(s.effective, false, s.reason);
    const m = open(file);
    try {
      assert.equal(m.kind, 'file');
      assert.equal(m.granularity, 'page');
      assert.equal(m.isPmem, false);
      assert.equal(m.mapSync, false);
      assert.equal(typeof m.granularityReason, 'string');
      assert.ok(m.granularityReason.length > 0, 'a page-tier mapping says why');
      assert.equal(textOf(m.read(4096, payload.length)), payload);
      m.write(8192, payload);
      m.persist(8192, payload.length);
    } finally {
      m.close();
    }
  });

  it('dax=inode: setDax sets FS_XFLAG_DAX; once the inode is re-read, the file is DAX', () => {
    remount(dev, 'dax=inode');
    const f = path.join(dir, 'toggle.bin');
    fs.rmSync(f, { force: true });
    open(f, { create: true, size: MiB }).close();
    const s0 = getDax(f);
    assert.equal(s0.inodeFlag, false, s0.reason);
    assert.equal(s0.effective, false, s0.reason);

    const s1 = setDax(f, true);
    assert.equal(s1.inodeFlag, true, s1.reason);
    remount(dev, 'dax=inode'); // evicts the inode: the kernel applies the flag when it is loaded again
    const s2 = getDax(f);
    assert.equal(s2.inodeFlag, true, s2.reason);
    assert.equal(s2.effective, true, s2.reason);
    const m = open(f);
    try {
      assert.equal(m.kind, 'fsdax');
      assert.equal(m.granularity, nfitTier());
      assert.equal(m.mapSync, true);
    } finally {
      m.close();
    }

    const s3 = setDax(f, false);
    assert.equal(s3.inodeFlag, false, s3.reason);
    remount(dev, 'dax=inode');
    const s4 = getDax(f);
    assert.equal(s4.inodeFlag, false, s4.reason);
    assert.equal(s4.effective, false, s4.reason);
    const p = open(f);
    try {
      assert.equal(p.kind, 'file');
      assert.equal(p.granularity, 'page');
    } finally {
      p.close();
    }
  });

  it('dax=inode: a directory flagged with setDax passes the flag to new files', () => {
    remount(dev, 'dax=inode');
    const sub = path.join(dir, 'dax-dir');
    fs.rmSync(sub, { recursive: true, force: true });
    fs.mkdirSync(sub);
    const sd = setDax(sub, true);
    assert.equal(sd.inodeFlag, true, sd.reason);
    const f = path.join(sub, 'child.bin');
    const m = open(f, { create: true, size: MiB });
    try {
      assert.equal(m.kind, 'fsdax');
      assert.equal(m.mapSync, true);
    } finally {
      m.close();
    }
    const s = getDax(f);
    assert.equal(s.inodeFlag, true, s.reason);
    assert.equal(s.effective, true, s.reason);
  });

  it('back on -o dax: a file whose flag is clear is DAX again (the mount option wins)', () => {
    remount(dev, 'dax');
    const f = path.join(dir, 'toggle.bin');
    const s = getDax(f);
    assert.equal(s.inodeFlag, false, s.reason);
    assert.equal(s.effective, true, s.reason);
  });
});

describe('fsdax: XFS on an ACPI NFIT fsdax namespace, dax=inode', { skip: GUEST_ONLY }, () => {
  let dev: GuestDevice;
  let dir: string;

  before(() => {
    dev = device('nfit-xfs');
    dir = path.join(dev.mount!, `xfs-${manifest().phase}`);
    fs.mkdirSync(dir, { recursive: true });
  });

  after(() => {
    if (dev && !/dax=inode/.test(mountOptions(dev.mount!))) remount(dev, 'dax=inode');
  });

  it('setDax toggles FS_XFLAG_DAX, visible after the inode is re-read', () => {
    const f = path.join(dir, 'toggle.bin');
    fs.rmSync(f, { force: true });
    open(f, { create: true, size: MiB }).close();
    const s0 = getDax(f);
    assert.equal(s0.mechanism, 'statx+fsxattr');
    assert.equal(s0.inodeFlag, false, s0.reason);
    assert.equal(s0.effective, false, s0.reason);
    const before0 = open(f);
    try {
      assert.equal(before0.kind, 'file');
      assert.equal(before0.granularity, 'page');
    } finally {
      before0.close();
    }

    assert.equal(setDax(f, true).inodeFlag, true);
    remount(dev, 'dax=inode');
    const s1 = getDax(f);
    assert.equal(s1.inodeFlag, true, s1.reason);
    assert.equal(s1.effective, true, s1.reason);
    const m = open(f);
    try {
      assert.equal(m.kind, 'fsdax');
      assert.equal(m.granularity, nfitTier());
      assert.equal(m.mapSync, true);
      assert.equal(m.region?.provider, 'ACPI.NFIT');
      m.write(0, bytesOf('xfs'), { persist: true });
    } finally {
      m.close();
    }

    assert.equal(setDax(f, false).inodeFlag, false);
    remount(dev, 'dax=inode');
    const s2 = getDax(f);
    assert.equal(s2.inodeFlag, false, s2.reason);
    assert.equal(s2.effective, false, s2.reason);
  });
});
