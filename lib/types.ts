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

export interface CpuInfo {
  arch: string;
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
  /** How node-pmem/kv's CRC-32C is computed: SSE4.2's crc32 instruction, or a table. */
  crc32c: 'sse4.2' | 'table';
  cacheLineSize: number;
  /** Copies at least this large use non-temporal stores. */
  nonTemporalThreshold: number;
}

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
