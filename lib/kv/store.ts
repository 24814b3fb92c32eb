/**
 * A crash-safe, ordered key-value store over one node-pmem mapping (a file, a file on a DAX
 * filesystem, or a device-dax character device). examples/kv/README.md in the repository has the
 * design; in short:
 *
 * On media (all integers little-endian):
 *
 *   [0, 64)        header copy 0 ─┐ written once, by the format (the same bytes twice: either
 *   [4096, 4160)   header copy 1 ─┘ valid copy serves)
 *   [8192, +R)     region 0      ─┐ an append-only log each; the index's checkpoint says which one
 *   [8192+R, +R)   region 1      ─┘ is active. Compaction copies the live records into the other.
 *   [I, +L)        the index: a copy-on-write B+-tree from key bytes to record offsets (btree.ts)
 *
 *   header copy:  0 magic "NPMEMKV\0" | 8 version | 12 0 | 16 0 | 20 0 | 24 0 | 28 store id
 *                 32 u64 data offset | 40 u64 region size | 48 u64 formatted length
 *                 56 u32 index offset / 4096 | 60 CRC-32C of bytes 0..60
 *                 (the index runs from its offset to the formatted length)
 *
 *   record (8-byte aligned, 24-byte header):
 *                 0 crc: CRC-32C of bytes 4..end | 4 prev: crc of the previous record (the
 *                 region's seed for the first) | 8 seq | 12 kind (1 put, 2 del, 3 commit)
 *                 13 flags (1 key is a string, 2 value is a string, 4 batch member)
 *                 14 u16 key length | 16 u32 value length | 20 u32 op count (commit), else 0
 *                 24 key bytes, value bytes, zero padding to 8
 *
 *   index checkpoint meta: 0 generation | 4 u64 log tail | 12 prev | 16 seq | 20 u64 live bytes
 *
 * Commit protocol. A single put/del writes its record at the log's tail and persists it: one
 * flush + fence (one msync at page tier). The record is its own commit: recovery accepts it only
 * if its CRC verifies AND it chains (`prev` equals the previous record's crc, `seq` is the next
 * number), so a torn record, stale bytes past the tail, or records left by an older use of the
 * region are all rejected. A batch writes its member records (flag 4), persists them (fence 1),
 * then writes and persists a commit record naming the op count (fence 2); recovery applies batch
 * members only when it reaches their commit, so an interrupted batch is dropped whole.
 *
 * The index is updated in DRAM-speed stores after each op and made durable only at checkpoints
 * (every CHECKPOINT_RECORDS records or CHECKPOINT_BYTES of log, at compaction and at close); a
 * checkpoint records where the log stood. Compaction writes the live records, in key order, into
 * the other region, persists them, points the index at them and checkpoints it with generation
 * + 1: that checkpoint switches regions.
 *
 * Recovery (every open): the index's newest valid checkpoint, then the log from the tail it
 * names, while records verify and chain (at most a checkpoint interval of them), applied to the
 * index. So opening takes the same time whatever the number of keys. A writable open that finds
 * an interrupted batch zeroes its first member's header.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Mapping } from '../mapping';
import { open as openMapping } from '../open';
import type { Granularity, MappingKind, OpenOptions as MappingOpenOptions } from '../types';
import { BTree, type Bounds, type Cursor, type Snapshot as TreeSnapshot } from './btree';
import { invalidArgValue } from '../errors';
import { crc32c } from './crc32c';

const MAGIC = Buffer.from('NPMEMKV\0', 'latin1');
/** On-media format version this code reads and writes. */
const VERSION = 2;
const SLOT_SIZE = 64;
const SLOT_OFFSETS = [0, 4096];
const DATA_OFFSET = 8192;
const REC_HEADER = 24;
/** Largest key, in bytes (a string key is measured UTF-8 encoded). */
const MAX_KEY_BYTES = 1024;
/** Largest value, in bytes. */
const MAX_VALUE_BYTES = 16 * 1024 * 1024;
/** Smallest mapping a store can be formatted in. */
const MIN_SIZE = 256 * 1024;
/** Largest span of a mapping a store uses: V8's typed-array limit. A larger file is used up to it. */
const MAX_SIZE = 2 ** 32;
// Exported below (export { ... }), not with `export const`: the compiled code then reads local
// constants on the hot paths, not properties of `exports`.
export { VERSION, MAX_KEY_BYTES, MAX_VALUE_BYTES, MIN_SIZE, MAX_SIZE };
/** Room kept free for puts so that a delete always fits after compaction (one tombstone). */
const DELETE_RESERVE = align8(REC_HEADER + MAX_KEY_BYTES);

const PUT = 1;
const DEL = 2;
const COMMIT = 3;
const F_KEY_STRING = 1;
const F_VALUE_STRING = 2;
const F_BATCH = 4;
const COMMIT_LEN = REC_HEADER;
/** A checkpoint of the index after this many records (by default), or this many bytes of log: the most a recovery replays. */
const CHECKPOINT_RECORDS = 8192;
const CHECKPOINT_BYTES = 4 << 20;

/** What a key or a value can be given as. A string is stored UTF-8 encoded. */
export type KvInput = string | ArrayBufferView | ArrayBuffer;
/** A key as it was put: a string, or a Buffer (a copy). */
export type KvKey = string | Buffer;
/** A value as it was put: a string, or a Buffer (a copy). */
export type KvValue = string | Buffer;
/** One operation of {@link KvStore.batch}. `'delete'` is accepted for `'del'`. */
export type BatchOp = { type: 'put'; key: KvInput; value: KvInput } | { type: 'del' | 'delete'; key: KvInput };

/** Options of {@link open}. */
export interface OpenOptions {
  /** Create the file (with `size`) if missing, and format an all-zero file or device. */
  create?: boolean;
  /**
   * With `create`: the file must not exist; it is created (O_CREAT | O_EXCL, so atomically: a file
   * that appears meanwhile is EEXIST, never opened). An existing file, even an empty one, is EEXIST.
   */
  exclusive?: boolean;
  /** With `create`: size of a new file, in bytes. */
  size?: number;
  /** Map read-only (shared lock); writes throw ERR_KV_READ_ONLY. */
  readOnly?: boolean;
  /** node-pmem's tier override (see node-pmem's open). */
  granularity?: 'auto' | Granularity;
  /**
   * Checkpoint the index after this many records (default 8192; also after 4 MiB of log): the
   * most an open after a crash replays. Smaller: faster recovery, more flushing per write.
   */
  checkpointRecords?: number;
}

/** Options of {@link KvStore.fromMapping}. */
export interface FromMappingOptions {
  /** Format the mapping if it is all zeros. */
  create?: boolean;
  /** Never write (also implied by a read-only mapping). */
  readOnly?: boolean;
  /** The id a format writes instead of a random one (for reproducible crash images). */
  storeId?: number;
  /** See {@link OpenOptions.checkpointRecords}. */
  checkpointRecords?: number;
}

