/**
 * An ordered index that lives in a mapping: a copy-on-write B+-tree from byte-string keys to
 * numbers (for the KV store: record offsets), durable at checkpoints, opened in constant time.
 *
 * Region layout (little-endian; `base` is the region's offset in the mapping):
 *
 *   [0, 128)         checkpoint slot 0 ─┐ checkpoint number k is written to slot k & 1, its
 *   [128, 256)       checkpoint slot 1 ─┘ allocation bitmap to copy k & 1: the newer valid one is in force
 *   [4096, +B)       allocation bitmap copy 0 (one bit a node)
 *   [4096+B, +B)     allocation bitmap copy 1
 *   [N0, +n*4096)    nodes
 *
 *   slot:  0 magic "NPMBTRE\0" | 8 version | 12 epoch | 16 root | 20 node count | 24 u64 keys
 *          32 bitmap CRC | 36 height | 40 meta (META_SIZE bytes, the owner's: where its log stood)
 *          120 checkpoint number | 124 CRC-32C of bytes 0..124
 *   node:  0 u16 kind (1 leaf, 2 inner) | 2 u16 count | 4 u16 heap start | 6 u16 garbage bytes
 *          8 u32 epoch | 12 0 | 16 u16 slot[count]: entry offsets in key order
 *          entries (from the end down): u16 key length | key | leaf: f64 value; inner: u32 child.
 *          An inner node's first entry has an empty key and takes everything below the second.
 *
 * Copy-on-write by epoch: a node is changed in place only when it was made in the current write
 * epoch; otherwise it is copied first (and its parent, up to the root). The epoch advances at each
 * checkpoint and at each snapshot, so neither the tree of the last durable checkpoint nor that of a
 * snapshot is ever changed. Between checkpoints nothing of the tree is flushed: the owner keeps
 * its own log of what changed since (the checkpoint's meta says from where), and replays it after
 * a crash. A checkpoint flushes the nodes made since the last one and the bitmap copy with one
 * fence, then writes and persists its slot: a crash before the slot is durable leaves the previous
 * checkpoint, whose nodes and bitmap copy were not touched.
 *
 * Nodes are not checksummed (a CRC of every node written per checkpoint would cost more than the
 * writes themselves); every node read is checked for structure instead (kind, counts, offsets,
 * child indices), so a damaged one is ERR_KV_CORRUPT, never an out-of-bounds access, and the owner
 * verifies what the index points to (the store's records carry their CRC and key).
 *
 * The descent (get, the search of set and delete, a cursor's seek) and a set that fits in a leaf
 * the current epoch owns run natively (native/kv_index.h: the same layout, read through a view of
 * the nodes, so a simulated mapping works too): a put and a get spend most of their time there,
 * in dependent loads JavaScript makes at about three times C's cost. The native walk checks every
 * header, slot, entry and child it reads, and its depth; the TypeScript side still checks (#check)
 * each node it reads or changes itself.
 * @internal
 */
import type { Mapping } from '../mapping';
import { native } from '../binding';
import { STATUS_FAULT, STATUS_INDEX_CORRUPT, pmemError, statusError } from '../errors';
import { crc32c } from './crc32c';

export const NODE_SIZE = 4096;
const SLOT_SIZE = 128;
const SLOT_CRC = SLOT_SIZE - 4;
const HEADER_AREA = 4096;
const NODE_HEADER = 16;
const LEAF = 1;
const INNER = 2;
const MAGIC = Buffer.from('NPMBTRE\0', 'latin1');
export const BTREE_VERSION = 1;
/** Largest key: at least three entries must fit in a node. */
export const MAX_KEY = 1024;
const LEAF_VALUE = 8;
const INNER_VALUE = 4;
const NONE = 0xffffffff;

/**
 * The native descent's output (native/kv_index.h): the path's nodes, the entry taken in each inner
 * one, the value found or replaced, the path's depth, and a damaged node and why.
 */
const MAX_DEPTH = 48;
const OUT_VALUE = 2 * MAX_DEPTH;
const OUT_DEPTH = OUT_VALUE + 1;
const OUT_BAD_NODE = OUT_DEPTH + 1;
const OUT_WHY = OUT_BAD_NODE + 1;
const OUT_RECORD_BASE = OUT_WHY + 1;
const OUT_LENGTH = OUT_RECORD_BASE + 1;
const FOUND = 1;
const APPLIED = 2;
const DAMAGE = ['', 'a header out of bounds', 'an entry outside it', 'a child that is not an allocated node', 'a path deeper than any tree'];

/** Bytes the meta of a checkpoint holds. */
export const META_SIZE = 80;

export interface Bounds {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
}

/** Region geometry: where the bitmaps and nodes go for a region of `length` bytes. */
function geometry(length: number): { nodes: number; bitmapBytes: number; firstNode: number } {
  // Each node costs NODE_SIZE bytes plus two bits of bitmap.
  let nodes = Math.floor((length - HEADER_AREA) / (NODE_SIZE + 0.25));
  for (;;) {
    const bitmapBytes = Math.ceil(Math.ceil(nodes / 8) / 64) * 64;
    const firstNode = Math.ceil((HEADER_AREA + 2 * bitmapBytes) / NODE_SIZE) * NODE_SIZE;
    if (nodes > 0 && firstNode + nodes * NODE_SIZE > length) {
      nodes--;
      continue;
    }
    return { nodes, bitmapBytes, firstNode };
  }
}

function corrupt(what: string, path: string): Error {
  return pmemError('ERR_KV_CORRUPT', `${path}: the index is damaged (${what}); refusing to guess`, path);
}

/** A stored checkpoint. */
interface Checkpoint {
  number: number;
  epoch: number;
  root: number;
  keys: number;
  height: number;
  meta: Buffer;
}

