/**
 * A crash-safe key-value store over one node-pmem mapping (a file, a file on a DAX filesystem, or
 * a device-dax character device). examples/kv/README.md in the repository has the design; in short:
 *
 * On media (all integers little-endian):
 *
 *   [0, 64)        header copy 0 ─┐ two copies, each in its own page; the valid one with the
 *   [4096, 4160)   header copy 1 ─┘ higher generation wins (a torn one fails its CRC)
 *   [8192, +R)     region 0      ─┐ an append-only log each; the header says which one is active.
 *   [8192+R, +R)   region 1      ─┘ Compaction copies the live records into the other one.
 *
 *   header copy:  0 magic "NPMEMKV\0" | 8 version | 12 generation | 16 active region | 20 seed
 *                 24 first seq | 28 store id | 32 u64 data offset | 40 u64 region size
 *                 48 u64 formatted length | 56 0 | 60 CRC-32C of bytes 0..60
 *
 *   record (8-byte aligned, 24-byte header):
 *                 0 crc: CRC-32C of bytes 4..end | 4 prev: crc of the previous record (the
 *                 region's seed for the first) | 8 seq | 12 kind (1 put, 2 del, 3 commit)
 *                 13 flags (1 key is a string, 2 value is a string, 4 batch member)
 *                 14 u16 key length | 16 u32 value length | 20 u32 op count (commit), else 0
 *                 24 key bytes, value bytes, zero padding to 8
 *
 * Commit protocol. A single put/del writes its record at the log's tail through the mapping's
 * views and persists it: one flush + fence (one msync at page tier). The record is its own
 * commit: recovery accepts it only if its CRC verifies AND it chains (`prev` equals the previous
 * record's crc, `seq` is the next number), so a torn record, stale bytes past the tail, or records
 * left by an older use of the region are all rejected. A batch writes its member records (flag 4),
 * persists them (fence 1), then writes and persists a commit record naming the op count (fence 2);
 * recovery applies batch members only when it reaches their commit, so an interrupted batch is
 * dropped whole. Compaction writes the live records into the other region, persists them, then
 * persists the other header copy with generation + 1: that one 64-byte write switches regions.
 *
 * Recovery (every open): pick the header, scan the active region from its start while records
 * verify and chain, rebuilding the in-DRAM index (a Map from key to record offset). The tail is
 * the end of the last committed record. Recovery writes nothing (a read-only open recovers too),
 * except that a writable open zeroes the header of an interrupted batch's first member.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Mapping } from '../mapping';
import { open as openMapping } from '../open';
import type { Granularity, MappingKind, OpenOptions as MappingOpenOptions } from '../types';
import { crc32c } from './crc32c';

const MAGIC = Buffer.from('NPMEMKV\0', 'latin1');
/** On-media format version this code reads and writes. */
const VERSION = 1;
const SLOT_SIZE = 64;
const SLOT_OFFSETS = [0, 4096];
const DATA_OFFSET = 8192;
const REC_HEADER = 24;
/** Largest key, in bytes (a string key is measured UTF-8 encoded). */
const MAX_KEY_BYTES = 1024;
/** Largest value, in bytes. */
const MAX_VALUE_BYTES = 16 * 1024 * 1024;
/** Smallest mapping a store can be formatted in. */
const MIN_SIZE = 16 * 1024;
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
  /** With `create`: size of a new file, in bytes. */
  size?: number;
  /** Map read-only (shared lock); writes throw ERR_KV_READ_ONLY. */
  readOnly?: boolean;
  /** node-pmem's tier override (see node-pmem's open). */
  granularity?: 'auto' | Granularity;
}

/** Options of {@link KvStore.fromMapping}. */
export interface FromMappingOptions {
  /** Format the mapping if it is all zeros. */
  create?: boolean;
  /** Never write (also implied by a read-only mapping). */
  readOnly?: boolean;
  /** The id a format writes instead of a random one (for reproducible crash images). */
  storeId?: number;
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
  recovery: KvRecoveryStats;
}

