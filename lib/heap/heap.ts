/**
 * A pool over one mapping: header, undo log, allocator, root object, and transactions over them.
 * The model (what is durable when) is in the README's "Transactions and an allocator" section.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { deviceInfo } from '../device-info';
import { invalidArgType, invalidArgValue, outOfRange, pmemError } from '../errors';
import { crc32c } from '../kv/crc32c';
import type { Mapping } from '../mapping';
import { open as openMapping } from '../open';
import type { OpenOptions } from '../types';
import { validateBoolean, validateFunction, validateInteger, validateKeys, validateObject, validateString } from '../validate';
import { Allocator, type AllocatorStats, type TxSink } from './allocator';
import {
  CHUNK_SIZE,
  CRC_END,
  CRC_START,
  DEFAULT_LOG_SIZE,
  H_BITMAPS,
  H_CHUNK_COUNT,
  H_CHUNK_TABLE,
  H_CRC,
  H_DATA,
  H_IN_USE,
  H_LAST_TX,
  H_LAYOUT,
  H_LOG_OFFSET,
  H_LOG_SIZE,
  H_POOL_SIZE,
  H_ROOT_OFFSET,
  H_ROOT_SIZE,
  H_SHUTDOWN_COUNT,
  H_UUID,
  H_VERSION,
  HEADER_SIZE,
  LAYOUT_MAX_BYTES,
  MAGIC,
  MAGIC_CREATING,
  MIN_LOG_SIZE,
  MIN_POOL_SIZE,
  VERSION,
  geometry,
  type Geometry,
} from './layout';
import { OffsetSet } from './offset-set';
import { Ref, type RefOwner } from './ref';
import { UndoLog } from './undo-log';

/** Pools are viewed through one Uint8Array, which V8 limits to 2^32 bytes. */
export const MAX_POOL_SIZE = 2 ** 32;

/** Options of {@link Heap.open}. */
export interface HeapOpenOptions {
  /** The layout name: stored at create, and an open with another one is refused (ERR_HEAP_LAYOUT). Up to 63 UTF-8 bytes. */
  layout: string;
  /** Create the pool when the file is missing, empty, all zeros or holds only an interrupted create. Default false. */
  create?: boolean;
  /** Size of a file to create, in bytes (>= MIN_POOL_SIZE, <= MAX_POOL_SIZE). Required when one is created. */
  size?: number;
  /** Size of the root object to create (default 64); on open, the root must be at least this large. */
  rootSize?: number;
  /** Bytes of undo log to create (>= 4 KiB; default 64 KiB, or a sixteenth of a pool under 1 MiB): bounds what one transaction may change. */
  logSize?: number;
  /** The durability tier to map the file at: node-pmem's open() option (which checks it). */
  granularity?: OpenOptions['granularity'];
  /** Open a pool whose last session ended in an unsafe shutdown (see {@link HeapOpenReport}) instead of throwing. Default false. */
  allowUnsafeShutdown?: boolean;
}

/** Options of {@link Heap.fromMapping}. */
export interface HeapFromMappingOptions extends Omit<HeapOpenOptions, 'size' | 'granularity'> {
  /** The pool's 16-byte id at create (default random): fixed ids make crash-test workloads reproducible. */
  uuid?: Uint8Array;
  /**
   * The platform's unsafe-shutdown count for this mapping (deviceInfo().unsafeShutdowns), or null
   * when it has none. Heap.open reads it itself; a mapping from elsewhere has no device to ask.
   */
  unsafeShutdownCount?: number | null;
}

/** What open found, and what it did about it. */
export interface HeapOpenReport {
  /** The pool was created by this open. */
  created: boolean;
  /** The last session closed the heap (close()); false after a crash or kill. */
  cleanShutdown: boolean;
  /**
   * True when the last session did not close cleanly and the platform's unsafe-shutdown count
   * changed since it opened: data persisted then may have been lost (README, "Unsafe
   * shutdowns"). null when the platform gives no count; false otherwise.
   */
  unsafeShutdown: boolean | null;
  /** The count now (null: none). */
  unsafeShutdownCount: number | null;
  /** The transaction a crash interrupted and open rolled back, and how many ranges it restored; null when none was. */
  rolledBack: { transaction: number; ranges: number } | null;
  /** Time open took, in milliseconds. */
  ms: number;
}

export interface HeapStats extends AllocatorStats {
  poolSize: number;
  /** Bytes of the data area (chunks). */
  heapSize: number;
  logSize: number;
  /** Transactions finished (committed or rolled back) in the pool's life. */
  transactions: number;
}

export interface AllocOptions {
  /** Zero the new object (default true). With false it holds whatever its space held before. */
  zero?: boolean;
}

const kTx = Symbol('node-pmem:heap-tx');
const layoutEncoder = new TextEncoder();

function heapClosed(path: string): Error {
  return pmemError('ERR_HEAP_CLOSED', `The heap of '${path}' is closed`, path);
}

