/**
 * The package from ES modules (static, namespace, default and dynamic imports) and from
 * CommonJS, and cpuInfo() checked against /proc/cpuinfo.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as pmem from 'node-pmem';
import { cpuInfo, type CpuInfoX64 } from 'node-pmem';
import { REPO_ROOT, tmpDir, runNode, assertCleanExit, cpuFlags } from './helpers';

const NAMES = ['open', 'getDax', 'setDax', 'cpuInfo', 'liveMappings'] as const;

/** What cpuInfo() must say, derived from the kernel's view of the CPU. */
function expectedCpu() {
  const f = cpuFlags();
  const has = {
    clwb: f.has('clwb'),
    clflushopt: f.has('clflushopt'),
    clflush: f.has('clflush'),
    sse2: f.has('sse2'),
    avx2: f.has('avx2'),
    avx512f: f.has('avx512f'),
    sse42: f.has('sse4_2'),
  };
  const flush = has.clwb ? 'clwb' : has.clflushopt ? 'clflushopt' : has.clflush ? 'clflush' : 'none';
  const nonTemporal = has.avx512f ? 'avx512f' : has.avx2 ? 'avx2' : has.sse2 ? 'sse2' : 'none';
  return { has, flush, nonTemporal };
}

describe('ESM', () => {
  it('an .mjs consumer gets named exports (static and dynamic), and they work', () => {
    const dir = tmpDir();
    const r = runNode(path.join(REPO_ROOT, 'test', 'fixtures', 'esm-consumer.mjs'), [dir]);
    assertCleanExit(r);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    for (const n of NAMES) {
      assert.equal(out.static[n], 'function', `static import { ${n} }`);
      assert.equal(out.dynamic[n], 'function', `(await import('node-pmem')).${n}`);
    }
    assert.equal(out.same, true, 'namespace, static and dynamic imports are the same functions');
    assert.equal(out.defaultHasOpen, true, 'the default import is the CommonJS exports object');
    assert.equal(out.fileContent, 'esm');
    assert.equal(out.dax.mechanism, 'statx+fsxattr');
    assert.equal(out.live, 0);
    assert.deepEqual(out.cpu, cpuInfo(), 'the same native module answers in ESM and CJS');
  });

  it('require() of the package gives the same exports (CommonJS)', () => {
    // this file is compiled to CommonJS, so the import above is a require()
    for (const n of NAMES) assert.equal(typeof pmem[n], 'function', n);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const viaRequire = require('node-pmem') as typeof pmem;
    assert.equal(viaRequire.open, pmem.open);
  });
});

// /proc/cpuinfo's flags are x86-64's; aarch64's cpuInfo() is checked per CPU model under emulation (16-arm64.test.ts).
describe('cpuInfo() on x86-64', { skip: process.arch !== 'x64' && 'not x86-64' }, () => {
  const info = cpuInfo() as CpuInfoX64;
  const exp = expectedCpu();

  it('reports the architecture', () => {
    assert.equal(info.arch, process.arch);
  });

  it('chooses the flush instruction /proc/cpuinfo implies (clwb > clflushopt > clflush)', () => {
    assert.equal(info.flush, exp.flush, `expected from /proc/cpuinfo flags: ${JSON.stringify(exp.has)}`);
  });

  it('reports each feature as /proc/cpuinfo does', () => {
    for (const k of ['clwb', 'clflushopt', 'clflush', 'sse2', 'avx2', 'avx512f', 'sse42'] as const) {
      assert.equal(info[k], exp.has[k], k);
    }
  });

  it('computes CRC-32C with SSE4.2 where the CPU has it', () => {
    assert.equal(info.crc32c, process.arch === 'x64' && exp.has.sse42 ? 'sse4.2' : 'table');
  });

  it('chooses the widest non-temporal store path available', () => {
    assert.equal(info.nonTemporal, exp.nonTemporal);
  });

  it('cache line 64, non-temporal threshold 256 (libpmem default)', () => {
    assert.equal(info.cacheLineSize, 64);
    assert.equal(info.nonTemporalThreshold, 256);
  });

  it('sfence after the flush, which reaches persistence (ADR)', () => {
    assert.equal(info.fence, 'sfence');
    assert.equal(info.flushReachesPersistence, info.flush !== 'none');
    assert.equal(info.flushNote, '');
  });

  it('says whether the flush faults on a page truncated away (15-faults holds it to that), never without a flush', () => {
    assert.equal(typeof info.flushFaultsOnMissingPage, 'boolean');
    if (info.flush === 'none') assert.equal(info.flushFaultsOnMissingPage, false);
  });

  it('callers cannot corrupt it (a fresh or a frozen object)', () => {
    const a = cpuInfo();
    try {
      (a as { flush: string }).flush = 'none';
    } catch {
      // frozen: fine
    }
    assert.equal(cpuInfo().flush, exp.flush);
  });
});
