/**
 * The only importer of the native addon. Everything the C++ core offers is typed here.
 *
 * The addon is plain V8, built per Node ABI (see native/mapping_wrap.h for why); loadNative()
 * refuses a build for another ABI with ERR_PMEM_ABI_MISMATCH before it can run.
 *
 * Conventions of the native side (see native/status.h):
 * - cold calls (open, getDax, setDax) throw Node-style errors themselves (code, errno, syscall, path);
 * - hot calls take plain integers and return a status: >= 0 on success, -errno on failure (or
 *   STATUS_TRUNCATED, lib/errors.ts); the TS layer turns a negative status into an error, so no JS
 *   object is created on the success path. Their accesses to the mapping run under a SIGBUS guard
 *   (native/sigbus_guard.h): a page gone under the mapping is a status, not the end of the process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { abiMismatch, notBuilt } from './errors';
import type { CpuInfo, DaxState, Granularity, LockMode, MappingKind } from './types';

/** What the native core tells about a mapping once, at open. */
export interface NativeMappingInfo {
  path: string;
  kind: MappingKind;
  /** Mapped length in bytes. */
  length: number;
  /** Offset of the window in the file or device. */
  offset: number;
  /** Size of the whole file or device. */
  sourceSize: number;
  granularity: Granularity;
  /** The tier detection found before any forcing. */
  detectedGranularity: Granularity;
  granularityReason: string;
  forced: boolean;
  readOnly: boolean;
  /** True when the mapping was made with MAP_SHARED_VALIDATE | MAP_SYNC. */
  mapSync: boolean;
  /** Alignment the window must honour (page size, or device-dax align). */
  alignment: number;
  /** Flush unit of persistDirty: 64 at cacheline/byte, the page size at page tier. */
  flushUnit: number;
  /** The nd region backing the mapping, when there is one (from the probe of the open descriptor). */
  region: NativeRegionInfo | null;
  /**
   * Known bad ranges of the source, in the coordinates of its device (a file: of its file system's
   * device, with `extents` saying where the file's bytes are). Absent from backends without media.
   */
  badblocks?: { offset: number; length: number }[];
  /** A file with bad ranges on its device: FIEMAP (logical, physical, length) triples. */
  extents?: Float64Array;
}

export interface NativeRegionInfo {
  name: string;
  /** Contents of persistence_domain, or null when the file is absent (treated as memory_controller). */
  persistenceDomain: string | null;
  /** The bus provider, e.g. 'ACPI.NFIT' or 'virtio-pmem'. */
  provider: string | null;
  /** Asynchronous flush (virtio-pmem): only msync/fsync make data durable. */
  asyncFlush: boolean;
  deepFlushPath: string | null;
  /** The probe's extras (deviceProbe and a native mapping's info()). */
  cxl?: NativeCxlRegion | null;
  numaNode?: number | null;
  dimms?: { name: string; dirtyShutdown: number | null }[];
}

/** The CXL region behind an nd region that the CXL bus registered (native/sysfs.h, CxlRegionInfo). */
export interface NativeCxlRegion {
  region: string;
  uuid: string | null;
  /** The root decoder (CXL fixed memory window) the region was carved from. */
  rootDecoder: string;
  committed: boolean;
  interleaveWays: number;
  /** Bytes. */
  interleaveGranularity: number;
  size: number;
  memdevs: {
    name: string | null;
    serial: string | null;
    firmwareVersion: string | null;
    /** The memdev's endpoint decoder that maps it into the region. */
    decoder: string;
    position: number;
    pmemSize: number;
  }[];
}

/**
 * A mapping's backend. The real one is the native MappingHandle; the crash simulator
 * (lib/testing) provides one of its own over ordinary memory. All offsets are validated by the
 * TS layer before they get here; the native side checks bounds again and never trusts them.
 */
