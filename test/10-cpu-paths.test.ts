/**
 * Every flush and non-temporal store routine the CPU offers is chosen by the NODE_PMEM_NO_* knobs
 * (as PMDK's PMEM_NO_* variables do) and writes exactly the right bytes: clwb, clflushopt and
 * clflush; AVX-512, AVX2, SSE2 and plain copies. What the CPU lacks is not run, and says so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES, cpuFlags } from './helpers';

interface PathsResult {
  flush: string;
  nonTemporal: string;
  checked: number;
  problems: string[];
}

const KNOBS = ['NODE_PMEM_NO_CLWB', 'NODE_PMEM_NO_CLFLUSHOPT', 'NODE_PMEM_NO_AVX512F', 'NODE_PMEM_NO_AVX2', 'NODE_PMEM_NO_MOVNT'];

function run(knobs: Record<string, string>): PathsResult {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  for (const k of KNOBS) delete env[k];
  Object.assign(env, knobs);
  const r = spawnSync(process.execPath, [path.join(FIXTURES, 'cpu-paths.js')], { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(r.status, 0, `child failed (${r.signal ?? r.status}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as PathsResult;
}

const flags = cpuFlags();

describe('flush routines', () => {
  const cases: { name: string; knobs: Record<string, string>; expect: string; needs: string }[] = [
    { name: 'clwb', knobs: {}, expect: 'clwb', needs: 'clwb' },
    { name: 'clflushopt', knobs: { NODE_PMEM_NO_CLWB: '1' }, expect: 'clflushopt', needs: 'clflushopt' },
    { name: 'clflush', knobs: { NODE_PMEM_NO_CLWB: '1', NODE_PMEM_NO_CLFLUSHOPT: '1' }, expect: 'clflush', needs: 'clflush' },
  ];
  for (const c of cases) {
    it(`${c.name}: chosen by the knobs and writes exact bytes`, { skip: flags.has(c.needs) ? false : `this CPU has no ${c.needs}` }, () => {
      const r = run(c.knobs);
      assert.equal(r.flush, c.expect);
      assert.ok(r.checked > 300);
      assert.deepEqual(r.problems, []);
    });
  }
});

describe('non-temporal store routines', () => {
  const cases: { name: string; knobs: Record<string, string>; expect: string; needs: string | null }[] = [
    { name: 'avx512f', knobs: {}, expect: 'avx512f', needs: 'avx512f' },
    { name: 'avx2', knobs: { NODE_PMEM_NO_AVX512F: '1' }, expect: 'avx2', needs: 'avx2' },
    { name: 'sse2', knobs: { NODE_PMEM_NO_AVX512F: '1', NODE_PMEM_NO_AVX2: '1' }, expect: 'sse2', needs: 'sse2' },
    { name: 'none (temporal stores + flush)', knobs: { NODE_PMEM_NO_MOVNT: '1' }, expect: 'none', needs: null },
  ];
  for (const c of cases) {
    const skip = c.needs === null || flags.has(c.needs) ? false : `this CPU has no ${c.needs}`;
    it(`${c.name}: chosen by the knobs and writes exact bytes`, { skip }, () => {
      const r = run(c.knobs);
      assert.equal(r.nonTemporal, c.expect);
      assert.deepEqual(r.problems, []);
    });
  }

  it('without knobs the widest routine the CPU has is chosen', () => {
    const r = run({});
    const widest = flags.has('avx512f') ? 'avx512f' : flags.has('avx2') ? 'avx2' : flags.has('sse2') ? 'sse2' : 'none';
    assert.equal(r.nonTemporal, widest);
  });
});
