/**
 * Guest setup, run before the guest tests of a device boot (`node setup.js`; not a test file).
 *
 * Finds every device of test/vm/layout.ts by provider and size (never by number). On the first boot of a
 * set of images (phase 'write') it puts each namespace into its mode and makes the filesystems; on the
 * second ('verify') it checks the modes survived in the label area / info blocks and only mounts.
 * Writes what it found to <job>/devices.json for the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DEVICES, DISK_SERIAL, MANIFEST, MOUNTS, type DeviceSpec, type GuestDevice, type Manifest, type Phase, type Role,
} from '../layout';
import {
  chardevOf, jobDir, ndctlRegions, persistence, phase, readSysNumber, sh, type NdNamespace, type NdRegion,
} from './env';

const WANT_MODE: Record<Exclude<Role, 'disk'>, string> = {
  'nfit-fsdax': 'fsdax',
  'nfit-devdax': 'devdax',
  'nfit-raw': 'raw',
  'nfit-xfs': 'fsdax',
  // virtio-pmem regions are label-less; the kernel presents their namespace as fsdax (map: mem) as is.
  'virtio-fsdax': 'fsdax',
  'virtio-devdax': 'devdax',
};

const FS: Partial<Record<Role, { type: string; mkfs: string[]; options: string }>> = {
  'nfit-fsdax': { type: 'ext4', mkfs: ['mkfs.ext4', '-F', '-q', '-b', '4096'], options: 'dax' },
  'nfit-xfs': { type: 'xfs', mkfs: ['mkfs.xfs', '-f', '-q', '-m', 'reflink=0'], options: 'dax=inode' },
  'virtio-fsdax': { type: 'ext4', mkfs: ['mkfs.ext4', '-F', '-q', '-b', '4096'], options: 'dax' },
};

const log = (msg: string) => console.log(`setup: ${msg}`);

function findRegion(spec: DeviceSpec, regions: NdRegion[]): NdRegion {
  const want = spec.sizeMiB * 1024 * 1024;
  const hits = regions.filter((r) => Math.abs(r.size - want) < 16 * 1024 * 1024);
  if (hits.length !== 1) {
    throw new Error(
      `expected one ${spec.provider} region of ${spec.sizeMiB} MiB for ${spec.role}, found ${hits.length}: ` +
        regions.map((r) => `${r.dev}=${r.size}`).join(', '),
    );
  }
  return hits[0]!;
}

function persistenceDomain(region: string): string | null {
  try {
    return fs.readFileSync(`/sys/bus/nd/devices/${region}/persistence_domain`, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function waitForNamespaces(): void {
  // Namespaces are probed asynchronously after the regions appear.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const regions = [...ndctlRegions('ACPI.NFIT'), ...ndctlRegions('virtio-pmem')];
    const ready = regions.length === DEVICES.length && regions.every((r) => (r.namespaces ?? []).some((n) => n.mode));
    if (ready) return;
    if (Date.now() > deadline) {
      throw new Error(`regions/namespaces did not all appear: ${JSON.stringify(regions)}`);
    }
    sh('sleep', ['0.2']);
  }
}

/** The virtio-blk disk (not pmem): ext4 with default options, for page-cache files and the control record. */
function setupDisk(ph: Phase): GuestDevice {
  const name = fs.readdirSync('/sys/block').find((b) => {
    try {
      return fs.readFileSync(`/sys/block/${b}/serial`, 'utf8').trim() === DISK_SERIAL;
    } catch {
      return false;
    }
  });
  if (!name) throw new Error(`no virtio-blk disk with serial ${DISK_SERIAL}`);
  const blockdev = `/dev/${name}`;
  if (ph === 'write') {
    log(`disk: mkfs.ext4 ${blockdev}`);
    sh('mkfs.ext4', ['-F', '-q', '-b', '4096', blockdev]);
  }
  fs.mkdirSync(MOUNTS.disk, { recursive: true });
  sh('mount', ['-t', 'ext4', blockdev, MOUNTS.disk]);
  const dev: GuestDevice = {
    role: 'disk', provider: 'virtio-blk', blockdev, size: Number(sh('blockdev', ['--getsize64', blockdev]).trim()),
    mount: MOUNTS.disk, fstype: 'ext4',
  };
  log(`disk: ${JSON.stringify(dev)}`);
  return dev;
}

function main(): void {
  const ph = phase();
  log(`phase ${ph}, nvdimm-persistence ${persistence()}`);
  waitForNamespaces();
  const devices: Record<string, GuestDevice> = {};
  for (const spec of DEVICES) {
    const region = findRegion(spec, ndctlRegions(spec.provider));
    // After a label-based reconfiguration the region also lists an idle seed namespace of size 0.
    let ns = [...(region.namespaces ?? [])].sort((a, b) => (b.size ?? 0) - (a.size ?? 0))[0] as NdNamespace | undefined;
    if (!ns) throw new Error(`${region.dev} (${spec.role}) has no namespace`);
    const want = WANT_MODE[spec.role as Exclude<Role, 'disk'>];
    if (ns.mode !== want) {
      if (ph === 'verify') {
        throw new Error(`${spec.role}: ${ns.dev} is in mode ${ns.mode} on the second boot, but the first made it ${want}`);
      }
      log(`${spec.role}: ndctl create-namespace -f -e ${ns.dev} -m ${want}`);
      const out = sh('ndctl', ['create-namespace', '-f', '-e', ns.dev, '-m', want]);
      ns = JSON.parse(out) as NdNamespace;
    }
    const dev: GuestDevice = {
      role: spec.role,
      provider: spec.provider,
      region: region.dev,
      persistenceDomain: persistenceDomain(region.dev),
      namespace: ns.dev,
      mode: ns.mode,
    };
    if (ns.blockdev) dev.blockdev = `/dev/${ns.blockdev}`;
    const chardev = chardevOf(ns);
    if (chardev) {
      dev.chardev = `/dev/${chardev}`;
      dev.align = readSysNumber(`/sys/bus/dax/devices/${chardev}/align`);
      dev.size = readSysNumber(`/sys/bus/dax/devices/${chardev}/size`);
    } else if (dev.blockdev) {
      dev.size = Number(sh('blockdev', ['--getsize64', dev.blockdev]).trim());
    }
    const fsSpec = FS[spec.role];
    if (fsSpec) {
      if (!dev.blockdev) throw new Error(`${spec.role}: namespace ${ns.dev} has no block device`);
      if (ph === 'write') {
        log(`${spec.role}: ${fsSpec.mkfs.join(' ')} ${dev.blockdev}`);
        sh(fsSpec.mkfs[0]!, [...fsSpec.mkfs.slice(1), dev.blockdev]);
      }
      const mnt = MOUNTS[spec.role as keyof typeof MOUNTS];
      fs.mkdirSync(mnt, { recursive: true });
      sh('mount', ['-t', fsSpec.type, '-o', fsSpec.options, dev.blockdev, mnt]);
      dev.mount = mnt;
      dev.fstype = fsSpec.type;
    }
    log(`${spec.role}: ${JSON.stringify(dev)}`);
    devices[spec.role] = dev;
  }
  devices.disk = setupDisk(ph);
  const manifest: Manifest = {
    phase: ph,
    persistence: persistence(),
    devices,
    ndctl: { nfit: ndctlRegions('ACPI.NFIT'), virtio: ndctlRegions('virtio-pmem') },
  };
  fs.writeFileSync(path.join(jobDir(), MANIFEST), JSON.stringify(manifest, null, 2));
  log(`wrote ${MANIFEST}`);
}

main();