/** The changes a transaction is making. One per outermost transaction(); nested ones share it. */
export class Transaction {
  readonly #heap: Heap;
  /** The transaction's id: the pool's count of finished transactions plus one. */
  readonly id: number;
  /** @internal */
  constructor(token: symbol, heap: Heap, id: number) {
    if (token !== kTx) throw pmemError('ERR_ILLEGAL_CONSTRUCTOR', 'Illegal constructor: transactions are made by heap.transaction()');
    this.#heap = heap;
    this.id = id;
  }

  /**
   * Declares that the transaction will change [offset, offset + length) of the heap: its bytes are
   * logged (durably) before add() returns, and restored if the transaction does not commit.
   * Ranges already declared in this transaction are not logged again. At commit every declared
   * range is made durable.
   */
  add(offset: number, length: number): void {
    TxAccess.add(this.#heap, this, offset, length);
  }

  /** Declares the whole object, or [at, at + length) of it. */
  addRef(ref: Ref, at = 0, length?: number): void {
    TxAccess.addRef(this.#heap, this, ref, at, length);
  }

  /** Ends the transaction without committing: everything it changed is rolled back, and transaction() throws ERR_HEAP_TX_ABORTED (with `cause`). */
  abort(reason?: unknown): never {
    throw TxAccess.abort(this.#heap, this, reason);
  }
}

/** Heap's transaction methods, reachable from Transaction without making them public. */
const TxAccess = {} as {
  add(heap: Heap, tx: Transaction, offset: unknown, length: unknown): void;
  addRef(heap: Heap, tx: Transaction, ref: unknown, at: unknown, length: unknown): void;
  abort(heap: Heap, tx: Transaction, reason: unknown): Error;
};

export class Heap {
  readonly #m: Mapping;
  readonly #owned: boolean;
  readonly #u8: Uint8Array;
  readonly #dv: DataView;
  readonly #path: string;
  #g!: Geometry;
  #log!: UndoLog;
  #alloc!: Allocator;
  #closed = false;
  #layout = '';
  #uuid = '';
  #root: Ref | null = null;
  #report!: HeapOpenReport;
  readonly #owner: RefOwner;
  /** Bumped by every free and rollback (and set to NaN by close): a Ref rechecks its object when it changed. */
  readonly #refState = { epoch: 0 };
  /** Id of the last finished transaction (committed or rolled back). */
  #lastTx = 0;

  // The transaction in progress (depth > 0).
  #depth = 0;
  #tx: Transaction | null = null;
  /** Why it can no longer commit: an inner transaction threw, or add() failed. */
  #doomed: { error: unknown } | null = null;
  /** Ranges logged in it, sorted, disjoint, merged when they touch: [start, end) as parallel arrays. */
  readonly #covStart: number[] = [];
  readonly #covEnd: number[] = [];
  /** How many of them there are (the arrays are never shrunk: an array truncated to 0 reallocates on its next store). */
  #covN = 0;
  /** (offset, length) pairs that must be durable at commit without a log entry: its new objects. */
  readonly #fresh: number[] = [];
  #freshN = 0;
  /** Objects allocated in it, by offset: stores into them need no log entry. */
  readonly #freshObjects = new OffsetSet();
  /** Objects it frees, at commit. */
  readonly #frees = new OffsetSet();
  /** Chunks whose allocator state it changed: reloaded from media if it rolls back. */
  readonly #touched = new OffsetSet();
  #pairs = new Float64Array(64);
  readonly #gaps: number[] = [];
  readonly #one = new Float64Array(2);
  readonly #sink: TxSink;

  /** Open (and recover) the pool in the file or device at `path`, or create it. */
  static open(path: string, options: HeapOpenOptions): Heap {
    validateString(path, 'path');
    const o = checkOptions(options, 'Heap.open()', ['size', 'granularity']);
    const st = statSync(path, { throwIfNoEntry: false });
    // open() checks its own options before it creates anything.
    const mopts: OpenOptions = {};
    if (o.granularity !== undefined) mopts.granularity = o.granularity as OpenOptions['granularity'];
    const creates = o.create && (st === undefined || (st.isFile() && st.size === 0));
    if (creates) {
      if (o.size === undefined) throw invalidArgValue('options.size', o.size, `is required to create ${path}`);
      mopts.create = true;
      mopts.size = o.size;
    }
    const mapping = openMapping(path, mopts);
    let count: number | null = null;
    try {
      count = deviceInfo(path).unsafeShutdowns;
    } catch {
      count = null; // a file the device probe cannot describe has no count
    }
    try {
      return new Heap(mapping, true, { ...o, count });
    } catch (e) {
      mapping.close();
      // A file this call made and could not make a pool of (too small, say) is not left behind.
      if (st === undefined) rmSync(path, { force: true });
      throw e;
    }
  }

  /** A pool over a mapping the caller opened (for example a crash simulator's). close() leaves the mapping open. */
  static fromMapping(mapping: Mapping, options: HeapFromMappingOptions): Heap {
    return new Heap(mapping, false, checkOptions(options, 'Heap.fromMapping()', ['uuid', 'unsafeShutdownCount']));
  }

  private constructor(mapping: Mapping, owned: boolean, o: CheckedOptions) {
    const t0 = performance.now();
    if (mapping === null || typeof mapping !== 'object' || typeof (mapping as Mapping).persistRanges !== 'function') {
      throw invalidArgType('mapping', 'a node-pmem Mapping', mapping);
    }
    const { layout, create, rootSize, logSize, allowUnsafe, uuid, count } = o;

    this.#m = mapping;
    this.#owned = owned;
    this.#path = mapping.path;
    if (mapping.readOnly) throw pmemError('ERR_PMEM_READ_ONLY', `${this.#path}: a heap needs a writable mapping (open may have to roll back a transaction)`, this.#path);
    if (mapping.length > MAX_POOL_SIZE) throw outOfRange('mapping.length', `<= ${MAX_POOL_SIZE} (one view)`, mapping.length);
    if (mapping.length < MIN_POOL_SIZE) {
      throw pmemError('ERR_HEAP_TOO_SMALL', `${this.#path} is ${mapping.length} bytes; a pool needs at least ${MIN_POOL_SIZE}`, this.#path);
    }
    this.#u8 = mapping.bytes();
    this.#dv = new DataView(this.#u8.buffer, this.#u8.byteOffset, this.#u8.byteLength);
    const heap = this;
    this.#sink = {
      snapshot: (offset, length) => heap.#snapshot(offset, length),
      flushAtCommit: (offset, length) => heap.#freshRange(offset, length),
    };

    const created = this.#readOrFormat(create, layout, rootSize ?? 64, logSize, uuid);
    const d = this.#dv;
    this.#owner = {
      heap: this,
      state: this.#refState,
      dv: d,
      u8: this.#u8,
      uuidLo: d.getUint32(H_UUID, true),
      uuidHi: d.getUint32(H_UUID + 4, true),
      check: (ref) => heap.#checkRef(ref),
      before: (ref, offset, length) => {
        if (heap.#depth > 0 && !heap.#freshObjects.has(ref.offset)) heap.#snapshot(offset, length);
      },
      after: (offset, length) => {
        if (heap.#depth === 0) heap.#m.persist(offset, length);
      },
      resolve: (offset, what) => heap.#resolve(offset, what),
      inTransaction: () => heap.#depth > 0,
      atomically: (fn) => heap.transaction(fn),
    };
    // A create built the allocator while it placed the root; an open builds it once the log has
    // rolled back what a crash left, which may include its own chunk table and bitmaps.
    const rolledBack = created ? null : this.#recover();
    if (!created) this.#alloc = new Allocator(d, this.#g, this.#path);
    const rootOffset = d.getFloat64(H_ROOT_OFFSET, true);
    const rootBytes = d.getFloat64(H_ROOT_SIZE, true);
    const rootCheck = this.#alloc.sizeAt(rootOffset);
    if (typeof rootCheck !== 'number' || rootCheck < rootBytes) throw pmemError('ERR_HEAP_CORRUPT', `${this.#path}: the root object at ${rootOffset} is ${typeof rootCheck === 'number' ? `${rootCheck} bytes` : rootCheck}`, this.#path);
    if (rootSize !== undefined && rootSize > rootCheck) {
      throw outOfRange('options.rootSize', `<= ${rootCheck}, the root object's size in this pool`, rootSize);
    }
    this.#root = Ref.make(this.#owner, rootOffset, rootCheck);

    // The unsafe-shutdown protocol (README): the count is stored at open, the in-use mark set while open.
    const inUse = d.getFloat64(H_IN_USE, true) !== 0;
    const stored = d.getFloat64(H_SHUTDOWN_COUNT, true);
    const unsafeShutdown = created || !inUse ? false : count === null || stored < 0 ? null : count !== stored;
    if (unsafeShutdown === true && !allowUnsafe) {
      throw pmemError(
        'ERR_HEAP_UNSAFE_SHUTDOWN',
        `${this.#path}: the last session did not close the heap, and the platform's unsafe-shutdown count changed since it opened (${stored} -> ${count}): ` +
          'data it persisted may have been lost. Verify or restore it, then open with { allowUnsafeShutdown: true }',
        this.#path,
      );
    }
    d.setFloat64(H_SHUTDOWN_COUNT, count ?? -1, true);
    mapping.persist(H_SHUTDOWN_COUNT, 8);
    d.setFloat64(H_IN_USE, 1, true);
    mapping.persist(H_IN_USE, 8);
    this.#report = Object.freeze({ created, cleanShutdown: created || !inUse, unsafeShutdown, unsafeShutdownCount: count, rolledBack, ms: performance.now() - t0 });
  }

  // ------------------------------------------------------------------------------ header

  #readOrFormat(create: boolean, layout: string, rootSize: number, logSize: number | undefined, uuid: Uint8Array | undefined): boolean {
    const u8 = this.#u8;
    const d = this.#dv;
    const path = this.#path;
    const first8 = Buffer.from(u8.buffer, u8.byteOffset, 8);
    if (!first8.equals(MAGIC)) {
      const empty = u8.subarray(0, HEADER_SIZE).every((b) => b === 0);
      // A create marks the file first (one 8-byte store, persisted), writes and persists everything
      // else, then stores the magic: the mark alone is a create a crash interrupted, which create redoes.
      const interrupted = first8.equals(MAGIC_CREATING);
      if (!empty && !interrupted) throw pmemError('ERR_HEAP_NOT_A_POOL', `${path} is not a node-pmem heap (no pool header); refusing to touch it`, path);
      const what = empty ? 'is empty (all zeros)' : 'holds a pool whose create was interrupted';
      if (!create) throw pmemError('ERR_HEAP_NOT_A_POOL', `${path} ${what}, not a heap; open it with { create: true } to create one`, path);
      this.#format(layout, rootSize, logSize, uuid);
      return true;
    }
    const version = d.getUint32(H_VERSION, true);
    if (version !== VERSION) {
      throw pmemError('ERR_HEAP_VERSION', `${path} holds a heap of format version ${version}; this code reads version ${VERSION}`, path);
    }
    if (crc32c(u8, CRC_START, CRC_END) !== d.getUint32(H_CRC, true)) throw pmemError('ERR_HEAP_CORRUPT', `${path}: the pool header fails its checksum`, path);
    const stored = decodeLayout(u8);
    if (stored !== layout) throw pmemError('ERR_HEAP_LAYOUT', `${path} holds a heap of layout '${stored}', not '${layout}'`, path);
    const poolSize = d.getFloat64(H_POOL_SIZE, true);
    if (poolSize > this.#m.length) {
      throw pmemError('ERR_HEAP_CORRUPT', `${path}: the pool is ${poolSize} bytes but the mapping only ${this.#m.length} (truncated?)`, path);
    }
    const g = geometry(poolSize, d.getFloat64(H_LOG_SIZE, true));
    if (
      g === null || g.logOffset !== d.getFloat64(H_LOG_OFFSET, true) || g.chunkTable !== d.getFloat64(H_CHUNK_TABLE, true) ||
      g.chunkCount !== d.getFloat64(H_CHUNK_COUNT, true) || g.bitmaps !== d.getFloat64(H_BITMAPS, true) || g.data !== d.getFloat64(H_DATA, true)
    ) {
      throw pmemError('ERR_HEAP_CORRUPT', `${path}: the pool header's areas do not match its size`, path);
    }
    this.#adopt(g, stored);
    return false;
  }

  #adopt(g: Geometry, layout: string): void {
    this.#g = g;
    this.#layout = layout;
    this.#log = new UndoLog(this.#m, this.#u8, this.#dv, g.logOffset, g.logSize);
    this.#uuid = Buffer.from(this.#u8.buffer, this.#u8.byteOffset + H_UUID, 16).toString('hex');
    this.#lastTx = this.#dv.getFloat64(H_LAST_TX, true);
  }

  #format(layout: string, rootSize: number, asked: number | undefined, uuid: Uint8Array | undefined): void {
    const m = this.#m;
    const u8 = this.#u8;
    const d = this.#dv;
    const poolSize = Math.min(m.length, MAX_POOL_SIZE);
    // By default 64 KiB of log, or a sixteenth of a small pool (at least 4 KiB): MIN_POOL_SIZE works with the defaults.
    const logSize = asked ?? Math.max(MIN_LOG_SIZE, Math.min(DEFAULT_LOG_SIZE, Math.floor(poolSize / 16 / 4096) * 4096));
    const g = geometry(poolSize, logSize);
    if (g === null) throw pmemError('ERR_HEAP_TOO_SMALL', `${this.#path} is ${m.length} bytes: too small for a log of ${logSize} bytes and one chunk`, this.#path);
    if (rootSize > g.chunkCount * CHUNK_SIZE) throw outOfRange('options.rootSize', `<= ${g.chunkCount * CHUNK_SIZE}, the heap's size`, rootSize);
    // The mark, then everything else, made durable; then the magic (the create's commit point).
    u8.set(MAGIC_CREATING, 0);
    m.persist(0, 8);
    u8.fill(0, 8, g.data);
    d.setUint32(H_VERSION, VERSION, true);
    u8.set(uuid ?? randomBytes(16), H_UUID);
    d.setFloat64(H_POOL_SIZE, g.poolSize, true);
    d.setFloat64(H_LOG_OFFSET, g.logOffset, true);
    d.setFloat64(H_LOG_SIZE, g.logSize, true);
    d.setFloat64(H_CHUNK_TABLE, g.chunkTable, true);
    d.setFloat64(H_CHUNK_COUNT, g.chunkCount, true);
    d.setFloat64(H_BITMAPS, g.bitmaps, true);
    d.setFloat64(H_DATA, g.data, true);
    u8.set(layoutEncoder.encode(layout), H_LAYOUT);
    d.setFloat64(H_SHUTDOWN_COUNT, -1, true);
    this.#adopt(g, layout);
    // The root: the first allocation, made directly (nothing to undo before the magic exists).
    const alloc = new Allocator(d, g, this.#path);
    const none: TxSink = { snapshot() {}, flushAtCommit() {} };
    const [rootOffset, rootBytes] = alloc.alloc(rootSize, none, { add() {} });
    this.#alloc = alloc;
    u8.fill(0, rootOffset, rootOffset + rootBytes);
    d.setFloat64(H_ROOT_OFFSET, rootOffset, true);
    d.setFloat64(H_ROOT_SIZE, rootSize, true);
    d.setUint32(H_CRC, crc32c(u8, CRC_START, CRC_END), true);
    m.persist(0, g.data);
    m.persist(rootOffset, rootBytes);
    u8.set(MAGIC, 0);
    m.persist(0, 8);
  }

  /** Rolls back the transaction a crash interrupted, if any. */
  #recover(): { transaction: number; ranges: number } | null {
    const id = this.#lastTx + 1;
    const entries = this.#log.scan(id, this.#g.poolSize);
    if (entries.length === 0) return null;
    this.#log.undo(entries);
    this.#finish(id);
    return { transaction: id, ranges: entries.length };
  }

  /** Transaction `id` is over (committed, or rolled back): its log entries are dead from here on. */
  #finish(id: number): void {
    this.#dv.setFloat64(H_LAST_TX, id, true);
    this.#m.persist(H_LAST_TX, 8);
    this.#lastTx = id;
  }

  // ------------------------------------------------------------------------------ public API

  get mapping(): Mapping {
    return this.#m;
  }
  get path(): string {
    return this.#path;
  }
  get layout(): string {
    return this.#layout;
  }
  /** The pool's id, 32 hex digits. */
  get uuid(): string {
    return this.#uuid;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** What open found and did. */
  get openReport(): HeapOpenReport {
    return this.#report;
  }
  /** The root object, made at create: the entry point to everything else in the pool. */
  get root(): Ref {
    this.#live();
    return this.#root!;
  }
  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  /**
   * Runs `fn` as a transaction: the ranges it declares (tx.add, or the Ref setters) and the
   * objects it allocates and frees become durable together when it returns, or not at all (a
   * throw, tx.abort(), or a crash at any point). Synchronous only: `fn` returning a promise is
   * ERR_HEAP_TX_ASYNC, and everything is rolled back. Nested calls join the outermost one.
   */
  transaction<T>(fn: (tx: Transaction) => T): T {
    validateFunction(fn, 'fn');
    this.#live();
    if (this.#depth > 0) return this.#nested(fn);
    const tx = new Transaction(kTx, this, this.#lastTx + 1);
    this.#tx = tx;
    this.#depth = 1;
    let result: T;
    try {
      result = fn(tx);
      refuseAsync(result, 'A transaction function');
      if (this.#doomed !== null) {
        const inner = this.#doomed.error;
        throw Object.assign(pmemError('ERR_HEAP_TX_ABORTED', `The transaction was rolled back: a nested transaction failed (${describeError(inner)})`), { cause: inner });
      }
      this.#commit();
    } catch (e) {
      this.#abort();
      throw e;
    } finally {
      this.#end();
    }
    return result;
  }

  #nested<T>(fn: (tx: Transaction) => T): T {
    this.#depth++;
    try {
      const result = fn(this.#tx!);
      refuseAsync(result, 'A nested transaction function');
      return result;
    } catch (e) {
      // An inner failure fails the whole transaction, even if the outer function catches it (as in libpmemobj).
      if (this.#doomed === null) this.#doomed = { error: e };
      throw e;
    } finally {
      this.#depth--;
    }
  }

  /**
   * Allocates an object of `size` bytes (rounded up to its size class: powers of two from 64 B to
   * 32 KiB, whole 64 KiB chunks above). Inside a transaction it is part of it (gone again if the
   * transaction rolls back); outside one it is durable on return. ERR_HEAP_NO_SPACE when no room is
   * left; ERR_OUT_OF_RANGE for a size of 0 or more than the whole heap.
   */
  alloc(size: number, options?: AllocOptions): Ref {
    this.#live();
    validateInteger(size, 'size', this.#g.chunkCount * CHUNK_SIZE, 1);
    let zero = true;
    if (options !== undefined) {
      const o = validateObject(options, 'options');
      validateKeys(o, ['zero'], 'heap.alloc()');
      if (o.zero !== undefined) zero = validateBoolean(o.zero, 'options.zero');
    }
    if (this.#depth === 0) {
      // Most allocations are one bit of a run that exists: zeroed and persisted, then the bit
      // stored and persisted (one atomic store). The rest take a transaction.
      const r = this.#alloc.reserveAtomic(size);
      if (r === null) return this.transaction(() => this.#allocIn(size, zero));
      if (zero) this.#m.fill(r.offset, r.size, 0, { persist: true });
      this.#alloc.commitAtomic(r);
      this.#m.persist(r.word, 4);
      return Ref.make(this.#owner, r.offset, r.size);
    }
    this.#usable();
    return this.#allocIn(size, zero);
  }

  #allocIn(size: number, zero: boolean): Ref {
    const [offset, usable] = this.#alloc.alloc(size, this.#sink, this.#touched);
    if (zero) this.#u8.fill(0, offset, offset + usable);
    this.#freshRange(offset, usable);
    this.#freshObjects.add(offset);
    return Ref.make(this.#owner, offset, usable);
  }

  /**
   * Frees the object `target` (a Ref of this heap, or its offset). Inside a transaction it is freed
   * at commit (and stays usable until then); outside one, on return. Freeing what is not an
   * allocated object, or is already freed, is ERR_HEAP_BAD_FREE, and nothing changes.
   */
  free(target: Ref | number): void {
    this.#live();
    const offset = this.#offsetOf(target, 'target');
    const size = this.#alloc.sizeAt(offset);
    if (typeof size !== 'number') throw pmemError('ERR_HEAP_BAD_FREE', `free(${offset}): that offset is ${size}`, this.#path);
    if (offset === this.#root!.offset) throw pmemError('ERR_HEAP_BAD_FREE', `free(${offset}): that is the root object, which lives as long as the pool`, this.#path);
    if (this.#depth === 0) {
      // One bit cleared (an atomic store) and persisted, unless the free empties a run or is a large object.
      const word = this.#alloc.freeAtomic(offset);
      if (word >= 0) {
        this.#refState.epoch++;
        this.#m.persist(word, 4);
      } else {
        this.transaction(() => this.#frees.add(offset));
      }
      return;
    }
    this.#usable();
    if (this.#frees.has(offset)) throw pmemError('ERR_HEAP_BAD_FREE', `free(${offset}): already freed in this transaction`, this.#path);
    this.#frees.add(offset);
  }

  /** The object at `offset` (one stored in the pool, e.g. by an earlier `ref.offset`). ERR_HEAP_BAD_REF unless an allocated object starts there. */
  ref(offset: number): Ref {
    this.#live();
    return this.#resolve(validateInteger(offset, 'offset'), `offset ${offset}`);
  }

  stats(): HeapStats {
    this.#live();
    return { ...this.#alloc.stats(), poolSize: this.#g.poolSize, heapSize: this.#g.chunkCount * CHUNK_SIZE, logSize: this.#g.logSize, transactions: this.#lastTx };
  }

  /** Marks the pool cleanly closed, and closes the mapping if Heap.open opened it. Not inside a transaction. */
  close(): void {
    if (this.#closed) return;
    if (this.#depth > 0) throw pmemError('ERR_HEAP_TX_STATE', 'close() inside a transaction: let the transaction end first', this.#path);
    this.#closed = true;
    this.#refState.epoch = NaN;
    if (!this.#m.closed) {
      this.#dv.setFloat64(H_IN_USE, 0, true);
      this.#m.persist(H_IN_USE, 8);
      if (this.#owned) this.#m.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ------------------------------------------------------------------------------ internals

  #live(): void {
    if (this.#closed) throw heapClosed(this.#path);
  }

  /** A transaction that can no longer commit refuses new work. */
  #usable(): void {
    if (this.#doomed !== null) {
      throw Object.assign(pmemError('ERR_HEAP_TX_ABORTED', `The transaction is being rolled back (${describeError(this.#doomed.error)}): nothing more can be done in it`), { cause: this.#doomed.error });
    }
  }

  #offsetOf(target: unknown, name: string): number {
    return typeof target === 'number' ? validateInteger(target, name) : this.#refOf(target, name, 'a Ref or an offset').offset;
  }

  /** `value` as a Ref of this heap: ERR_INVALID_ARG_TYPE for anything else, ERR_HEAP_FOREIGN_REF for another heap's. */
  #refOf(value: unknown, name: string, expected: string): Ref {
    const owner = Ref.ownerOf(value);
    if (owner === null) throw invalidArgType(name, expected, value);
    if (owner !== this.#owner) throw pmemError('ERR_HEAP_FOREIGN_REF', `The ${name} belongs to another heap`, this.#path);
    return value as Ref;
  }

  #resolve(offset: number, what: string): Ref {
    const size = this.#alloc.sizeAt(offset);
    if (typeof size !== 'number') throw pmemError('ERR_HEAP_BAD_REF', `${what}: no object starts there (it is ${size})`, this.#path);
    return Ref.make(this.#owner, offset, size);
  }

  #checkRef(ref: Ref): void {
    if (this.#closed) throw heapClosed(this.#path);
    const size = this.#alloc.sizeAt(ref.offset);
    if (size !== ref.size) {
      throw pmemError('ERR_HEAP_BAD_REF', `The object at ${ref.offset} is gone: that offset is ${typeof size === 'number' ? `now an object of ${size} bytes` : size}`, this.#path);
    }
  }

  /** Logs the parts of [offset, offset + length) this transaction has not logged yet. */
  #snapshot(offset: number, length: number): void {
    if (length === 0) return;
    this.#usable();
    const starts = this.#covStart;
    const ends = this.#covEnd;
    const n = this.#covN;
    const end = offset + length;
    // First range that ends at or after `offset` (touching ones merge).
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    // The common cases without a temporary: nothing of the range logged yet, or all of it.
    if (lo === n || starts[lo]! > end) {
      const one = this.#one;
      one[0] = offset;
      one[1] = length;
      this.#append(one, 1);
      insertAt(starts, n, lo, offset);
      insertAt(ends, n, lo, end);
      this.#covN = n + 1;
      return;
    }
    if (starts[lo]! <= offset && ends[lo]! >= end) return;
    const gaps = this.#gaps;
    let g = 0;
    let pos = offset;
    let j = lo;
    let newStart = offset;
    let newEnd = end;
    for (; j < n && starts[j]! <= end; j++) {
      if (starts[j]! > pos) {
        gaps[g++] = pos;
        gaps[g++] = starts[j]! - pos;
      }
      pos = Math.max(pos, ends[j]!);
      newStart = Math.min(newStart, starts[j]!);
      newEnd = Math.max(newEnd, ends[j]!);
    }
    if (pos < end) {
      gaps[g++] = pos;
      gaps[g++] = end - pos;
    }
    if (g > 0) this.#append(gaps, g / 2);
    // Ranges lo .. j-1 merge into one.
    starts[lo] = newStart;
    ends[lo] = newEnd;
    const gone = j - lo - 1;
    if (gone > 0) {
      for (let k = lo + 1; k + gone < n; k++) {
        starts[k] = starts[k + gone]!;
        ends[k] = ends[k + gone]!;
      }
      this.#covN = n - gone;
    }
  }

  #append(pairs: ArrayLike<number>, count: number): void {
    try {
      this.#log.append(this.#tx!.id, pairs, count);
    } catch (e) {
      this.#doomed = { error: e };
      throw e;
    }
  }

  #freshRange(offset: number, length: number): void {
    this.#fresh[this.#freshN++] = offset;
    this.#fresh[this.#freshN++] = length;
  }

  #commit(): void {
    if (this.#frees.size > 0) {
      for (let i = 0; i < this.#frees.size; i++) this.#alloc.free(this.#frees.at(i), this.#sink, this.#touched);
      this.#refState.epoch++;
    }
    const ranges = this.#covN;
    const fresh = this.#freshN;
    const n = ranges + fresh / 2;
    if (n === 0) return; // nothing changed: no fence, and the id is not used up
    if (n === 1) {
      // One range: persist() is the same flush and fence without the bulk call's copy and sort.
      if (ranges === 1) this.#m.persist(this.#covStart[0]!, this.#covEnd[0]! - this.#covStart[0]!);
      else this.#m.persist(this.#fresh[0]!, this.#fresh[1]!);
      this.#finish(this.#tx!.id);
      return;
    }
    if (this.#pairs.length < 2 * n) this.#pairs = new Float64Array(2 ** Math.ceil(Math.log2(2 * n)));
    const pairs = this.#pairs;
    for (let i = 0; i < ranges; i++) {
      pairs[2 * i] = this.#covStart[i]!;
      pairs[2 * i + 1] = this.#covEnd[i]! - this.#covStart[i]!;
    }
    for (let i = 0; i < fresh; i++) pairs[2 * ranges + i] = this.#fresh[i]!;
    // Every change durable, then the commit point: one 8-byte store of the id, persisted.
    this.#m.persistRanges(pairs, n);
    this.#finish(this.#tx!.id);
  }

  #abort(): void {
    // What this transaction logged is durable and valid: the same scan as a recovery finds it.
    const id = this.#tx!.id;
    const entries = this.#log.used > 0 ? this.#log.scan(id, this.#g.poolSize) : [];
    if (entries.length > 0) {
      this.#log.undo(entries);
      this.#finish(id);
    }
    for (let i = 0; i < this.#touched.size; i++) this.#alloc.reload(this.#touched.at(i));
    this.#refState.epoch++;
  }

  #end(): void {
    this.#depth = 0;
    this.#tx = null;
    this.#doomed = null;
    this.#covN = 0;
    if (this.#freshN > 0) {
      this.#freshN = 0;
      this.#freshObjects.clear();
    }
    this.#frees.clear();
    this.#touched.clear();
    this.#log.reset();
  }

  static {
    TxAccess.add = (heap, tx, offset, length) => heap.#txAdd(tx, offset, length);
    TxAccess.addRef = (heap, tx, ref, at, length) => heap.#txAddRef(tx, ref, at, length);
    TxAccess.abort = (heap, tx, reason) => heap.#txAbort(tx, reason);
  }

  #activeTx(tx: Transaction, what: string): void {
    if (this.#tx !== tx) throw pmemError('ERR_HEAP_TX_STATE', `tx.${what}() outside its transaction: that transaction has ended`, this.#path);
  }

  #txAdd(tx: Transaction, offset: unknown, length: unknown): void {
    this.#activeTx(tx, 'add');
    const g = this.#g;
    const heapEnd = g.data + g.chunkCount * CHUNK_SIZE;
    const off = validateInteger(offset, 'offset', heapEnd, 0);
    const len = validateInteger(length, 'length', heapEnd, 0);
    if (off < g.data || off + len > heapEnd) {
      throw outOfRange('offset', `a range inside the heap's data area [${g.data}, ${heapEnd}) (got [${off}, ${off + len}))`, off);
    }
    this.#snapshot(off, len);
  }

  #txAddRef(tx: Transaction, ref: unknown, at: unknown, length: unknown): void {
    this.#activeTx(tx, 'addRef');
    const r = this.#refOf(ref, 'ref', 'a Ref');
    this.#checkRef(r);
    const a = validateInteger(at, 'at', r.size);
    const len = length === undefined ? r.size - a : validateInteger(length, 'length', r.size - a);
    if (this.#freshObjects.has(r.offset)) return;
    this.#snapshot(r.offset + a, len);
  }

  #txAbort(tx: Transaction, reason: unknown): Error {
    this.#activeTx(tx, 'abort');
    const error = Object.assign(pmemError('ERR_HEAP_TX_ABORTED', `The transaction was aborted${reason === undefined ? '' : ` (${describeError(reason)})`}; everything it changed was rolled back`), { cause: reason });
    if (this.#doomed === null) this.#doomed = { error };
    return error;
  }
}

/** A transaction function that returned a promise (an async function) is refused: what it awaits would run after the commit. */
function refuseAsync(result: unknown, what: string): void {
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    (result as Promise<unknown>).then(undefined, () => {}); // its rejection is ours to report, not unhandled
    throw pmemError('ERR_HEAP_TX_ASYNC', `${what} returned a promise: transactions are synchronous (no await inside); everything the transaction changed is rolled back`);
  }
}

interface CheckedOptions {
  layout: string;
  create: boolean;
  rootSize: number | undefined;
  logSize: number | undefined;
  allowUnsafe: boolean;
  uuid: Uint8Array | undefined;
  count: number | null;
  size: number | undefined;
  granularity: unknown;
}

/** The one place Heap.open's and Heap.fromMapping's options are checked, before anything is opened or created. */
function checkOptions(options: unknown, fn: string, extra: readonly ('size' | 'granularity' | 'uuid' | 'unsafeShutdownCount')[]): CheckedOptions {
  const o = validateObject(options, 'options');
  validateKeys(o, ['layout', 'create', 'rootSize', 'logSize', 'allowUnsafeShutdown', ...extra], fn);
  const layout = validateString(o.layout, 'options.layout');
  if (layout.length === 0 || layoutEncoder.encode(layout).length > LAYOUT_MAX_BYTES || layout.includes('\0')) {
    throw invalidArgValue('options.layout', layout, `must be 1 to ${LAYOUT_MAX_BYTES} UTF-8 bytes, without NUL`);
  }
  let uuid: Uint8Array | undefined;
  if (o.uuid !== undefined) {
    if (!(o.uuid instanceof Uint8Array) || o.uuid.length !== 16) throw invalidArgType('options.uuid', 'a Uint8Array of 16 bytes', o.uuid);
    uuid = o.uuid;
  }
  return {
    layout,
    create: o.create === undefined ? false : validateBoolean(o.create, 'options.create'),
    rootSize: o.rootSize === undefined ? undefined : validateInteger(o.rootSize, 'options.rootSize', MAX_POOL_SIZE, 1),
    logSize: o.logSize === undefined ? undefined : validateInteger(o.logSize, 'options.logSize', MAX_POOL_SIZE, MIN_LOG_SIZE),
    allowUnsafe: o.allowUnsafeShutdown === undefined ? false : validateBoolean(o.allowUnsafeShutdown, 'options.allowUnsafeShutdown'),
    uuid,
    count: o.unsafeShutdownCount === undefined || o.unsafeShutdownCount === null ? null : validateInteger(o.unsafeShutdownCount, 'options.unsafeShutdownCount'),
    size: o.size === undefined ? undefined : validateInteger(o.size, 'options.size', MAX_POOL_SIZE, MIN_POOL_SIZE),
    granularity: o.granularity,
  };
}

/** Inserts v at i among the first n elements of a. */
function insertAt(a: number[], n: number, i: number, v: number): void {
  for (let k = n; k > i; k--) a[k] = a[k - 1]!;
  a[i] = v;
}

function describeError(e: unknown): string {
  if (e instanceof Error) return (e as { code?: string }).code ? `${(e as { code?: string }).code}: ${e.message}` : e.message;
  return String(e);
}

function decodeLayout(u8: Uint8Array): string {
  const raw = u8.subarray(H_LAYOUT, H_LAYOUT + LAYOUT_MAX_BYTES + 1);
  const nul = raw.indexOf(0);
  return new TextDecoder().decode(raw.subarray(0, nul < 0 ? raw.length : nul));
}

