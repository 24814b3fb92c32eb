/**
 * Guest: device introspection and health (issue 5). deviceInfo() and `node-pmem info` on every kind of
 * namespace, checked against what `ndctl list -N -R -i -D -v` and `daxctl list -R -D` report; bad blocks added
 * through the block layer's /sys/block/pmemN/badblocks (QEMU's NFIT has no error injection: `ndctl
 * inject-error` says "not supported", and the regions' badblocks files are read-only), with open() refusing
 * them and readSafe() turning them into EIO; deepFlush against the regions' deep_flush.
 *
 * Bad blocks added this way cannot be cleared in this guest (the sysfs file only adds ranges, and clearing
 * needs the platform's clear-error command, which QEMU lacks), so they go where no later step looks: inside a
 * file of this test that is kept (deleting it would hand its blocks to the durability step's files), and on the
 * raw namespace only in boot 2, where this step runs last (a bad page anywhere on /dev/pmemN makes open() of
 * the whole device refuse, and boot 1's durability step maps it whole). They do not survive a reboot (boot 2
 * checks).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { deviceInfo, open, type DeviceInfo } from 'node-pmem';
import { ENV, type GuestDevice, type Provider, type Role } from '../layout';
import {
  GUEST_ONLY, MiB, device, durableFile, mountOptions, ndctlRegions, nfitTier, persistence, phase, sh, textOf,
  throwsCode, token, type NdNamespace, type NdRegion,
} from './env';

/** The boot's phase for test titles and skips (phase() throws outside the guest, where this file skips). */
const PHASE = process.env[ENV.phase];

const CLI = path.join(path.dirname(require.resolve('node-pmem/package.json')), 'bin', 'node-pmem.js');

/** Deterministic content (SHA-256 in counter mode): boot 2 can check what boot 1 wrote. */
function pattern(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i * 32 < length; i++) crypto.createHash('sha256').update(`${seed}:${i}`).digest().copy(out, i * 32);
  return out;
}

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, 'info', ...args], { encoding: 'utf8', timeout: 120_000 });
}

/** JSON round trip: what `node-pmem info --json` prints for deviceInfo(p). */
const asJson = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;

