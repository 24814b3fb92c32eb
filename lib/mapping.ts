/**
 * The Mapping handle: views, persistence and lifetime over a MappingBackend (the native
 * MappingHandle, or the crash simulator's). Lifecycle: live -> closed. close() detaches the one
 * ArrayBuffer at once (every view reads as length 0), and the backend defers munmap while
 * persistAsync work pins the mapping.
 */
import type { MappingBackend, NativeMappingInfo, NativeRegionInfo } from './binding';
import { writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { isArrayBuffer, isDataView, isSharedArrayBuffer, isTypedArray } from 'node:util/types';
import {
  closedError,
  pmemSystemError,
  illegalConstructor,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  readOnlyError,
  statusError,
  STATUS_TRUNCATED,
  truncatedError,
  type PmemError,
} from './errors';
import { DirtyExtents } from './extents';
import { guard, unguard } from './leak-guard';
import type { Granularity, MappingKind, PersistDirtyResult, WriteOptions } from './types';
import { validateInteger, validateObject, validateRange } from './validate';

/** V8 limits one typed array to 2^32 elements; larger mappings are viewed in windows. */
const MAX_VIEW_LENGTH = 2 ** 32;
const kConstruct = Symbol('node-pmem:construct');
const EINVAL = constants.errno.EINVAL;

export type RegionInfo = Readonly<Omit<NativeRegionInfo, 'deepFlushPath' | 'numaNode' | 'dimms'>> & { readonly deepFlushPath: string | null };

export class Mapping {
  readonly path: string;
  readonly kind: MappingKind;
  /** Mapped length in bytes. */
  readonly length: number;
  /** Offset of the mapped window in the file or device. */
  readonly offset: number;
  /** The durability tier persist() delivers. */
  readonly granularity: Granularity;
  /** What detection found, before any `granularity` option. */
  readonly detectedGranularity: Granularity;
  /** Why this tier, in words. */
  readonly granularityReason: string;
  /** True when the `granularity` option overrode detection. */
  readonly forced: boolean;
  readonly readOnly: boolean;
  /** Mapped with MAP_SHARED_VALIDATE | MAP_SYNC. */
  readonly mapSync: boolean;
  /** Alignment a window's offset must honour (page size, or the device-dax align). */
  readonly alignment: number;
  /** The unit persistDirty() flushes in: 64 B, or a page at page tier. */
  readonly flushUnit: number;
  /** The nd region behind the mapping, or null. */
  readonly region: RegionInfo | null;
  /** Known bad ranges inside the mapping (offsets relative to it); empty unless opened with allowBadBlocks. */
  readonly badBlocks: readonly Readonly<{ offset: number; length: number }>[];

  #backend: MappingBackend;
  #closed = false;
  #buffer: ArrayBuffer;
  /** Whole-mapping view for copies, when V8 allows one that large. */
  #bytes: Uint8Array | null;
  #dirty = new DirtyExtents();
  /** persistRanges' copy of its caller's pairs, which the backend sorts and merges in place. */
  #rangeScratch = new Float64Array(0);
  #inflight = 0;
  #idle: Promise<void> | null = null;
  #resolveIdle: (() => void) | null = null;

  /** @internal Use open(). */
  constructor(
    token: symbol,
    backend: MappingBackend,
    info: NativeMappingInfo,
    badBlocks: readonly { offset: number; length: number }[] = [],
  ) {
    if (token !== kConstruct) throw illegalConstructor();
    this.#backend = backend;
    this.path = info.path;
    this.kind = info.kind;
    this.length = info.length;
    this.offset = info.offset;
    this.granularity = info.granularity;
    this.detectedGranularity = info.detectedGranularity;
    this.granularityReason = info.granularityReason;
    this.forced = info.forced;
    this.readOnly = info.readOnly;
    this.mapSync = info.mapSync;
    this.alignment = info.alignment;
    this.flushUnit = info.flushUnit;
    const r = info.region;
    this.region = r
      ? Object.freeze({ name: r.name, persistenceDomain: r.persistenceDomain, provider: r.provider, asyncFlush: r.asyncFlush, deepFlushPath: r.deepFlushPath })
      : null;
    this.badBlocks = Object.freeze(badBlocks.map((r) => Object.freeze({ ...r })));
    this.#buffer = backend.buffer();
    this.#bytes = info.length <= MAX_VIEW_LENGTH ? new Uint8Array(this.#buffer) : null;
    if (this.readOnly) this.#dirty.disable();
    guard(this, this.#buffer, info.path);
  }

  /** True when the granularity is finer than page: CPU cache flushes (or nothing) make stores durable. */
  get isPmem(): boolean {
    return this.granularity !== 'page';
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The ArrayBuffer over the whole mapping. Detached (byteLength 0) once the mapping closes. */
  get buffer(): ArrayBuffer {
    this.#live();
    return this.#buffer;
  }

  /** Extents recorded by markDirty() and not yet persisted. */
  get dirtyCount(): number {
    return this.#dirty.count;
  }

  /** Uint8Array over [offset, offset + length) of the mapping (no copy). */
  bytes(offset = 0, length?: number): Uint8Array {
    this.#live();
    const len = length === undefined ? this.#defaultLength(offset) : length;
    validateRange(offset, len, this.length);
    if (len > MAX_VIEW_LENGTH) throw outOfRange('length', `<= ${MAX_VIEW_LENGTH} (V8's typed array limit)`, len);
    return new Uint8Array(this.#buffer, offset, len);
  }

  /** DataView over [offset, offset + length) of the mapping (no copy). */
  dataView(offset = 0, length?: number): DataView {
    this.#live();
    const len = length === undefined ? this.#defaultLength(offset) : length;
    validateRange(offset, len, this.length);
    return new DataView(this.#buffer, offset, len);
  }

  /** A copy of [offset, offset + length) as a Buffer. */
  read(offset: number, length: number): Buffer {
    this.#live();
    validateRange(offset, length, this.length);
    if (length > MAX_VIEW_LENGTH) throw outOfRange('length', `<= ${MAX_VIEW_LENGTH}`, length);
    const out = Buffer.allocUnsafe(length);
    if (length === 0) return out;
    const backend = this.#backend;
    if (backend.read === undefined) out.set(new Uint8Array(this.#buffer, offset, length));
    else this.#check(backend.read(offset, length, out), 'read');
    return out;
  }

  /**
   * A copy of [offset, offset + length) that survives poisoned media: a bad block gives an EIO
   * error instead of a SIGBUS that kills the process. Files and block devices are read with
   * pread() (the kernel's machine-check-safe copy; for a readOnly mapping that is the file's
   * content, not stores made into its private copy); device-dax has no read(), so its mapping is
   * copied under a SIGBUS guard.
   */
  readSafe(offset: number, length: number): Buffer {
    this.#live();
    validateRange(offset, length, this.length);
    const out = Buffer.allocUnsafe(length);
    if (length === 0) return out;
    const backend = this.#backend;
    if (backend.readSafe === undefined) {
      out.set(new Uint8Array(this.#buffer, offset, length));
    } else {
      const status = backend.readSafe(offset, length, out);
      if (status < 0) {
        const guarded = this.kind === 'devdax' || process.env.NODE_PMEM_SAFE_READ === 'copy';
        throw this.#statusError(status, guarded ? 'read (SIGBUS-guarded copy)' : 'pread');
      }
    }
    return out;
  }

  /**
   * persist(), then flush the memory controller's write-pending queues through the region's
   * deep_flush (libpmem2's pmem2_deep_flush): durable even on platforms whose ADR does not cover
   * them. Without a deep_flush control (page cache, virtio-pmem: msync already did it) it is
   * persist() alone. Returns whether deep_flush was written. Needs write access to sysfs (root).
   */
  deepFlush(offset = 0, length?: number): boolean {
    this.#writable('deepFlush');
    this.persist(offset, length);
    const control = this.region?.deepFlushPath ?? null;
    if (control === null || this.granularity === 'page') return false;
    try {
      writeFileSync(control, '1');
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const wrapped = pmemSystemError(e, 'write', control, 'deep_flush of the region failed');
      throw wrapped;
    }
    return true;
  }

  /**
   * Copies data into the mapping at offset; with { persist: true } it is durable on return
   * (non-temporal stores for large copies, one fence). Returns the number of bytes written.
   */
  write(offset: number, data: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer, options?: WriteOptions): number {
    if (this.#closed || this.readOnly) this.#writable('write');
    const persist = persistOption(options);
    if (this.#closed) throw closedError(this.path); // an options getter closed it
    // A real Uint8Array (a Proxy of one, or an object made from its prototype, is not a view).
    const src = ArrayBuffer.isView(data) && data instanceof Uint8Array ? data : toBytes(data);
    const backend = this.#backend;
    // The backend checks offset and range itself and returns the bytes copied; the precise
    // argument error is worked out only on failure (reading byteLength here costs ~10 ns).
    const status = persist
      ? backend.copyPersist(offset, src)
      : backend.copy === undefined ? this.#copyThroughView(offset, src) : backend.copy(offset, src);
    if (status >= 0) return status;
    validateSource(src);
    validateRange(offset, byteLengthOf(src), this.length, 'offset', 'data.byteLength');
    throw this.#statusError(status, 'write');
  }

  /** write() without persist on a backend over ordinary memory (see MappingBackend.copy). */
  #copyThroughView(offset: number, src: Uint8Array): number {
    const n = byteLengthOf(src);
    if (n === 0) validateSource(src);
    validateRange(offset, n, this.length, 'offset', 'data.byteLength');
    if (n !== 0) this.#view(offset, n).set(src);
    return n;
  }

  /** Sets [offset, offset + length) to byte; durable on return with { persist: true }. */
  fill(offset: number, length: number, byte: number, options?: WriteOptions): void {
    this.#writable('fill');
    validateRange(offset, length, this.length);
    validateInteger(byte, 'byte', 255);
    const persist = persistOption(options);
    if (this.#closed) throw closedError(this.path); // an options getter closed it
    if (length === 0) return;
    const backend = this.#backend;
    if (persist) this.#check(backend.fillPersist(offset, length, byte), 'fill');
    else if (backend.fill !== undefined) this.#check(backend.fill(offset, length, byte), 'fill');
    else this.#view(offset, length).fill(byte);
  }

  /** Starts writing back the range (cache line flush, or msync at page tier); drain() completes it. */
  flush(offset: number, length: number): void {
    this.#writable('flush');
    validateRange(offset, length, this.length);
    if (length === 0) return;
    this.#check(this.#backend.flush(offset, length), 'flush');
  }

  /** Waits for earlier flushes and non-temporal stores (sfence). */
  drain(): void {
    this.#live();
    this.#check(this.#backend.drain(), 'drain');
  }

  /** Makes [offset, offset + length) durable: flush + drain. Defaults to the whole mapping. */
  persist(offset = 0, length?: number): void {
    // Fast path: the backend checks the integers and the range itself; the precise argument
    // error is worked out only when it refuses (as write({ persist }) does). The status of a
    // failed flush is thrown as it is, never retried: a second msync could hide an EIO.
    if (!this.#closed && !this.readOnly && typeof length === 'number' && length > 0) {
      const status = this.#backend.persist(offset, length);
      if (status >= 0) return;
      validateRange(offset, length, this.length);
      throw this.#statusError(status, this.granularity === 'page' ? 'msync' : 'persist');
    }
    this.#writable('persist');
    const len = length === undefined ? this.#defaultLength(offset) : length;
    validateRange(offset, len, this.length);
    if (len === 0) return;
    this.#check(this.#backend.persist(offset, len), this.granularity === 'page' ? 'msync' : 'persist');
  }

  /**
   * persist() on the libuv thread pool, so msync never blocks the event loop. The mapping stays
   * mapped until it finishes, even if close() is called meanwhile. Rejects, never throws.
   */
  persistAsync(offset = 0, length?: number): Promise<void> {
    try {
      this.#writable('persistAsync');
      const len = length === undefined ? this.#defaultLength(offset) : length;
      validateRange(offset, len, this.length);
      if (len === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        this.#inflight++;
        try {
          this.#backend.persistAsync(offset, len, (status: number) => {
            this.#settled();
            if (status < 0) reject(this.#statusError(status, this.granularity === 'page' ? 'msync' : 'persist'));
            else resolve();
          });
        } catch (error) {
          this.#settled(); // the backend refused the work: it will never call back
          throw error;
        }
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Records a range to be made durable by the next persistDirty(). No native call, no allocation. */
  markDirty(offset: number, length: number): void {
    // Inline fast path: every check in one condition, no calls (persistDirty's cost per extent is
    // mostly this). A closed or read-only mapping has no room (end 0): the slow path throws.
    // Math.floor(x) === x rejects fractions and NaN and folds away for int32 arguments, where
    // Number.isSafeInteger costs ~10 instructions; the range checks then bound both below 2^53.
    // Most of what this costs over a bare fill is the check for room: inlined into a caller's loop,
    // its slow path keeps V8 from hoisting the array's loads out of that loop (bench/README.md).
    const dirty = this.#dirty;
    const i = dirty.count * 2;
    if (
      i < dirty.end &&
      typeof offset === 'number' && typeof length === 'number' &&
      Math.floor(offset) === offset && Math.floor(length) === length &&
      offset >= 0 && length > 0 && length <= this.length - offset
    ) {
      const pairs = dirty.pairs;
      pairs[i] = offset;
      pairs[i + 1] = length;
      dirty.count++;
      return;
    }
    this.#markDirtySlow(offset, length);
  }

  #markDirtySlow(offset: unknown, length: unknown): void {
    this.#writable('markDirty');
    validateRange(offset, length, this.length);
    if (length === 0) return;
    this.#dirty.add(this.#backend, offset as number, length as number);
  }

  /**
   * Flushes every range recorded by markDirty(), coalesced to the flush unit, with one fence
   * (one msync per merged page run at page tier). The ranges are cleared only on success.
   */
  persistDirty(): PersistDirtyResult {
    this.#writable('persistDirty');
    const dirty = this.#dirty;
    if (dirty.count === 0) return { extents: 0, bytes: 0 };
    const merged = this.#backend.persistExtents(dirty.pairs, dirty.count);
    this.#check(merged, this.granularity === 'page' ? 'msync' : 'persist');
    const bytes = merged === 0 ? 0 : dirty.pairs[1]!; // the backend left (runs, bytes) in the first pair
    dirty.clear();
    return { extents: merged, bytes };
  }

  /**
   * Flushes every (offset, length) pair among the first `count` of `ranges` (by default all of
   * them), coalesced to the flush unit, with one fence (one msync per merged page run at page
   * tier): for callers that already hold their ranges in an array. `ranges` is left as it was,
   * and ranges recorded by markDirty() stay recorded. A zero length is allowed and flushes nothing.
   * An invalid pair throws, and then nothing is promised durable (lines of the pairs before it may
   * have been written back, as any line may be at any time, but no fence was issued).
   */
  persistRanges(ranges: Float64Array, count?: number): PersistDirtyResult {
    this.#writable('persistRanges');
    // The tag getter, not util.types.isFloat64Array: that is a call into C++ on every persist.
    if (typedArrayTag.call(ranges) !== 'Float64Array') throw invalidArgType('ranges', 'an instance of Float64Array', ranges);
    if (ranges.length === 0) refuseDetached(bufferGetter.call(ranges) as ArrayBufferLike, ranges); // detached reads as empty
    const pairs = Math.floor(ranges.length / 2);
    let n: number;
    if (count === undefined) {
      if (ranges.length % 2 !== 0) throw invalidArgValue('ranges', ranges, `must hold (offset, length) pairs: its length ${ranges.length} is odd`);
      n = pairs;
    } else {
      n = validateInteger(count, 'count', pairs);
    }
    if (n === 0) return { extents: 0, bytes: 0 };
    if (this.#rangeScratch.length < 2 * n) this.#rangeScratch = new Float64Array(2 ** Math.ceil(Math.log2(2 * n)));
    const scratch = this.#rangeScratch;
    const merged = this.#backend.persistRanges(ranges, n, scratch);
    if (merged === -EINVAL) {
      // Which pair: the backend checks them all before it changes anything, and says only that one failed.
      for (let i = 0; i < n; i++) validateRange(ranges[2 * i], ranges[2 * i + 1], this.length, `ranges[${2 * i}]`, `ranges[${2 * i + 1}]`);
    }
    this.#check(merged, this.granularity === 'page' ? 'msync' : 'persist');
    return { extents: merged, bytes: merged === 0 ? 0 : scratch[1]! };
  }

  /**
   * Detaches every view and unmaps (after in-flight persistAsync work, which keeps it mapped
   * until done). Unpersisted stores are not flushed: persist first. Calling it again does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#bytes = null;
    this.#dirty.disable();
    unguard(this);
    this.#backend.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes and waits for in-flight persistAsync work to finish. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    if (this.#inflight > 0) await this.#idlePromise();
  }

  #live(): void {
    if (this.#closed) throw closedError(this.path);
  }

  #writable(method: string): void {
    if (this.#closed) throw closedError(this.path);
    if (this.readOnly) throw readOnlyError(this.path, method);
  }

  #defaultLength(offset: unknown): number {
    validateInteger(offset, 'offset', this.length);
    return this.length - (offset as number);
  }

  #view(offset: number, length: number): Uint8Array {
    const whole = this.#bytes;
    return whole !== null ? whole.subarray(offset, offset + length) : new Uint8Array(this.#buffer, offset, length);
  }

  #check(status: number, syscall: string): void {
    if (status < 0) throw this.#statusError(status, syscall);
  }

  /** The error for a backend's negative status: ERR_PMEM_TRUNCATED, or a system error (-errno). */
  #statusError(status: number, syscall: string): PmemError {
    if (status !== STATUS_TRUNCATED) return statusError(status, syscall, this.path);
    return truncatedError(this.path, this.offset, this.length, this.#backend.currentSize?.() ?? -1);
  }

  #settled(): void {
    this.#inflight--;
    if (this.#inflight === 0 && this.#resolveIdle !== null) {
      const resolve = this.#resolveIdle;
      this.#idle = null;
      this.#resolveIdle = null;
      resolve();
    }
  }

  #idlePromise(): Promise<void> {
    if (this.#idle === null) this.#idle = new Promise<void>((resolve) => (this.#resolveIdle = resolve));
    return this.#idle;
  }

  get [Symbol.toStringTag](): string {
    return 'Mapping';
  }
}

function persistOption(options: WriteOptions | undefined): boolean {
  if (options === undefined) return false;
  // Inline for the common { persist: true|false }; `persist` is read once (it may be a getter).
  if (options !== null && typeof options === 'object' && !Array.isArray(options)) {
    const persist: unknown = options.persist;
    if (typeof persist === 'boolean') return persist;
    if (persist === undefined) return false;
    throw invalidArgType('options.persist', 'of type boolean', persist);
  }
  validateObject(options, 'options'); // throws: not a plain object
  return false;
}

// The typed array's own byteLength and buffer, not a property a caller may have shadowed.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const byteLengthGetter = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteLength')!.get!;
const bufferGetter = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'buffer')!.get!;
const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag)!.get!;
function byteLengthOf(view: Uint8Array): number {
  return byteLengthGetter.call(view) as number;
}

function isDetached(buffer: ArrayBufferLike): boolean {
  return isArrayBuffer(buffer) && arrayBufferDetached?.call(buffer) === true; // SharedArrayBuffers never are
}

/** A source whose buffer was detached reads as empty; say so instead of writing nothing. */
function refuseDetached(buffer: ArrayBufferLike, data: unknown): void {
  if (isDetached(buffer))
    throw invalidArgValue('data', data, buffer === data ? 'must not be a detached ArrayBuffer' : 'must not be backed by a detached ArrayBuffer');
}

function validateSource(src: Uint8Array): void {
  refuseDetached(bufferGetter.call(src) as ArrayBufferLike, src);
}

const typedArrayByteOffset = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteOffset')!.get!;
const dataViewBuffer = Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer')!.get!;
const dataViewByteOffset = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset')!.get!;
const dataViewByteLength = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength')!.get!;
const arrayBufferDetached = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get;

/**
 * The bytes of `data` as a Uint8Array, by brand checks and the built-in getters: a Proxy, an
 * object made from a prototype, or a view with shadowed byteLength/buffer properties is refused or
 * read for what it really is, never trusted.
 */
function toBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (isTypedArray(data) || isDataView(data)) {
    const dv = isDataView(data);
    const buffer = (dv ? dataViewBuffer : bufferGetter).call(data) as ArrayBufferLike;
    refuseDetached(buffer, data);
    const offset = (dv ? dataViewByteOffset : typedArrayByteOffset).call(data) as number;
    const length = (dv ? dataViewByteLength : byteLengthGetter).call(data) as number;
    return new Uint8Array(buffer, offset, length);
  }
  if (isArrayBuffer(data)) {
    refuseDetached(data, data);
    return new Uint8Array(data);
  }
  if (isSharedArrayBuffer(data)) return new Uint8Array(data);
  throw invalidArgType('data', 'of type string or an instance of ArrayBuffer, Buffer, TypedArray or DataView', data);
}

/** @internal Wraps a backend (native or simulated) in a Mapping. */
export function createMapping(
  backend: MappingBackend,
  path?: string,
  badBlocks: readonly { offset: number; length: number }[] = [],
): Mapping {
  const info = backend.info();
  return new Mapping(kConstruct, backend, path === undefined ? info : { ...info, path }, badBlocks);
}
