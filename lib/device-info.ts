/**
 * deviceInfo(path): what a path is, how durable stores to it will be and why, and how healthy
 * its media is. Everything comes from sysfs, /proc/self/mountinfo and syscalls (no ndctl).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { native, type NativeCxlRegion, type NativeDeviceFacts } from './binding';
import type { DaxState, Granularity } from './types';
import { validatePath } from './validate';

export interface ByteRange {
  offset: number;
  length: number;
}

export interface FilesystemInfo {
  type: string;
  mountPoint: string;
  source: string;
  /** Superblock options, e.g. ['rw', 'dax=always']. */
  options: string[];
  /** The DAX mount mode; 'always' for the legacy bare `dax` option; null when not stated. */
  dax: 'always' | 'inode' | 'never' | null;
}

export interface DeviceInfo {
  path: string;
  /** What the path itself is. */
  kind: 'file' | 'directory' | 'block' | 'devdax';
  size: number;
  filesystem: FilesystemInfo | null;
  /** The block device: the path itself, or the one holding its filesystem. */
  blockDevice: string | null;
  namespace: { name: string; mode: string | null; size: number | null } | null;
  region: {
    name: string;
    persistenceDomain: string | null;
    provider: string | null;
    /** virtio-pmem: flushes are asynchronous, only msync/fsync make data durable. */
    asyncFlush: boolean;
    deepFlush: boolean;
    numaNode: number | null;
    dimms: { name: string; dirtyShutdown: number | null }[];
  } | null;
  /**
   * The CXL region behind the nd region, when the CXL bus registered it: its memdevs (serial and
   * firmware version from sysfs; health is not in sysfs, `cxl list -H` asks the device), interleave
   * ways and granularity, and the root decoder. Null for other regions.
   */
  cxl: NativeCxlRegion | null;
  /** device-dax alignment. */
  align: number | null;
  virtio: boolean;
  /** The tier a writable open() would get, and why (null granularity: could not tell, or refused). */
  tier: { granularity: Granularity | null; mapSync: boolean; reason: string; openRefused: boolean };
  dax: DaxState | null;
  /** Why getDax failed (e.g. ENOTTY from a raw block device), or null. */
  daxError: string | null;
  /** Known bad ranges in the path's own coordinates (file offsets for a file). */
  badBlocks: ByteRange[];
  badBlocksSource: string | null;
  /** Sum of the DIMMs' unsafe-shutdown counts, or null when the platform exposes none. */
  unsafeShutdowns: number | null;
  healthy: boolean;
  warnings: string[];
}

interface MountEntry {
  devMajor: number;
  devMinor: number;
  mountPoint: string;
  type: string;
  source: string;
  options: string[];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function readMounts(): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    const [major, minor] = fields[2]!.split(':').map(Number);
    entries.push({
      devMajor: major!,
      devMinor: minor!,
      mountPoint: unescapeMount(fields[4]!),
      type: fields[dash + 1]!,
      source: unescapeMount(fields[dash + 2]!),
      options: [...fields[5]!.split(','), ...fields[dash + 3]!.split(',')].filter((o, i, all) => all.indexOf(o) === i),
    });
  }
  return entries;
}

function daxMode(options: string[]): FilesystemInfo['dax'] {
  for (const o of options) {
    if (o === 'dax' || o === 'dax=always') return 'always';
    if (o === 'dax=inode') return 'inode';
    if (o === 'dax=never') return 'never';
  }
  return null;
}