/** What the last recovery (the open) found. */
export interface KvRecoveryStats {
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

/** A header copy's fields. */
interface Header {
  version: number;
  generation: number;
  active: number;
  seed: number;
  firstSeq: number;
  storeId: number;
  dataOffset: number;
  regionSize: number;
  length: number;
}

/** A header copy as read, with where it was. */
interface Slot extends Header {
  at: number;
}

/** A batch op, validated and encoded. */
interface Prepared {
  kind: number;
  flags: number;
  k: string;
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
 * The index key of a key: the latin1 image of its bytes (a string key is UTF-8 encoded), so that
 * 'abc' and Buffer.from('abc') are the same key. ASCII strings are their own image.
 */
function indexKey(key: unknown, what = 'key'): string {
  let k: string;
  if (typeof key === 'string') {
    const n = Buffer.byteLength(key, 'utf8');
    if (n > MAX_KEY_BYTES) throw tooLarge(what, n, MAX_KEY_BYTES, 'ERR_KV_KEY_TOO_LARGE');
    k = n === key.length ? key : Buffer.from(key, 'utf8').toString('latin1');
  } else if (ArrayBuffer.isView(key)) {
    if (key.byteLength > MAX_KEY_BYTES) throw tooLarge(what, key.byteLength, MAX_KEY_BYTES, 'ERR_KV_KEY_TOO_LARGE');
    k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
  } else if (key instanceof ArrayBuffer) {
    if (key.byteLength > MAX_KEY_BYTES) throw tooLarge(what, key.byteLength, MAX_KEY_BYTES, 'ERR_KV_KEY_TOO_LARGE');
    k = Buffer.from(key).toString('latin1');
  } else {
    throw kvError(
      'ERR_INVALID_ARG_TYPE',
      `The "${what}" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer. Received ${describe(key)}`,
      TypeError,
    );
  }
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

export class KvStore {
  #mapping: Mapping;
  #owned: boolean;
  /** A view over the used span of the mapping. */
  #b: Buffer;
  #closed = false;
  #readOnly: boolean;
  /** Index key -> record offset. */
  #index = new Map<string, number>();
  // Layout, from the header.
  #length = 0;
  #regionSize = 0;
  #generation = 0;
  #storeId = 0;
  #active = 0;
  #start = 0;
  #end = 0;
  // The log's state.
  #tail = 0;
  #prev = 0;
  #seq = 0;
  #live = 0;
  #compactions = 0;
  #recovery: KvRecoveryStats = { records: 0, discardedBytes: 0, discardedBatchOps: 0, ms: 0 };

  /** Open (and recover) the store in the file or device at `path`. */
  static open(path: string, options: OpenOptions = {}): KvStore {
    if (typeof path !== 'string') {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "path" argument must be of type string. Received ${describe(path)}`, TypeError);
    }
    if (options === null || typeof options !== 'object') {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${describe(options)}`, TypeError);
    }
    const { create = false, size, readOnly = false, granularity } = options;
    const mopts: MappingOpenOptions = { readOnly };
    if (granularity !== undefined) mopts.granularity = granularity;
    const st = statSync(path, { throwIfNoEntry: false });
    // A missing file, or an empty one (as `touch` leaves it), is created at `size`.
    if (create && !readOnly && (st === undefined || (st.isFile() && st.size === 0))) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < MIN_SIZE) {
        throw kvError(
          size === undefined ? 'ERR_INVALID_ARG_VALUE' : 'ERR_OUT_OF_RANGE',
          `options.size must be an integer >= ${MIN_SIZE} to create ${path}. Received ${String(size)}`,
          size === undefined ? TypeError : RangeError,
        );
      }
      mopts.create = true;
      mopts.size = size;
    }
    // Device-dax has no private (copy-on-write) mappings, so node-pmem cannot map it readOnly:
    // map it shared under a shared lock instead; the store itself never writes when readOnly.
    if (readOnly && st !== undefined && st.isCharacterDevice()) {
      mopts.readOnly = false;
      mopts.lock = 'shared';
    }
    const mapping = openMapping(path, mopts);
    try {
      return new KvStore(mapping, { create: create && !readOnly, owned: true, readOnly });
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
    return new KvStore(mapping, { create: options.create === true, owned: false, readOnly: options.readOnly === true, storeId });
  }

