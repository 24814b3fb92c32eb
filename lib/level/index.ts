/**
 * node-pmem/level: the key-value store node-pmem/kv as an abstract-level 3 database, so code
 * written for classic-level or memory-level (and the ecosystem on abstract-level: sublevels,
 * encodings, hooks) runs on persistent memory.
 *
 * ```ts
 * import { PmemLevel } from 'node-pmem/level';   // needs abstract-level 3 installed beside node-pmem
 * const db = new PmemLevel('/mnt/pmem/app.kv', { valueEncoding: 'json' });
 * await db.put('user:1', { name: 'Ada' });         // durable when the promise resolves
 * for await (const [key, value] of db.iterator({ gte: 'user:', lt: 'user;' })) console.log(key, value);
 * await db.close();
 * ```
 *
 * The location is the store's file (or device), not a directory as for classic-level. Every
 * write is durable when its promise resolves (the `sync` option changes nothing), iterators read
 * a snapshot taken when they are made, and `db.snapshot()` gives explicit snapshots. The store
 * keeps keys in byte order and takes strings and bytes natively, so keys and values are handed
 * to it as abstract-level encodes them (utf8, buffer or view) and converted on the way out only
 * when they were stored in another of those forms.
 *
 * @packageDocumentation
 */
/// <reference types="node" preserve="true" />
// First: without abstract-level (an optional peer dependency) this throws ERR_PMEM_PEER_DEPENDENCY
// instead of letting the import below fail with a bare MODULE_NOT_FOUND.
import './peer';
import {
  AbstractIterator,
  AbstractKeyIterator,
  AbstractLevel,
  AbstractSnapshot,
  AbstractValueIterator,
  type AbstractDatabaseOptions,
  type AbstractOpenOptions,
} from 'abstract-level';
import { statSync } from 'node:fs';
import { invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { MAX_SIZE, MIN_SIZE, open as openStore, type IteratorOptions, type KvIterator, type KvKey, type KvSnapshot, type KvStore, type KvValue, type OpenOptions as KvOpenOptions } from '../kv/store';
import type { Granularity } from '../types';

/** The size of a store a PmemLevel creates when `options.size` is not given: 64 MiB (about 16 MiB of live records). */
export const DEFAULT_SIZE = 64 * 1024 * 1024;

/** What abstract-level hands the private methods, and what they return: the store takes all three natively. */
type Format = 'utf8' | 'buffer' | 'view';
type Stored = string | Uint8Array;

/** Options of {@link PmemLevel}: the store's own, then abstract-level's (encodings, createIfMissing, errorIfExists). */
export interface PmemLevelOptions<K = string, V = string> extends AbstractDatabaseOptions<K, V> {
  /** Bytes of a new store (the file is created at this size; an existing store keeps its own). Default {@link DEFAULT_SIZE}; at least 256 KiB. */
  size?: number | undefined;
  /** node-pmem's tier override ('cacheline' forces what real pmem gives, for testing). Default: detected. */
  granularity?: 'auto' | Granularity | undefined;
  /** See node-pmem/kv's open(): checkpoint the index after this many records (default 2048). */
  checkpointRecords?: number | undefined;
}

interface FormatOptions {
  keyEncoding: Format;
  valueEncoding: Format;
}

interface ReadOptions extends FormatOptions {
  snapshot?: AbstractSnapshot | null | undefined;
}

/** The range options abstract-level passes on: bounds already encoded, limit -1 for none. */
interface RangeOptions extends ReadOptions {
  gt?: Stored;
  gte?: Stored;
  lt?: Stored;
  lte?: Stored;
  reverse: boolean;
  limit: number;
  keys?: boolean;
  values?: boolean;
}

interface BatchOperation {
  type: 'put' | 'del';
  key: Stored;
  value?: Stored;
}

/** Deletes a clear() gives the store as one batch (fewer when the index has no room for them). */
const CLEAR_CHUNK = 512;

/** A value or key as the caller's format wants it: the store returns a string only for what was stored as one. */
function as(x: KvKey | KvValue, format: Format): Stored {
  if (format === 'utf8') return typeof x === 'string' ? x : x.toString('utf8');
  // 'buffer' and 'view': a Buffer is a Uint8Array, as abstract-level allows for view.
  return typeof x === 'string' ? Buffer.from(x, 'utf8') : x;
}

function bytes(x: Stored): Buffer {
  return typeof x === 'string' ? Buffer.from(x, 'utf8') : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

type Lower = { gt: Stored; gte?: undefined } | { gte: Stored; gt?: undefined } | { gt?: undefined; gte?: undefined };
type Upper = { lt: Stored; lte?: undefined } | { lte: Stored; lt?: undefined } | { lt?: undefined; lte?: undefined };

/**
 * The store's bounds for abstract-level's range options. abstract-level lets gte win over gt and
 * lte over lt (and a sublevel prefixes only the winner), so only the winner is passed on.
 */
function boundsOf(o: RangeOptions): { lower: Lower; upper: Upper } {
  return {
    lower: o.gte !== undefined ? { gte: o.gte } : o.gt !== undefined ? { gt: o.gt } : {},
    upper: o.lte !== undefined ? { lte: o.lte } : o.lt !== undefined ? { lt: o.lt } : {},
  };
}

/**
 * What a PmemLevel supports (db.supports). A variable, not a literal in the call: level-supports'
 * types predate the getSync field abstract-level 3 reads.
 */
const MANIFEST = {
  encodings: { buffer: true, view: true, utf8: true },
  has: true,
  getSync: true,
  seek: true,
  permanence: true,
  createIfMissing: true,
  errorIfExists: true,
  // Iterators read the snapshot the store takes when they are made; db.snapshot() is a KvSnapshot.
  implicitSnapshots: true,
  explicitSnapshots: true,
  // The store's reads are synchronous: a read, once started, cannot be aborted, and abstract-level
  // itself refuses reads on an aborted signal, for every database.
  signals: { iterators: false },
};

const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * An abstract-level database over a node-pmem/kv store in one file or device.
 *
 * @typeParam KDefault the type of keys without a keyEncoding option (string, as abstract-level's default utf8)
 * @typeParam VDefault the type of values likewise
 */
export class PmemLevel<KDefault = string, VDefault = string> extends AbstractLevel<Buffer | Uint8Array | string, KDefault, VDefault> {
  readonly #location: string;
  readonly #storeOptions: KvOpenOptions;
  #kv: KvStore | null = null;

  /**
   * @param location the store's file (created on open unless `createIfMissing: false`) or device
   * @param options {@link PmemLevelOptions}
   */
  constructor(location: string, options?: PmemLevelOptions<KDefault, VDefault>) {
    if (typeof location !== 'string') throw invalidArgType('location', 'of type string', location);
    if (location === '') throw invalidArgValue('location', location, 'must be a path to the store, not empty');
    if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgType('options', 'of type object', options);
    const { size = DEFAULT_SIZE, granularity, checkpointRecords, ...forward } = options ?? {};
    if (typeof size !== 'number') throw invalidArgType('options.size', 'of type number', size);
    if (!Number.isSafeInteger(size) || size < MIN_SIZE || size > MAX_SIZE) {
      throw outOfRange('options.size', `an integer in [${MIN_SIZE}, ${MAX_SIZE}] (bytes)`, size);
    }
    super(MANIFEST, forward);
    this.#location = location;
    this.#storeOptions = { size, granularity, checkpointRecords };
  }

  /** The store's path, as given. */
  get location(): string {
    return this.#location;
  }

  /** The open store (abstract-level calls the private methods only while the database is open). */
  #open(): KvStore {
    if (this.#kv === null) throw new Error(`PmemLevel: the store ${this.#location} is not open`);
    return this.#kv;
  }

  /** The KvSnapshot behind an explicit snapshot of this database, or undefined for none. */
  #snapshotOf(snapshot: AbstractSnapshot | null | undefined): KvSnapshot | undefined {
    if (snapshot == null) return undefined;
    if (!(snapshot instanceof PmemSnapshot) || snapshot.store !== this.#kv) {
      throw invalidArgValue('options.snapshot', snapshot, 'must be a snapshot of this database, taken since it was opened');
    }
    return snapshot.kv;
  }

  protected async _open(options: AbstractOpenOptions): Promise<void> {
    const create = options.createIfMissing !== false;
    const exclusive = options.errorIfExists === true;
    if (!create) {
      // Nothing is created, so these checks cannot race with a creation of ours.
      const at = statSync(this.#location, { throwIfNoEntry: false });
      if (at === undefined) throw systemError('ENOENT', -2, `${this.#location} does not exist (createIfMissing is false)`, this.#location);
      if (exclusive) throw systemError('EEXIST', -17, `${this.#location} already exists (errorIfExists is true)`, this.#location);
    }
    // A missing (or empty, or all-zero) file becomes a store of `size` bytes; an existing store is
    // opened and recovered; any other file is refused (ERR_KV_NOT_A_STORE), never formatted over.
    // errorIfExists creates with O_EXCL: a file that appears between a check and the creation
    // would otherwise be opened as if it were new.
    this.#kv = openStore(this.#location, { ...this.#storeOptions, create, exclusive: create && exclusive });
  }

  protected async _close(): Promise<void> {
    // abstract-level closed every iterator and snapshot first.
    this.#kv?.close();
    this.#kv = null;
  }

  protected async _put(key: Stored, value: Stored): Promise<void> {
    this.#open().put(key, value);
  }

  protected async _del(key: Stored): Promise<void> {
    this.#open().delete(key);
  }

  protected async _batch(operations: BatchOperation[]): Promise<void> {
    // Validated by abstract-level: each is { type: 'put', key, value } or { type: 'del', key }.
    this.#open().batch(operations as Parameters<KvStore['batch']>[0]);
  }

  protected _getSync(key: Stored, options: ReadOptions): Stored | undefined {
    const snapshot = this.#snapshotOf(options.snapshot);
    const v = this.#open().get(key, snapshot === undefined ? undefined : { snapshot });
    return v === undefined ? undefined : as(v, options.valueEncoding);
  }

  protected async _get(key: Stored, options: ReadOptions): Promise<Stored | undefined> {
    return this._getSync(key, options);
  }

  protected async _getMany(keys: Stored[], options: ReadOptions): Promise<(Stored | undefined)[]> {
    const store = this.#open();
    const snapshot = this.#snapshotOf(options.snapshot);
    const opts = snapshot === undefined ? undefined : { snapshot };
    return keys.map((key) => {
      const v = store.get(key, opts);
      return v === undefined ? undefined : as(v, options.valueEncoding);
    });
  }

  protected async _has(key: Stored, options: ReadOptions): Promise<boolean> {
    const snapshot = this.#snapshotOf(options.snapshot);
    return this.#open().has(key, snapshot === undefined ? undefined : { snapshot });
  }

  protected async _hasMany(keys: Stored[], options: ReadOptions): Promise<boolean[]> {
    const store = this.#open();
    const snapshot = this.#snapshotOf(options.snapshot);
    const opts = snapshot === undefined ? undefined : { snapshot };
    return keys.map((key) => store.has(key, opts));
  }

  /**
   * Deletes the keys in the range (of the snapshot, if given), in chunks: each chunk is one atomic
   * batch of deletes, so a clear() is not atomic as a whole (neither is classic-level's). Between
   * chunks the event loop runs; each chunk reads a fresh snapshot, so no snapshot is held while
   * the deletes compact the log.
   */
  protected async _clear(options: RangeOptions): Promise<void> {
    const store = this.#open();
    const snapshot = this.#snapshotOf(options.snapshot);
    let { lower, upper } = boundsOf(options);
    let left = options.limit < 0 ? Infinity : options.limit;
    while (left > 0) {
      const it = store.iterator({ ...lower, ...upper, reverse: options.reverse, snapshot });
      let keys: KvKey[];
      try {
        keys = take(Math.min(left, CLEAR_CHUNK), () => it.nextKey());
      } finally {
        it.close();
      }
      deleteAll(store, keys);
      left -= keys.length;
      if (keys.length < CLEAR_CHUNK) return;
      // The next chunk starts after the last key deleted.
      const last = keys[keys.length - 1]!;
      if (options.reverse) upper = { lt: last };
      else lower = { gt: last };
      await breathe();
    }
  }

  protected _iterator(options: RangeOptions): AbstractIterator<PmemLevel<KDefault, VDefault>, KDefault, VDefault> {
    return new PmemIterator(this, options, this.#reader(options));
  }

  protected _keys(options: RangeOptions): AbstractKeyIterator<PmemLevel<KDefault, VDefault>, KDefault> {
    return new PmemKeyIterator(this, options, this.#reader(options));
  }

  protected _values(options: RangeOptions): AbstractValueIterator<PmemLevel<KDefault, VDefault>, KDefault, VDefault> {
    return new PmemValueIterator(this, options, this.#reader(options));
  }

  #reader(options: RangeOptions): Reader {
    return new Reader(this.#open(), options, this.#snapshotOf(options.snapshot));
  }

  protected _snapshot(options: object): AbstractSnapshot {
    const store = this.#open();
    return new PmemSnapshot(options, store, store.snapshot());
  }
}

/**
 * Deletes `keys` in batches, halving a batch the index has no room for (an atomic batch needs its
 * copies of index nodes all at once) down to single deletes, which always fit: a store keeps room for one.
 */
function deleteAll(store: KvStore, keys: KvKey[]): void {
  let chunk = keys.length;
  for (let i = 0; i < keys.length; ) {
    const n = Math.min(chunk, keys.length - i);
    if (n === 1) {
      store.delete(keys[i]!);
      i++;
      continue;
    }
    try {
      store.batch(keys.slice(i, i + n).map((key) => ({ type: 'del', key })));
      i += n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      chunk = n >> 1;
    }
  }
}

function systemError(code: string, errno: number, message: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code, errno, syscall: 'open', path });
}

// abstract-level's types declare no constructor for AbstractSnapshot; at run time it takes the
// options db.snapshot() passes (their `owner` closes the snapshot when that database closes).
const Snapshot = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot;

/** db.snapshot(): a KvSnapshot of the store, released when closed (or when the database closes). */
class PmemSnapshot extends Snapshot {
  readonly store: KvStore;
  readonly kv: KvSnapshot;

  constructor(options: object, store: KvStore, kv: KvSnapshot) {
    super(options);
    this.store = store;
    this.kv = kv;
  }

  async _close(): Promise<void> {
    this.kv.close();
  }
}

/**
 * What the three iterator classes share: a store iterator over the range (which reads a snapshot:
 * the one given, else its own taken now), with abstract-level's seek semantics and the formats
 * converted.
 */
class Reader {
  readonly #store: KvStore;
  readonly #options: IteratorOptions;
  /** Made at once when the store's own snapshot is to be read (taken now), else at the first read or seek. */
  #kvIt: KvIterator | null;
  readonly #keyFormat: Format;
  readonly #valueFormat: Format;
  readonly #reverse: boolean;
  /** The bound a seek target must not precede (forward: the lower bound; reverse: the upper). */
  readonly #near: Buffer | null;
  readonly #nearOpen: boolean;
  /** A seek() before the range ends the iteration (until the next seek), as abstract-level specifies; the store would clamp to the bound. */
  #out = false;

  constructor(store: KvStore, options: RangeOptions, snapshot: KvSnapshot | undefined) {
    const { lower, upper } = boundsOf(options);
    this.#store = store;
    this.#options = { ...lower, ...upper, reverse: options.reverse, snapshot };
    // An explicit snapshot may already be closed: abstract-level then wants the first read (not
    // the iterator's creation) to fail, with LEVEL_SNAPSHOT_NOT_OPEN, before it reaches the store.
    this.#kvIt = snapshot === undefined ? store.iterator(this.#options) : null;
    this.#keyFormat = options.keyEncoding;
    this.#valueFormat = options.valueEncoding;
    this.#reverse = options.reverse;
    const near = options.reverse ? (upper.lte ?? upper.lt) : (lower.gte ?? lower.gt);
    this.#near = near === undefined ? null : bytes(near);
    this.#nearOpen = options.reverse ? upper.lte === undefined : lower.gte === undefined;
  }

  get #it(): KvIterator {
    this.#kvIt ??= this.#store.iterator(this.#options);
    return this.#kvIt;
  }

  entry(keys: boolean, values: boolean): [Stored | undefined, Stored | undefined] | undefined {
    if (this.#out) return undefined;
    if (!values) {
      const k = this.#it.nextKey();
      return k === undefined ? undefined : [keys ? as(k, this.#keyFormat) : undefined, undefined];
    }
    const e = this.#it.next();
    return e === undefined ? undefined : [keys ? as(e[0], this.#keyFormat) : undefined, as(e[1], this.#valueFormat)];
  }

  key(): Stored | undefined {
    if (this.#out) return undefined;
    const k = this.#it.nextKey();
    return k === undefined ? undefined : as(k, this.#keyFormat);
  }

  value(): Stored | undefined {
    if (this.#out) return undefined;
    const e = this.#it.next();
    return e === undefined ? undefined : as(e[1], this.#valueFormat);
  }

  seek(target: Stored): void {
    if (this.#near !== null) {
      const c = Buffer.compare(bytes(target), this.#near) * (this.#reverse ? -1 : 1);
      this.#out = c < 0 || (c === 0 && this.#nearOpen);
      if (this.#out) return;
    }
    this.#out = false;
    this.#it.seek(target);
  }

  close(): void {
    this.#kvIt?.close();
  }
}

/** Up to `size` items from `read` (fewer at its end). */
function take<T>(size: number, read: () => T | undefined): T[] {
  const items: T[] = [];
  while (items.length < size) {
    const item = read();
    if (item === undefined) break;
    items.push(item);
  }
  return items;
}

// The three iterators differ only in what one read returns (an entry, a key, a value), so they
// share their methods (installed below). abstract-level counts reads against `limit` and decodes
// what they return; the store's reads are synchronous, so each method does its work at once.
const kReader = Symbol('reader');
const kRead = Symbol('read');

interface ReaderIterator {
  readonly [kReader]: Reader;
  readonly [kRead]: () => unknown;
  readonly limit: number;
  readonly count: number;
}

const readerMethods = {
  async _next(this: ReaderIterator): Promise<unknown> {
    return this[kRead]();
  },
  async _nextv(this: ReaderIterator, size: number): Promise<unknown[]> {
    return take(size, this[kRead]);
  },
  async _all(this: ReaderIterator): Promise<unknown[]> {
    return take(this.limit - this.count, this[kRead]);
  },
  _seek(this: ReaderIterator, target: Stored): void {
    this[kReader].seek(target);
  },
  async _close(this: ReaderIterator): Promise<void> {
    this[kReader].close();
  },
};

class PmemIterator<K, V> extends AbstractIterator<PmemLevel<K, V>, K, V> implements ReaderIterator {
  readonly [kReader]: Reader;
  readonly [kRead]: () => unknown;

  constructor(db: PmemLevel<K, V>, options: RangeOptions, reader: Reader) {
    super(db, options as object);
    const keys = options.keys !== false;
    const values = options.values !== false;
    this[kReader] = reader;
    this[kRead] = () => reader.entry(keys, values);
  }
}

class PmemKeyIterator<K, V> extends AbstractKeyIterator<PmemLevel<K, V>, K> implements ReaderIterator {
  readonly [kReader]: Reader;
  readonly [kRead]: () => unknown;

  constructor(db: PmemLevel<K, V>, options: RangeOptions, reader: Reader) {
    super(db, options as object);
    this[kReader] = reader;
    this[kRead] = () => reader.key();
  }
}

class PmemValueIterator<K, V> extends AbstractValueIterator<PmemLevel<K, V>, K, V> implements ReaderIterator {
  readonly [kReader]: Reader;
  readonly [kRead]: () => unknown;

  constructor(db: PmemLevel<K, V>, options: RangeOptions, reader: Reader) {
    super(db, options as object);
    this[kReader] = reader;
    this[kRead] = () => reader.value();
  }
}

for (const C of [PmemIterator, PmemKeyIterator, PmemValueIterator]) {
  for (const [name, method] of Object.entries(readerMethods)) {
    Object.defineProperty(C.prototype, name, { value: method, writable: true, configurable: true });
  }
}
