/**
 * Persistent references: an object of the heap named by its offset, which stays valid when the pool
 * is mapped at another address (or in another process), with typed accessors that read and write
 * the mapping in place.
 *
 * Inside a transaction every setter logs the bytes it is about to change first (as libpmemobj's
 * TX_SET does), so the change is undone if the transaction is; outside one, a setter stores and
 * persists before it returns (durable, but only an aligned store of 8 bytes or less is atomic
 * across a crash: setBytes and setString may land torn; setRef runs as a transaction of its own).
 *
 * Every access checks that the heap is open and the object still allocated: a reference kept past
 * free() throws ERR_HEAP_BAD_REF, until its space is allocated again to an object of the same size
 * class (from then on it names that object, as a stale offset would; keep offsets, not freed Refs).
 */
import { invalidArgType, outOfRange, pmemError } from '../errors';
import { validateInteger } from '../validate';

/** What a Ref needs from its heap. @internal */
export interface RefOwner {
  readonly heap: object;
  /** Changes whenever an object may have been freed (and is NaN once the heap is closed). */
  readonly state: { readonly epoch: number };
  readonly dv: DataView;
  readonly u8: Uint8Array;
  readonly uuidLo: number;
  readonly uuidHi: number;
  /** Throws ERR_HEAP_CLOSED or ERR_HEAP_BAD_REF unless `ref` is a live object of this heap. */
  check(ref: Ref): void;
  /** Before a store to [offset, offset + length): logged inside a transaction. */
  before(ref: Ref, offset: number, length: number): void;
  /** After it: persisted outside a transaction. */
  after(offset: number, length: number): void;
  /** The Ref of the object at `offset`, for a persistent pointer read back (checked). */
  resolve(offset: number, what: string): Ref;
  inTransaction(): boolean;
  /** Runs `fn` as a transaction of its own. */
  atomically(fn: () => void): void;
}

const kOwn = Symbol('node-pmem:heap-ref');
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Bytes a persistent pointer takes in an object (see setRef). */
export const REF_BYTES = 16;

export class Ref {
  /** The object's offset in the pool: what to store to find it again (`heap.ref(offset)`). */
  readonly offset: number;
  /** Its usable size: the size asked for, rounded up to its size class (or to whole chunks). */
  readonly size: number;
  readonly #owner: RefOwner;
  /** The owner's epoch when the object was last found live: while it holds, no check is needed. */
  #checked: number;

  /** @internal Refs come from Heap: alloc(), ref(), root. */
  constructor(token: symbol, owner: RefOwner, offset: number, size: number) {
    if (token !== kOwn) throw pmemError('ERR_ILLEGAL_CONSTRUCTOR', 'Illegal constructor: references are made by a Heap');
    this.#owner = owner;
    this.offset = offset;
    this.size = size;
    this.#checked = owner.state.epoch;
  }

  /** @internal */
  static make(owner: RefOwner, offset: number, size: number): Ref {
    return new Ref(kOwn, owner, offset, size);
  }

  /** @internal The heap this reference belongs to. */
  static ownerOf(ref: unknown): RefOwner | null {
    return ref instanceof Ref ? ref.#owner : null;
  }

  /** The heap this reference belongs to. */
  get heap(): object {
    return this.#owner.heap;
  }