  /** Use KvStore.open or KvStore.fromMapping. */
  private constructor(
    mapping: Mapping,
    { create, owned, readOnly = false, storeId = undefined }: { create: boolean; owned: boolean; readOnly?: boolean; storeId?: number | undefined },
  ) {
    if (mapping === null || typeof mapping !== 'object' || typeof mapping.persist !== 'function') {
      throw kvError('ERR_INVALID_ARG_TYPE', `The "mapping" argument must be a node-pmem Mapping. Received ${describe(mapping)}`, TypeError);
    }
    this.#mapping = mapping;
    this.#owned = owned;
    this.#readOnly = readOnly || mapping.readOnly;
    const used = Math.min(mapping.length, MAX_SIZE);
    this.#b = Buffer.from(mapping.buffer, 0, used);
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
  #slot(at: number): Slot | 'torn' | null {
    const b = this.#b;
    if (b.compare(MAGIC, 0, 8, at, at + 8) !== 0) return null;
    if (crc32c(b, at, at + 60) !== b.readUInt32LE(at + 60)) return 'torn';
    return {
      at,
      version: b.readUInt32LE(at + 8),
      generation: b.readUInt32LE(at + 12),
      active: b.readUInt32LE(at + 16),
      seed: b.readUInt32LE(at + 20),
      firstSeq: b.readUInt32LE(at + 24),
      storeId: b.readUInt32LE(at + 28),
      dataOffset: readU64(b, at + 32),
      regionSize: readU64(b, at + 40),
      length: readU64(b, at + 48),
    };
  }

  #readHeader(create: boolean, storeId: number | undefined): Header {
    const b = this.#b;
    if (b.length < MIN_SIZE) {
      throw kvError('ERR_KV_TOO_SMALL', `${this.#where()} is ${b.length} bytes; a store needs at least ${MIN_SIZE}`, RangeError);
    }
    const slots = SLOT_OFFSETS.map((at) => this.#slot(at));
    const valid = slots.filter((s): s is Slot => s !== null && s !== 'torn');
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
    const h = valid.length === 2 && valid[1].generation > valid[0].generation ? valid[1] : valid[0];
    if (h.version > VERSION) {
      throw kvError(
        'ERR_KV_VERSION',
        `${this.#where()} holds a kv store of format version ${h.version}; this code reads version ${VERSION}. Use a newer version`,
      );
    }
    if (
      h.version !== VERSION ||
      h.active > 1 ||
      h.storeId === 0 ||
      h.seed !== seedOf(h.storeId, h.generation) ||
      h.dataOffset !== DATA_OFFSET ||
      h.regionSize < 64 ||
      h.regionSize % 64 !== 0 ||
      h.length > b.length ||
      h.dataOffset + 2 * h.regionSize > h.length
    ) {
      throw kvError(
        'ERR_KV_CORRUPT',
        `${this.#where()}: the store header is inconsistent (version ${h.version}, ${h.length} bytes formatted, ${b.length} mapped); refusing to guess`,
      );
    }
    return h;
  }

  /** The header a format of this mapping writes, with store id `id`. */
  #freshHeader(id: number): Header {
    const length = this.#b.length;
    const regionSize = Math.floor((length - DATA_OFFSET) / 2 / 64) * 64;
    // Sequence numbers start at a point derived from the store id: records of an earlier store in
    // the same file carry unrelated numbers and never pass for this store's next record.
    const firstSeq = seedOf(id, 0xffffffff);
    return { version: VERSION, generation: 0, active: 0, seed: seedOf(id, 0), firstSeq, storeId: id, dataOffset: DATA_OFFSET, regionSize, length };
  }