/** Where {@link BTree.rollback} goes back to. */
export interface Mark {
  readonly root: number;
  readonly height: number;
  readonly keys: number;
  readonly retired: number;
  /** Nodes allocated since the mark. */
  readonly made: number[];
}

/** A frozen view of the tree: what iterators read. Released when done. */
export interface Snapshot {
  readonly root: number;
  readonly epoch: number;
  released: boolean;
}

export class BTree {
  readonly #m: Mapping;
  readonly #b: Buffer;
  readonly #dv: DataView;
  readonly #base: number;
  readonly #path: string;
  readonly #nodes: number;
  readonly #bitmapBytes: number;
  readonly #firstNode: number;
  /** Allocation in DRAM: set bits are nodes in use (by the tree, a snapshot or the last checkpoint). */
  readonly #allocated: Uint8Array;
  /** Nodes whose structure has been checked (or that this process wrote): entry reads need no bounds checks. */
  readonly #checked: Uint8Array;
  /** Nodes made since the last checkpoint and still in the tree: flushed by the next one. */
  readonly #dirty = new Set<number>();
  /** Nodes replaced since they were last part of a checkpoint or snapshot: [node, epoch replaced]. */
  #retired: number[] = [];
  readonly #snapshots = new Set<Snapshot>();
  #mark: Mark | null = null;
  #root: number;
  #height: number;
  #keys: number;
  /** Nodes with this epoch may change in place. */
  #epoch: number;
  /** Epoch of the checkpoint in force on media. */
  #durableEpoch: number;
  /** Number of the checkpoint in force: the next one goes to the other slot and bitmap copy. */
  #checkpointNumber = 0;
  /** Never-used nodes are taken from here on (after open: the first clear bit from here). */
  #next = 0;
  /** Nodes given back, reused first (most recent first: still in cache, no first-touch fault). */
  readonly #reusable: number[] = [];
  #free: number;
  /** Scratch for one node's entries during a split (no allocation per split beyond it). */
  readonly #scratch = Buffer.alloc(NODE_SIZE);
  /** The nodes, for the native descent (which checks what it reads itself). */
  readonly #nodeBytes: Uint8Array;
  /** What the native descent reads and writes besides the nodes, in one buffer: #out, then #allocated. */
  readonly #state: Uint8Array;
  readonly #out: Float64Array;

  private constructor(m: Mapping, base: number, length: number) {
    this.#m = m;
    this.#b = Buffer.from(m.buffer, 0, Math.min(m.length, 2 ** 32));
    this.#dv = new DataView(this.#b.buffer, this.#b.byteOffset, this.#b.byteLength);
    this.#base = base;
    this.#path = m.path;
    const g = geometry(length);
    if (g.nodes < 8) throw pmemError('ERR_KV_CORRUPT', `${m.path}: an index region of ${length} bytes holds no tree`, m.path);
    this.#nodes = g.nodes;
    this.#bitmapBytes = g.bitmapBytes;
    this.#firstNode = base + g.firstNode;
    this.#state = new Uint8Array(OUT_LENGTH * 8 + this.#bitmapBytes);
    this.#out = new Float64Array(this.#state.buffer, 0, OUT_LENGTH);
    this.#allocated = new Uint8Array(this.#state.buffer, OUT_LENGTH * 8, this.#bitmapBytes);
    this.#out[OUT_RECORD_BASE] = this.#firstNode; // the values are the owner's record offsets: prefetched by a search
    this.#nodeBytes = new Uint8Array(m.buffer, this.#firstNode, g.nodes * NODE_SIZE);
    this.#checked = new Uint8Array(this.#bitmapBytes);
    this.#root = NONE;
    this.#height = 0;
    this.#keys = 0;
    this.#epoch = 1;
    this.#durableEpoch = 0;
    this.#free = g.nodes;
  }

