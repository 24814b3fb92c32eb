/**
 * Guest: emulated CXL Type-3 persistent memory (the CXL boot, after guest/cxl-setup.ts). An fsdax file
 * and device-dax on the nd region that cxl_pmem made of a `cxl create-region` region; deviceInfo() and
 * `node-pmem info` against `cxl list` and `ndctl list`; the KV store's self-test; and durability records
 * that the host looks for in the CXL backing file after the guest powered off without syncing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { deviceInfo, open, type DeviceInfo, type Mapping } from 'node-pmem';
import { CXL_MANIFEST, CXL_RECORDS, type CxlManifest } from '../layout';
import { GUEST_ONLY, MiB, durableFile, jobDir, ndctlRegions, sh, textOf, throwsCode, token, type NdRegion } from './env';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const CLI = path.join(REPO, 'bin', 'node-pmem.js');
const SELFTEST = path.join(REPO, 'examples', 'kv', 'selftest.js');

let m: CxlManifest;
const readManifest = () => {
  m = JSON.parse(fs.readFileSync(path.join(jobDir(), CXL_MANIFEST), 'utf8')) as CxlManifest;
};

interface CxlListRegion {
  region: string;
  size: number;
  interleave_ways: number;
  interleave_granularity: number;
  decode_state: string;
  mappings?: { position: number; memdev: string; decoder: string }[];
}

function assertCxlTier(map: Mapping): void {
  assert.equal(map.granularity, 'cacheline', map.granularityReason);
  assert.ok(map.region, 'the mapping has an nd region');
  assert.equal(map.region.provider, 'CXL');
  assert.equal(map.region.name, m.ndRegion);
  assert.equal(map.region.persistenceDomain, 'memory_controller');
  assert.match(map.granularityReason, new RegExp(`CXL region ${m.cxlRegion}\\b`), map.granularityReason);
  assert.match(map.granularityReason, /memory_controller.*clwb.*sfence/, map.granularityReason);
}

describe('CXL: setup steps that are missing are warned about, with the command', { skip: GUEST_ONLY }, () => {
  before(readManifest);

  it('a memdev with persistent capacity but no region: cxl create-region', () => {
    const w = m.warnings.beforeRegion.find((x) => x.includes(`CXL memdev ${m.memdev} `));
    assert.ok(w, m.warnings.beforeRegion.join('\n'));
    assert.match(w, /in no region/);
    assert.match(w, new RegExp(`\`cxl create-region -m -t pmem -d ${m.rootDecoder} ${m.memdev}\``));
  });

  it('a committed region without a namespace: ndctl create-namespace -r', () => {
    assert.ok(!m.warnings.beforeNamespace.some((x) => x.includes(`memdev ${m.memdev} `)), m.warnings.beforeNamespace.join('\n'));
    const w = m.warnings.beforeNamespace.find((x) => x.includes(`CXL region ${m.cxlRegion} `));
    assert.ok(w, m.warnings.beforeNamespace.join('\n'));
    assert.match(w, new RegExp(`has no namespace: .*ndctl create-namespace -r ${m.ndRegion}`));
  });

  it('nothing is missing once the namespaces exist', () => {
    assert.deepEqual(m.warnings.after.filter((x) => /CXL/.test(x)), []);
  });
});

describe('CXL: fsdax file on ext4 -o dax', { skip: GUEST_ONLY }, () => {
  before(readManifest);

  it('maps with MAP_SYNC at the cacheline tier, the reason naming the CXL region and memory_controller', () => {
    const file = path.join(m.fsdax.mount, 'tier.bin');
    const map = open(file, { create: true, size: MiB });
    try {
      assert.equal(map.kind, 'fsdax');
      assert.equal(map.mapSync, true);
      assertCxlTier(map);
      const text = `cxl fsdax ${Date.now()}`;
      map.write(4096 + 3, text, { persist: true });
      assert.equal(textOf(map.read(4096 + 3, text.length)), text);
    } finally {
      map.close();
      fs.rmSync(file);
    }
  });
});

describe('CXL: device-dax', { skip: GUEST_ONLY }, () => {
  before(readManifest);

  it('maps the whole device at its alignment, at the cacheline tier', () => {
    const map = open(m.devdax.chardev);
    try {
      assert.equal(map.kind, 'devdax');
      assert.equal(map.length, m.devdax.size);
      assert.equal(map.alignment, m.devdax.align);
      assertCxlTier(map);
      map.write(m.devdax.size - 64, 'tail', { persist: true });
      assert.equal(textOf(map.read(m.devdax.size - 64, 4)), 'tail');
    } finally {
      map.close();
    }
  });

  it('an aligned window maps; an unaligned one is refused', () => {
    open(m.devdax.chardev, { offset: m.devdax.align, length: m.devdax.align }).close();
    throwsCode(() => open(m.devdax.chardev, { offset: 4096, length: m.devdax.align }), 'ERR_PMEM_UNALIGNED');
    throwsCode(() => open(m.devdax.chardev, { length: m.devdax.align + 4096 }), 'ERR_PMEM_UNALIGNED');
  });

  it('a forced page tier is refused at open (no msync on device-dax)', () => {
    throwsCode(() => open(m.devdax.chardev, { granularity: 'page' }), 'ERR_PMEM_TIER_UNAVAILABLE', /msync/);
  });
});

describe('CXL: deviceInfo and node-pmem info against cxl list and ndctl list', { skip: GUEST_ONLY }, () => {
  let region: CxlListRegion;
  let memdev: { memdev: string; serial: number; pmem_size: number };
  let nd: NdRegion;

  // The object of `cxl list` output that matches, wherever it is: -v nests regions and memdevs in the
  // topology (bus, ports, endpoints), and a lone match may be printed bare or in an array.
  const one = <T>(args: string[], match: (o: Record<string, unknown>) => boolean): T => {
    const find = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(find).find((x) => x !== undefined);
      if (!v || typeof v !== 'object') return undefined;
      const o = v as Record<string, unknown>;
      return match(o) ? o : find(Object.values(o));
    };
    const hit = find(JSON.parse(sh('cxl', args)));
    assert.ok(hit, `cxl ${args.join(' ')} lists no such object`);
    return hit as T;
  };

  before(() => {
    readManifest();
    region = one(['list', '-R', '-v', '-r', m.cxlRegion], (o) => o.region === m.cxlRegion && 'decode_state' in o);
    memdev = one(['list', '-M', '-m', m.memdev], (o) => o.memdev === m.memdev && 'serial' in o);
    const found = ndctlRegions('CXL').find((r) => r.dev === m.ndRegion);
    assert.ok(found, `ndctl lists no CXL region ${m.ndRegion}`);
    nd = found;
  });

  function check(info: DeviceInfo, namespace: string, mode: string): void {
    assert.ok(info.region && info.cxl, JSON.stringify(info));
    assert.equal(info.region.name, nd.dev);
    assert.equal(info.region.provider, 'CXL');
    assert.equal(info.region.persistenceDomain, nd.persistence_domain);
    assert.equal(info.namespace?.name, namespace);
    assert.equal(info.namespace?.mode, mode);
    // The raw size the namespace takes of the region (what cxl-setup asked for); ndctl's "size" is what
    // is left after the fsdax/devdax info block, the device's own size.
    assert.equal(info.namespace?.size, 96 * MiB);
    const usable = nd.namespaces?.find((n) => n.dev === namespace)?.size;
    if (mode === 'devdax') assert.equal(info.size, usable);
    else assert.equal(Number(sh('blockdev', ['--getsize64', m.fsdax.blockdev]).trim()), usable);
    assert.equal(info.cxl.region, region.region);
    assert.equal(info.cxl.committed, region.decode_state === 'commit');
    assert.equal(info.cxl.size, region.size);
    assert.equal(info.cxl.interleaveWays, region.interleave_ways);
    assert.equal(info.cxl.interleaveGranularity, region.interleave_granularity);
    assert.equal(info.cxl.rootDecoder, m.rootDecoder);
    assert.deepEqual(
      info.cxl.memdevs.map((d) => ({ position: d.position, memdev: d.name, decoder: d.decoder })),
      region.mappings,
    );
    assert.equal(Number(info.cxl.memdevs[0]!.serial), memdev.serial);
    assert.equal(info.cxl.memdevs[0]!.pmemSize, memdev.pmem_size);
    assert.equal(info.tier.granularity, 'cacheline');
    assert.match(info.tier.reason, new RegExp(`CXL region ${region.region}\\b.*memory_controller`));
  }

  it('deviceInfo of the fsdax mount and of the device-dax', () => {
    check(deviceInfo(m.fsdax.mount), m.fsdax.namespace, 'fsdax');
    check(deviceInfo(m.devdax.chardev), m.devdax.namespace, 'devdax');
  });

  it('node-pmem info --json says the same, and the table shows the CXL rows', (t) => {
    const json = spawnSync(process.execPath, [CLI, 'info', '--json', m.devdax.chardev], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    check(JSON.parse(json.stdout) as DeviceInfo, m.devdax.namespace, 'devdax');
    const table = spawnSync(process.execPath, [CLI, 'info', m.fsdax.mount], { encoding: 'utf8' });
    assert.equal(table.status, 0, table.stderr);
    t.diagnostic(table.stdout);
    assert.match(table.stdout, new RegExp(`cxl region +${region.region} from root decoder ${m.rootDecoder}, committed`));
    assert.match(table.stdout, new RegExp(`interleave +${region.interleave_ways} way\\(s\\), granularity ${region.interleave_granularity} B`));
    assert.match(table.stdout, new RegExp(`memdev 0 +${m.memdev} \\(decoder ${region.mappings![0]!.decoder}\\), serial `));
  });
});

describe('CXL: the KV store self-test', { skip: GUEST_ONLY }, () => {
  before(readManifest);

  // On the fsdax namespace only: a store on device-dax spans the whole device, and every access to
  // emulated CXL memory is an emulated MMIO access.
  it('on a file of the fsdax namespace (a 2 MiB store, one kill round)', (t) => {
    const file = path.join(m.fsdax.mount, 'kv.store');
    const r = spawnSync(process.execPath, [SELFTEST, file, '--size', '2M', '--kills', '1'], { encoding: 'utf8', timeout: 300_000 });
    t.diagnostic(`selftest ${file}: exit ${r.status} signal ${r.signal}\n${r.stdout}${r.stderr}`);
    const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ok?: boolean; kind?: string; granularity?: string; error?: string };
    assert.equal(result.ok, true, result.error);
    assert.equal(r.status, 0);
    assert.equal(result.kind, 'fsdax');
    assert.equal(result.granularity, 'cacheline');
    fs.rmSync(file);
  });
});

describe('CXL: durability records for the host (written last; the guest then powers off without sync)', { skip: GUEST_ONLY }, () => {
  before(() => {
    readManifest();
    fs.writeFileSync('/proc/sys/vm/dirty_writeback_centisecs', '0');
  });

  it('a record persisted through a MAP_SYNC mapping of an fsdax file', () => {
    const file = path.join(m.fsdax.mount, 'durable.bin');
    // The file's size and blocks are made durable first: only the record itself relies on persist().
    durableFile(file, MiB);
    const map = open(file);
    try {
      assert.equal(map.mapSync, true);
      map.write(12_345, `${token()}|${CXL_RECORDS[0]}|`, { persist: true });
    } finally {
      map.close();
    }
  });

  it('a record persisted through device-dax', () => {
    const map = open(m.devdax.chardev, { offset: m.devdax.align, length: m.devdax.align });
    try {
      map.write(100, `${token()}|${CXL_RECORDS[1]}|`);
      map.persist(100, 200);
    } finally {
      map.close();
    }
  });
});
