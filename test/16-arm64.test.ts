/**
 * The aarch64 flush path (native/arch/aarch64). On every architecture: the line walk a flush makes
 * (flushPlan, the loop the aarch64 flush runs with CTR_EL0's line size) covers every byte of a
 * range with whole, aligned, distinct lines at every line size Arm has. On arm64: what cpuInfo()
 * reports, per CPU model when run under qemu-user by scripts/arm64.sh (NODE_PMEM_EXPECT_CPU names
 * the model: qemu 7.2 advertises DC CVAP on max and a64fx but raises SIGILL for it, so the probe
 * must refuse it; cortex-a72 has no DCPOP at all), its knobs, the tier rule for a flush that stops
 * at the point of coherency, and persists of every shape at the model's line size.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cpuInfo, open, type CpuInfoArm64 } from 'node-pmem';
import { freshPath, runNode, throwsCode, tmpDir } from './helpers';

// The addon's test-only export, loaded as lib/binding.ts loads it.
const { native } = require(path.join(__dirname, '..', '..', 'dist', 'binding.js')) as {
  native: { flushPlan(offset: number, length: number, line: number): number[] };
};

describe('the flush line walk (flushPlan)', () => {
  const offsets = [0, 1, 15, 31, 32, 63, 64, 100, 255, 256, 4095, 4096, 65_537];
  const lengths = [0, 1, 2, 31, 32, 33, 63, 64, 65, 127, 255, 256, 257, 1000, 4096, 10_000];
  for (const line of [16, 32, 64, 128, 256, 4096]) {
    it(`covers every byte with whole aligned lines, each once, at ${line}-byte lines`, () => {
      for (const off of offsets) {
        for (const len of lengths) {
          const lines = native.flushPlan(off, len, line);
          const what = `flushPlan(${off}, ${len}, ${line})`;
          if (len === 0) {
            assert.deepEqual(lines, [], what);
            continue;
          }
          const first = Math.floor(off / line) * line;
          const last = Math.floor((off + len - 1) / line) * line;
          assert.equal(lines.length, (last - first) / line + 1, `${what}: one clean per line touched, no more`);
          lines.forEach((p, i) => assert.equal(p, first + i * line, `${what}: line ${i}`));
        }
      }
    });
  }

  it('refuses what is not a line size or a range', () => {
    for (const [o, l, s] of [[0, 64, 48], [0, 64, 8], [0, 64, 8192], [-1, 64, 64], [0, 2 ** 21, 64], [0.5, 64, 64]]) {
      throwsCode(() => native.flushPlan(o!, l!, s!), 'ERR_INVALID_ARG_TYPE', `flushPlan(${o}, ${l}, ${s})`);
    }
  });
});

/** What qemu-user 7.2 shows of each model (checked with a probe of CTR_EL0 and getauxval). */
const MODELS: Record<string, Partial<CpuInfoArm64>> = {
  max: { cacheLineSize: 32, dcpop: true, dcpodp: true, cvapExecutes: false, cvadpExecutes: false, flush: 'cvac', crc32: true, crc32c: 'crc32' },
  a64fx: { cacheLineSize: 256, dcpop: true, dcpodp: false, cvapExecutes: false, flush: 'cvac', crc32: true, crc32c: 'crc32' },
  'cortex-a72': { cacheLineSize: 64, dcpop: false, dcpodp: false, cvapExecutes: false, flush: 'cvac', crc32: true, crc32c: 'crc32' },
};

describe('aarch64', { skip: process.arch !== 'arm64' && 'not arm64' }, () => {
  const info = cpuInfo() as CpuInfoArm64;
  const model = process.env.NODE_PMEM_EXPECT_CPU;

  it('describes the CPU in Arm terms, and its choice follows from them', () => {
    assert.equal(info.arch, 'arm64');
    assert.equal(info.fence, 'dsb sy');
    assert.equal(info.nonTemporal, 'none');
    assert.ok([16, 32, 64, 128, 256, 512, 1024, 2048].includes(info.cacheLineSize), `a power of two: ${info.cacheLineSize}`);
    const expected = info.cvadpExecutes ? 'cvadp' : info.cvapExecutes ? 'cvap' : 'cvac';
    assert.equal(info.flush, expected);
    assert.equal(info.flushReachesPersistence, info.flush !== 'cvac');
    if (info.cvapExecutes) assert.ok(info.dcpop, 'DC CVAP is tried only when HWCAP_DCPOP says it exists');
    if (info.flush === 'cvac') assert.match(info.flushNote, /DC CVAC, which cleans only to the point of coherency/);
    else assert.equal(info.flushNote, '');
  });

  it(`matches the emulated model (${model ?? 'none named'})`, { skip: (model === undefined || !(model in MODELS)) && 'NODE_PMEM_EXPECT_CPU names no known model' }, () => {
    for (const [k, v] of Object.entries(MODELS[model!]!)) assert.equal(info[k as keyof CpuInfoArm64], v, k);
    if (info.dcpop) assert.match(info.flushNote, /HWCAP_DCPOP is set but DC CVAP raised SIGILL/);
    else assert.match(info.flushNote, /HWCAP_DCPOP clear/);
  });

  it('knobs: NODE_PMEM_NO_CVAP forces DC CVAC, NODE_PMEM_NO_CRC32 the table', () => {
    const script = "const c = require(process.argv[1]).cpuInfo(); console.log(JSON.stringify([c.flush, c.flushNote, c.crc32c]))";
    const dist = path.join(__dirname, '..', '..', 'dist', 'index.js');
    const r = runNode('-e', [script, dist], { env: { ...process.env, NODE_PMEM_NO_CVAP: '1', NODE_PMEM_NO_CRC32: '1' }, timeout: 120_000 });
    assert.equal(r.status, 0, r.log);
    const [flush, note, crc] = JSON.parse(r.stdout) as string[];
    assert.equal(flush, 'cvac');
    assert.match(note!, /NODE_PMEM_NO_CVAP/);
    assert.equal(crc, 'table');
  });

  it('a forced cacheline tier says its clean does not reach persistence when it is DC CVAC', () => {
    const dir = tmpDir();
    const m = open(freshPath(dir), { create: true, size: 65536, granularity: 'cacheline', lock: 'none' });
    try {
      if (info.flushReachesPersistence) assert.doesNotMatch(m.granularityReason, /does not reach persistent memory/);
      else assert.match(m.granularityReason, /DC CVAC.*does not reach persistent memory/);
    } finally {
      m.close();
    }
  });

  it(`persists of every shape run at the model's ${info.cacheLineSize}-byte lines (a clean the CPU refuses would kill the process)`, () => {
    const dir = tmpDir();
    for (const tier of ['cacheline', 'byte'] as const) {
      const m = open(freshPath(dir), { create: true, size: 1 << 20, granularity: tier, lock: 'none' });
      try {
        const line = info.cacheLineSize;
        for (const [off, len] of [[0, 1], [line - 1, 2], [line, line], [3, 5 * line + 7], [4096 - 1, 3], [100_000, 300_000]]) {
          const data = Buffer.alloc(len!, (off! + len!) & 0xff);
          m.write(off!, data, { persist: true });
          m.persist(off!, len!);
          m.markDirty(off!, len!);
          assert.ok(m.read(off!, len!).equals(data));
        }
        assert.ok(m.persistDirty().extents > 0);
      } finally {
        m.close();
      }
    }
  });
});
