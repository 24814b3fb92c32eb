/**
 * Guest: a raw ACPI NFIT namespace used as the block device /dev/pmemN. It maps through the page cache
 * (page tier), and BLKDAXGET/BLKDAXSET, which existed only in Linux 4.5–4.6, answer ENOTTY.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { getDax, open, setDax } from 'node-pmem';
import type { GuestDevice } from '../layout';
import { GUEST_ONLY, MiB, device, textOf, throwsCode } from './env';

describe('block: raw /dev/pmemN', { skip: GUEST_ONLY }, () => {
  let dev: GuestDevice;
  let blockdev: string;

  before(() => {
    dev = device('nfit-raw');
    assert.equal(dev.mode, 'raw');
    assert.ok(dev.blockdev && dev.size, `raw device incomplete: ${JSON.stringify(dev)}`);
    blockdev = dev.blockdev;
  });

  it('maps as kind block at the page tier, without MAP_SYNC, whole device', () => {
    const m = open(blockdev);
    const text = `block ${Date.now()}`;
    try {
      assert.equal(m.kind, 'block');
      assert.equal(m.granularity, 'page');
      assert.equal(m.isPmem, false);
      assert.equal(m.mapSync, false);
      assert.equal(m.length, dev.size);
      assert.ok(m.granularityReason.length > 0, 'a page-tier mapping says why');
      m.write(MiB, text);
      m.persist(MiB, text.length);
    } finally {
      m.close();
    }
    const r = open(blockdev, { readOnly: true });
    try {
      assert.equal(textOf(r.read(MiB, text.length)), text);
    } finally {
      r.close();
    }
  });

  it('getDax throws ENOTTY and explains that BLKDAXGET is gone', () => {
    const e = throwsCode(() => getDax(blockdev), 'ENOTTY') as Error & { errno?: number; path?: string };
    assert.equal(e.errno, -25);
    assert.match(e.message, /BLKDAXGET/);
    assert.match(e.message, /4\.5/);
  });

  it('setDax throws ENOTTY and explains that BLKDAXSET is gone', () => {
    const e = throwsCode(() => setDax(blockdev, true), 'ENOTTY') as Error & { errno?: number };
    assert.equal(e.errno, -25);
    assert.match(e.message, /BLKDAXSET/);
    assert.match(e.message, /4\.5/);
  });
});
