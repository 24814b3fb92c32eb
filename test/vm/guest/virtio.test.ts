/**
 * Guest: virtio-pmem. Its flush is asynchronous (a request to the host), so the kernel refuses MAP_SYNC on
 * DAX files there and only msync/fsync make data durable. A devdax namespace on such a region is accepted by
 * the kernel (even with MAP_SYNC), but node-pmem must not call it cacheline-durable.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { getDax, open } from 'node-pmem';
import type { GuestDevice } from '../layout';
import { GUEST_ONLY, MiB, device, manifest, textOf, throwsCode } from './env';

describe('virtio-pmem: ext4 -o dax', { skip: GUEST_ONLY }, () => {
  let dev: GuestDevice;
  let file: string;

  before(() => {
    dev = device('virtio-fsdax');
    assert.equal(dev.provider, 'virtio-pmem');
    file = path.join(dev.mount!, `virtio-${manifest().phase}.bin`);
    fs.rmSync(file, { force: true });
  });

  it('getDax says DAX is in effect', () => {
    open(file, { create: true, size: 2 * MiB }).close();
    const s = getDax(file);
    assert.equal(s.effective, true, s.reason);
  });

  it('MAP_SYNC is refused: page tier with the reason; persist() (msync) works', async (t) => {
    const m = open(file);
    const text = `virtio ${Date.now()}`;
    try {
      t.diagnostic(`kind=${m.kind} granularity=${m.granularity} reason=${m.granularityReason} region=${JSON.stringify(m.region)}`);
      assert.equal(m.mapSync, false);
      assert.equal(m.granularity, 'page');
      assert.equal(m.isPmem, false);
      assert.match(m.granularityReason, /MAP_SYNC|virtio|async/i);
      if (m.region !== null) {
        assert.equal(m.region.provider, 'virtio-pmem');
        assert.equal(m.region.asyncFlush, true);
      }
      m.write(0, text);
      m.persist(0, text.length);
      m.write(MiB, text, { persist: true });
      m.bytes(4096, 1)[0] = 42;
      await m.persistAsync(4096, 1);
    } finally {
      m.close();
    }
    const r = open(file, { readOnly: true });
    try {
      assert.equal(textOf(r.read(0, text.length)), text);
      assert.equal(textOf(r.read(MiB, text.length)), text);
      assert.equal(r.read(4096, 1)[0], 42);
    } finally {
      r.close();
    }
  });
});

describe('virtio-pmem: devdax namespace', { skip: GUEST_ONLY }, () => {
  let dev: GuestDevice;

  before(() => {
    dev = device('virtio-devdax');
  });

  it('the kernel made a devdax namespace on the virtio-pmem region', () => {
    assert.equal(dev.provider, 'virtio-pmem');
    assert.equal(dev.mode, 'devdax', `ndctl: ${JSON.stringify(manifest().ndctl)}`);
    assert.ok(dev.chardev, 'it has a /dev/daxX.Y');
  });

  it('a writable open is refused with ERR_PMEM_ASYNC_FLUSH; forcing the page tier with ERR_PMEM_TIER_UNAVAILABLE', () => {
    throwsCode(() => open(dev.chardev!), 'ERR_PMEM_ASYNC_FLUSH');
    // msync would be the durable flush here, but device-dax has none.
    throwsCode(() => open(dev.chardev!, { granularity: 'page' }), 'ERR_PMEM_TIER_UNAVAILABLE');
  });

  it('with a forced granularity it opens, marked forced, and persists', () => {
    const m = open(dev.chardev!, { granularity: 'cacheline' });
    const text = `virtio devdax ${Date.now()}`;
    try {
      assert.equal(m.kind, 'devdax');
      assert.equal(m.forced, true);
      assert.equal(m.granularity, 'cacheline');
      assert.notEqual(m.detectedGranularity, 'cacheline', 'detection must not call virtio-pmem cacheline-durable');
      assert.notEqual(m.detectedGranularity, 'byte', 'detection must not call virtio-pmem byte-durable');
      assert.ok(m.region, 'a devdax mapping has a region');
      assert.equal(m.region.provider, 'virtio-pmem');
      assert.equal(m.region.asyncFlush, true);
      m.write(dev.align!, text, { persist: true });
      assert.equal(textOf(m.read(dev.align!, text.length)), text);
    } finally {
      m.close();
    }
  });
});