/** Contents of a sysfs file, or null when it does not exist. */
function sysfs(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

const blockName = (dev: GuestDevice) => path.basename(dev.blockdev!);
const badblocksFile = (dev: GuestDevice) => `/sys/block/${blockName(dev)}/badblocks`;

/** An error thrown by fn, or null. */
function caught(fn: () => unknown): (Error & { code?: string; badBlocks?: unknown }) | null {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  return null;
}

interface NdView {
  provider: Provider;
  region: NdRegion;
  ns: NdNamespace;
}

interface Target {
  title: string;
  role: Exclude<Role, 'disk'>;
  /** The path deviceInfo is asked about. */
  path: () => string;
  kind: DeviceInfo['kind'];
}

describe('health: deviceInfo and `node-pmem info` against ndctl and daxctl', { skip: GUEST_ONLY }, () => {
  let ndctl: NdView[];
  let daxctl: { path: string; id: number; devices: { chardev: string; size: number; align: number; mode: string }[] }[];
  let dir: string;
  let fsdaxFile: string;
  let virtioFile: string;

  const TARGETS: Target[] = [
    { title: 'fsdax: a file on ext4 -o dax (ACPI NFIT)', role: 'nfit-fsdax', path: () => fsdaxFile, kind: 'file' },
    { title: 'fsdax: the mount directory', role: 'nfit-fsdax', path: () => device('nfit-fsdax').mount!, kind: 'directory' },
    { title: 'devdax: /dev/daxX.Y (ACPI NFIT)', role: 'nfit-devdax', path: () => device('nfit-devdax').chardev!, kind: 'devdax' },
    { title: 'raw: /dev/pmemN (ACPI NFIT)', role: 'nfit-raw', path: () => device('nfit-raw').blockdev!, kind: 'block' },
    { title: 'virtio-pmem: a file on ext4 -o dax', role: 'virtio-fsdax', path: () => virtioFile, kind: 'file' },
    { title: 'virtio-pmem: devdax /dev/daxX.Y', role: 'virtio-devdax', path: () => device('virtio-devdax').chardev!, kind: 'devdax' },
  ];

  before(() => {
    ndctl = [];
    for (const provider of ['ACPI.NFIT', 'virtio-pmem'] as const) {
      for (const region of ndctlRegions(provider, ['-D', '-v'])) {
        for (const ns of region.namespaces ?? []) if (ns.size > 0) ndctl.push({ provider, region, ns });
      }
    }
    daxctl = JSON.parse(sh('daxctl', ['list', '-R', '-D'])) as typeof daxctl;
    dir = path.join(device('nfit-fsdax').mount!, `health-${phase()}`);
    fs.mkdirSync(dir, { recursive: true });
    fsdaxFile = path.join(dir, 'info.bin');
    durableFile(fsdaxFile, 2 * MiB);
    virtioFile = path.join(device('virtio-fsdax').mount!, `health-${phase()}.bin`);
    durableFile(virtioFile, 2 * MiB);
  });

  const ndFor = (dev: GuestDevice): NdView => {
    const hit = ndctl.find((v) => v.ns.dev === dev.namespace);
    assert.ok(hit, `ndctl lists ${dev.namespace} (${dev.role}): ${JSON.stringify(ndctl.map((v) => v.ns.dev))}`);
    return hit;
  };

  for (const t of TARGETS) {
    it(`${t.title}: what ndctl/daxctl report`, (ctx) => {
      const dev = device(t.role);
      const p = t.path();
      const info = deviceInfo(p);
      const nd = ndFor(dev);
      ctx.diagnostic(`deviceInfo(${p}) = ${JSON.stringify(info)}`);
      ctx.diagnostic(`ndctl: region ${JSON.stringify({ ...nd.region, namespaces: undefined })} namespace ${JSON.stringify(nd.ns)}`);

      assert.equal(info.path, p);
      assert.equal(info.kind, t.kind);
      // Namespace: name and mode as ndctl names them; its raw size is what it takes of the region (ndctl's
      // namespace "size" is the usable size after an fsdax/devdax info block: the device size below).
      assert.ok(info.namespace, 'a namespace');
      assert.equal(info.namespace.name, nd.ns.dev);
      assert.equal(info.namespace.mode, nd.ns.mode);
      const active = (nd.region.namespaces ?? []).filter((n) => n.size > 0);
      assert.equal(active.length, 1, `one namespace fills ${nd.region.dev}`);
      assert.equal(info.namespace.size, nd.region.size - Number(nd.region.available_size ?? 0), 'raw namespace size = what it takes of the region');

      // Region: name, provider (the bus ndctl -b found it on), persistence domain, NUMA node, DIMMs.
      assert.ok(info.region, 'a region');
      assert.equal(info.region.name, nd.region.dev);
      assert.equal(info.region.name, dev.region);
      assert.equal(info.region.provider, nd.provider);
      const pd = nd.region.persistence_domain as string | undefined;
      assert.equal(info.region.persistenceDomain, pd === undefined || pd === 'unknown' ? null : pd, `ndctl persistence_domain ${pd}`);
      const expectPd = nd.provider === 'ACPI.NFIT' && persistence() === 'cpu' ? 'cpu_cache' : null;
      assert.equal(info.region.persistenceDomain, expectPd, `nvdimm-persistence=${persistence()}`);
      assert.equal(info.region.numaNode, (nd.region.numa_node as number | undefined) ?? null, 'ndctl -v omits numa_node when the kernel says -1');
      const virtio = nd.provider === 'virtio-pmem';
      assert.equal(info.region.asyncFlush, virtio);
      assert.equal(info.virtio, virtio);
      const ndDimms = ((nd.region.mappings as { dimm: string }[] | undefined) ?? []).map((m) => m.dimm).sort();
      assert.deepEqual(info.region.dimms.map((d) => d.name).sort(), ndDimms, 'the DIMMs of the region, as ndctl maps them');
      // QEMU's NFIT may or may not expose nfit/dirty_shutdown: whatever sysfs has, null when absent.
      for (const d of info.region.dimms) {
        const raw = sysfs(`/sys/bus/nd/devices/${d.name}/nfit/dirty_shutdown`);
        assert.equal(d.dirtyShutdown, raw === null ? null : Number(raw), `${d.name}/nfit/dirty_shutdown: ${raw}`);
      }
      const counts = info.region.dimms.map((d) => d.dirtyShutdown).filter((c): c is number => c !== null);
      assert.equal(info.unsafeShutdowns, counts.length ? counts.reduce((a, b) => a + b, 0) : null);

      // Size and align: device sizes are what ndctl (and daxctl) call the namespace's size.
      if (t.kind === 'file') assert.equal(info.size, fs.statSync(p).size);
      if (t.kind === 'directory') assert.equal(info.size, fs.statSync(p).size);
      if (t.kind === 'block') assert.equal(info.size, nd.ns.size);
      if (t.kind === 'devdax') {
        const dx = daxctl.find((r) => (r.devices ?? []).some((d) => `/dev/${d.chardev}` === p));
        assert.ok(dx, `daxctl lists ${p}: ${JSON.stringify(daxctl)}`);
        const dd = dx.devices.find((d) => `/dev/${d.chardev}` === p)!;
        assert.match(dx.path, new RegExp(`/${info.region.name}/`), 'daxctl region path names the region');
        assert.equal(info.size, nd.ns.size);
        assert.equal(info.size, dd.size);
        assert.equal(info.align, nd.ns.align);
        assert.equal(info.align, dd.align);
        assert.equal(info.align, dev.align);
      } else {
        assert.equal(info.align, null);
      }

      // Filesystem and block device.
      if (t.kind === 'file' || t.kind === 'directory') {
        assert.ok(info.filesystem, 'a filesystem');
        assert.equal(info.filesystem.type, dev.fstype);
        assert.equal(info.filesystem.mountPoint, dev.mount);
        assert.equal(info.filesystem.source, dev.blockdev);
        const opts = mountOptions(dev.mount!).split(',');
        assert.ok(opts.includes('dax=always'), `mounted -o dax: ${opts}`);
        assert.ok(info.filesystem.options.includes('dax=always'), `${info.filesystem.options}`);
        assert.equal(info.filesystem.dax, 'always');
        assert.equal(info.blockDevice, blockName(dev));
        assert.equal(info.blockDevice, nd.ns.blockdev);
      } else {
        assert.equal(info.filesystem, null);
        assert.equal(info.blockDevice, t.kind === 'block' ? nd.ns.blockdev : null);
      }

      // Tier: what a writable open() gets, and why.
      assert.ok(info.tier.reason.length > 0, 'the tier says why');
      if (t.role === 'virtio-devdax') {
        assert.equal(info.tier.openRefused, true);
        assert.equal(info.tier.granularity, null);
        throwsCode(() => open(p), 'ERR_PMEM_ASYNC_FLUSH');
        assert.ok(info.warnings.some((w) => /writable open\(\) is refused/.test(w)), info.warnings.join('; '));
      } else {
        assert.equal(info.tier.openRefused, false);
        const expected = virtio || t.kind === 'block' ? 'page' : nfitTier();
        assert.equal(info.tier.granularity, expected, info.tier.reason);
        if (t.kind === 'file' || t.kind === 'directory') assert.equal(info.tier.mapSync, !virtio);
        if (t.kind === 'directory') assert.match(info.tier.reason, /^a new file here: /);
        if (t.kind !== 'directory') {
          const m = open(p);
          try {
            assert.equal(m.granularity, info.tier.granularity, `open() agrees: ${m.granularityReason}`);
            assert.equal(m.mapSync, info.tier.mapSync);
            assert.equal(m.region?.name, info.region.name);
          } finally {
            m.close();
          }
        }
      }
      if (virtio && t.kind === 'file') assert.match(info.tier.reason, /MAP_SYNC refused/);
      if (t.kind === 'block') {
        assert.equal(info.dax, null);
        assert.match(info.daxError ?? '', /ENOTTY/);
      } else if (t.kind !== 'directory') {
        assert.equal(info.dax?.effective, true, info.dax?.reason);
      }

      // Health: nothing known bad yet; where the list comes from.
      assert.deepEqual(info.badBlocks, []);
      assert.equal(info.healthy, true);
      const bbFile = t.kind === 'devdax' ? `/sys/bus/nd/devices/${info.region.name}/badblocks` : badblocksFile(dev);
      assert.equal(info.badBlocksSource, fs.realpathSync(bbFile));

      // Warnings in plain words.
      const warned = (re: RegExp) => info.warnings.some((w) => re.test(w));
      assert.equal(warned(/virtio-pmem: flush is asynchronous/), virtio, info.warnings.join('; '));
      assert.equal(warned(/page cache only: persist\(\) will call msync/), info.tier.granularity === 'page', info.warnings.join('; '));
      assert.equal(warned(/does not state a persistence domain/), info.region.persistenceDomain === null, info.warnings.join('; '));
      assert.equal(warned(/raw block device/), t.kind === 'block', info.warnings.join('; '));
    });
  }

  it("region.deepFlush follows the kernel's deep_flush (1: flush hints, writable; 0: read-only, nothing to flush)", (ctx) => {
    const problems: string[] = [];
    for (const t of TARGETS) {
      const info = deviceInfo(t.path());
      const file = `/sys/bus/nd/devices/${info.region!.name}/deep_flush`;
      const value = sysfs(file);
      const mode = value === null ? null : (fs.statSync(file).mode & 0o777).toString(8);
      ctx.diagnostic(`${t.path()}: ${file} = ${value} (mode ${mode}); deviceInfo region.deepFlush = ${info.region!.deepFlush}`);
      if (info.region!.deepFlush !== (value === '1')) {
        problems.push(`${t.path()}: deviceInfo says deepFlush ${info.region!.deepFlush}, but ${file} ${value === null ? 'is absent' : `reads "${value}" (mode ${mode})`}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('node-pmem info --json prints deviceInfo() of every path, exit 0', () => {
    const paths = TARGETS.map((t) => t.path());
    const r = cli(['--json', ...paths]);
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout), paths.map((p) => asJson(deviceInfo(p))));
  });

  it('node-pmem info: an aligned table per path, the tier in words, warnings in plain words; exit 1 for a missing path', (ctx) => {
    const paths = TARGETS.map((t) => t.path());
    const missing = path.join(dir, 'no-such-file');
    const r = cli([...paths, missing]);
    ctx.diagnostic(`node-pmem info output:\n${r.stdout}`);
    assert.equal(r.status, 1, `exit ${r.status}: ${r.stderr}`);
    const blocks = r.stdout.trimEnd().split('\n\n').map((b) => b.split('\n'));
    assert.deepEqual(blocks.map((b) => b[0]), [...paths, missing]);
    assert.match(blocks.at(-1)![1]!, /^ {2}error: ENOENT/);
    TARGETS.forEach((t, i) => {
      const lines = blocks[i]!.slice(1);
      const table = lines.filter((l) => !l.startsWith('  warning: '));
      const warnings = lines.filter((l) => l.startsWith('  warning: ')).map((l) => l.slice('  warning: '.length));
      assert.deepEqual(lines, [...table, ...lines.filter((l) => l.startsWith('  warning: '))], 'warnings come after the table');
      const rows = new Map<string, string>();
      const columns = new Set<number>();
      for (const l of table) {
        const m = /^ {2}(\S+(?: \S+)*) {2,}(\S.*)$/.exec(l);
        assert.ok(m, `a table row "key  value": ${JSON.stringify(l)}`);
        rows.set(m[1]!, m[2]!);
        columns.add(l.length - m[2]!.length);
      }
      assert.equal(columns.size, 1, `values start in one column in ${paths[i]}:\n${table.join('\n')}`);
      const info = deviceInfo(paths[i]!);
      assert.equal(rows.get('kind'), info.kind);
      assert.match(rows.get('size')!, new RegExp(`\\(${info.size} B\\)$`));
      assert.equal(rows.get('namespace'), `${info.namespace!.name} (${info.namespace!.mode})`);
      assert.match(rows.get('region')!, new RegExp(`^${info.region!.name}, provider ${info.region!.provider!.replace('.', '\\.')}, `));
      assert.equal(rows.get('why'), info.tier.reason);
      assert.equal(rows.get('bad blocks'), 'none known');
      const tier = rows.get('tier')!;
      if (info.tier.granularity) assert.match(tier, new RegExp(`^${info.tier.granularity}: .*durable`), tier);
      else assert.equal(tier, 'refused for writing');
      if (info.align !== null) assert.match(rows.get('align')!, new RegExp(`\\(${info.align} B\\)$`));
      if (info.filesystem) assert.equal(rows.get('mount dax'), 'always');
      assert.deepEqual(warnings, info.warnings);
      if (t.role.startsWith('virtio')) assert.ok(warnings.some((w) => w.startsWith('virtio-pmem: flush is asynchronous')), warnings.join('; '));
    });
  });
});

describe('health: bad blocks through /sys/block/pmemN/badblocks', { skip: GUEST_ONLY }, () => {
  const FILE_SIZE = MiB;
  /** File block (4 KiB) of bad.bin marked bad. */
  const BAD_BLOCK = 100;
  /** Byte offset in the raw namespace marked bad: far from block.test (1 MiB) and durability (5 MiB). */
  const RAW_BAD = 300 * MiB;
  let fsdax: GuestDevice;
  let raw: GuestDevice;
  let dir: string;
  let badFile: string;
  let content: Buffer;
  let badOffset: number;

  before(() => {
    fsdax = device('nfit-fsdax');
    raw = device('nfit-raw');
    dir = path.join(fsdax.mount!, `health-${phase()}`);
    fs.mkdirSync(dir, { recursive: true });
    badFile = path.join(dir, 'bad.bin');
    content = pattern(`${token()}|bad.bin|${phase()}`, FILE_SIZE);
    badOffset = BAD_BLOCK * 4096;
  });

  it('ndctl inject-error is not supported by QEMU\'s NFIT, and the regions\' badblocks are read-only', (ctx) => {
    const r = spawnSync('ndctl', ['inject-error', '--block=1', '--count=1', raw.namespace!], { encoding: 'utf8' });
    ctx.diagnostic(`ndctl inject-error --block=1 --count=1 ${raw.namespace}: exit ${r.status}: ${(r.stderr + r.stdout).trim()}`);
    assert.notEqual(r.status, 0, 'inject-error worked: this guest could inject real media errors (update this test)');
    assert.match(r.stderr + r.stdout, /not supported/);
    const regionBad = `/sys/bus/nd/devices/${raw.region}/badblocks`;
    throwsCode(() => fs.writeFileSync(regionBad, '0 8\n'), 'EACCES');
  });

  it(`no bad blocks at the start of the boot (${PHASE === 'verify' ? 'those boot 1 added did not survive the reboot' : 'fresh images'})`, () => {
    assert.equal(sysfs(badblocksFile(fsdax)), '');
    assert.equal(sysfs(badblocksFile(raw)), '');
    if (phase() === 'verify') {
      // Boot 1's bad.bin: healthy again, and its data was never damaged (the list was the kernel's only).
      const old = path.join(fsdax.mount!, 'health-write', 'bad.bin');
      const info = deviceInfo(old);
      assert.deepEqual(info.badBlocks, []);
      assert.equal(info.healthy, true);
      assert.ok(fs.readFileSync(old).equals(pattern(`${token()}|bad.bin|write`, FILE_SIZE)), 'boot 1 bad.bin reads back whole');
    }
  });

  it('fsdax: a bad sector range inside a file is listed in file offsets, refused by open(), EIO from readSafe()', (ctx) => {
    fs.rmSync(badFile, { force: true });
    durableFile(badFile, FILE_SIZE);
    const fd = fs.openSync(badFile, 'r+');
    try {
      fs.writeSync(fd, content, 0, content.length, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Where the file's block lives on /dev/pmemN, from e2fsprogs' filefrag (FIEMAP), not from the library.
    const ff = sh('filefrag', ['-v', badFile]);
    ctx.diagnostic(ff);
    const bs = Number(/\(\d+ blocks? of (\d+) bytes\)/.exec(ff)?.[1]);
    assert.equal(bs, 4096, 'ext4 made with 4 KiB blocks');
    let phys: number | null = null;
    for (const m of ff.matchAll(/^\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+)\.\.\s*(\d+):\s+(\d+):/gm)) {
      const [lo, hi, p0] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (lo <= BAD_BLOCK && BAD_BLOCK <= hi) phys = p0 + (BAD_BLOCK - lo);
    }
    assert.ok(phys !== null, `filefrag maps file block ${BAD_BLOCK}`);
    const sector = (phys * bs) / 512;
    // One bad 512-byte sector in the middle of the page: the whole page is unusable (DAX refuses
    // it, a load anywhere in it raises SIGBUS), so the library must report the whole page.
    fs.writeFileSync(badblocksFile(fsdax), `${sector + 3} 1\n`);
    assert.equal(sysfs(badblocksFile(fsdax)), `${sector + 3} 1`);
    const bad = [{ offset: badOffset, length: 4096 }];

    // deviceInfo: the file in file offsets, the block device in its own.
    const info = deviceInfo(badFile);
    assert.deepEqual(info.badBlocks, bad);
    assert.equal(info.healthy, false);
    assert.ok(info.warnings.some((w) => /1 known bad range/.test(w)), info.warnings.join('; '));
    const bdev = deviceInfo(fsdax.blockdev!);
    assert.deepEqual(bdev.badBlocks, [{ offset: sector * 512, length: 4096 }]);
    assert.equal(bdev.healthy, false);

    // node-pmem info: exit 2, the range in the table and in JSON.
    const human = cli([badFile]);
    ctx.diagnostic(human.stdout);
    assert.equal(human.status, 2, `exit ${human.status}: ${human.stderr}`);
    assert.match(human.stdout, new RegExp(`\\n {2}bad blocks +\\[${badOffset}, \\+4096\\)\\n`));
    const json = cli(['--json', badFile]);
    assert.equal(json.status, 2, `exit ${json.status}: ${json.stderr}`);
    const j = JSON.parse(json.stdout) as DeviceInfo;
    assert.deepEqual(j.badBlocks, bad);
    assert.equal(j.healthy, false);

    // open() refuses a window that overlaps it, lists it relative to the window; others open.
    const e = caught(() => open(badFile).close());
    assert.ok(e, 'open() of a file with a known bad block must refuse');
    assert.equal(e.code, 'ERR_PMEM_BADBLOCKS', e.message);
    assert.deepEqual(e.badBlocks, bad);
    assert.ok(e.message.includes(`[${badOffset}, ${badOffset + 4096})`), e.message);
    const w = caught(() => open(badFile, { offset: 384 * 1024, length: 64 * 1024 }).close());
    assert.equal(w?.code, 'ERR_PMEM_BADBLOCKS', w?.message);
    assert.deepEqual(w.badBlocks, [{ offset: badOffset - 384 * 1024, length: 4096 }]);
    const clean = open(badFile, { offset: 0, length: 256 * 1024 });
    try {
      assert.deepEqual(clean.badBlocks, []);
    } finally {
      clean.close();
    }

    // allowBadBlocks: mapped (MAP_SYNC), the range listed; readSafe gives EIO over it, the right bytes elsewhere.
    const m = open(badFile, { allowBadBlocks: true });
    try {
      assert.equal(m.kind, 'fsdax');
      assert.equal(m.mapSync, true);
      assert.deepEqual(m.badBlocks, bad);
      throwsCode(() => m.readSafe(badOffset, 4096), 'EIO');
      assert.throws(() => m.readSafe(badOffset, 4096), /^Error: EIO: i\/o error, pread '/, "readSafe's EIO in Node's shape");
      throwsCode(() => m.readSafe(badOffset + 1000, 8), 'EIO');
      throwsCode(() => m.readSafe(badOffset - 10, 20), 'EIO');
      throwsCode(() => m.readSafe(0, FILE_SIZE), 'EIO');
      assert.ok(m.readSafe(badOffset - 4096, 4096).equals(content.subarray(badOffset - 4096, badOffset)));
      assert.ok(m.readSafe(badOffset + 4096, 4096).equals(content.subarray(badOffset + 4096, badOffset + 8192)));
      assert.ok(m.readSafe(0, badOffset).equals(content.subarray(0, badOffset)));
      assert.ok(m.readSafe(badOffset + 4096, FILE_SIZE - badOffset - 4096).equals(content.subarray(badOffset + 4096)));
      // Loads outside the bad page work as usual.
      assert.ok(m.read(badOffset + 4096, 64).equals(content.subarray(badOffset + 4096, badOffset + 4096 + 64)));
    } finally {
      m.close();
    }
    // Still here: the EIO errors were thrown, not a SIGBUS.
  });

  it('fsdax: a load through a view from the bad page kills with SIGBUS; read() and the SIGBUS-guarded copy (device-dax\'s readSafe) give EIO', () => {
    // NODE_PMEM_SAFE_READ=copy makes readSafe use the guarded copy that device-dax needs (it has no read()),
    // here against a real SIGBUS from the kernel (the DAX fault refuses a page with bad sectors).
    const script = `
      const pmem = require(${JSON.stringify(require.resolve('node-pmem'))});
      const m = pmem.open(${JSON.stringify(badFile)}, { allowBadBlocks: true });
      const out = {};
      try { m.readSafe(${badOffset}, 4096); out.bad = 'no error'; } catch (e) { out.bad = e.code; out.message = e.message; }
      out.good = m.readSafe(${badOffset + 4096}, 4096).toString('base64');
      try { m.read(${badOffset}, 16); out.read = 'no error'; } catch (e) { out.read = e.code; }
      process.stdout.write(JSON.stringify(out) + '\\n');
      m.bytes(${badOffset}, 16)[0];
      process.stdout.write('survived a load from the bad page\\n');
    `;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_PMEM_SAFE_READ: 'copy' },
    });
    const first = r.stdout.split('\n')[0]!;
    assert.ok(first.startsWith('{'), `child output: ${r.stdout} ${r.stderr}`);
    const out = JSON.parse(first) as { bad: string; message?: string; good: string; read: string };
    assert.equal(out.bad, 'EIO', out.message);
    assert.equal(out.read, 'EIO', 'read() runs under the SIGBUS guard');
    assert.match(out.message ?? '', /SIGBUS-guarded copy/);
    assert.ok(Buffer.from(out.good, 'base64').equals(content.subarray(badOffset + 4096, badOffset + 8192)));
    assert.equal(r.signal, 'SIGBUS', `the load through a view must die of SIGBUS: status ${r.status} signal ${r.signal}, ${r.stdout}`);
    assert.doesNotMatch(r.stdout, /survived/);
  });

  // Boot 2 only: a bad page anywhere on /dev/pmemN makes open() of the whole device refuse, and in boot 1 the
  // durability step (after this one) maps it whole; in boot 2 this step is the last.
  const RAW_SKIP = PHASE === 'write' ? 'boot 2 only: the durability step that follows in boot 1 maps /dev/pmemN whole' : false;

  it('raw /dev/pmemN: a bad range in block device offsets, refused by open(), EIO from readSafe()', { skip: RAW_SKIP }, (ctx) => {
    const blockdev = raw.blockdev!;
    const around = pattern(`${token()}|raw|${phase()}`, 3 * 4096);
    const fd = fs.openSync(blockdev, 'r+');
    try {
      fs.writeSync(fd, around, 0, around.length, RAW_BAD - 4096);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Reads of /dev/pmemN go through the page cache: drop it, or a cached page would hide the bad sectors.
    sh('blockdev', ['--flushbufs', blockdev]);
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
    const sector = RAW_BAD / 512;
    fs.writeFileSync(badblocksFile(raw), `${sector} 8\n`);
    assert.equal(sysfs(badblocksFile(raw)), `${sector} 8`);
    const bad = [{ offset: RAW_BAD, length: 4096 }];

    const info = deviceInfo(blockdev);
    assert.deepEqual(info.badBlocks, bad);
    assert.equal(info.healthy, false);
    const human = cli([blockdev]);
    ctx.diagnostic(human.stdout);
    assert.equal(human.status, 2, `exit ${human.status}: ${human.stderr}`);
    assert.match(human.stdout, new RegExp(`\\n {2}bad blocks +\\[${RAW_BAD}, \\+4096\\)\\n`));

    const e = caught(() => open(blockdev).close());
    assert.equal(e?.code, 'ERR_PMEM_BADBLOCKS', e?.message);
    assert.deepEqual(e.badBlocks, bad);
    const w = open(blockdev, { offset: 0, length: 64 * MiB });
    w.close();
    const m = open(blockdev, { allowBadBlocks: true });
    try {
      assert.equal(m.kind, 'block');
      assert.deepEqual(m.badBlocks, bad);
      throwsCode(() => m.readSafe(RAW_BAD, 4096), 'EIO');
      throwsCode(() => m.readSafe(RAW_BAD + 512, 1), 'EIO');
      assert.ok(m.readSafe(RAW_BAD - 4096, 4096).equals(around.subarray(0, 4096)));
      assert.ok(m.readSafe(RAW_BAD + 4096, 4096).equals(around.subarray(8192)));
    } finally {
      m.close();
    }
  });

  it('the kernel cannot clear them here: the sysfs file only adds ranges, a write over them fails', (ctx) => {
    const list = sysfs(badblocksFile(fsdax))!;
    const [sector, count] = list.split(' ').map(Number) as [number, number];
    assert.equal(count, 1, `the range added above: ${list}`);
    // badblocks_store() parses "<sector> <count>" with count > 0; there is no removal syntax.
    for (const attempt of [`-${sector} 1\n`, `${sector} -1\n`, `${sector} 0\n`]) {
      throwsCode(() => fs.writeFileSync(badblocksFile(fsdax), attempt), 'EINVAL');
    }
    // The pmem driver clears a range on write only through the platform's clear-error command (QEMU has none):
    // a DAX write over the bad file block fails, and so does a direct write to a bad raw page.
    const dax = spawnSync('dd', ['if=/dev/zero', `of=${badFile}`, 'bs=4096', `seek=${BAD_BLOCK}`, 'count=1', 'conv=notrunc'], { encoding: 'utf8' });
    ctx.diagnostic(`dd over the bad file block (DAX write): exit ${dax.status}: ${dax.stderr.trim()}`);
    assert.notEqual(dax.status, 0, 'a DAX write over a bad block fails');
    assert.equal(sysfs(badblocksFile(fsdax)), list);
    if (PHASE !== 'write') {
      const rawList = sysfs(badblocksFile(raw));
      const r = spawnSync('dd', ['if=/dev/zero', `of=${raw.blockdev}`, 'bs=4096', `seek=${RAW_BAD / 4096}`, 'count=1', 'oflag=direct'], { encoding: 'utf8' });
      ctx.diagnostic(`dd oflag=direct over the bad raw page: exit ${r.status}: ${r.stderr.trim()}`);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Input\/output error/);
      assert.equal(sysfs(badblocksFile(raw)), rawList);
    }
  });

  it('device-dax: bad blocks come from the read-only region list (empty here); readSafe is the guarded copy', () => {
    const dev = device('nfit-devdax');
    const info = deviceInfo(dev.chardev!);
    assert.equal(info.badBlocksSource, fs.realpathSync(`/sys/bus/nd/devices/${dev.region}/badblocks`));
    assert.equal(sysfs(`/sys/bus/nd/devices/${dev.region}/badblocks`), '');
    assert.deepEqual(info.badBlocks, []);
    // No way to poison device-dax here (no injection, no writable list, and device-dax faults do not consult
    // the block layer's list): only the healthy path of its readSafe can be shown.
    const data = pattern(`${token()}|devdax|${phase()}`, 8192);
    const off = 5 * dev.align!;
    const m = open(dev.chardev!);
    try {
      m.write(off, data, { persist: true });
      assert.ok(m.readSafe(off, data.length).equals(data));
      assert.ok(m.readSafe(off + 100, 1000).equals(data.subarray(100, 1100)));
    } finally {
      m.close();
    }
  });
});

describe('health: deepFlush', { skip: GUEST_ONLY }, () => {
  const RECORD_AT = 12_345;
  const record = (ph: string) => `${token()}|health-deepflush|${ph}`;

  it('fsdax MAP_SYNC mapping: persists, writes deep_flush only where the kernel offers it (reads 1)', (ctx) => {
    const dev = device('nfit-fsdax');
    const dir = path.join(dev.mount!, `health-${phase()}`);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'deepflush.bin');
    durableFile(file, MiB);
    const control = `/sys/bus/nd/devices/${dev.region}/deep_flush`;
    const value = sysfs(control);
    ctx.diagnostic(`${control} = ${value} (mode ${value === null ? '-' : (fs.statSync(control).mode & 0o777).toString(8)})`);
    const text = record(phase());
    const m = open(file);
    let result: boolean | undefined;
    let error: Error | null = null;
    try {
      assert.equal(m.mapSync, true);
      assert.ok(m.region?.deepFlushPath === null || fs.realpathSync(m.region!.deepFlushPath) === fs.realpathSync(control));
      m.write(RECORD_AT, text);
      try {
        result = m.deepFlush(RECORD_AT, text.length);
      } catch (err) {
        error = err as Error;
      }
    } finally {
      m.close();
    }
    assert.equal(error, null, `deepFlush threw: ${error?.message}`);
    // pmem2_deep_flush reads deep_flush first and writes it only when it is not "0" (no flush hints: ADR).
    assert.equal(result, value === '1', `deep_flush reads ${value}`);
    const fd = fs.openSync(file, 'r');
    try {
      const got = Buffer.alloc(text.length);
      fs.readSync(fd, got, 0, got.length, RECORD_AT);
      assert.equal(got.toString(), text);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('the record written before deepFlush in boot 1 survived the power-off', { skip: PHASE !== 'verify' ? 'boot 2 only' : false }, () => {
    const file = path.join(device('nfit-fsdax').mount!, 'health-write', 'deepflush.bin');
    const text = record('write');
    const m = open(file, { readOnly: true });
    try {
      assert.equal(textOf(m.read(RECORD_AT, text.length)), text);
    } finally {
      m.close();
    }
  });

  it('virtio-pmem (page tier): deepFlush is persist() (msync) and returns false', () => {
    const dev = device('virtio-fsdax');
    const file = path.join(dev.mount!, `health-deepflush-${phase()}.bin`);
    durableFile(file, MiB);
    const text = record(`virtio-${phase()}`);
    const m = open(file);
    try {
      assert.equal(m.granularity, 'page');
      assert.equal(m.region?.deepFlushPath ?? null, null);
      m.write(RECORD_AT, text);
      assert.equal(m.deepFlush(RECORD_AT, text.length), false);
    } finally {
      m.close();
    }
    assert.equal(fs.readFileSync(file).subarray(RECORD_AT, RECORD_AT + text.length).toString(), text);
  });
});
