/**
 * Granularity tiers: what detection finds for regular files on this host (no DAX anywhere: the
 * kernel refuses MAP_SYNC with EOPNOTSUPP) and what a forced tier looks like.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open, cpuInfo } from 'node-pmem';
import { PAGE, MiB, SHM, tmpDir, freshPath, makeFile, throwsCode, VALUE, TYPE } from './helpers';

const DISK = tmpDir();
const TMPFS = tmpDir(SHM);

for (const [label, dir] of [['disk', DISK], ['tmpfs', TMPFS]] as const) {
  describe(`auto detection on a regular file (${label})`, () => {
    it('is page granularity because the kernel refused MAP_SYNC with EOPNOTSUPP', () => {
      const file = freshPath(dir);
      const m = open(file, { create: true, size: MiB });
      try {
        assert.equal(m.kind, 'file');
        assert.equal(m.granularity, 'page');
        assert.equal(m.detectedGranularity, 'page');
        assert.equal(m.forced, false);
        assert.equal(m.isPmem, false);
        assert.equal(m.mapSync, false);
        assert.equal(m.flushUnit, PAGE);
        assert.equal(m.alignment, PAGE);
        assert.equal(m.region, null, 'no nd region backs an ordinary file');
        assert.equal(typeof m.granularityReason, 'string');
        assert.match(m.granularityReason, /MAP_SYNC/);
        assert.match(m.granularityReason, /refused/i);
        // qemu-user (scripts/arm64.sh sets NODE_PMEM_EXPECT_CPU) refuses MAP_SYNC itself, with
        // EINVAL, before the kernel sees it; the kernel's answer is EOPNOTSUPP.
        assert.match(m.granularityReason, process.env.NODE_PMEM_EXPECT_CPU ? /EOPNOTSUPP|EINVAL/ : /EOPNOTSUPP/);
      } finally {
        m.close();
      }
    });

    it("granularity:'auto' is the same as no option", () => {
      const file = freshPath(dir);
      makeFile(file, PAGE);
      const m = open(file, { granularity: 'auto' });
      try {
        assert.equal(m.granularity, 'page');
        assert.equal(m.forced, false);
      } finally {
        m.close();
      }
    });

    it('a readOnly mapping is detected the same way', () => {
      const file = freshPath(dir);
      makeFile(file, PAGE);
      const m = open(file, { readOnly: true });
      try {
        assert.equal(m.granularity, 'page');
        assert.equal(m.isPmem, false);
        assert.equal(m.forced, false);
      } finally {
        m.close();
      }
    });
  });
}

describe('forced tiers (as PMEM2_FORCE_GRANULARITY)', () => {
  const lineSize = cpuInfo().cacheLineSize;
  it('the CPU reports its cache line (x86-64: 64 bytes; flushUnit, the unit ranges merge to, is 64 everywhere)', () => {
    if (process.arch === 'x64') assert.equal(lineSize, 64);
    else assert.ok(lineSize >= 16 && (lineSize & (lineSize - 1)) === 0, `a power of two: ${lineSize}`);
  });

  const expectations = [
    { tier: 'byte', isPmem: true, flushUnit: 64 },
    { tier: 'cacheline', isPmem: true, flushUnit: 64 },
    { tier: 'page', isPmem: false, flushUnit: PAGE },
  ] as const;

  for (const dir of [DISK, TMPFS]) {
    for (const { tier, isPmem, flushUnit } of expectations) {
      it(`granularity:'${tier}' on ${dir === DISK ? 'disk' : 'tmpfs'}`, () => {
        const file = freshPath(dir);
        const m = open(file, { create: true, size: 64 * 1024, granularity: tier });
        try {
          assert.equal(m.granularity, tier);
          assert.equal(m.forced, true);
          assert.equal(m.detectedGranularity, 'page', 'detection still reports what the kernel offered');
          assert.equal(m.isPmem, isPmem);
          assert.equal(m.flushUnit, flushUnit);
          assert.equal(m.kind, 'file');
          assert.match(m.granularityReason, /forc/i);
          // the mapping works at that tier
          m.write(100, 'tier ' + tier, { persist: true });
          m.persist();
          assert.equal(m.read(100, 5 + tier.length).toString(), 'tier ' + tier);
        } finally {
          m.close();
        }
      });
    }
  }

  it('a forced tier is per mapping: a second mapping of the same file detects normally', () => {
    const file = freshPath(DISK);
    makeFile(file, PAGE);
    const a = open(file, { granularity: 'byte', lock: 'none' });
    const b = open(file, { lock: 'none' });
    try {
      assert.equal(a.granularity, 'byte');
      assert.equal(b.granularity, 'page');
      assert.equal(b.forced, false);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a forced tier on a readOnly mapping is still reported', () => {
    const file = freshPath(DISK);
    makeFile(file, PAGE);
    const m = open(file, { readOnly: true, granularity: 'cacheline' });
    try {
      assert.equal(m.granularity, 'cacheline');
      assert.equal(m.forced, true);
    } finally {
      m.close();
    }
  });

  it('an unknown tier is ERR_INVALID_ARG_VALUE; a non-string tier is refused as a TypeError', () => {
    const file = freshPath(DISK);
    makeFile(file, PAGE);
    for (const g of ['x', 'BYTE', 'pages', '', 'cache-line']) {
      throwsCode(() => open(file, { granularity: g as never }), VALUE, `granularity ${JSON.stringify(g)}`);
    }
    for (const g of [1, true, {}]) {
      let err: unknown;
      try {
        open(file, { granularity: g as never }).close();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof TypeError, `granularity ${String(g)}: expected a TypeError, got ${String(err)}`);
      const code = (err as NodeJS.ErrnoException).code;
      assert.ok(code === TYPE.code || code === VALUE.code, `granularity ${String(g)}: code ${code}`);
    }
  });
});