  /** Checks the object is live and [at, at + width) is inside it; returns the absolute offset. */
  #at(at: unknown, width: number): number {
    const o = this.#owner;
    if (this.#checked !== o.state.epoch) {
      o.check(this);
      this.#checked = o.state.epoch;
    }
    if (typeof at !== 'number' || !Number.isInteger(at)) throw invalidArgType('at', 'an integer', at);
    if (!(at >= 0 && at + width <= this.size)) throw outOfRange('at', `>= 0 and <= ${this.size - width} (an object of ${this.size} bytes, a field of ${width})`, at);
    return this.offset + at;
  }

  /** Checks, then logs (in a transaction) the field about to be stored; returns its absolute offset. */
  #willStore(at: unknown, width: number): number {
    const off = this.#at(at, width);
    this.#owner.before(this, off, width);
    return off;
  }

  getU8(at: number): number {
    return this.#owner.dv.getUint8(this.#at(at, 1));
  }
  getU16(at: number): number {
    return this.#owner.dv.getUint16(this.#at(at, 2), true);
  }
  getU32(at: number): number {
    return this.#owner.dv.getUint32(this.#at(at, 4), true);
  }
  getI32(at: number): number {
    return this.#owner.dv.getInt32(this.#at(at, 4), true);
  }
  getU64(at: number): bigint {
    return this.#owner.dv.getBigUint64(this.#at(at, 8), true);
  }
  getF64(at: number): number {
    return this.#owner.dv.getFloat64(this.#at(at, 8), true);
  }

  setU8(at: number, value: number): void {
    const v = validateInteger(value, 'value', 0xff, 0);
    const off = this.#willStore(at, 1);
    this.#owner.dv.setUint8(off, v);
    this.#owner.after(off, 1);
  }
  setU16(at: number, value: number): void {
    const v = validateInteger(value, 'value', 0xffff, 0);
    const off = this.#willStore(at, 2);
    this.#owner.dv.setUint16(off, v, true);
    this.#owner.after(off, 2);
  }
  setU32(at: number, value: number): void {
    const v = validateInteger(value, 'value', 0xffffffff, 0);
    const off = this.#willStore(at, 4);
    this.#owner.dv.setUint32(off, v, true);
    this.#owner.after(off, 4);
  }
  setI32(at: number, value: number): void {
    const v = validateInteger(value, 'value', 0x7fffffff, -0x80000000);
    const off = this.#willStore(at, 4);
    this.#owner.dv.setInt32(off, v, true);
    this.#owner.after(off, 4);
  }
  setU64(at: number, value: bigint): void {
    if (typeof value !== 'bigint') throw invalidArgType('value', 'of type bigint', value);
    if (value < 0n || value > 0xffffffffffffffffn) throw outOfRange('value', '>= 0n and < 2n ** 64n', value);
    const off = this.#willStore(at, 8);
    this.#owner.dv.setBigUint64(off, value, true);
    this.#owner.after(off, 8);
  }
  setF64(at: number, value: number): void {
    if (typeof value !== 'number') throw invalidArgType('value', 'of type number', value);
    const off = this.#willStore(at, 8);
    this.#owner.dv.setFloat64(off, value, true);
    this.#owner.after(off, 8);
  }

  /**
   * A view of [at, at + length) of the object, live on the mapping. Stores through it are not
   * logged or persisted by the heap: inside a transaction declare the range first
   * (`tx.add(ref.offset + at, length)`); outside one, persist it yourself (`heap.mapping.persist`).
   */
  getBytes(at = 0, length: number = this.size - at): Uint8Array {
    if (typeof length !== 'number') throw invalidArgType('length', 'of type number', length);
    if (!Number.isInteger(length) || length < 0) throw outOfRange('length', 'an integer >= 0', length);
    const off = this.#at(at, length);
    return this.#owner.u8.subarray(off, off + length);
  }

  /** Copies `source` into the object at `at` (logged in a transaction, persisted outside one). */
  setBytes(at: number, source: Uint8Array): void {
    if (!(source instanceof Uint8Array)) throw invalidArgType('source', 'an instance of Uint8Array', source);
    const off = this.#willStore(at, source.length);
    this.#owner.u8.set(source, off);
    this.#owner.after(off, source.length);
  }

  /** A string stored by setString at `at`: a u32 byte length, then UTF-8. */
  getString(at: number): string {
    const off = this.#at(at, 4);
    const length = this.#owner.dv.getUint32(off, true);
    if (at + 4 + length > this.size) throw pmemError('ERR_HEAP_CORRUPT', `The string at ${at} of the object at ${this.offset} claims ${length} bytes, past the object's ${this.size}`);
    return decoder.decode(this.#owner.u8.subarray(off + 4, off + 4 + length));
  }

  /** Stores `value` at `at` as a u32 byte length and UTF-8; returns the bytes taken (4 + its length). */
  setString(at: number, value: string): number {
    if (typeof value !== 'string') throw invalidArgType('value', 'of type string', value);
    const bytes = encoder.encode(value);
    const total = 4 + bytes.length;
    const off = this.#willStore(at, total);
    this.#owner.dv.setUint32(off, bytes.length, true);
    this.#owner.u8.set(bytes, off + 4);
    this.#owner.after(off, total);
    return total;
  }

  /**
   * The object a persistent pointer stored by setRef at `at` names, or null. A pointer written by
   * another pool (another UUID) is ERR_HEAP_FOREIGN_REF; one to space freed since is ERR_HEAP_BAD_REF.
   */
  getRef(at: number): Ref | null {
    const off = this.#at(at, REF_BYTES);
    const o = this.#owner;
    const lo = o.dv.getUint32(off, true);
    const hi = o.dv.getUint32(off + 4, true);
    const target = o.dv.getFloat64(off + 8, true);
    if (lo === 0 && hi === 0 && target === 0) return null;
    if (lo !== o.uuidLo || hi !== o.uuidHi) {
      throw pmemError('ERR_HEAP_FOREIGN_REF', `The pointer at ${at} of the object at ${this.offset} was written by another pool (its id ${hi.toString(16)}${lo.toString(16).padStart(8, '0')})`);
    }
    return o.resolve(target, `the pointer at ${at} of the object at ${this.offset}`);
  }

  /**
   * Stores a persistent pointer to `target` (a Ref of the same heap, or null) at `at`: REF_BYTES
   * bytes (the pool's id and the offset). Outside a transaction it is a transaction of its own:
   * 16 bytes are more than one atomic store, and a torn pointer would name garbage.
   */
  setRef(at: number, target: Ref | null): void {
    const o = this.#owner;
    if (!o.inTransaction()) {
      o.atomically(() => this.setRef(at, target));
      return;
    }
    if (target !== null) {
      const owner = Ref.ownerOf(target);
      if (owner === null) throw invalidArgType('target', 'a Ref or null', target);
      if (owner !== o) throw pmemError('ERR_HEAP_FOREIGN_REF', `The target object belongs to another heap: a pointer to it would not resolve in this pool`);
      o.check(target);
    }
    const off = this.#willStore(at, REF_BYTES);
    o.dv.setUint32(off, target === null ? 0 : o.uuidLo, true);
    o.dv.setUint32(off + 4, target === null ? 0 : o.uuidHi, true);
    o.dv.setFloat64(off + 8, target === null ? 0 : target.offset, true);
    o.after(off, REF_BYTES);
  }
}