export interface MappingBackend {
  /** The one ArrayBuffer over the whole mapping (detached by close()). */
  buffer(): ArrayBuffer;
  info(): NativeMappingInfo;
  /** Flush (without fence) the range: cache lines at cacheline tier, nothing at byte tier, msync at page tier. */
  flush(offset: number, length: number): number;
  /** Fence: sfence at cacheline/byte tier, no-op at page tier. */
  drain(): number;
  /** flush + drain. */
  persist(offset: number, length: number): number;
  /** persist on the libuv pool; pins the mapping until done. callback(status) runs on the JS thread. */
  persistAsync(offset: number, length: number, callback: (status: number) => void): void;
  /**
   * Flush every range that `count` (offset, length) pairs of `extents` cover, merged to the flush
   * unit, and fence once. Returns the number of merged runs and leaves (runs, bytes they cover) in
   * extents[0], extents[1]; or -errno. Afterwards the pairs are otherwise unspecified (the caller
   * clears them); -EINVAL leaves them unchanged, other errors leave them covering the same ranges.
   */
  persistExtents(extents: Float64Array, count: number): number;
  /**
   * persistExtents of the first `count` pairs of `ranges` (each within the mapping's exact length),
   * copied first into `scratch` (room for at least `count` pairs), where the result is left instead;
   * `ranges` is never changed. -EINVAL when a pair is invalid, before anything is flushed.
   */
  persistRanges(ranges: Float64Array, count: number, scratch: Float64Array): number;
  /** Sort and coalesce in place without flushing (used to compact a full dirty list). Returns merged count. */
  coalesceExtents(extents: Float64Array, count: number): number;
  /**
   * Copy all of src to the mapping at offset and make it durable. Returns the bytes copied, or
   * -errno (-EINVAL for a bad offset, -ERANGE when it does not fit).
   */
  copyPersist(offset: number, src: Uint8Array): number;
  /** memset the range to byte and make it durable. */
  fillPersist(offset: number, length: number, byte: number): number;
  /**
   * copy and fill: copyPersist and fillPersist without making anything durable; read: copy
   * [offset, offset+length) into dest, 0 or -errno. Optional, with currentSize(): a backend over
   * ordinary memory (the crash simulator) cannot lose its pages, so the Mapping goes through its
   * views instead; the native one makes these accesses under the SIGBUS guard, which a view cannot have.
   */
  copy?(offset: number, src: Uint8Array): number;
  fill?(offset: number, length: number, byte: number): number;
  read?(offset: number, length: number, dest: Uint8Array): number;
  /** The size of the file or device now (less than at open when it was truncated since), or -errno. */
  currentSize?(): number;
  /**
   * Copy [offset, offset+length) into dest without dying on poisoned media: 0 or -errno (EIO).
   * Optional: a backend over ordinary memory (the crash simulator) cannot be poisoned.
   */
  readSafe?(offset: number, length: number, dest: Uint8Array): number;
  /** Detach the buffer and unmap (deferred while persistAsync work pins the mapping). Idempotent. */
  close(): void;
  /** Pins currently held by in-flight work. */
  pins(): number;
}

/** Raw facts from native deviceProbe(); lib/device-info.ts shapes them. */
export interface NativeDeviceFacts {
  type: 'file' | 'directory' | 'block' | 'devdax';
  size: number;
  statxDax: boolean;
  blockDevice: string | null;
  devMajor: number;
  devMinor: number;
  align: number | null;
  namespaceName: string | null;
  namespaceMode: string | null;
  namespaceSize: number | null;
  region: (NativeRegionInfo & { numaNode: number | null; dimms: { name: string; dirtyShutdown: number | null }[] }) | null;
  /** Bad ranges in the block device's (files: the filesystem device's) or device-dax's coordinates. */
  badblocks: { offset: number; length: number }[];
  badblocksSource: string | null;
  /** A file with bad ranges on its device: FIEMAP (logical, physical, length) triples; else empty. */
  extents: Float64Array;
  granularity: Granularity | null;
  mapSync: boolean;
  openRefused: boolean;
  reason: string;
  /** getDax() of the same descriptor, or null with daxError (e.g. ENOTTY from a raw block device). */
  dax: DaxState | null;
  daxError: (Error & { code: string }) | null;
  /** What is missing between the machine's CXL memdevs and a usable namespace, with the command to run. */
  cxlGaps: string[];
}

export interface NativeOpenOptions {
  create: boolean;
  exclusive: boolean;
  /** -1 when not given. */
  size: number;
  sparse: boolean;
  readOnly: boolean;
  offset: number;
  /** -1 for "to the end". */
  length: number;
  granularity: 'auto' | Granularity;
  lock: LockMode;
  mode: number;
}

export interface NativeBinding {
  open(path: string, options: NativeOpenOptions): MappingBackend;
  getDax(path: string): DaxState;
  setDax(path: string, enabled: boolean): DaxState;
  cpuInfo(): CpuInfo;
  /** The line offsets a flush of [offset, offset + length) cleans at line size `line` (the aarch64 walk): for the tests. */
  flushPlan(offset: number, length: number, line: number): number[];
  deviceProbe(path: string): NativeDeviceFacts;
  /** FS_IOC_FIEMAP extents as (logical, physical, length) triples. */
  fileExtents(path: string): Float64Array;
  /** Number of mappings of this thread (env) still mapped; for leak tests. */
  liveMappings(): number;
  /** The process-wide quarantine of released address ranges (native/quarantine.h). */
  quarantine(): QuarantineStats;
  buildInfo(): BuildInfo;
  /** CRC-32C of bytes[start, end) continuing from seed (unsigned), or a status (lib/kv/crc32c.ts). */
  crc32c(bytes: Uint8Array, start: number, end: number, seed: number): number;
  /**
   * node-pmem/kv's index descent (native/kv_index.h, used by lib/kv/btree.ts): from node `root` of
   * the nodes `nodes` views (4096 bytes each) to the leaf for `key`. `state`: 101 doubles (the
   * output: the path, the value found; and where node 0 is in the mapping, to prefetch the record
   * found), then the allocation bitmap. Returns (slot << 2) | found, or a status.
   */
  kvIndexSearch(nodes: Uint8Array, state: Uint8Array, root: number, key: Uint8Array): number;
  /** The descent, then the set of `key` to `value` when the leaf is of `epoch` and has room: | 2 when made. */
  kvIndexSearch(nodes: Uint8Array, state: Uint8Array, root: number, key: Uint8Array, value: number, epoch: number): number;
}