  /** Make an empty tree in [base, base + length) and checkpoint it (durable on return). */
  static format(m: Mapping, base: number, length: number, meta: Uint8Array): BTree {
    const t = new BTree(m, base, length);
    t.#b.fill(0, base, base + HEADER_AREA + 2 * t.#bitmapBytes);
    m.persist(base, HEADER_AREA + 2 * t.#bitmapBytes);
    t.#root = t.#alloc(LEAF);
    t.#height = 1;
    t.checkpoint(meta);
    return t;
  }

  /** The tree of the newest valid checkpoint in the region, and that checkpoint's meta. Reads O(bitmap), not O(keys). */
  static open(m: Mapping, base: number, length: number): { tree: BTree; meta: Buffer } {
    const t = new BTree(m, base, length);
    const slots = [0, 1].map((i) => t.#readSlot(i)).filter((s): s is Checkpoint => s !== null);
    if (slots.length === 0) throw corrupt('no valid checkpoint', t.#path);
    const cp = slots.length === 2 && slots[1]!.number > slots[0]!.number ? slots[1]! : slots[0]!;
    t.#b.copy(t.#allocated, 0, t.#bitmapAt(cp.number), t.#bitmapAt(cp.number) + t.#bitmapBytes);
    t.#checkpointNumber = cp.number;
    let used = 0;
    for (let i = 0; i < t.#allocated.length; i++) used += BITS[t.#allocated[i]!]!;
    if (cp.root >= t.#nodes || !t.#isAllocated(cp.root)) throw corrupt(`root ${cp.root} is not an allocated node`, t.#path);
    t.#root = cp.root;
    t.#height = cp.height;
    t.#keys = cp.keys;
    t.#durableEpoch = cp.epoch;
    t.#epoch = cp.epoch + 1;
    t.#free = t.#nodes - used;
    t.#check(cp.root);
    return { tree: t, meta: cp.meta };
  }

  /** Keys in the tree. */
  get size(): number {
    return this.#keys;
  }

  /** Nodes in use and in all. */
  get nodeUsage(): { used: number; total: number } {
    return { used: this.#nodes - this.#free, total: this.#nodes };
  }

  // -------------------------------------------------------------------------------------------
  // Checkpoint slots and bitmaps

  #slotAt(i: number): number {
    return this.#base + i * SLOT_SIZE;
  }

  #bitmapAt(checkpoint: number): number {
    return this.#base + HEADER_AREA + (checkpoint & 1) * this.#bitmapBytes;
  }

  #readSlot(i: number): Checkpoint | null {
    const b = this.#b;
    const at = this.#slotAt(i);
    if (b.compare(MAGIC, 0, 8, at, at + 8) !== 0) return null;
    if (crc32c(b, at, at + SLOT_CRC) !== b.readUInt32LE(at + SLOT_CRC)) return null; // torn: the other slot is in force
    const epoch = b.readUInt32LE(at + 12);
    const number = b.readUInt32LE(at + 120);
    if ((number & 1) !== i) return null; // not where checkpoint `number` goes: stale or damaged
    if (b.readUInt32LE(at + 8) !== BTREE_VERSION) throw corrupt(`checkpoint version ${b.readUInt32LE(at + 8)}`, this.#path);
    if (b.readUInt32LE(at + 20) !== this.#nodes) throw corrupt(`checkpoint of ${b.readUInt32LE(at + 20)} nodes in a region of ${this.#nodes}`, this.#path);
    const bitmap = this.#bitmapAt(number);
    if (crc32c(b, bitmap, bitmap + this.#bitmapBytes) !== b.readUInt32LE(at + 32)) return null;
    return {
      number,
      epoch,
      root: b.readUInt32LE(at + 16),
      keys: b.readUInt32LE(at + 24) + b.readUInt32LE(at + 28) * 2 ** 32,
      height: b.readUInt32LE(at + 36),
      meta: Buffer.from(b.subarray(at + 40, at + 40 + META_SIZE)),
    };
  }

  /**
   * Make the tree as it is now durable, with `meta` (the owner's position in its log): the nodes
   * made since the last checkpoint and the bitmap with one fence, then the slot with another.
   */
  checkpoint(meta: Uint8Array): void {
    if (meta.byteLength > META_SIZE) throw new RangeError(`checkpoint meta is at most ${META_SIZE} bytes`);
    const m = this.#m;
    const b = this.#b;
    const epoch = this.#epoch;
    const number = (this.#checkpointNumber + 1) >>> 0;
    for (const n of this.#dirty) m.markDirty(this.#nodeAt(n), NODE_SIZE);
    // The bitmap of this checkpoint: what the tree uses, without the nodes only older trees use.
    const bitmap = this.#bitmapAt(number);
    b.set(this.#allocated, bitmap);
    for (let i = 0; i < this.#retired.length; i += 2) {
      const n = this.#retired[i]!;
      b[bitmap + (n >>> 3)]! &= ~(1 << (n & 7));
    }
    m.markDirty(bitmap, this.#bitmapBytes);
    m.persistDirty();
    const at = this.#slotAt(number & 1);
    b.fill(0, at, at + SLOT_SIZE);
    MAGIC.copy(b, at);
    b.writeUInt32LE(BTREE_VERSION, at + 8);
    b.writeUInt32LE(epoch >>> 0, at + 12);
    b.writeUInt32LE(this.#root, at + 16);
    b.writeUInt32LE(this.#nodes, at + 20);
    b.writeUInt32LE(this.#keys % 2 ** 32, at + 24);
    b.writeUInt32LE(Math.floor(this.#keys / 2 ** 32), at + 28);
    b.writeUInt32LE(crc32c(b, bitmap, bitmap + this.#bitmapBytes), at + 32);
    b.writeUInt32LE(this.#height, at + 36);
    b.set(meta, at + 40);
    b.writeUInt32LE(number, at + 120);
    b.writeUInt32LE(crc32c(b, at, at + SLOT_CRC), at + SLOT_CRC);
    m.persist(at, SLOT_SIZE);
    this.#checkpointNumber = number;
    this.#dirty.clear();
    this.#durableEpoch = epoch;
    this.#epoch = epoch + 1;
    this.#reclaim();
  }

  /** Freeze the tree as it is now (for an iterator): later writes copy what it reads. */
  snapshot(): Snapshot {
    const s: Snapshot = { root: this.#root, epoch: this.#epoch, released: false };
    this.#snapshots.add(s);
    this.#epoch++;
    return s;
  }

  release(s: Snapshot): void {
    if (s.released) return;
    s.released = true;
    this.#snapshots.delete(s);
    this.#reclaim();
  }

  /** Return to the allocator the retired nodes that neither the durable checkpoint nor a snapshot reads. */
  #reclaim(): void {
    const keep: number[] = [];
    for (let i = 0; i < this.#retired.length; i += 2) {
      const n = this.#retired[i]!;
      const retiredAt = this.#retired[i + 1]!;
      const madeAt = this.#epochOf(n);
      const inCheckpoint = madeAt <= this.#durableEpoch && this.#durableEpoch < retiredAt;
      let inSnapshot = false;
      for (const s of this.#snapshots) if (madeAt <= s.epoch && s.epoch < retiredAt) inSnapshot = true;
      if (inCheckpoint || inSnapshot) keep.push(n, retiredAt);
      else this.#release(n);
    }
    this.#retired = keep;
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  #nodeAt(n: number): number {
    return this.#firstNode + n * NODE_SIZE;
  }

  #isAllocated(n: number): boolean {
    return (this.#allocated[n >>> 3]! & (1 << (n & 7))) !== 0;
  }

  #epochOf(n: number): number {
    return this.#dv.getUint32(this.#nodeAt(n) + 8, true);
  }

  #alloc(kind: number): number {
    if (this.#free === 0) {
      throw Object.assign(new Error(`ENOSPC: the index of ${this.#path} is full (${this.#nodes} nodes)`), { code: 'ENOSPC' });
    }
    let n = this.#reusable.pop();
    while (n !== undefined && this.#isAllocated(n)) n = this.#reusable.pop(); // (a node reused twice is skipped)
    if (n === undefined) {
      n = this.#next;
      while (this.#isAllocated(n)) n = n + 1 === this.#nodes ? 0 : n + 1;
      this.#next = n + 1 === this.#nodes ? 0 : n + 1;
    }
    this.#allocated[n >>> 3]! |= 1 << (n & 7);
    this.#checked[n >>> 3]! |= 1 << (n & 7);
    this.#free--;
    this.#mark?.made.push(n);
    const at = this.#nodeAt(n);
    const dv = this.#dv;
    dv.setUint16(at, kind, true);
    dv.setUint16(at + 2, 0, true);
    dv.setUint16(at + 4, NODE_SIZE, true);
    dv.setUint16(at + 6, 0, true);
    dv.setUint32(at + 8, this.#epoch, true);
    dv.setUint32(at + 12, 0, true);
    this.#dirty.add(n);
    return n;
  }

  #release(n: number): void {
    this.#allocated[n >>> 3]! &= ~(1 << (n & 7));
    this.#free++;
    this.#dirty.delete(n);
    this.#reusable.push(n);
  }

  /** A node leaves the tree: free now if only the current epoch knows it, else once nothing reads it. */
  #drop(n: number): void {
    if (this.#epochOf(n) === this.#epoch) this.#release(n);
    else this.#retired.push(n, this.#epoch);
  }

  /**
   * A node's offset, after a check of its structure the first time this process reads it (see
   * the module comment): kind, counts, and every entry inside the node, with a child inside the region.
   */
  #check(n: number): number {
    if (n >= this.#nodes || !this.#isAllocated(n)) throw corrupt(`node ${n} is not allocated`, this.#path);
    const at = this.#nodeAt(n);
    if ((this.#checked[n >>> 3]! & (1 << (n & 7))) !== 0) return at;
    const b = this.#b;
    const dv = this.#dv;
    const kind = dv.getUint16(at, true);
    const count = dv.getUint16(at + 2, true);
    const heap = dv.getUint16(at + 4, true);
    if ((kind !== LEAF && kind !== INNER) || heap > NODE_SIZE || NODE_HEADER + 2 * count > heap) {
      throw corrupt(`node ${n}: kind ${kind}, ${count} entries, heap at ${heap}`, this.#path);
    }
    const valueSize = kind === LEAF ? LEAF_VALUE : INNER_VALUE;
    for (let i = 0; i < count; i++) {
      const off = dv.getUint16(at + NODE_HEADER + 2 * i, true);
      if (off < heap || off + 2 > NODE_SIZE || off + 2 + (b[at + off]! | (b[at + off + 1]! << 8)) + valueSize > NODE_SIZE) {
        throw corrupt(`node ${n}: entry ${i} lies outside it`, this.#path);
      }
      if (kind === INNER && dv.getUint32(at + off + 2 + (b[at + off]! | (b[at + off + 1]! << 8)), true) >= this.#nodes) {
        throw corrupt(`node ${n}: entry ${i} names node ${dv.getUint32(at + off + 2 + (b[at + off]! | (b[at + off + 1]! << 8)), true)}`, this.#path);
      }
    }
    this.#checked[n >>> 3]! |= 1 << (n & 7);
    return at;
  }

  #count(at: number): number {
    return this.#dv.getUint16(at + 2, true);
  }

  #isLeaf(at: number): boolean {
    return this.#dv.getUint16(at, true) === LEAF;
  }

  /** Offset (in the mapping) of entry i of the node at `at`. */
  /** Offset of entry i of a node #check has seen (its entries lie inside it). */
  #entry(at: number, i: number): number {
    const b = this.#b;
    const s = at + NODE_HEADER + 2 * i;
    return at + (b[s]! | (b[s + 1]! << 8));
  }

  #keyLen(e: number): number {
    return this.#dv.getUint16(e, true);
  }

  #child(e: number): number {
    return this.#dv.getUint32(e + 2 + this.#keyLen(e), true);
  }

  #value(e: number): number {
    return this.#dv.getFloat64(e + 2 + this.#keyLen(e), true);
  }

  #entrySize(at: number, e: number): number {
    return 2 + this.#keyLen(e) + (this.#isLeaf(at) ? LEAF_VALUE : INNER_VALUE);
  }

  #room(at: number): number {
    const dv = this.#dv;
    return dv.getUint16(at + 4, true) - (NODE_HEADER + 2 * dv.getUint16(at + 2, true)) + dv.getUint16(at + 6, true);
  }

  /** Rewrite a node's heap without its garbage (in place: the node is writable). */
  #compact(at: number): void {
    const count = this.#count(at);
    const scratch = this.#scratch;
    const dv = this.#dv;
    let heap = NODE_SIZE;
    for (let i = 0; i < count; i++) {
      const e = this.#entry(at, i);
      const size = this.#entrySize(at, e);
      heap -= size;
      this.#b.copy(scratch, heap, e, e + size);
      dv.setUint16(at + NODE_HEADER + 2 * i, heap, true);
    }
    scratch.copy(this.#b, at + heap, heap, NODE_SIZE);
    dv.setUint16(at + 4, heap, true);
    dv.setUint16(at + 6, 0, true);
  }

  /** Insert an entry at slot i of a writable node that has room for it. */
  #insertAt(at: number, i: number, key: Uint8Array, value: number): void {
    const dv = this.#dv;
    const size = 2 + key.byteLength + (this.#isLeaf(at) ? LEAF_VALUE : INNER_VALUE);
    const count = this.#count(at);
    if (dv.getUint16(at + 4, true) - (NODE_HEADER + 2 * (count + 1)) < size) this.#compact(at);
    const heap = dv.getUint16(at + 4, true) - size;
    const e = at + heap;
    dv.setUint16(e, key.byteLength, true);
    this.#b.set(key, e + 2);
    if (this.#isLeaf(at)) dv.setFloat64(e + 2 + key.byteLength, value, true);
    else dv.setUint32(e + 2 + key.byteLength, value, true);
    const slots = at + NODE_HEADER;
    this.#b.copyWithin(slots + 2 * (i + 1), slots + 2 * i, slots + 2 * count);
    dv.setUint16(slots + 2 * i, heap, true);
    dv.setUint16(at + 2, count + 1, true);
    dv.setUint16(at + 4, heap, true);
  }

  #removeAt(at: number, i: number): void {
    const dv = this.#dv;
    const count = this.#count(at);
    const e = this.#entry(at, i);
    dv.setUint16(at + 6, dv.getUint16(at + 6, true) + this.#entrySize(at, e), true);
    const slots = at + NODE_HEADER;
    this.#b.copyWithin(slots + 2 * i, slots + 2 * (i + 1), slots + 2 * count);
    dv.setUint16(at + 2, count - 1, true);
  }

  // -------------------------------------------------------------------------------------------
  // Lookup

  /** The value of `key`, or undefined. */
  get(key: Uint8Array): number | undefined {
    return this.#getFrom(this.#root, key);
  }

  #getFrom(root: number, key: Uint8Array): number | undefined {
    const r = this.#result(native.kvIndexSearch(this.#nodeBytes, this.#state, root, key));
    return (r & FOUND) !== 0 ? this.#out[OUT_VALUE] : undefined;
  }

  /**
   * A native descent's result (slot << 2 | FOUND | APPLIED), or its failure as an error: a
   * damaged node (ERR_KV_CORRUPT), or a SIGBUS in the mapping, which the mapping explains (a read of
   * the node the walk was in faults the same way, under the mapping's own guard and error builder).
   */
  #result(r: number): number {
    if (r >= 0) return r;
    const out = this.#out;
    if (r === STATUS_INDEX_CORRUPT) {
      throw corrupt(`node ${out[OUT_BAD_NODE]} has ${DAMAGE[out[OUT_WHY]!] ?? 'damage'}`, this.#path);
    }
    if (r === STATUS_FAULT) {
      const last = out[out[OUT_DEPTH]! - 1] ?? this.#root;
      this.#m.read(this.#nodeAt(last), NODE_SIZE);
    }
    throw statusError(r === STATUS_FAULT ? -5 /* EIO */ : r, 'kvIndexSearch', this.#path);
  }

  // -------------------------------------------------------------------------------------------
  // Updates

  /**
   * The path of the last native descent: node numbers root first, and the entry taken in each
   * inner node. Each node is checked (#check) before the TypeScript side reads it.
   */
  #pathTo(nodes: number[], taken: number[]): void {
    const out = this.#out;
    const depth = out[OUT_DEPTH]!;
    for (let d = 0; d < depth; d++) {
      this.#check(out[d]!);
      nodes.push(out[d]!);
      if (d < depth - 1) taken.push(out[MAX_DEPTH + d]!);
    }
  }

  /** Make path node `d` changeable in place (copying it, and its parents as needed); returns its number. */
  #writable(nodes: number[], taken: number[], d: number): number {
    const n = nodes[d]!;
    if (this.#epochOf(n) === this.#epoch) return n;
    const from = this.#nodeAt(n);
    const copy = this.#alloc(this.#dv.getUint16(from, true));
    const to = this.#nodeAt(copy);
    this.#b.copy(this.#b, to + 2, from + 2, from + NODE_SIZE);
    this.#dv.setUint32(to + 8, this.#epoch, true);
    nodes[d] = copy;
    this.#drop(n);
    if (d === 0) {
      this.#root = copy;
    } else {
      const parent = this.#nodeAt(this.#writable(nodes, taken, d - 1));
      this.#setChild(this.#entry(parent, taken[d - 1]!), copy);
    }
    return copy;
  }

  #setChild(e: number, child: number): void {
    this.#dv.setUint32(e + 2 + this.#keyLen(e), child, true);
  }

  /**
   * Start a group of changes that can be undone (a batch whose log records are not written yet):
   * from here every change copies the nodes it touches, so rollback() only has to forget the
   * copies. One mark at a time; commit() ends it.
   */
  mark(): void {
    if (this.#mark !== null) throw new Error('BTree.mark(): a mark is already set');
    this.#epoch++;
    this.#mark = { root: this.#root, height: this.#height, keys: this.#keys, retired: this.#retired.length, made: [] };
  }

  /** Keep the changes since mark(). */
  commit(): void {
    this.#mark = null;
  }

  /** Undo every change since mark(): the tree is as it was, the nodes made since are free. */
  rollback(): void {
    const m = this.#mark;
    if (m === null) throw new Error('BTree.rollback(): no mark');
    this.#mark = null;
    this.#root = m.root;
    this.#height = m.height;
    this.#keys = m.keys;
    this.#retired.length = m.retired; // the nodes they replaced were not changed (copy-on-write)
    for (const n of m.made) if (this.#isAllocated(n)) this.#release(n);
  }

  /** Whether `ops` more sets or deletes fit for sure: each may copy its path and split every level (and add one). */
  hasRoomFor(ops: number): boolean {
    return this.#free >= ops * (2 * this.#height + 1);
  }

  /**
   * Replace the whole tree by the (key, value) pairs `next` yields in strictly ascending key order,
   * packed into fresh nodes (leaves filled to `fill` of a node). The nodes of the old tree are
   * retired (the last checkpoint and open snapshots still read them). On ENOSPC nothing changed.
   */
  rebuild(next: () => [Uint8Array, number] | undefined, fill = 0.9): void {
    const made: number[] = [];
    const limit = NODE_SIZE - (1 - fill) * (NODE_SIZE - NODE_HEADER);
    // Each level: [first key, node] of its nodes, left to right.
    let level: [Buffer, number][] = [];
    let keys = 0;
    try {
      let leaf = -1;
      let prev: Buffer | null = null;
      for (let e = next(); e !== undefined; e = next()) {
        const [key, value] = e;
        if (prev !== null && Buffer.compare(prev, key) >= 0) throw new RangeError('rebuild() needs keys in strictly ascending order');
        const at = leaf < 0 ? -1 : this.#nodeAt(leaf);
        const size = 2 + key.byteLength + LEAF_VALUE + 2;
        if (leaf < 0 || NODE_SIZE - this.#room(at) + size > limit) {
          leaf = this.#alloc(LEAF);
          made.push(leaf);
          level.push([Buffer.from(key), leaf]);
        }
        const leafAt = this.#nodeAt(leaf);
        this.#insertAt(leafAt, this.#count(leafAt), key, value);
        prev = Buffer.from(key);
        keys++;
      }
      if (level.length === 0) {
        const empty = this.#alloc(LEAF);
        made.push(empty);
        level.push([Buffer.alloc(0), empty]);
      }
      let height = 1;
      while (level.length > 1) {
        const up: [Buffer, number][] = [];
        let inner = -1;
        for (const [first, child] of level) {
          const size = 2 + first.byteLength + INNER_VALUE + 2;
          if (inner < 0 || NODE_SIZE - this.#room(this.#nodeAt(inner)) + size > limit) {
            inner = this.#alloc(INNER);
            made.push(inner);
            up.push([first, inner]);
          }
          const innerAt = this.#nodeAt(inner);
          // A node's first entry takes everything below its second: its key is not needed.
          this.#insertAt(innerAt, this.#count(innerAt), this.#count(innerAt) === 0 ? EMPTY : first, child);
        }
        level = up;
        height++;
      }
      this.#retireTree(this.#root);
      this.#root = level[0]![1];
      this.#height = height;
      this.#keys = keys;
    } catch (error) {
      for (const n of made) this.#release(n);
      throw error;
    }
  }

  /** Every node of the tree under `n` leaves it. */
  #retireTree(n: number): void {
    const at = this.#check(n);
    if (!this.#isLeaf(at)) for (let i = 0; i < this.#count(at); i++) this.#retireTree(this.#child(this.#entry(at, i)));
    this.#drop(n);
  }

  /** Set `key` to `value` (a number; the store's record offsets); returns the value it replaced, if any. */
  set(key: Uint8Array, value: number): number | undefined {
    if (key.byteLength > MAX_KEY) throw new RangeError(`index keys are at most ${MAX_KEY} bytes`);
    // Room for the worst case before anything changes: a copied path and a split at every level.
    if (!this.hasRoomFor(1)) {
      throw Object.assign(new Error(`ENOSPC: the index of ${this.#path} is full (${this.#nodes} nodes)`), { code: 'ENOSPC' });
    }
    // The native side makes the change when the leaf may change in place and has room for it.
    const r = this.#result(native.kvIndexSearch(this.#nodeBytes, this.#state, this.#root, key, value, this.#epoch));
    const found = (r & FOUND) !== 0;
    if ((r & APPLIED) !== 0) {
      if (found) return this.#out[OUT_VALUE];
      this.#keys++;
      return undefined;
    }
    const nodes: number[] = [];
    const taken: number[] = [];
    this.#pathTo(nodes, taken);
    const d = nodes.length - 1;
    const i = r >>> 2;
    if (found) {
      const at = this.#nodeAt(this.#writable(nodes, taken, d));
      const e = this.#entry(at, i);
      const old = this.#value(e);
      this.#dv.setFloat64(e + 2 + this.#keyLen(e), value, true);
      return old;
    }
    this.#insert(nodes, taken, d, i, key, value);
    this.#keys++;
    return undefined;
  }

  /** Insert into path node d at slot i, splitting up the path when it does not fit. */
  #insert(nodes: number[], taken: number[], d: number, i: number, key: Uint8Array, value: number): void {
    const at = this.#nodeAt(this.#writable(nodes, taken, d));
    const size = 2 + key.byteLength + (this.#isLeaf(at) ? LEAF_VALUE : INNER_VALUE) + 2;
    if (this.#room(at) >= size) {
      this.#insertAt(at, i, key, value);
      return;
    }
    // Split: the upper half (by bytes) goes to a new right sibling.
    const leaf = this.#isLeaf(at);
    const right = this.#alloc(leaf ? LEAF : INNER);
    const rightAt = this.#nodeAt(right);
    const count = this.#count(at);
    let bytes = 0;
    let total = 0;
    for (let j = 0; j < count; j++) total += this.#entrySize(at, this.#entry(at, j)) + 2;
    let cut = 0;
    while (cut < count - 1 && bytes + this.#entrySize(at, this.#entry(at, cut)) + 2 <= total / 2) {
      bytes += this.#entrySize(at, this.#entry(at, cut)) + 2;
      cut++;
    }
    if (cut === 0) cut = 1;
    // The separator: the first key of the right node (for an inner node it becomes its -inf entry).
    const sepEntry = this.#entry(at, cut);
    const separator = Buffer.from(this.#b.subarray(sepEntry + 2, sepEntry + 2 + this.#keyLen(sepEntry)));
    for (let j = cut; j < count; j++) {
      const e = this.#entry(at, j);
      const k = this.#b.subarray(e + 2, e + 2 + this.#keyLen(e));
      const v = leaf ? this.#value(e) : this.#child(e);
      this.#insertAt(rightAt, j - cut, leaf || j > cut ? k : EMPTY, v);
    }
    this.#dv.setUint16(at + 2, cut, true);
    this.#compact(at);
    // The new key sorts before the separator exactly when its slot is at or before the cut.
    if (i > cut) this.#insertAt(rightAt, i - cut, key, value);
    else this.#insertAt(at, i, key, value);
    if (d === 0) {
      const root = this.#alloc(INNER);
      const rootAt = this.#nodeAt(root);
      this.#insertAt(rootAt, 0, EMPTY, nodes[0]!);
      this.#insertAt(rootAt, 1, separator, right);
      this.#root = root;
      this.#height++;
      return;
    }
    this.#insert(nodes, taken, d - 1, taken[d - 1]! + 1, separator, right);
  }

  /** Remove `key`; returns its value, or undefined when it was not there. */
  delete(key: Uint8Array): number | undefined {
    if (this.#free < this.#height) {
      throw Object.assign(new Error(`ENOSPC: the index of ${this.#path} is full (${this.#nodes} nodes)`), { code: 'ENOSPC' });
    }
    const r = this.#result(native.kvIndexSearch(this.#nodeBytes, this.#state, this.#root, key));
    if ((r & FOUND) === 0) return undefined;
    const nodes: number[] = [];
    const taken: number[] = [];
    this.#pathTo(nodes, taken);
    let d = nodes.length - 1;
    const i = r >>> 2;
    let at = this.#nodeAt(this.#writable(nodes, taken, d));
    const old = this.#value(this.#entry(at, i));
    this.#removeAt(at, i);
    this.#keys--;
    // An empty node leaves its parent (the root stays, as an empty leaf at least).
    while (d > 0 && this.#count(at) === 0) {
      this.#drop(nodes[d]!);
      d--;
      at = this.#nodeAt(this.#writable(nodes, taken, d));
      const j = taken[d]!;
      if (j === 0 && this.#count(at) > 1) {
        // The -inf child went: the next child takes its place (and the -inf key).
        const next = this.#child(this.#entry(at, 1));
        this.#setChild(this.#entry(at, 0), next);
        this.#removeAt(at, 1);
      } else {
        this.#removeAt(at, j);
      }
    }
    // A root with a single child gives way to it.
    for (let rootAt = this.#nodeAt(this.#root); !this.#isLeaf(rootAt) && this.#count(rootAt) === 1; rootAt = this.#nodeAt(this.#root)) {
      const former = this.#root;
      this.#root = this.#child(this.#entry(rootAt, 0));
      this.#height--;
      this.#drop(former);
    }
    return old;
  }

  // -------------------------------------------------------------------------------------------
  // Iteration

  /** A cursor over a snapshot of the tree as it is now, in key order (or reverse); closing it releases the snapshot. */
  cursor(bounds: Bounds = {}, reverse = false): Cursor {
    return new Cursor(this, this.snapshot(), bounds, reverse, true);
  }

  /** A cursor over an existing snapshot (which it does not release). */
  cursorOn(snapshot: Snapshot, bounds: Bounds = {}, reverse = false): Cursor {
    return new Cursor(this, snapshot, bounds, reverse, false);
  }

  /** The value of `key` in a snapshot. */
  getIn(snapshot: Snapshot, key: Uint8Array): number | undefined {
    if (snapshot.released) throw new RangeError('the snapshot was released');
    return this.#getFrom(snapshot.root, key);
  }

  /** @internal for Cursor: the leaf path to the first key >= key (or > key), as [node, slot] pairs. */
  seekPath(root: number, key: Uint8Array | null, after: boolean, reverse: boolean, stack: number[]): void {
    stack.length = 0;
    if (key === null) {
      // The first (reverse: last) entry: no comparisons.
      for (let at = this.#check(root); ; ) {
        const i = reverse ? this.#count(at) - 1 : 0;
        stack.push(at, i);
        if (this.#isLeaf(at)) return;
        at = this.#check(this.#child(this.#entry(at, i)));
      }
    }
    const r = this.#result(native.kvIndexSearch(this.#nodeBytes, this.#state, root, key));
    const out = this.#out;
    const depth = out[OUT_DEPTH]!;
    for (let d = 0; d < depth - 1; d++) stack.push(this.#check(out[d]!), out[MAX_DEPTH + d]!);
    // forward: first >= key (> key when after); reverse: last <= key (< key when after)
    const i = r >>> 2;
    const found = (r & FOUND) !== 0;
    stack.push(this.#check(out[depth - 1]!), !reverse ? (found && after ? i + 1 : i) : found && !after ? i : i - 1);
  }

  /** @internal for Cursor: move the stack to the next (previous) entry; false at the end. */
  step(stack: number[], reverse: boolean): boolean {
    stack[stack.length - 1] = stack[stack.length - 1]! + (reverse ? -1 : 1);
    return this.settle(stack, reverse);
  }

  /** @internal for Cursor: from a leaf position that may lie past its node's entries, to the nearest entry that exists; false at the end. */
  settle(stack: number[], reverse: boolean): boolean {
    let d = stack.length - 2;
    for (;;) {
      const i = stack[d + 1]!;
      if (i >= 0 && i < this.#count(stack[d]!)) break;
      if (d === 0) return false;
      stack.length = d;
      d -= 2;
      stack[d + 1] = stack[d + 1]! + (reverse ? -1 : 1);
    }
    while (!this.#isLeaf(stack[d]!)) {
      const at = this.#check(this.#child(this.#entry(stack[d]!, stack[d + 1]!)));
      stack.push(at, reverse ? this.#count(at) - 1 : 0);
      d += 2;
    }
    // Only the root can be an empty leaf, and then d is 0 and the loop above returned.
    return true;
  }

  /** @internal for Cursor */
  entryKey(at: number, i: number): Buffer {
    const e = this.#entry(at, i);
    return this.#b.subarray(e + 2, e + 2 + this.#keyLen(e));
  }

  /** @internal for Cursor */
  entryValue(at: number, i: number): number {
    return this.#value(this.#entry(at, i));
  }

  /** Every node is allocated once and reachable once, counts add up, keys are in order: for tests. */
  verify(): void {
    const seen = new Set<number>();
    let keys = 0;
    let prev: Buffer | null = null;
    const walk = (n: number, depth: number): void => {
      if (seen.has(n)) throw corrupt(`node ${n} is reachable twice`, this.#path);
      seen.add(n);
      const at = this.#check(n);
      const count = this.#count(at);
      if (this.#isLeaf(at)) {
        if (depth !== this.#height) throw corrupt(`leaf ${n} at depth ${depth} of ${this.#height}`, this.#path);
        for (let i = 0; i < count; i++) {
          const k = this.entryKey(at, i);
          if (prev !== null && Buffer.compare(prev, k) >= 0) throw corrupt('keys out of order', this.#path);
          prev = Buffer.from(k);
          keys++;
        }
        return;
      }
      if (count === 0) throw corrupt(`inner node ${n} is empty`, this.#path);
      for (let i = 0; i < count; i++) walk(this.#child(this.#entry(at, i)), depth + 1);
    };
    walk(this.#root, 1);
    if (keys !== this.#keys) throw corrupt(`${keys} keys found, ${this.#keys} counted`, this.#path);
    for (const n of seen) if (!this.#isAllocated(n)) throw corrupt(`node ${n} is in the tree but free`, this.#path);
  }
}

const EMPTY = new Uint8Array(0);
/** Set bits of each byte value. */
const BITS = Uint8Array.from({ length: 256 }, (_, v) => {
  let n = 0;
  for (let x = v; x !== 0; x &= x - 1) n++;
  return n;
});

/**
 * Iteration over a snapshot: the keys within the bounds in byte order (reverse: descending).
 * Keys are copied out; values are numbers. close() releases the snapshot (reaching the end does too).
 */
export class Cursor {
  readonly #tree: BTree;
  readonly #snap: Snapshot;
  readonly #reverse: boolean;
  readonly #lower: Uint8Array | null;
  readonly #lowerOpen: boolean;
  readonly #upper: Uint8Array | null;
  readonly #upperOpen: boolean;
  readonly #stack: number[] = [];
  readonly #owns: boolean;
  #closed = false;
  /** The stack names a candidate not yet returned (after positioning). */
  #fresh = false;
  #started = false;
  #done = false;

  constructor(tree: BTree, snap: Snapshot, bounds: Bounds, reverse: boolean, owns: boolean) {
    this.#tree = tree;
    this.#owns = owns;
    this.#snap = snap;
    this.#reverse = reverse;
    this.#lower = bounds.gt ?? bounds.gte ?? null;
    this.#lowerOpen = bounds.gt !== undefined;
    this.#upper = bounds.lt ?? bounds.lte ?? null;
    this.#upperOpen = bounds.lt !== undefined;
  }

  /**
   * Position so that the next entry is the first >= key (reverse: the last <= key); a target
   * outside the bounds goes to the bound (and past the far bound, to the end).
   */
  seek(key: Uint8Array): void {
    if (this.#closed || this.#snap.released) return;
    const near = this.#reverse ? this.#upper : this.#lower;
    const nearOpen = this.#reverse ? this.#upperOpen : this.#lowerOpen;
    const c = near === null ? 1 : Buffer.compare(key, near) * (this.#reverse ? -1 : 1);
    if (c > 0) this.#position(key, false);
    else this.#position(near!, nearOpen);
    this.#done = false;
  }

  #position(key: Uint8Array | null, after: boolean): void {
    this.#tree.seekPath(this.#snap.root, key, after, this.#reverse, this.#stack);
    this.#started = true;
    this.#fresh = true;
  }

  /** The next [key, value], or undefined at the end. */
  next(): [Buffer, number] | undefined {
    if (this.#done || this.#closed || this.#snap.released) return undefined;
    const tree = this.#tree;
    const stack = this.#stack;
    if (!this.#started) {
      const from = this.#reverse ? this.#upper : this.#lower;
      this.#position(from, from !== null && (this.#reverse ? this.#upperOpen : this.#lowerOpen));
    }
    const more = this.#fresh ? tree.settle(stack, this.#reverse) : tree.step(stack, this.#reverse);
    this.#fresh = false;
    if (!more) return this.#end();
    const d = stack.length - 2;
    const key = tree.entryKey(stack[d]!, stack[d + 1]!);
    const limit = this.#reverse ? this.#lower : this.#upper;
    if (limit !== null) {
      const c = Buffer.compare(key, limit);
      const open = this.#reverse ? this.#lowerOpen : this.#upperOpen;
      if (this.#reverse ? c < 0 || (open && c === 0) : c > 0 || (open && c === 0)) return this.#end();
    }
    return [Buffer.from(key), tree.entryValue(stack[d]!, stack[d + 1]!)];
  }

  #end(): undefined {
    this.#done = true;
    return undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owns) this.#tree.release(this.#snap);
  }
}