/** The codes of the errors the store throws itself; node-pmem's own (ENOENT, ERR_PMEM_LOCKED, ...) come through as they are. */
export type KvErrorCode =
  | 'ENOSPC'
  | 'ERR_KV_NOT_A_STORE'
  | 'ERR_KV_VERSION'
  | 'ERR_KV_CORRUPT'
  | 'ERR_KV_TOO_SMALL'
  | 'ERR_KV_READ_ONLY'
  | 'ERR_KV_CLOSED'
  | 'ERR_KV_KEY_TOO_LARGE'
  | 'ERR_KV_VALUE_TOO_LARGE'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE';

/** Layout and space figures: {@link KvStore.stats}. */
export interface KvStats {
  path: string;
  kind: MappingKind;
  granularity: Granularity;
  readOnly: boolean;
  version: number;
  count: number;
  formattedBytes: number;
  regionBytes: number;
  activeRegion: number;
  generation: number;
  /** 8 hex digits. */
  storeId: string;
  logBytes: number;
  liveBytes: number;
  freeBytes: number;
  compactions: number;
  /** Nodes of the index in use and in all (4 KiB each). */
  indexNodes: { used: number; total: number };
  recovery: KvRecoveryStats;
}

/** Range and direction of {@link KvStore.iterator} (and entries(), keys()). Keys compare as bytes (a string as UTF-8). */
export interface IteratorOptions {
  gt?: KvInput;
  gte?: KvInput;
  lt?: KvInput;
  lte?: KvInput;
  reverse?: boolean;
  /** Read from this snapshot instead of a new one. */
  snapshot?: KvSnapshot;
}

/** What the last recovery (the open) found. */
export interface KvRecoveryStats {
  /** Records replayed from the log after the index's last checkpoint. */
  records: number;
  discardedBytes: number;
  discardedBatchOps: number;
  ms: number;
}

/** {@link KvStore.limits}. */
export interface KvLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  minSize: number;
  maxSize: number;
}

/** A header copy's fields (written once, at format). */
interface Header {
  version: number;
  storeId: number;
  dataOffset: number;
  regionSize: number;
  length: number;
  indexOffset: number;
}

/** Where the log stood at the index's checkpoint. */
interface LogState {
  generation: number;
  tail: number;
  prev: number;
  seq: number;
  live: number;
}