/** The mount holding path: same device, longest mount point that is a prefix of the real path. */
export function findFilesystem(path: string, devMajor: number, devMinor: number): FilesystemInfo | null {
  const real = realpathSync(path);
  let best: MountEntry | null = null;
  for (const m of readMounts()) {
    if (m.devMajor !== devMajor || m.devMinor !== devMinor) continue;
    const prefix = m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`;
    if (real !== m.mountPoint && !real.startsWith(prefix)) continue;
    if (best === null || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  if (best === null) return null;
  return { type: best.type, mountPoint: best.mountPoint, source: best.source, options: best.options, dax: daxMode(best.options) };
}

/** Device bad ranges (filesystem-device coordinates) as byte ranges of the file, through its FIEMAP extents. */
export function fileBadBlocks(extents: Float64Array, deviceRanges: readonly ByteRange[]): ByteRange[] {
  if (deviceRanges.length === 0) return [];
  const out: ByteRange[] = [];
  for (let i = 0; i < extents.length; i += 3) {
    const logical = extents[i]!;
    const physical = extents[i + 1]!;
    const length = extents[i + 2]!;
    for (const bad of deviceRanges) {
      const start = Math.max(physical, bad.offset);
      const end = Math.min(physical + length, bad.offset + bad.length);
      if (start < end) out.push({ offset: logical + (start - physical), length: end - start });
    }
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** Bad ranges of a path in its own coordinates, from probed facts. */
function badBlocksOf(facts: NativeDeviceFacts): ByteRange[] {
  return facts.type === 'file' ? fileBadBlocks(facts.extents, facts.badblocks) : facts.badblocks.map((r) => ({ ...r }));
}

export function deviceInfo(path: string | Buffer | URL): DeviceInfo {
  const p = validatePath(path);
  const facts = native.deviceProbe(p);
  const isFsObject = facts.type === 'file' || facts.type === 'directory';
  const filesystem = isFsObject ? findFilesystem(p, facts.devMajor, facts.devMinor) : null;
  const badBlocks = badBlocksOf(facts);
  const region = facts.region;
  const counts = region?.dimms.map((d) => d.dirtyShutdown).filter((c): c is number => c !== null) ?? [];
  const info: DeviceInfo = {
    path: p,
    kind: facts.type,
    size: facts.size,
    filesystem,
    blockDevice: facts.blockDevice,
    namespace: facts.namespaceName === null ? null : { name: facts.namespaceName, mode: facts.namespaceMode, size: facts.namespaceSize },
    region: region === null ? null : {
      name: region.name,
      persistenceDomain: region.persistenceDomain,
      provider: region.provider,
      asyncFlush: region.asyncFlush,
      deepFlush: region.deepFlushPath !== null,
      numaNode: region.numaNode,
      dimms: region.dimms,
    },
    cxl: region?.cxl ?? null,
    align: facts.align,
    virtio: region?.asyncFlush ?? false,
    tier: { granularity: facts.granularity, mapSync: facts.mapSync, reason: facts.reason, openRefused: facts.openRefused },
    dax: facts.dax,
    daxError: facts.daxError?.message ?? null,
    badBlocks,
    badBlocksSource: facts.badblocksSource,
    unsafeShutdowns: counts.length > 0 ? counts.reduce((a, b) => a + b, 0) : null,
    healthy: badBlocks.length === 0,
    warnings: [],
  };
  info.warnings = [...warningsFor(info), ...facts.cxlGaps];
  return info;
}

function warningsFor(info: DeviceInfo): string[] {
  const w: string[] = [];
  if (info.tier.openRefused) w.push(`writable open() is refused: ${info.tier.reason}`);
  else if (info.tier.granularity === 'page') w.push('page cache only: persist() will call msync');
  else if (info.tier.granularity === null) w.push(`durability tier unknown: ${info.tier.reason}`);
  if (info.virtio) w.push('virtio-pmem: flush is asynchronous; only msync/fsync make data durable');
  if (info.kind === 'block') w.push('raw block device: no DAX on current kernels (BLKDAXGET is gone); use fsdax or device-dax');
  if (info.filesystem?.dax === 'never' && info.region !== null) w.push('mounted dax=never on a pmem device: DAX disabled');
  if (info.badBlocks.length > 0)
    w.push(`${info.badBlocks.length} known bad range(s): loads from them raise SIGBUS; use readSafe() or repair`);
  if (info.cxl !== null && !info.cxl.committed) w.push(`CXL region ${info.cxl.region} is not committed`);
  const cpu = native.cpuInfo();
  if (info.tier.granularity === 'cacheline' && !cpu.flushReachesPersistence)
    w.push(`this CPU's cache flush is ${cpu.flush.toUpperCase()}: ${cpu.flushNote}; persist() cannot promise durability here`);
  if (info.region !== null && info.region.persistenceDomain === null)
    w.push(`${info.region.name} does not state a persistence domain: assuming ADR (flush, then fence)`);
  return w;
}
