/**
 * Guest: device-dax. An ACPI NFIT namespace reconfigured with `ndctl create-namespace -m devdax`:
 * /dev/daxX.Y maps whole or as a window aligned to /sys/bus/dax/devices/daxX.Y/align.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { getDax, open } from 'node-pmem';
import type { GuestDevice } from '../layout';
import { GUEST_ONLY, bytesOf, device, nfitTier, textOf, throwsCode } from './env';

describe('devdax: /dev/daxX.Y on an ACPI NFIT namespace', { skip: GUEST_ONLY }, () => {
  let dev: GuestDevice;
  let chardev: string;
  let align: number;
  let size: number;

  before(() => {
    dev = device('nfit-devdax');
    assert.equal(dev.mode, 'devdax');
    assert.ok(dev.chardev && dev.align && dev.size, `devdax device incomplete: ${JSON.stringify(dev)}`);
    chardev = dev.chardev;
    align = dev.align;
    size = dev.size;
  });

  it(`maps the whole device as kind devdax at the ${nfitTier()} tier`, () => {
    const m = open(chardev);
    try {
      assert.equal(m.kind, 'devdax');
      assert.equal(m.length, size);
      assert.equal(m.offset, 0);
      assert.equal(m.alignment, align, 'alignment comes from /sys/bus/dax/devices/*/align');
      assert.equal(m.granularity, nfitTier(), m.granularityReason);
      assert.equal(m.isPmem, true);
      assert.equal(m.readOnly, false);
      assert.equal(m.buffer.byteLength, size);
      assert.ok(m.region, 'a devdax mapping has a region');
      assert.equal(m.region.provider, 'ACPI.NFIT');
      assert.equal(m.region.name, dev.region);
      assert.equal(m.region.asyncFlush, false);
      const text = `devdax head ${Date.now()}`;
      m.write(0, text, { persist: true });
      m.write(size - 64, bytesOf('tail'));
      m.persist(size - 64, 4);
      assert.equal(textOf(m.read(0, text.length)), text);
      assert.equal(textOf(m.read(size - 64, 4)), 'tail');
    } finally {
      m.close();
    }
  });

  it('maps an aligned window (offset and length multiples of align)', () => {
    const text = `window ${Date.now()}`;
    const w = open(chardev, { offset: align, length: align });
    try {
      assert.equal(w.kind, 'devdax');
      assert.equal(w.offset, align);
      assert.equal(w.length, align);
      w.write(17, text, { persist: true });
    } finally {
      w.close();
    }
    const whole = open(chardev);
    try {
      assert.equal(textOf(whole.read(align + 17, text.length)), text);
    } finally {
      whole.close();
    }
  });

  it('refuses an unaligned offset or length with ERR_PMEM_UNALIGNED', () => {
    throwsCode(() => open(chardev, { offset: 4096 }), 'ERR_PMEM_UNALIGNED');
    throwsCode(() => open(chardev, { offset: align / 2, length: align }), 'ERR_PMEM_UNALIGNED');
    throwsCode(() => open(chardev, { offset: 0, length: align + 4096 }), 'ERR_PMEM_UNALIGNED');
  });

  it('refuses readOnly with an error that says device-dax cannot be mapped privately', () => {
    let caught: unknown = null;
    try {
      open(chardev, { readOnly: true }).close();
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof Error, 'readOnly (MAP_PRIVATE) on device-dax must fail: the kernel refuses private mappings');
    const e = caught as Error & { code?: string };
    assert.equal(typeof e.code, 'string', `the error has a code: ${e.message}`);
    assert.match(e.message, /dev(ice)?-?dax/i, `the message names device-dax: ${e.message}`);
    assert.match(e.message, /private|shared|read-?only/i, `the message says why: ${e.message}`);
  });

  it('refuses a forced page tier at open (device-dax has no msync), and the error says why', () => {
    const e = throwsCode(() => open(chardev, { granularity: 'page' }), 'ERR_PMEM_TIER_UNAVAILABLE');
    assert.match(e.message, /msync/, e.message);
    assert.match(e.message, /device-dax/, e.message);
    // A tier that can work there still opens when forced.
    const m = open(chardev, { granularity: 'cacheline', length: align });
    try {
      assert.equal(m.forced, true);
      m.write(0, 'forced', { persist: true });
    } finally {
      m.close();
    }
  });

  it('getDax on the char device says it is always DAX', () => {
    const s = getDax(chardev);
    assert.equal(s.mechanism, 'devdax');
    assert.equal(s.effective, true, s.reason);
  });
});