/** A batch op, validated and encoded. */
interface Prepared {
  kind: number;
  flags: number;
  k: Uint8Array;
  v: string | Uint8Array | null;
  vlen: number;
  len: number;
  off: number;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function recordLength(keyLength: number, valueLength: number): number {
  return align8(REC_HEADER + keyLength + valueLength);
}

/**
 * The chain seed of a region's first record: distinct for every generation of a store (CRC is a
 * bijection on 4-byte inputs) and, through the random store id chosen at format, unrelated to the
 * logs of any earlier store in the same file, which therefore never chain into this one.
 */
function seedOf(storeId: number, generation: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(generation >>> 0);
  return crc32c(b, 0, 4, storeId);
}

type ErrorClass = ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor;

function kvError(code: KvErrorCode, message: string, Ctor: ErrorClass = Error, props: object | undefined = undefined): Error {
  const e = new Ctor(message) as Error & { code: string };
  e.code = code;
  if (props !== undefined) Object.assign(e, props);
  return e;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an instance of ${(value as { constructor?: { name: string } }).constructor?.name ?? 'Object'}`;
  return `type ${typeof value} (${String(value).slice(0, 40)})`;
}

/**
 * Where a string key of a single-key call (put, get, has, delete) is encoded: those calls are done
 * with the bytes when they return (the log and the index copy them), so one buffer serves all,
 * with a view of each length made once. Encoding into it costs half what Buffer.from does.
 */
const keyScratch = new Uint8Array(MAX_KEY_BYTES);
const keyScratchViews: Uint8Array[] = [];
const utf8 = new TextEncoder();

/** A string key's UTF-8 in keyScratch (valid until the next call), or undefined when it does not fit. */
function scratchKeyBytes(key: string): Uint8Array | undefined {
  const { read, written } = utf8.encodeInto(key, keyScratch);
  if (read !== key.length) return undefined;
  return (keyScratchViews[written] ??= keyScratch.subarray(0, written));
}

/**
 * The bytes of a key (a string is UTF-8 encoded): 'abc' and Buffer.from('abc') are the same key.
 * The bytes of a view are not copied. `transient`: a string key may be encoded into keyScratch
 * (the caller keeps no reference to the bytes past its own return).
 */
function keyBytes(key: unknown, what = 'key', transient = false): Uint8Array {
  let k: Uint8Array;
  if (typeof key === 'string') {
    k = (transient ? scratchKeyBytes(key) : undefined) ?? Buffer.from(key, 'utf8');
  } else if (key instanceof Uint8Array) {
    k = key;
  } else if (ArrayBuffer.isView(key)) {
    k = new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
  } else if (key instanceof ArrayBuffer) {
    k = new Uint8Array(key);
  } else {
    throw kvError(
      'ERR_INVALID_ARG_TYPE',
      `The "${what}" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer. Received ${describe(key)}`,
      TypeError,
    );
  }
  if (k.byteLength > MAX_KEY_BYTES) throw tooLarge(what, k.byteLength, MAX_KEY_BYTES, 'ERR_KV_KEY_TOO_LARGE');
  return k;
}

/** A value as a string or a Uint8Array over its bytes. */
function valueBytes(value: unknown, what = 'value'): string | Uint8Array {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw kvError(
    'ERR_INVALID_ARG_TYPE',
    `The "${what}" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer. Received ${describe(value)}`,
    TypeError,
  );
}

function tooLarge(what: string, size: number, max: number, code: 'ERR_KV_KEY_TOO_LARGE' | 'ERR_KV_VALUE_TOO_LARGE'): Error {
  return kvError(code, `The ${what} is ${size} bytes; the limit is ${max} bytes`, RangeError, { size, limit: max });
}

/** A frozen view of the store for reads: what iterators and `{ snapshot }` reads see. close() it when done. */
export class KvSnapshot {
  /** @internal */
  readonly tree: TreeSnapshot;
  /** @internal the log generation when it was taken (compaction two generations later would overwrite its records) */
  readonly generation: number;
  readonly #store: KvStore;

  /** @internal use KvStore.snapshot() */
  constructor(store: KvStore, tree: TreeSnapshot, generation: number) {
    this.#store = store;
    this.tree = tree;
    this.generation = generation;
  }

  get closed(): boolean {
    return this.tree.released;
  }

  /** @internal whether it is a snapshot of `store` (a snapshot names nodes of its own store's index only) */
  of(store: KvStore): boolean {
    return this.#store === store;
  }

  close(): void {
    this.#store.releaseSnapshot(this);
  }
}

/** An ordered iteration over a snapshot (its own, or one given): next() until undefined, then close(). */
export class KvIterator {
  readonly #store: KvStore;
  readonly #cursor: Cursor;
  readonly #own: KvSnapshot | null;

  /** @internal use KvStore.iterator() */
  constructor(store: KvStore, cursor: Cursor, own: KvSnapshot | null) {
    this.#store = store;
    this.#cursor = cursor;
    this.#own = own;
  }

  /** The next [key, value] (each as it was put: a string or a Buffer copy), or undefined at the end. Verified as read. */
  next(): [KvKey, KvValue] | undefined {
    const e = this.#cursor.next();
    if (e === undefined) return undefined;
    return this.#store.entryAt(e[1]);
  }

  /** The next key only (the record is still verified). */
  nextKey(): KvKey | undefined {
    const e = this.#cursor.next();
    return e === undefined ? undefined : this.#store.keyOfRecord(e[1]);
  }

  /** Move so that next() gives the first key >= target (reverse: the last <= target), within the range. */
  seek(target: KvInput): void {
    this.#cursor.seek(keyBytes(target, 'target'));
  }

  close(): void {
    this.#cursor.close();
    if (this.#own !== null) this.#own.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export class KvStore {
  #mapping: Mapping;
  #owned: boolean;
  /** A view over the used span of the mapping, and a DataView over the same bytes (the hot paths' word reads and writes). */
  #b: Buffer;
  #dv: DataView;
  #closed = false;
  #readOnly: boolean;
  /** The index: key bytes -> record offset. */
  #tree!: BTree;
  readonly #snapshots = new Set<KvSnapshot>();
  // Layout, from the header.
  #length = 0;
  #regionSize = 0;
  #indexOffset = 0;
  #storeId = 0;
  // The log's state.
  #generation = 0;
  #start = 0;
  #end = 0;
  #tail = 0;
  #prev = 0;
  #seq = 0;
  #live = 0;
  #compactions = 0;
  readonly #checkpointRecords: number;
  /** Records and log bytes since the index's last checkpoint. */
  #sinceRecords = 0;
  #sinceTail = 0;
  #recovery: KvRecoveryStats = { records: 0, discardedBytes: 0, discardedBatchOps: 0, ms: 0 };

  /** Open (and recover) the store in the file or device at `path`. */
  static open(path: string, options: OpenOptions = {}): KvStore {
    if (typeof path !== 'string') {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "path" argument must be of type string. Received ${describe(path)}`, TypeError);
    }
    if (options === null || typeof options !== 'object') {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${describe(options)}`, TypeError);
    }
    const { create = false, exclusive = false, size, readOnly = false, granularity, checkpointRecords } = options;
    checkCheckpointRecords(checkpointRecords);
    if (exclusive !== false && (exclusive !== true || !create || readOnly)) {
      throw invalidArgValue('options.exclusive', exclusive, 'must be a boolean, and true only together with create: true and without readOnly');
    }
    const mopts: MappingOpenOptions = { readOnly };
    if (granularity !== undefined) mopts.granularity = granularity;
    const st = statSync(path, { throwIfNoEntry: false });
    // A missing file, or an empty one (as `touch` leaves it), is created at `size`.
    if (create && !readOnly && (exclusive || st === undefined || (st.isFile() && st.size === 0))) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < MIN_SIZE) {
        throw kvError(
          size === undefined ? 'ERR_INVALID_ARG_VALUE' : 'ERR_OUT_OF_RANGE',
          `options.size must be an integer >= ${MIN_SIZE} to create ${path}. Received ${String(size)}`,
          size === undefined ? TypeError : RangeError,
        );
      }
      mopts.create = true;
      mopts.size = size;
      if (exclusive) mopts.exclusive = true;
    }
    // Device-dax has no private (copy-on-write) mappings, so node-pmem cannot map it readOnly:
    // map it shared under a shared lock instead; the store itself never writes when readOnly.
    if (readOnly && st !== undefined && st.isCharacterDevice()) {
      mopts.readOnly = false;
      mopts.lock = 'shared';
    }
    const mapping = openMapping(path, mopts);
    try {
      return new KvStore(mapping, { create: create && !readOnly, owned: true, readOnly, checkpointRecords });
    } catch (e) {
      mapping.close();
      throw e;
    }
  }

  /**
   * A store over a mapping the caller opened (for example a crash simulator's mapping). The
   * caller keeps ownership: close() does not close the mapping.
   */
  static fromMapping(mapping: Mapping, options: FromMappingOptions = {}): KvStore {
    const { storeId } = options;
    if (storeId !== undefined && (!Number.isInteger(storeId) || storeId < 1 || storeId > 0xffffffff)) {
      throw kvError('ERR_OUT_OF_RANGE', `options.storeId must be an integer in [1, 2^32). Received ${String(storeId)}`, RangeError);
    }
    checkCheckpointRecords(options.checkpointRecords);
    return new KvStore(mapping, {
      create: options.create === true,
      owned: false,
      readOnly: options.readOnly === true,
      storeId,
      checkpointRecords: options.checkpointRecords,
    });
  }

  /** Use KvStore.open or KvStore.fromMapping. */
  private constructor(
    mapping: Mapping,
    {
      create,
      owned,
      readOnly = false,
      storeId = undefined,
      checkpointRecords = CHECKPOINT_RECORDS,
    }: { create: boolean; owned: boolean; readOnly?: boolean; storeId?: number | undefined; checkpointRecords?: number | undefined },
  ) {
    this.#checkpointRecords = checkpointRecords;
    if (mapping === null || typeof mapping !== 'object' || typeof mapping.persist !== 'function') {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "mapping" argument must be a node-pmem Mapping. Received ${describe(mapping)}`, TypeError);
    }
    this.#mapping = mapping;
    this.#owned = owned;
    this.#readOnly = readOnly || mapping.readOnly;
    const used = Math.min(mapping.length, MAX_SIZE);
    this.#b = Buffer.from(mapping.buffer, 0, used);
    this.#dv = new DataView(mapping.buffer, 0, used);
    const t0 = performance.now();
    const header = this.#readHeader(create, storeId);
    this.#adopt(header);
    this.#recover();
    this.#recovery.ms = performance.now() - t0;
  }

  // ---------------------------------------------------------------------------------------------
  // Header

  #where(): string {
    return this.#mapping.path;
  }

  /** Decode the header copy at `at`: null when it has no magic, 'torn' when its CRC fails. */
  #slot(at: number): Header | 'torn' | null {
    const b = this.#b;
    if (b.compare(MAGIC, 0, 8, at, at + 8) !== 0) return null;
    if (crc32c(b, at, at + 60) !== b.readUInt32LE(at + 60)) return 'torn';
    return {
      version: b.readUInt32LE(at + 8),
      storeId: b.readUInt32LE(at + 28),
      dataOffset: readU64(b, at + 32),
      regionSize: readU64(b, at + 40),
      length: readU64(b, at + 48),
      indexOffset: b.readUInt32LE(at + 56) * 4096,
    };
  }

  #readHeader(create: boolean, storeId: number | undefined): Header {
    const b = this.#b;
    if (b.length < MIN_SIZE) {
      throw kvError('ERR_KV_TOO_SMALL', `${this.#where()} is ${b.length} bytes; a store needs at least ${MIN_SIZE}`, RangeError);
    }
    const slots = SLOT_OFFSETS.map((at) => this.#slot(at));
    const valid = slots.filter((s): s is Header => s !== null && s !== 'torn');
    if (valid.length === 0) {
      const empty = isZero(b, 0, DATA_OFFSET);
      if (!empty && !this.#formatInterrupted()) {
        if (slots.includes('torn')) {
          throw kvError('ERR_KV_CORRUPT', `${this.#where()}: both header copies fail their checksum; refusing to guess`);
        }
        throw kvError('ERR_KV_NOT_A_STORE', `${this.#where()} is not a node-pmem kv store (no store header); refusing to touch it`);
      }
      const what = empty ? 'is empty (all zeros)' : 'holds only an interrupted format (part of a header, nothing else written)';
      if (!create) {
        throw kvError('ERR_KV_NOT_A_STORE', `${this.#where()} ${what}, not a kv store; open it with { create: true } to format it`);
      }
      if (this.#readOnly) throw kvError('ERR_KV_READ_ONLY', `${this.#where()} ${what} and is opened read-only: cannot format it`);
      return this.#format(storeId);
    }
    const h = valid[0]!;
    if (h.version !== VERSION) {
      throw kvError(
        'ERR_KV_VERSION',
        `${this.#where()} holds a kv store of format version ${h.version}; this code reads version ${VERSION}. ` +
          (h.version < VERSION ? 'Copy its data out with the version that wrote it (node-pmem 0.1) and into a new store' : 'Use a newer version'),
      );
    }
    const expected = this.#layoutFor(h.length);
    if (
      h.storeId === 0 ||
      h.dataOffset !== DATA_OFFSET ||
      h.length > b.length ||
      h.regionSize !== expected.regionSize ||
      h.indexOffset !== expected.indexOffset
    ) {
      throw kvError(
        'ERR_KV_CORRUPT',
        `${this.#where()}: the store header is inconsistent (version ${h.version}, ${h.length} bytes formatted, ${b.length} mapped); refusing to guess`,
      );
    }
    return h;
  }

  /** Where the regions and the index go in `length` bytes: a quarter each for the two logs, half for the index. */
  #layoutFor(length: number): { regionSize: number; indexOffset: number } {
    const regionSize = Math.floor((length - DATA_OFFSET) / 4 / 64) * 64;
    const indexOffset = Math.ceil((DATA_OFFSET + 2 * regionSize) / 4096) * 4096;
    return { regionSize, indexOffset };
  }

  /** The header a format of this mapping writes, with store id `id`. */
  #freshHeader(id: number): Header {
    const length = this.#b.length;
    return { version: VERSION, storeId: id, dataOffset: DATA_OFFSET, length, ...this.#layoutFor(length) };
  }

  /** Format: the index first (with the empty log of generation 0), then the header copies, which make it a store. */
  #format(storeId: number | undefined): Header {
    const h = this.#freshHeader(storeId ?? (randomBytes(4).readUInt32LE(0) || 1));
    BTree.format(this.#mapping, h.indexOffset, h.length - h.indexOffset, encodeLogState(this.#freshLog(h)));
    const header = encodeHeader(h);
    for (const at of SLOT_OFFSETS) header.copy(this.#b, at);
    this.#mapping.markDirty(SLOT_OFFSETS[0]!, SLOT_SIZE);
    this.#mapping.markDirty(SLOT_OFFSETS[1]!, SLOT_SIZE);
    this.#mapping.persistDirty();
    return h;
  }

  /** The log of generation 0 of a store: empty. */
  #freshLog(h: Header): LogState {
    // Sequence numbers start at a point derived from the store id: records of an earlier store in
    // the same file carry unrelated numbers and never pass for this store's next record.
    return { generation: 0, tail: DATA_OFFSET, prev: seedOf(h.storeId, 0), seq: seedOf(h.storeId, 0xffffffff), live: 0 };
  }

  /**
   * Whether the file is what a crash or kill during the first format leaves: the header copies hold
   * part of the header #format writes (each byte zero or the format's; a power failure may land any
   * of their 8-byte words and not the others), and the logs were never written. The index before
   * them is the format's own (nothing can be in it). Formatting such a file again loses nothing.
   * The bytes that depend on the random store id (the id, the CRC) cannot be checked; all others must match.
   */
  #formatInterrupted(): boolean {
    const b = this.#b;
    const expected = encodeHeader(this.#freshHeader(1));
    const { indexOffset } = this.#layoutFor(b.length);
    for (const at of SLOT_OFFSETS) {
      for (let i = 0; i < SLOT_SIZE; i++) {
        const byStoreId = (i >= 28 && i < 32) || i >= 60;
        if (b[at + i] !== 0 && b[at + i] !== expected[i] && !byStoreId) return false;
      }
    }
    return isZero(b, SLOT_SIZE, SLOT_OFFSETS[1]!) && isZero(b, SLOT_OFFSETS[1]! + SLOT_SIZE, indexOffset);
  }

  #adopt(h: Header): void {
    this.#length = h.length;
    this.#regionSize = h.regionSize;
    this.#indexOffset = h.indexOffset;
    this.#storeId = h.storeId;
    const { tree, meta } = BTree.open(this.#mapping, h.indexOffset, h.length - h.indexOffset);
    this.#tree = tree;
    const log = decodeLogState(meta);
    const start = DATA_OFFSET + (log.generation & 1) * h.regionSize;
    if (log.tail < start || log.tail > start + h.regionSize || log.live > h.regionSize) {
      throw kvError('ERR_KV_CORRUPT', `${this.#where()}: the index's checkpoint names a log position outside the log; refusing to guess`);
    }
    this.#setLog(log);
  }

  #setLog(log: LogState): void {
    this.#generation = log.generation;
    this.#start = DATA_OFFSET + (log.generation & 1) * this.#regionSize;
    this.#end = this.#start + this.#regionSize;
    this.#tail = log.tail;
    this.#prev = log.prev;
    this.#seq = log.seq;
    this.#live = log.live;
    this.#sinceRecords = 0;
    this.#sinceTail = log.tail;
  }

  /** Make the index durable as it is now, with where the log stands: recovery replays from there. */
  #checkpoint(): void {
    this.#tree.checkpoint(
      encodeLogState({ generation: this.#generation, tail: this.#tail, prev: this.#prev, seq: this.#seq, live: this.#live }),
    );
    this.#sinceRecords = 0;
    this.#sinceTail = this.#tail;
  }

  /** After an op is durable and in the index: checkpoint when the log has gone far enough since the last. */
  #advanced(records: number): void {
    this.#sinceRecords += records;
    if (this.#sinceRecords >= this.#checkpointRecords || this.#tail - this.#sinceTail >= CHECKPOINT_BYTES) this.#checkpoint();
  }

  // ---------------------------------------------------------------------------------------------
  // Records

  /**
   * Check the record at `off` against the chain (prev, seq) and its CRC. Returns its length when
   * it is a valid continuation of the log, 0 when it is not, and minus its length when its header
   * chains and is well-formed but the CRC fails (torn, or corrupted later: see #recover).
   */
  #check(off: number, prev: number, seq: number): number {
    const b = this.#b;
    const end = this.#end;
    if (off + REC_HEADER > end) return 0;
    if (b.readUInt32LE(off + 4) !== prev || b.readUInt32LE(off + 8) !== seq) return 0;
    const kind = b[off + 12];
    const flags = b[off + 13]!;
    const klen = b.readUInt16LE(off + 14);
    const vlen = b.readUInt32LE(off + 16);
    const aux = b.readUInt32LE(off + 20);
    if (flags & ~7 || klen > MAX_KEY_BYTES || vlen > MAX_VALUE_BYTES) return 0;
    if (kind === PUT) {
      if (aux !== 0) return 0;
    } else if (kind === DEL) {
      if (aux !== 0 || vlen !== 0 || flags & F_VALUE_STRING) return 0;
    } else if (kind === COMMIT) {
      if (flags !== 0 || klen !== 0 || vlen !== 0 || aux === 0) return 0;
    } else {
      return 0;
    }
    const len = recordLength(klen, vlen);
    if (len > end - off) return 0;
    return crc32c(b, off + 4, off + len) === b.readUInt32LE(off) ? len : -len;
  }

  /**
   * Replay the log after the index's checkpoint into the index.
   *
   * The scan stops at the first record that does not verify or chain: a crash leaves at most the
   * last single op or the last batch unfinished, and those are dropped. A record that fails its
   * CRC although the next one verifies and chains to it was complete once and has been corrupted
   * since (a media error, a stray write): that is refused with ERR_KV_CORRUPT rather than
   * silently truncating the log there. A read-only store replays into its private copy of the
   * mapping; over a shared mapping (device-dax) it cannot, and asks for a writable open.
   */
  #recover(): void {
    const b = this.#b;
    let off = this.#tail;
    let prev = this.#prev;
    let seq = this.#seq;
    let records = 0;
    /** Offsets of the open batch's members. */
    let pending: number[] = [];
    // State as of the last committed record.
    let tail = off;
    let tailPrev = prev;
    let tailSeq = seq;
    const privateCopy = this.#mapping.readOnly;
    for (;;) {
      const len = this.#check(off, prev, seq);
      if (len < 0) {
        if (this.#wasComplete(off, -len, seq)) {
          throw kvError(
            'ERR_KV_CORRUPT',
            `${this.#where()}: the record at offset ${off} fails its checksum but the log goes on after it (media corruption?); refusing to truncate the log`,
          );
        }
        break;
      }
      if (len === 0) break;
      if (this.#readOnly && !privateCopy) {
        throw kvError(
          'ERR_KV_READ_ONLY',
          `${this.#where()} needs recovery (its log goes on past the index's last checkpoint) and is opened read-only over a shared mapping; open it writable once`,
        );
      }
      const kind = b[off + 12];
      if (kind === COMMIT) {
        if (b.readUInt32LE(off + 20) !== pending.length) break;
        for (const at of pending) this.#applyAt(at);
        pending = [];
      } else if (b[off + 13]! & F_BATCH) {
        pending.push(off);
      } else {
        if (pending.length > 0) break; // a batch is never interleaved with single ops
        this.#applyAt(off);
      }
      records++;
      prev = b.readUInt32LE(off);
      seq = (seq + 1) >>> 0;
      off += len;
      if (pending.length === 0) {
        tail = off;
        tailPrev = prev;
        tailSeq = seq;
      }
    }
    this.#tail = tail;
    this.#prev = tailPrev;
    this.#seq = tailSeq;
    this.#recovery.records = records - pending.length;
    this.#recovery.discardedBatchOps = pending.length;
    this.#recovery.discardedBytes = off - tail;
    if (this.#readOnly) return;
    if (pending.length > 0) {
      // An interrupted batch left valid, chained members past the tail. Before anything is
      // appended over them, break their chain (zero the first member's header), so that a later
      // crash can never make a leftover member look like the continuation of the log.
      this.#b.fill(0, tail, tail + REC_HEADER);
      this.#mapping.persist(tail, REC_HEADER);
    }
    if (this.#recovery.records > 0) this.#checkpoint();
  }

  /**
   * The record at `off` (seq `seq`, `len` bytes) fails its CRC: was it complete once? Yes when the
   * log goes on after it to a point that could only be written after it was durable: the next
   * record, for a single op or a commit (each is alone between two fences); the batch's commit
   * record, for a batch member (members share a fence, so any of them may be torn by a crash).
   */
  #wasComplete(off: number, len: number, seq: number): boolean {
    const b = this.#b;
    const batch = (b[off + 13]! & F_BATCH) !== 0 && b[off + 12] !== COMMIT;
    let prev = b.readUInt32LE(off);
    let s = (seq + 1) >>> 0;
    let at = off + len;
    for (;;) {
      const n = this.#check(at, prev, s);
      if (n <= 0) return false;
      if (!batch || b[at + 12] === COMMIT) return true;
      if ((b[at + 13]! & F_BATCH) === 0) return false;
      prev = b.readUInt32LE(at);
      s = (s + 1) >>> 0;
      at += n;
    }
  }

  /** Apply the (valid) put or del record at `off` to the index. */
  #applyAt(off: number): void {
    const b = this.#b;
    const klen = b.readUInt16LE(off + 14);
    const k = b.subarray(off + REC_HEADER, off + REC_HEADER + klen);
    const old = b[off + 12] === PUT ? this.#tree.set(k, off) : this.#tree.delete(k);
    if (old !== undefined) this.#live -= this.#lengthAt(old);
    if (b[off + 12] === PUT) this.#live += this.#lengthAt(off);
  }

  #lengthAt(off: number): number {
    const b = this.#b;
    return recordLength(b.readUInt16LE(off + 14), b.readUInt32LE(off + 16));
  }

  /** Write a record at `off` (not yet durable). Returns its crc. */
  #writeRecord(
    off: number,
    kind: number,
    flags: number,
    k: Uint8Array,
    v: string | Uint8Array | null,
    vlen: number,
    prev: number,
    seq: number,
    aux: number,
  ): number {
    const b = this.#b;
    const dv = this.#dv;
    const klen = k.byteLength;
    dv.setUint32(off + 4, prev, true);
    dv.setUint32(off + 8, seq, true);
    b[off + 12] = kind;
    b[off + 13] = flags;
    dv.setUint16(off + 14, klen, true);
    dv.setUint32(off + 16, vlen, true);
    dv.setUint32(off + 20, aux, true);
    let p = off + REC_HEADER;
    if (klen > 0) {
      b.set(k, p);
      p += klen;
    }
    if (vlen > 0) {
      if (typeof v === 'string') b.write(v, p, vlen, 'utf8');
      else b.set(v as Uint8Array, p);
      p += vlen;
    }
    const end = off + recordLength(klen, vlen);
    while (p < end) b[p++] = 0; // at most 7 bytes of padding: a loop costs less than fill()
    const crc = crc32c(b, off + 4, end);
    dv.setUint32(off, crc, true);
    return crc;
  }

  /** Verify the record the index points at (its CRC, and its key when given); a failure is never returned as data. */
  #verified(off: number, key?: Uint8Array): number {
    const b = this.#b;
    const len = off >= DATA_OFFSET && off + REC_HEADER <= this.#indexOffset ? this.#lengthAt(off) : 0;
    if (len === 0 || off + len > this.#indexOffset || crc32c(b, off + 4, off + len) !== b.readUInt32LE(off)) {
      throw kvError('ERR_KV_CORRUPT', `${this.#where()}: the record at offset ${off} fails its checksum (media corruption?)`);
    }
    if (key !== undefined) {
      const klen = b.readUInt16LE(off + 14);
      if (klen !== key.byteLength || b.compare(key, 0, klen, off + REC_HEADER, off + REC_HEADER + klen) !== 0) {
        throw kvError('ERR_KV_CORRUPT', `${this.#where()}: the index points at a record of another key (offset ${off})`);
      }
    }
    return len;
  }

  #valueAt(off: number, key?: Uint8Array): KvValue {
    this.#verified(off, key);
    const b = this.#b;
    const klen = b.readUInt16LE(off + 14);
    const vlen = b.readUInt32LE(off + 16);
    const s = off + REC_HEADER + klen;
    if (b[off + 13]! & F_VALUE_STRING) return b.toString('utf8', s, s + vlen);
    return copyOut(b, s, vlen);
  }

  #keyAt(off: number): KvKey {
    const b = this.#b;
    const klen = b.readUInt16LE(off + 14);
    const s = off + REC_HEADER;
    if (b[off + 13]! & F_KEY_STRING) return b.toString('utf8', s, s + klen);
    return copyOut(b, s, klen);
  }

  /** @internal for KvIterator: the verified [key, value] of the record at `off`. */
  entryAt(off: number): [KvKey, KvValue] {
    this.#alive();
    const value = this.#valueAt(off);
    return [this.#keyAt(off), value];
  }

  /** @internal for KvIterator */
  keyOfRecord(off: number): KvKey {
    this.#alive();
    this.#verified(off);
    return this.#keyAt(off);
  }

  // ---------------------------------------------------------------------------------------------
  // Space

  /**
   * Make room for `need` bytes at the tail, keeping `keep` bytes free after them, and for `ops`
   * changes to the index: compact if that helps, else throw ENOSPC. Nothing has been written
   * when it throws.
   */
  #reserve(need: number, keep: number, ops: number): void {
    if (!this.#tree.hasRoomFor(Math.min(ops, 1))) {
      this.#checkpoint(); // gives back the index nodes only the previous checkpoint read
      if (!this.#tree.hasRoomFor(ops)) this.compact(); // packs the index
      if (!this.#tree.hasRoomFor(ops)) {
        throw kvError('ENOSPC', `kv store full: its index has no room for ${ops} more keys (${this.#where()})`, Error, {
          errno: -28,
          syscall: 'kv-index',
          path: this.#where(),
        });
      }
    }
    const limit = this.#end - keep;
    if (this.#tail + need <= limit) return;
    if (this.#start + this.#live + need <= limit) {
      this.compact();
      return;
    }
    throw kvError(
      'ENOSPC',
      `kv store full: ${need} bytes needed, ${Math.max(0, limit - this.#start - this.#live)} free after compaction ` +
        `(${this.#live} live bytes in a region of ${this.#regionSize}) in ${this.#where()}`,
      Error,
      { errno: -28, syscall: 'kv-append', path: this.#where(), needed: need },
    );
  }

  /**
   * Copy the live records, in key order, into the other region, rebuild the index over them
   * (packed), and switch to both with one checkpoint. Runs by itself when the log or the index is
   * full; safe to call any time. A crash before the checkpoint leaves the old region and index in
   * force; after it, the new ones.
   */
  compact(): void {
    this.#writable();
    for (const s of this.#snapshots) {
      if (s.generation < this.#generation) {
        throw kvError(
          'ENOSPC',
          `kv store full: compaction would overwrite records an iterator or snapshot opened before the last compaction still reads; close it (${this.#where()})`,
          Error,
          { errno: -28, syscall: 'kv-compact', path: this.#where() },
        );
      }
    }
    const b = this.#b;
    const generation = (this.#generation + 1) >>> 0;
    const start = DATA_OFFSET + (generation & 1) * this.#regionSize;
    let off = start;
    let prev = seedOf(this.#storeId, generation);
    let seq = this.#seq;
    const cursor = this.#tree.cursor();
    const moved: number[] = [];
    try {
      for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
        const src = e[1];
        const len = this.#verified(src, e[0]);
        b.copy(b, off, src, src + len);
        b.writeUInt32LE(prev, off + 4);
        b.writeUInt32LE(seq, off + 8);
        b[off + 13]! &= ~F_BATCH;
        prev = crc32c(b, off + 4, off + len);
        b.writeUInt32LE(prev, off);
        moved.push(off);
        seq = (seq + 1) >>> 0;
        off += len;
      }
    } finally {
      cursor.close();
    }
    if (off > start) this.#mapping.persist(start, off - start);
    // The new index: the moved records' keys, in the same order, pointing at them.
    let i = 0;
    this.#tree.rebuild(() => {
      if (i === moved.length) return undefined;
      const at = moved[i++]!;
      return [b.subarray(at + REC_HEADER, at + REC_HEADER + b.readUInt16LE(at + 14)), at];
    });
    this.#setLog({ generation, tail: off, prev, seq, live: off - start });
    this.#checkpoint(); // the switch
    this.#compactions++;
  }

  // ---------------------------------------------------------------------------------------------
  // API

  #alive(): void {
    if (this.#closed) throw kvError('ERR_KV_CLOSED', `The kv store ${this.#where()} is closed`);
  }

  #writable(): void {
    this.#alive();
    if (this.#readOnly) throw kvError('ERR_KV_READ_ONLY', `The kv store ${this.#where()} was opened read-only`);
  }

  /**
   * Store `value` under `key`. Durable when it returns.
   * @param key at most 1024 bytes (UTF-8 for strings)
   * @param value at most 16 MiB; get() returns it as put (string or Buffer)
   */
  put(key: KvInput, value: KvInput): void {
    this.#writable();
    const k = keyBytes(key, 'key', true);
    const v = valueBytes(value);
    const vlen = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.byteLength;
    if (vlen > MAX_VALUE_BYTES) throw tooLarge('value', vlen, MAX_VALUE_BYTES, 'ERR_KV_VALUE_TOO_LARGE');
    const flags = (typeof key === 'string' ? F_KEY_STRING : 0) | (typeof v === 'string' ? F_VALUE_STRING : 0);
    const len = recordLength(k.byteLength, vlen);
    this.#reserve(len, DELETE_RESERVE, 1);
    const off = this.#tail;
    const crc = this.#writeRecord(off, PUT, flags, k, v, vlen, this.#prev, this.#seq, 0);
    this.#mapping.persist(off, len);
    // Durable: advance the log and the index.
    this.#tail = off + len;
    this.#prev = crc;
    this.#seq = (this.#seq + 1) >>> 0;
    const old = this.#tree.set(k, off);
    if (old !== undefined) this.#live -= this.#lengthAt(old);
    this.#live += len;
    this.#advanced(1);
  }

  /** The snapshot's tree, or the live one (null). Refuses a closed snapshot, or one of another store. */
  #treeOf(snapshot: KvSnapshot | undefined): TreeSnapshot | null {
    if (snapshot === undefined) return null;
    if (!(snapshot instanceof KvSnapshot) || snapshot.closed || !snapshot.of(this)) {
      throw invalidArgValue('options.snapshot', snapshot, 'must be an open snapshot of this store');
    }
    return snapshot.tree;
  }

  /** The offset of `key`'s record in the live index, or in a snapshot's. */
  #lookup(k: Uint8Array, snapshot: KvSnapshot | undefined): number | undefined {
    const tree = this.#treeOf(snapshot);
    return tree === null ? this.#tree.get(k) : this.#tree.getIn(tree, k);
  }

  /**
   * The value stored under `key` (a string if it was put as a string, else a Buffer copy), or
   * undefined. Its checksum is verified first: corrupt data throws ERR_KV_CORRUPT.
   */
  get(key: KvInput, options?: { snapshot?: KvSnapshot }): KvValue | undefined {
    this.#alive();
    const k = keyBytes(key, 'key', true);
    const off = this.#lookup(k, options?.snapshot);
    return off === undefined ? undefined : this.#valueAt(off, k);
  }

  has(key: KvInput, options?: { snapshot?: KvSnapshot }): boolean {
    this.#alive();
    return this.#lookup(keyBytes(key, 'key', true), options?.snapshot) !== undefined;
  }

  /** Remove `key`. Durable when it returns. Returns whether it was there (nothing is written if not). */
  delete(key: KvInput): boolean {
    this.#writable();
    const k = keyBytes(key, 'key', true);
    const old = this.#tree.get(k);
    if (old === undefined) return false;
    const len = recordLength(k.byteLength, 0);
    this.#reserve(len, 0, 1);
    const off = this.#tail;
    const crc = this.#writeRecord(off, DEL, typeof key === 'string' ? F_KEY_STRING : 0, k, null, 0, this.#prev, this.#seq, 0);
    this.#mapping.persist(off, len);
    this.#tail = off + len;
    this.#prev = crc;
    this.#seq = (this.#seq + 1) >>> 0;
    this.#live -= this.#lengthAt(this.#tree.delete(k)!);
    this.#advanced(1);
    return true;
  }

  /**
   * Apply puts and deletes atomically: after a crash either all of them are there or none. Durable
   * when it returns. Ops apply in order (a later op on the same key wins). Everything is validated
   * before anything is written.
   */
  batch(ops: readonly BatchOp[]): void {
    this.#writable();
    if (!Array.isArray(ops)) {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "ops" argument must be an array. Received ${describe(ops)}`, TypeError);
    }
    const prepared: Prepared[] = [];
    let total = COMMIT_LEN;
    let hasPut = false;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as BatchOp | null;
      if (op === null || typeof op !== 'object') {
        throw kvError('ERR_INVALID_ARG_TYPE', `ops[${i}] must be an object. Received ${describe(op)}`, TypeError);
      }
      const k = keyBytes(op.key, `ops[${i}].key`);
      const kflag = typeof op.key === 'string' ? F_KEY_STRING : 0;
      if (op.type === 'put') {
        const v = valueBytes(op.value, `ops[${i}].value`);
        const vlen = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.byteLength;
        if (vlen > MAX_VALUE_BYTES) throw tooLarge(`ops[${i}].value`, vlen, MAX_VALUE_BYTES, 'ERR_KV_VALUE_TOO_LARGE');
        const len = recordLength(k.byteLength, vlen);
        prepared.push({ kind: PUT, flags: kflag | (typeof v === 'string' ? F_VALUE_STRING : 0), k, v, vlen, len, off: 0 });
        total += len;
        hasPut = true;
      } else if (op.type === 'del' || op.type === 'delete') {
        const len = recordLength(k.byteLength, 0);
        prepared.push({ kind: DEL, flags: kflag, k, v: null, vlen: 0, len, off: 0 });
        total += len;
      } else {
        throw kvError('ERR_INVALID_ARG_VALUE', `ops[${i}].type must be 'put' or 'del'. Received ${String((op as { type: unknown }).type)}`, TypeError);
      }
    }
    if (prepared.length === 0) return;
    // The index first, undoably: when it has no room even after a checkpoint (which frees what
    // only the previous one read) and a compaction (which packs it), nothing is written.
    for (let attempt = 0; ; attempt++) {
      this.#reserve(total, hasPut ? DELETE_RESERVE : 0, prepared.length);
      if (this.#writeBatch(prepared)) break;
      if (attempt === 0) this.#checkpoint();
      else if (attempt === 1) this.compact();
      else {
        throw kvError('ENOSPC', `kv store full: its index has no room for a batch of ${prepared.length} ops (${this.#where()})`, Error, {
          errno: -28,
          syscall: 'kv-index',
          path: this.#where(),
        });
      }
    }
    this.#advanced(prepared.length + 1);
  }

  /**
   * Write a batch's records past the tail (not yet durable, not yet in force), apply it to the
   * index, then make it durable and commit it. False, with nothing changed, when the index ran
   * out of room (the records past the tail are then overwritten by the next write).
   */
  #writeBatch(prepared: Prepared[]): boolean {
    const start = this.#tail;
    let off = start;
    let prev = this.#prev;
    let seq = this.#seq;
    for (const p of prepared) {
      prev = this.#writeRecord(off, p.kind, p.flags | F_BATCH, p.k, p.v, p.vlen, prev, seq, 0);
      p.off = off;
      seq = (seq + 1) >>> 0;
      off += p.len;
    }
    const tree = this.#tree;
    const live = this.#live;
    tree.mark();
    try {
      for (const p of prepared) {
        const old = p.kind === PUT ? tree.set(p.k, p.off) : tree.delete(p.k);
        if (old !== undefined) this.#live -= this.#lengthAt(old);
        if (p.kind === PUT) this.#live += p.len;
      }
      this.#mapping.persist(start, off - start); // fence 1: the members are durable, not yet in force
      prev = this.#writeRecord(off, COMMIT, 0, EMPTY_KEY, null, 0, prev, seq, prepared.length);
      this.#mapping.persist(off, COMMIT_LEN); // fence 2: the batch is committed
    } catch (error) {
      tree.rollback();
      this.#live = live;
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC' && (error as { syscall?: unknown }).syscall === undefined) return false;
      throw error;
    }
    tree.commit();
    this.#tail = off + COMMIT_LEN;
    this.#prev = prev;
    this.#seq = (seq + 1) >>> 0;
    return true;
  }

  /** Number of keys. */
  get count(): number {
    this.#alive();
    return this.#tree.size;
  }

  /**
   * A frozen view for reads: get(key, { snapshot }), iterator({ snapshot }). Cheap to take (the
   * index copies what later writes change); close it when done, since compaction cannot reuse
   * the log space it reads (an old enough open snapshot makes compaction fail with ENOSPC).
   */
  snapshot(): KvSnapshot {
    this.#alive();
    const s = new KvSnapshot(this, this.#tree.snapshot(), this.#generation);
    this.#snapshots.add(s);
    return s;
  }

  /** @internal for KvSnapshot.close() */
  releaseSnapshot(s: KvSnapshot): void {
    if (!this.#snapshots.delete(s)) return;
    this.#tree.release(s.tree);
  }

  /**
   * An iterator over the keys within a range, in byte order of the keys (reverse: descending), on
   * a snapshot taken now (or the one given): writes made while it runs are not seen.
   */
  iterator(options: IteratorOptions = {}): KvIterator {
    this.#alive();
    const bounds: Bounds = {};
    for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
      const v = options[name];
      if (v !== undefined) bounds[name] = Buffer.from(keyBytes(v, `options.${name}`));
    }
    const own = options.snapshot === undefined ? this.snapshot() : null;
    const snapshot = own ?? options.snapshot!;
    this.#treeOf(snapshot);
    return new KvIterator(this, this.#tree.cursorOn(snapshot.tree, bounds, options.reverse === true), own);
  }

  /** [key, value] pairs in byte order of the keys (see iterator()); each record is verified as it is read. */
  *entries(options: IteratorOptions = {}): IterableIterator<[KvKey, KvValue]> {
    const it = this.iterator(options);
    try {
      for (let e = it.next(); e !== undefined; e = it.next()) yield e;
    } finally {
      it.close();
    }
  }

  /** Keys in byte order (see iterator()). */
  *keys(options: IteratorOptions = {}): IterableIterator<KvKey> {
    const it = this.iterator(options);
    try {
      for (let k = it.nextKey(); k !== undefined; k = it.nextKey()) yield k;
    } finally {
      it.close();
    }
  }

  [Symbol.iterator](): IterableIterator<[KvKey, KvValue]> {
    return this.entries();
  }

  /** Layout and space figures. */
  stats(): KvStats {
    this.#alive();
    const m = this.#mapping;
    return {
      path: m.path,
      kind: m.kind,
      granularity: m.granularity,
      readOnly: this.#readOnly,
      version: VERSION,
      count: this.#tree.size,
      formattedBytes: this.#length,
      regionBytes: this.#regionSize,
      activeRegion: this.#generation & 1,
      generation: this.#generation,
      storeId: this.#storeId.toString(16).padStart(8, '0'),
      logBytes: this.#tail - this.#start,
      liveBytes: this.#live,
      freeBytes: this.#end - this.#tail,
      compactions: this.#compactions,
      indexNodes: this.#tree.nodeUsage,
      recovery: { ...this.#recovery },
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The store's limits. */
  static get limits(): KvLimits {
    return { maxKeyBytes: MAX_KEY_BYTES, maxValueBytes: MAX_VALUE_BYTES, minSize: MIN_SIZE, maxSize: MAX_SIZE };
  }

  /**
   * Close (and unmap, if the store opened the mapping). Every write is already durable; a
   * writable store checkpoints its index first, so the next open has nothing to replay. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    if (!this.#readOnly && this.#sinceRecords > 0) this.#checkpoint();
    this.#closed = true;
    for (const s of [...this.#snapshots]) s.close();
    this.#b = Buffer.alloc(0);
    this.#dv = new DataView(this.#b.buffer, 0, 0);
    if (this.#owned) this.#mapping.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

const EMPTY_KEY = new Uint8Array(0);

function checkCheckpointRecords(n: unknown): void {
  if (n !== undefined && (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > 2 ** 31)) {
    throw kvError('ERR_OUT_OF_RANGE', `options.checkpointRecords must be an integer in [1, 2^31]. Received ${String(n)}`, RangeError);
  }
}

/** The index checkpoint's meta: where the log stood. */
function encodeLogState(log: LogState): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32LE(log.generation >>> 0, 0);
  writeU64(b, 4, log.tail);
  b.writeUInt32LE(log.prev >>> 0, 12);
  b.writeUInt32LE(log.seq >>> 0, 16);
  writeU64(b, 20, log.live);
  return b;
}

function decodeLogState(b: Buffer): LogState {
  return { generation: b.readUInt32LE(0), tail: readU64(b, 4), prev: b.readUInt32LE(12), seq: b.readUInt32LE(16), live: readU64(b, 20) };
}

/** A header copy's 64 bytes. */
function encodeHeader(h: Header): Buffer {
  const b = Buffer.alloc(SLOT_SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(h.version, 8);
  b.writeUInt32LE(h.storeId, 28);
  writeU64(b, 32, h.dataOffset);
  writeU64(b, 40, h.regionSize);
  writeU64(b, 48, h.length);
  b.writeUInt32LE(h.indexOffset / 4096, 56);
  b.writeUInt32LE(crc32c(b, 0, 60), 60);
  return b;
}

function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32;
}

function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v % 2 ** 32, at);
  b.writeUInt32LE(Math.floor(v / 2 ** 32), at + 4);
}

/** A copy of b[start, start + length) (allocUnsafe + copy: cheaper than Buffer.copyBytesFrom for small values). */
function copyOut(b: Buffer, start: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  b.copy(out, 0, start, start + length);
  return out;
}

const ZEROS = Buffer.alloc(65536);

function isZero(b: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, end - at);
    if (b.compare(ZEROS, 0, n, at, at + n) !== 0) return false;
  }
  return true;
}

/** Open (and recover) a store. See {@link KvStore.open}. */
export function open(path: string, options?: OpenOptions): KvStore {
  return KvStore.open(path, options);
}

/** @internal on-media constants, for tests and tools */
export const layout = { MAGIC, SLOT_OFFSETS, SLOT_SIZE, DATA_OFFSET, REC_HEADER, DELETE_RESERVE };
