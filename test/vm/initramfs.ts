/**
 * The guest's kernel modules and its busybox initramfs.
 *
 * Debian's kernel builds nearly everything the guest needs as modules. The modules are loaded by the
 * initramfs' /init (test/vm/init.sh) in two stages: first the NFIT/libnvdimm stack, so ACPI NVDIMM regions
 * are registered before virtio-pmem's, then virtio (PCI transport, virtio-pmem, 9p) and the filesystems.
 * Each stage's list is closed over modules.dep and sorted so that dependencies load first.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Stage 1: ACPI NFIT NVDIMMs, their namespaces, fsdax/raw block devices and device-dax; and CXL (the ACPI
 * host bridges, the memdevs, and cxl_pmem, which registers a CXL pmem region as an nd region). On a
 * machine without CXL the CXL drivers find nothing to bind.
 */
export const STAGE1 = [
  'libnvdimm', 'nfit', 'nd_btt', 'nd_pmem', 'dax_pmem', 'device_dax',
  'cxl_acpi', 'cxl_pci', 'cxl_mem', 'cxl_pmem',
];
/**
 * Stage 2: virtio transport, virtio-pmem, the 9p shares, overlayfs, ext4 and XFS (whose softdep on
 * crypto-crc32c modprobe would resolve; insmod does not, so crc32c is listed), loop and virtio_blk (the
 * unit suite's scratch disk).
 */
export const STAGE2 = [
  'virtio_pci', 'virtio_pmem', '9pnet_virtio', '9p', 'overlay',
  'crc32c_generic', 'crc32c_intel', 'ext4', 'xfs', 'loop', 'virtio_blk',
];

const norm = (name: string) => name.replace(/-/g, '_');

export interface ModuleClosure {
  /** Module file names (flat, `<name>.ko`) in load order, per stage. */
  stage1: string[];
  stage2: string[];
  /** name.ko → path under the modules directory. */
  files: Map<string, string>;
}

/** Resolve the two stages' modules and their dependencies from `<modulesDir>/modules.dep`. */
export function resolveModules(modulesDir: string): ModuleClosure {
  const depText = fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8');
  const builtin = new Set(
    fs.existsSync(path.join(modulesDir, 'modules.builtin'))
      ? fs.readFileSync(path.join(modulesDir, 'modules.builtin'), 'utf8').split('\n').filter(Boolean)
          .map((l) => norm(path.basename(l).replace(/\.ko(\.\w+)?$/, '')))
      : [],
  );
  const byName = new Map<string, { file: string; deps: string[] }>();
  for (const line of depText.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const file = m[1]!;
    const deps = m[2]!.split(/\s+/).filter(Boolean);
    byName.set(norm(path.basename(file).replace(/\.ko(\.\w+)?$/, '')), { file, deps });
  }
  const nameOf = (file: string) => norm(path.basename(file).replace(/\.ko(\.\w+)?$/, ''));
  const files = new Map<string, string>();
  const loaded = new Set<string>();

  const order = (wanted: string[]): string[] => {
    const out: string[] = [];
    const visit = (name: string, chain: string[]) => {
      name = norm(name);
      if (loaded.has(name)) return;
      const entry = byName.get(name);
      if (!entry) {
        if (builtin.has(name)) return; // built into the kernel: nothing to load
        throw new Error(`kernel module ${name} (needed by ${chain.join(' <- ') || 'the guest'}) is not in modules.dep`);
      }
      loaded.add(name);
      for (const d of entry.deps) visit(nameOf(d), [name, ...chain]);
      const flat = `${name}.ko`;
      if (entry.file.endsWith('.ko') === false) {
        throw new Error(`module ${entry.file} is compressed; the harness expects plain .ko files`);
      }
      files.set(flat, entry.file);
      out.push(flat);
    };
    for (const w of wanted) visit(w, []);
    return out;
  };
  const stage1 = order(STAGE1);
  const stage2 = order(STAGE2);
  return { stage1, stage2, files };
}

/** One entry of a newc ("070701") cpio archive. */
interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  rdevMajor?: number;
  rdevMinor?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** Serialise entries as an uncompressed newc cpio archive, the format the kernel unpacks as initramfs. */
export function cpio(entries: CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const push = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const header = Buffer.from(
      '070701' +
        hex(ino++) + hex(e.mode) + hex(0) + hex(0) + hex((e.mode & S_IFDIR) === S_IFDIR ? 2 : 1) +
        hex(0) + hex(data.length) + hex(0) + hex(0) + hex(e.rdevMajor ?? 0) + hex(e.rdevMinor ?? 0) +
        hex(name.length) + hex(0),
      'ascii',
    );
    chunks.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  for (const e of entries) push(e);
  push({ name: 'TRAILER!!!', mode: 0 });
  const out = Buffer.concat(chunks);
  return Buffer.concat([out, Buffer.alloc((512 - (out.length % 512)) % 512)]);
}

/**
 * The initramfs: busybox (static), /init, the modules and the two stage lists.
 * `moduleDir` holds the flat `<name>.ko` files named in `stage1`/`stage2`.
 */
export function buildInitramfs(opts: {
  busybox: string;
  init: string;
  moduleDir: string;
  stage1: string[];
  stage2: string[];
}): Buffer {
  const dirs = ['bin', 'sbin', 'dev', 'etc', 'lib', 'lib/modules', 'mnt', 'proc', 'sys', 'newroot', 'root', 'tmp', 'usr', 'usr/bin', 'usr/sbin'];
  const entries: CpioEntry[] = dirs.map((d) => ({ name: d, mode: S_IFDIR | 0o755 }));
  entries.push({ name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 });
  entries.push({ name: 'bin/busybox', mode: S_IFREG | 0o755, data: fs.readFileSync(opts.busybox) });
  entries.push({ name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(opts.init) });
  for (const ko of [...opts.stage1, ...opts.stage2]) {
    entries.push({ name: `lib/modules/${ko}`, mode: S_IFREG | 0o644, data: fs.readFileSync(path.join(opts.moduleDir, ko)) });
  }
  entries.push({ name: 'etc/modules.stage1', mode: S_IFREG | 0o644, data: Buffer.from(opts.stage1.join('\n') + '\n') });
  entries.push({ name: 'etc/modules.stage2', mode: S_IFREG | 0o644, data: Buffer.from(opts.stage2.join('\n') + '\n') });
  return cpio(entries);
}