export interface QuarantineStats {
  /** Address ranges of released mappings still reserved (backed by scratch memory). */
  ranges: number;
  bytes: number;
  /** Ranges returned to the system so far (oldest first, once over a bound). */
  released: number;
  /** Ranges whose source could not be replaced by scratch memory (kept mapped for good). */
  kept: number;
  maxRanges: number;
  maxBytes: number;
}

/** What the addon was built for (NODE_MODULE_VERSION, Node version, V8 major). */
export interface BuildInfo {
  abi: number;
  node: string;
  v8: number;
  /** The mapped ArrayBuffer has a detach key only node-pmem holds (V8 13+, Node 24+). */
  detachKeys: boolean;
}

/** The build marker compiled into the addon (native/addon.cc), read from the file without loading it. */
const BUILD_MARKER = /NODE_PMEM_BUILD abi=(\d+) node=([0-9A-Za-z.+-]+) arch=(\w+);/;

interface Marker {
  abi: number;
  node: string;
  arch: string;
}

function readMarker(file: string): Marker | null {
  const m = BUILD_MARKER.exec(readFileSync(file).toString('latin1'));
  return m === null ? null : { abi: Number(m[1]), node: m[2]!, arch: m[3]! };
}

function isForThisNode(marker: Marker | null): boolean {
  return marker !== null && String(marker.abi) === process.versions.modules && marker.arch === process.arch;
}

/**
 * Loads the addon at `file` after checking, from its build marker, that it was built for this
 * Node's ABI. The addon talks to V8 directly, so a build for another Node line must never run:
 * Node itself refuses a NODE_MODULE_VERSION mismatch, but only a marker check also catches a
 * build that registers differently (an older node-pmem) or one whose symbols are missing.
 */
export function loadNative(file: string): NativeBinding {
  const marker = readMarker(file);
  if (!isForThisNode(marker)) {
    const running = `Node.js ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}, ${process.arch})`;
    const built = marker === null ? 'an older node-pmem (no build marker)' : `Node.js v${marker.node} (NODE_MODULE_VERSION ${marker.abi}, ${marker.arch})`;
    throw abiMismatch(
      `node-pmem's native addon '${file}' was built for ${built}, but this is ${running}. ` +
        'Run `npm rebuild node-pmem` to build it for this Node.js.',
      file,
      marker,
    );
  }
  const module = { exports: {} as NativeBinding };
  process.dlopen(module, file);
  return module.exports;
}

type Bindings = (options: { bindings: string; path: true; try: string[][]; module_root?: string }) => string;
const bindings = require('bindings') as Bindings;

/** Where `bindings` looks: a local node-gyp build first, then the binaries a packed node-pmem ships. */
const SEARCH = [
  [['module_root', 'build', 'Release', 'bindings'], ['module_root', 'build', 'Debug', 'bindings']],
  [['module_root', 'lib', 'binding', 'nodePreGyp', 'bindings']],
];

/**
 * The addon to load: the first one found that was built for this Node (a local build, or the
 * package's prebuilt binary for this ABI), else the first found at all, which loadNative() then
 * refuses with the versions it was built for. `root` is the package root (tests point it elsewhere).
 */
export function locateNative(root?: string): string {
  const found: string[] = [];
  for (const tries of SEARCH) {
    try {
      const file = bindings({ bindings: 'pmem', path: true, try: tries, ...(root === undefined ? {} : { module_root: root }) });
      if (existsSync(file)) found.push(file); // require.resolve, under bindings, caches what it found once
    } catch {
      // not there: try the next place
    }
  }
  const tag = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;
  if (found.length === 0)
    throw notBuilt(
      `node-pmem's native addon is not built for Node.js ${process.version} (${tag}), and the package has no prebuilt ` +
        'binary for it. Run `npm rebuild node-pmem` (needs a C++ compiler, make and python3).',
    );
  // With one candidate, loadNative() alone reads its marker (the file is read once at startup).
  if (found.length === 1) return found[0]!;
  return found.find((file) => isForThisNode(readMarker(file))) ?? found[0]!;
}

export const native = loadNative(locateNative());