  #format(storeId: number | undefined): Header {
    const h = this.#freshHeader(storeId ?? (randomBytes(4).readUInt32LE(0) || 1));
    this.#writeSlot(h);
    return h;
  }

  /**
   * Whether the file is what a crash or kill during the first format leaves: copy 0 holds part of
   * the header #format writes (each of its bytes zero or the format's; a power failure may land
   * any of its 8-byte words and not the others) and no other byte of the file was ever written.
   * Formatting such a file again loses nothing. The bytes that depend on the random store id
   * (seed, first seq, id, CRC) cannot be checked; all the others must match.
   */
  #formatInterrupted(): boolean {
    const b = this.#b;
    if (!isZero(b, SLOT_SIZE, b.length)) return false;
    const expected = encodeHeader(this.#freshHeader(1));
    for (let i = 0; i < SLOT_SIZE; i++) {
      const byStoreId = (i >= 20 && i < 32) || i >= 60;
      if (b[i] !== 0 && b[i] !== expected[i] && !byStoreId) return false;
    }
    return true;
  }

  /** Write one header copy and make it durable: the switch point of format and compaction. */
  #writeSlot(h: Header): void {
    encodeHeader(h).copy(this.#b, SLOT_OFFSETS[h.generation & 1]);
    this.#mapping.persist(SLOT_OFFSETS[h.generation & 1], SLOT_SIZE);
  }

  #adopt(h: Header): void {
    this.#length = h.length;
    this.#regionSize = h.regionSize;
    this.#generation = h.generation;
    this.#storeId = h.storeId;
    this.#active = h.active;
    this.#start = DATA_OFFSET + h.active * h.regionSize;
    this.#end = this.#start + h.regionSize;
    this.#tail = this.#start;
    this.#prev = h.seed;
    this.#seq = h.firstSeq;
    this.#live = 0;
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
    const flags = b[off + 13];
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
   * Rebuild the index from the active region. Writes nothing.
   *
   * The scan stops at the first record that does not verify or chain: a crash leaves at most the
   * last single op or the last batch unfinished, and those are dropped. A record that fails its
   * CRC although the next one verifies and chains to it was complete once and has been corrupted
   * since (a media error, a stray write): that is refused with ERR_KV_CORRUPT rather than
   * silently truncating the log there.
   */
  #recover(): void {
    const b = this.#b;
    let off = this.#start;
    let prev = this.#prev;
    let seq = this.#seq;
    let records = 0;
    /** Offsets of the open batch's members. */
    let pending: number[] = [];
    // State as of the last committed record.
    let tail = off;
    let tailPrev = prev;
    let tailSeq = seq;
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
      const kind = b[off + 12];
      if (kind === COMMIT) {
        if (b.readUInt32LE(off + 20) !== pending.length) break;
        for (const at of pending) this.#applyAt(at);
        pending = [];
      } else if (b[off + 13] & F_BATCH) {
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
    if (pending.length > 0 && !this.#readOnly) {
      // An interrupted batch left valid, chained members past the tail. Before anything is
      // appended over them, break their chain (zero the first member's header), so that a later
      // crash can never make a leftover member look like the continuation of the log.
      this.#b.fill(0, tail, tail + REC_HEADER);
      this.#mapping.persist(tail, REC_HEADER);
    }
  }

  /**
   * The record at `off` (seq `seq`, `len` bytes) fails its CRC: was it complete once? Yes when the
   * log goes on after it to a point that could only be written after it was durable: the next
   * record, for a single op or a commit (each is alone between two fences); the batch's commit
   * record, for a batch member (members share a fence, so any of them may be torn by a crash).
   */
  #wasComplete(off: number, len: number, seq: number): boolean {
    const b = this.#b;
    const batch = (b[off + 13] & F_BATCH) !== 0 && b[off + 12] !== COMMIT;
    let prev = b.readUInt32LE(off);
    let s = (seq + 1) >>> 0;
    let at = off + len;
    for (;;) {
      const n = this.#check(at, prev, s);
      if (n <= 0) return false;
      if (!batch || b[at + 12] === COMMIT) return true;
      if ((b[at + 13] & F_BATCH) === 0) return false;
      prev = b.readUInt32LE(at);
      s = (s + 1) >>> 0;
      at += n;
    }
  }

  /** Apply the (valid) put or del record at `off` to the index. */
  #applyAt(off: number): void {
    const b = this.#b;
    const klen = b.readUInt16LE(off + 14);
    const k = b.toString('latin1', off + REC_HEADER, off + REC_HEADER + klen);
    const old = this.#index.get(k);
    if (old !== undefined) this.#live -= this.#lengthAt(old);
    if (b[off + 12] === PUT) {
      this.#index.set(k, off);
      this.#live += this.#lengthAt(off);
    } else {
      this.#index.delete(k);
    }
  }

  #lengthAt(off: number): number {
    const b = this.#b;
    return recordLength(b.readUInt16LE(off + 14), b.readUInt32LE(off + 16));
  }

  /**
   * Write a record at `off` (not yet durable). Returns its crc.
   * `k`: the index key (latin1 image of the key bytes).
   */
  #writeRecord(
    off: number,
    kind: number,
    flags: number,
    k: string,
    v: string | Uint8Array | null,
    vlen: number,
    prev: number,
    seq: number,
    aux: number,
  ): number {
    const b = this.#b;
    const klen = k.length;
    b.writeUInt32LE(prev, off + 4);
    b.writeUInt32LE(seq, off + 8);
    b[off + 12] = kind;
    b[off + 13] = flags;
    b.writeUInt16LE(klen, off + 14);
    b.writeUInt32LE(vlen, off + 16);
    b.writeUInt32LE(aux, off + 20);
    let p = off + REC_HEADER;
    if (klen > 0) p += b.write(k, p, klen, 'latin1');
    if (vlen > 0) {
      if (typeof v === 'string') b.write(v, p, vlen, 'utf8');
      else b.set(v as Uint8Array, p);
      p += vlen;
    }
    const end = off + recordLength(klen, vlen);
    if (p < end) b.fill(0, p, end);
    const crc = crc32c(b, off + 4, end);
    b.writeUInt32LE(crc, off);
    return crc;
  }

  /** Verify the record the index points at; a failure is never returned as data. */
  #verified(off: number): number {
    const b = this.#b;
    const len = this.#lengthAt(off);
    if (off + len > this.#end || crc32c(b, off + 4, off + len) !== b.readUInt32LE(off)) {
      throw kvError('ERR_KV_CORRUPT', `${this.#where()}: the record at offset ${off} fails its checksum (media corruption?)`);
    }
    return len;
  }

  #valueAt(off: number): KvValue {
    this.#verified(off);
    const b = this.#b;
    const klen = b.readUInt16LE(off + 14);
    const vlen = b.readUInt32LE(off + 16);
    const s = off + REC_HEADER + klen;
    if (b[off + 13] & F_VALUE_STRING) return b.toString('utf8', s, s + vlen);
    return copyOut(b, s, vlen);
  }

  #keyAt(off: number): KvKey {
    const b = this.#b;
    const klen = b.readUInt16LE(off + 14);
    const s = off + REC_HEADER;
    if (b[off + 13] & F_KEY_STRING) return b.toString('utf8', s, s + klen);
    return copyOut(b, s, klen);
  }

  // ---------------------------------------------------------------------------------------------
  // Space

  /**
   * Make room for `need` bytes at the tail, keeping `keep` bytes free after them: compact if that
   * helps, else throw ENOSPC. Nothing has been written when it throws.
   */
  #reserve(need: number, keep: number): void {
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
   * Copy the live records into the other region, then switch to it with one header write.
   * Runs by itself when the log is full; safe to call any time. A crash before the switch leaves
   * the old region in force; after it, the new one.
   */
  compact(): void {
    this.#writable();
    const b = this.#b;
    const generation = (this.#generation + 1) >>> 0;
    const active = 1 - this.#active;
    const start = DATA_OFFSET + active * this.#regionSize;
    const seed = seedOf(this.#storeId, generation);
    const firstSeq = this.#seq;
    let off = start;
    let prev = seed;
    let seq = firstSeq;
    const moved: number[] = new Array(this.#index.size);
    let i = 0;
    for (const src of this.#index.values()) {
      const len = this.#verified(src);
      b.copy(b, off, src, src + len);
      b.writeUInt32LE(prev, off + 4);
      b.writeUInt32LE(seq, off + 8);
      b[off + 13] &= ~F_BATCH;
      prev = crc32c(b, off + 4, off + len);
      b.writeUInt32LE(prev, off);
      moved[i++] = off;
      seq = (seq + 1) >>> 0;
      off += len;
    }
    if (off > start) this.#mapping.persist(start, off - start);
    this.#writeSlot({
      version: VERSION,
      generation,
      active,
      seed,
      firstSeq,
      storeId: this.#storeId,
      dataOffset: DATA_OFFSET,
      regionSize: this.#regionSize,
      length: this.#length,
    });
    // Switched: update DRAM state. Setting existing keys keeps the Map's order (and live iterators).
    i = 0;
    for (const k of this.#index.keys()) this.#index.set(k, moved[i++]);
    this.#generation = generation;
    this.#active = active;
    this.#start = start;
    this.#end = start + this.#regionSize;
    this.#tail = off;
    this.#prev = prev;
    this.#seq = seq;
    this.#live = off - start;
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
    const k = indexKey(key);
    const v = valueBytes(value);
    const vlen = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.byteLength;
    if (vlen > MAX_VALUE_BYTES) throw tooLarge('value', vlen, MAX_VALUE_BYTES, 'ERR_KV_VALUE_TOO_LARGE');
    const flags = (typeof key === 'string' ? F_KEY_STRING : 0) | (typeof v === 'string' ? F_VALUE_STRING : 0);
    const len = recordLength(k.length, vlen);
    this.#reserve(len, DELETE_RESERVE);
    const off = this.#tail;
    const crc = this.#writeRecord(off, PUT, flags, k, v, vlen, this.#prev, this.#seq, 0);
    this.#mapping.persist(off, len);
    // Durable: advance the log and the index.
    this.#tail = off + len;
    this.#prev = crc;
    this.#seq = (this.#seq + 1) >>> 0;
    const old = this.#index.get(k);
    if (old !== undefined) this.#live -= this.#lengthAt(old);
    this.#index.set(k, off);
    this.#live += len;
  }

  /**
   * The value stored under `key` (a string if it was put as a string, else a Buffer copy), or
   * undefined. Its checksum is verified first: corrupt data throws ERR_KV_CORRUPT.
   */
  get(key: KvInput): KvValue | undefined {
    this.#alive();
    const off = this.#index.get(indexKey(key));
    return off === undefined ? undefined : this.#valueAt(off);
  }

  has(key: KvInput): boolean {
    this.#alive();
    return this.#index.has(indexKey(key));
  }

  /** Remove `key`. Durable when it returns. Returns whether it was there (nothing is written if not). */
  delete(key: KvInput): boolean {
    this.#writable();
    const k = indexKey(key);
    const old = this.#index.get(k);
    if (old === undefined) return false;
    const len = recordLength(k.length, 0);
    this.#reserve(len, 0);
    const off = this.#tail;
    const crc = this.#writeRecord(off, DEL, typeof key === 'string' ? F_KEY_STRING : 0, k, null, 0, this.#prev, this.#seq, 0);
    this.#mapping.persist(off, len);
    this.#tail = off + len;
    this.#prev = crc;
    this.#seq = (this.#seq + 1) >>> 0;
    this.#live -= this.#lengthAt(this.#index.get(k)!);
    this.#index.delete(k);
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
      const k = indexKey(op.key, `ops[${i}].key`);
      const kflag = typeof op.key === 'string' ? F_KEY_STRING : 0;
      if (op.type === 'put') {
        const v = valueBytes(op.value, `ops[${i}].value`);
        const vlen = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.byteLength;
        if (vlen > MAX_VALUE_BYTES) throw tooLarge(`ops[${i}].value`, vlen, MAX_VALUE_BYTES, 'ERR_KV_VALUE_TOO_LARGE');
        const len = recordLength(k.length, vlen);
        prepared.push({ kind: PUT, flags: kflag | (typeof v === 'string' ? F_VALUE_STRING : 0), k, v, vlen, len, off: 0 });
        total += len;
        hasPut = true;
      } else if (op.type === 'del' || op.type === 'delete') {
        const len = recordLength(k.length, 0);
        prepared.push({ kind: DEL, flags: kflag, k, v: null, vlen: 0, len, off: 0 });
        total += len;
      } else {
        throw kvError('ERR_INVALID_ARG_VALUE', `ops[${i}].type must be 'put' or 'del'. Received ${String((op as { type: unknown }).type)}`, TypeError);
      }
    }
    if (prepared.length === 0) return;
    this.#reserve(total, hasPut ? DELETE_RESERVE : 0);
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
    this.#mapping.persist(start, off - start); // fence 1: the members are durable, not yet in force
    prev = this.#writeRecord(off, COMMIT, 0, '', null, 0, prev, seq, prepared.length);
    this.#mapping.persist(off, COMMIT_LEN); // fence 2: the batch is committed
    this.#tail = off + COMMIT_LEN;
    this.#prev = prev;
    this.#seq = (seq + 1) >>> 0;
    for (const p of prepared) this.#applyAt(p.off);
  }

  /** Number of keys. */
  get count(): number {
    this.#alive();
    return this.#index.size;
  }

  /**
   * [key, value] pairs in insertion order: the order in which keys were first put since they were
   * last deleted (overwriting keeps a key's place), as a JS Map iterates. The order survives
   * reopening and compaction. Each record is verified as it is read. Mutating while iterating is
   * allowed (Map semantics).
   */
  *entries(): IterableIterator<[KvKey, KvValue]> {
    this.#alive();
    for (const k of this.#index.keys()) {
      this.#alive(); // closed while iterating
      const off = this.#index.get(k);
      if (off === undefined) continue;
      const value = this.#valueAt(off);
      yield [this.#keyAt(off), value];
    }
  }

  /** Keys in insertion order (see entries()). */
  *keys(): IterableIterator<KvKey> {
    this.#alive();
    for (const k of this.#index.keys()) {
      this.#alive();
      const off = this.#index.get(k);
      if (off === undefined) continue;
      this.#verified(off);
      yield this.#keyAt(off);
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
      count: this.#index.size,
      formattedBytes: this.#length,
      regionBytes: this.#regionSize,
      activeRegion: this.#active,
      generation: this.#generation,
      storeId: this.#storeId.toString(16).padStart(8, '0'),
      logBytes: this.#tail - this.#start,
      liveBytes: this.#live,
      freeBytes: this.#end - this.#tail,
      compactions: this.#compactions,
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

  /** Close (and unmap, if the store opened the mapping). Everything is already durable. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#index = new Map();
    this.#b = Buffer.alloc(0);
    if (this.#owned) this.#mapping.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A header copy's 64 bytes. */
function encodeHeader(h: Header): Buffer {
  const b = Buffer.alloc(SLOT_SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(h.version, 8);
  b.writeUInt32LE(h.generation >>> 0, 12);
  b.writeUInt32LE(h.active, 16);
  b.writeUInt32LE(h.seed, 20);
  b.writeUInt32LE(h.firstSeq >>> 0, 24);
  b.writeUInt32LE(h.storeId, 28);
  writeU64(b, 32, h.dataOffset);
  writeU64(b, 40, h.regionSize);
  writeU64(b, 48, h.length);
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
