/**
 * Guest: the key-value store (node-pmem/kv) on each kind of device the guest has: a file on
 * an ext4 -o dax namespace, on XFS dax=inode, on virtio-pmem, on a plain disk, and device-dax (NFIT,
 * and virtio-pmem with a forced tier, since a writable open is refused there otherwise). Each run
 * is examples/kv/selftest.js: puts, overwrites, deletes, batches and compactions, close and reopen,
 * then kill -9 of a writer mid-loop, every acknowledged operation checked after reopen.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Role } from '../layout';
import { GUEST_ONLY, device, nfitTier, phase } from './env';

const SELFTEST = path.resolve(__dirname, '..', '..', '..', '..', 'examples', 'kv', 'selftest.js');

interface SelftestResult {
  ok: boolean;
  kind?: string;
  granularity?: string;
  keys?: number;
  killRounds?: number;
  acknowledgedOps?: number;
  seconds?: number;
  error?: string;
}

function selftest(t: TestContext, target: string, extra: string[]): SelftestResult {
  const r = spawnSync(process.execPath, [SELFTEST, target, '--size', '8M', '--kills', '2', ...extra], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  t.diagnostic(`selftest ${target} ${extra.join(' ')}: exit ${r.status} signal ${r.signal}\n${r.stdout}${r.stderr}`);
  assert.equal(r.error, undefined, `selftest did not finish: ${r.error?.message}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const result = JSON.parse(line) as SelftestResult;
  assert.equal(result.ok, true, `selftest failed: ${result.error}`);
  assert.equal(r.status, 0);
  assert.ok((result.acknowledgedOps ?? 0) > 0, 'the kill rounds acknowledged operations');
  return result;
}

function storeFile(role: Role): string {
  const dir = device(role).mount!;
  const file = path.join(dir, `kv-${phase()}.store`);
  fs.rmSync(file, { force: true });
  return file;
}

describe('example KV store on every kind of device', { skip: GUEST_ONLY }, () => {
  it(`a file on ext4 -o dax (fsdax, ${nfitTier()} tier)`, (t) => {
    const r = selftest(t, storeFile('nfit-fsdax'), []);
    assert.equal(r.kind, 'fsdax');
    assert.equal(r.granularity, nfitTier());
  });

  it('a file on XFS dax=inode without the per-inode flag (page tier)', (t) => {
    const r = selftest(t, storeFile('nfit-xfs'), []);
    assert.equal(r.granularity, 'page');
  });

  it('a file on ext4 -o dax on virtio-pmem (page tier: msync)', (t) => {
    const r = selftest(t, storeFile('virtio-fsdax'), []);
    assert.equal(r.kind, 'fsdax');
    assert.equal(r.granularity, 'page');
  });

  it('a file on a plain disk (page cache)', (t) => {
    const r = selftest(t, storeFile('disk'), []);
    assert.equal(r.kind, 'file');
    assert.equal(r.granularity, 'page');
  });

  it(`device-dax on the NFIT region (${nfitTier()} tier)`, (t) => {
    const r = selftest(t, device('nfit-devdax').chardev!, ['--destroy']);
    assert.equal(r.kind, 'devdax');
    assert.equal(r.granularity, nfitTier());
  });

  it('device-dax on virtio-pmem, with the tier forced (a writable open is refused otherwise)', (t) => {
    const r = selftest(t, device('virtio-devdax').chardev!, ['--destroy', '--granularity', 'cacheline']);
    assert.equal(r.kind, 'devdax');
    assert.equal(r.granularity, 'cacheline');
  });
});
