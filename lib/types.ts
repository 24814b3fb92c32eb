/** Public types of node-pmem. Kept apart from the classes so the testing module can share them. */

/** How fine-grained durability is for a mapping. */
export type Granularity = 'byte' | 'cacheline' | 'page';

/** What the mapped path is. */
export type MappingKind = 'file' | 'fsdax' | 'devdax' | 'block';

export type LockMode = 'exclusive' | 'shared' | 'none';

export interface OpenOptions {
  /** Create the file if missing (regular files only). Requires `size` when the file is new. */
  create?: boolean;
  /** With `create`: fail with EEXIST if the file exists. */
  exclusive?: boolean;
  /** With `create`: the file's minimum size in bytes; a shorter file is extended, never truncated. */
  size?: number;
  /** Skip allocating the mapped blocks up front (posix_fallocate). Default false. */
  sparse?: boolean;
  /** Map read-only as a private copy-on-write mapping: stores through views never reach the file. */
  readOnly?: boolean;
  /** File/device offset of the window to map (page- or device-aligned). Default 0. */
  offset?: number;
  /** Length of the window. Default: to the end of the file/device. */
  length?: number;
  /** Override the detected tier, as PMEM2_FORCE_GRANULARITY does. Default 'auto'. */
  granularity?: 'auto' | Granularity;
  /** flock mode. Default 'exclusive' for writable opens, 'shared' for readOnly. */
  lock?: LockMode;
  /** File mode for a created file. Default 0o600. */
  mode?: number;
  /**
   * Map even when known bad blocks overlap the window (they are listed in mapping.badBlocks;
   * read them with readSafe()). Default false: open() fails with ERR_PMEM_BADBLOCKS.
   */
  allowBadBlocks?: boolean;
}

export interface WriteOptions {
  /** Make the bytes durable before returning (non-temporal stores above 256 B, flush below, one fence). */
  persist?: boolean;
}

export interface PersistDirtyResult {
  /** Merged extents (cache lines or pages runs) that were flushed. */
  extents: number;
  /** Bytes flushed after alignment to the flush unit. */
  bytes: number;
}

/** What cpuInfo() says on every architecture. */
interface CpuInfoCommon {
  /** How node-pmem/kv's CRC-32C is computed: SSE4.2's crc32, the Arm CRC extension, or a table. */
  crc32c: 'sse4.2' | 'crc32' | 'table';
  /** The step of the flush: the smallest data cache line (64 on x86-64; CTR_EL0's on aarch64). */
  cacheLineSize: number;
  /** Copies at least this large use non-temporal stores, where there are any. */
  nonTemporalThreshold: number;
  /** The fence that ends a flush: sfence (x86-64), dsb sy (aarch64). */
  fence: 'sfence' | 'dsb sy' | 'seq_cst';
  /**
   * Whether flush then fence reaches the point of persistence: true for x86-64's flushes and for
   * DC CVAP/CVADP; false for DC CVAC, which cleans only to the point of coherency (the cacheline
   * tier is then not detected on files; see granularityReason).
   */
  flushReachesPersistence: boolean;
  /**
   * Whether the flush instruction itself faults on a page truncated away under a mapping, as it
   * does on hardware (tried once, on a page of a memfd truncated to nothing). Where it does not
   * (an emulator running the flush without a page walk, such as QEMU's TCG), a flush also loads
   * the last byte of its range, so that a truncation is still reported as ERR_PMEM_TRUNCATED.
   */
  flushFaultsOnMissingPage: boolean;
  /** Why this flush was chosen when it is not the best the CPU names (a refused probe, a knob); '' otherwise. */
  flushNote: string;
}

/** cpuInfo() on x86-64. */
export interface CpuInfoX64 extends CpuInfoCommon {
  arch: 'x64';
  /** The flush instruction chosen for cacheline persistence. */
  flush: 'clwb' | 'clflushopt' | 'clflush' | 'none';
  /** The widest non-temporal store path used for large persistent copies. */
  nonTemporal: 'avx512f' | 'avx2' | 'sse2' | 'none';
  clwb: boolean;
  clflushopt: boolean;
  clflush: boolean;
  sse2: boolean;
  avx2: boolean;
  avx512f: boolean;
  sse42: boolean;
}

/** cpuInfo() on aarch64, in Arm's terms. */
export interface CpuInfoArm64 extends CpuInfoCommon {
  arch: 'arm64';
  /** DC CVADP (to the point of deep persistence), DC CVAP (persistence) or DC CVAC (coherency only). */
  flush: 'cvadp' | 'cvap' | 'cvac';
  /** No non-temporal path: copies are stores, then the same clean. */
  nonTemporal: 'none';
  /** HWCAP_DCPOP: the kernel says DC CVAP exists. */
  dcpop: boolean;
  /** HWCAP2_DCPODP: the kernel says DC CVADP exists. */
  dcpodp: boolean;
  /** DC CVAP ran once at startup without SIGILL (HWCAP alone is not trusted: emulators and hypervisors may lie). */
  cvapExecutes: boolean;
  cvadpExecutes: boolean;
  /** HWCAP_CRC32: the CRC extension. */
  crc32: boolean;
}

/** cpuInfo() on an architecture without flush routines here: cacheline persistence is unavailable. */
export interface CpuInfoOther extends CpuInfoCommon {
  arch: 'unknown';
  flush: 'none';
  nonTemporal: 'none';
}

export type CpuInfo = CpuInfoX64 | CpuInfoArm64 | CpuInfoOther;

export interface DaxState {
  path: string;
  /** Which kernel interface answered. */
  mechanism: 'statx+fsxattr' | 'statx' | 'blkdaxget' | 'devdax';
  /** Effective state: does a mapping of this file/device bypass the page cache? null when unknown. */
  effective: boolean | null;
  /** The per-inode FS_XFLAG_DAX flag (files and directories); null when the filesystem has no such flag. */
  inodeFlag: boolean | null;
  /** Human explanation of how this was decided. */
  reason: string;
}
