/**
 * The allocator: small objects in size classes (64 B to 32 KiB, powers of two), each class served
 * from runs (chunks of CHUNK_SIZE bytes cut into blocks of that size, with a bitmap per chunk);
 * larger objects take whole consecutive chunks. Its persistent state is the chunk table and the run
 * bitmaps. Every change to them goes through the caller's transaction (`TxSink.snapshot` before
 * the change), so an allocation or free is undone with the transaction that made it.
 *
 * What lives only in memory is rebuilt on open from those two areas: per chunk its kind and the
 * number of blocks in use (a popcount of its bitmap), per class the chunks with room. That is
 * proportional to the pool's size (8 + 128 bytes read per 64 KiB chunk), not to how many objects
 * are live.
 * @internal
 */
import { pmemError } from '../errors';
import {
  BITMAP_BYTES,
  CHUNK_SIZE,
  KIND_CONTINUED,
  KIND_FREE,
  KIND_LARGE,
  KIND_RUN,
  MAX_SMALL,
  SIZE_CLASSES,
  type Geometry,
} from './layout';

/** Where the allocator notes the chunks it changes (for a rollback to reload). */
export interface ChunkSet {
  add(chunk: number): void;
}

/** What the allocator needs from the transaction it works in. */
export interface TxSink {
  /** Log [offset, offset + length) before it changes. */
  snapshot(offset: number, length: number): void;
  /** A range that must be durable at commit, with no old bytes to log (a new object, its zeroing). */
  flushAtCommit(offset: number, length: number): void;
}

export interface AllocatorStats {
  chunks: number;
  freeChunks: number;
  runChunks: number;
  largeChunks: number;
  /** Objects allocated, and the bytes their blocks or chunks take. */
  objects: number;
  allocatedBytes: number;
  /** Bytes not allocated: free chunks plus free blocks of runs. */
  freeBytes: number;
  /** The largest object alloc() could make now, in bytes. */
  largestFree: number;
}

const popcount32 = (v: number): number => {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};

/** The size class of `size` bytes (1 .. MAX_SMALL). */
export function classOf(size: number): number {
  let c = 0;
  while (SIZE_CLASSES[c]! < size) c++;
  return c;
}

export class Allocator {
  readonly #dv: DataView;
  readonly #g: Geometry;
  readonly #path: string;
  readonly #kind: Uint8Array;
  readonly #cls: Uint8Array;
  /** Blocks in use (runs) or chunks spanned (large heads). */
  readonly #count: Uint32Array;
  /** Per class: chunks that may have room (entries may be stale: checked when taken), each listed once. */
  readonly #avail: number[][] = SIZE_CLASSES.map(() => []);
  /** 1 + the class whose list holds the chunk, 0 when none does (a stale entry elsewhere does not count). */
  readonly #listed: Uint8Array;
  readonly #current: Int32Array = new Int32Array(SIZE_CLASSES.length).fill(-1);
  /** Lowest chunk that may be free. */
  #freeHint = 0;

  constructor(dv: DataView, g: Geometry, path: string) {
    this.#dv = dv;
    this.#g = g;
    this.#path = path;
    const n = g.chunkCount;
    this.#kind = new Uint8Array(n);
    this.#cls = new Uint8Array(n);
    this.#count = new Uint32Array(n);
    this.#listed = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.reload(i);
    this.#verifySpans();
  }

  /** Chunk `i`'s in-memory state, from its table word and bitmap (after open, or after an abort undid changes). */
  reload(i: number): void {
    const dv = this.#dv;
    const word = this.#g.chunkTable + i * 8;
    const kind = dv.getUint8(word);
    const cls = dv.getUint8(word + 1);
    if (kind > KIND_CONTINUED || (kind === KIND_RUN && cls >= SIZE_CLASSES.length)) {
      throw pmemError('ERR_HEAP_CORRUPT', `${this.#path}: chunk ${i} has an invalid table word (kind ${kind}, class ${cls})`);
    }
    this.#kind[i] = kind;
    this.#cls[i] = cls;
    if (kind === KIND_RUN) {
      const bm = this.#g.bitmaps + i * BITMAP_BYTES;
      const words = Math.ceil(this.#blocksIn(cls) / 32);
      let used = 0;
      for (let w = 0; w < words; w++) used += popcount32(dv.getUint32(bm + w * 4, true));
      this.#count[i] = used;
      if (used < this.#blocksIn(cls)) this.#list(i, cls);
    } else if (kind === KIND_LARGE) {
      this.#count[i] = dv.getUint32(word + 4, true);
    } else {
      this.#count[i] = 0;
      if (kind === KIND_FREE && i < this.#freeHint) this.#freeHint = i;
    }
  }

  #verifySpans(): void {
    const n = this.#g.chunkCount;
    for (let i = 0; i < n; ) {
      if (this.#kind[i] === KIND_CONTINUED) throw pmemError('ERR_HEAP_CORRUPT', `${this.#path}: chunk ${i} continues no large object`);
      if (this.#kind[i] === KIND_LARGE) {
        const span = this.#count[i]!;
        if (span < 1 || i + span > n) throw pmemError('ERR_HEAP_CORRUPT', `${this.#path}: the large object at chunk ${i} spans ${span} chunks, past the pool`);
        for (let j = i + 1; j < i + span; j++) {
          if (this.#kind[j] !== KIND_CONTINUED) throw pmemError('ERR_HEAP_CORRUPT', `${this.#path}: chunk ${j} of the large object at chunk ${i} is not marked as its continuation`);
        }
        i += span;
      } else i++;
    }
  }

  #list(chunk: number, cls: number): void {
    if (this.#listed[chunk] === cls + 1) return;
    this.#listed[chunk] = cls + 1;
    this.#avail[cls]!.push(chunk);
  }

  #blocksIn(cls: number): number {
    return CHUNK_SIZE / SIZE_CLASSES[cls]!;
  }

  #chunkStart(i: number): number {
    return this.#g.data + i * CHUNK_SIZE;
  }

  /**
   * Allocates `size` bytes (1 .. the pool's capacity) through `tx`; returns [offset, usable size].
   * Throws ERR_HEAP_NO_SPACE, with nothing changed, when no room is left.
   */
  alloc(size: number, tx: TxSink, touched: ChunkSet): [number, number] {
    if (size <= MAX_SMALL) return this.#allocSmall(classOf(size), tx, touched);
    return this.#allocLarge(Math.ceil(size / CHUNK_SIZE), tx, touched);
  }

  /** A run of class `cls` with a free block (made the class's current run), or -1 when a new run would be needed. */
  #runWithRoom(cls: number): number {
    const blocks = this.#blocksIn(cls);
    const current = this.#current[cls]!;
    if (current >= 0 && this.#kind[current] === KIND_RUN && this.#cls[current] === cls && this.#count[current]! < blocks) return current;
    const avail = this.#avail[cls]!;
    while (avail.length > 0) {
      const c = avail.pop()!;
      if (this.#listed[c] === cls + 1) this.#listed[c] = 0;
      if (this.#kind[c] === KIND_RUN && this.#cls[c] === cls && this.#count[c]! < blocks) {
        this.#current[cls] = c;
        return c;
      }
    }
    return -1;
  }

  /** The first free block of run `chunk`: the bitmap word's offset, and the bit. */
  #freeBlock(chunk: number): [number, number] {
    const cls = this.#cls[chunk]!;
    const blocks = this.#blocksIn(cls);
    const dv = this.#dv;
    const bm = this.#g.bitmaps + chunk * BITMAP_BYTES;
    const words = Math.ceil(blocks / 32);
    for (let w = 0; w < words; w++) {
      const v = dv.getUint32(bm + w * 4, true);
      // Classes of 4 KiB and up have fewer than 32 blocks a chunk: the bits past the last count as taken.
      const left = blocks - w * 32;
      const taken = (left >= 32 ? v : v | ~((1 << left) - 1)) >>> 0;
      if (taken !== 0xffffffff) return [bm + w * 4, 31 - Math.clz32(~taken & (taken + 1))];
    }
    throw pmemError('ERR_HEAP_CORRUPT', `${this.#path}: chunk ${chunk} counts ${this.#count[chunk]} of ${blocks} blocks used, but its bitmap is full`);
  }

  /** The offset of the block whose bit is `bit` of the bitmap word at `word`, in run `chunk`. */
  #blockAt(chunk: number, word: number, bit: number): number {
    const block = (word - (this.#g.bitmaps + chunk * BITMAP_BYTES)) * 8 + bit;
    return this.#chunkStart(chunk) + block * SIZE_CLASSES[this.#cls[chunk]!]!;
  }

  /** The bitmap word (its offset) and bit of the block at `offset` in run `chunk`. */
  #bitOf(chunk: number, offset: number): [number, number] {
    const block = (offset - this.#chunkStart(chunk)) / SIZE_CLASSES[this.#cls[chunk]!]!;
    return [this.#g.bitmaps + chunk * BITMAP_BYTES + (block >>> 5) * 4, block & 31];
  }

  /** Sets the block's bit (the caller logged or will persist the word) and counts it; returns [offset, usable size]. */
  #claim(chunk: number, word: number, bit: number): [number, number] {
    const dv = this.#dv;
    dv.setUint32(word, (dv.getUint32(word, true) | (1 << bit)) >>> 0, true);
    this.#count[chunk]!++;
    return [this.#blockAt(chunk, word, bit), SIZE_CLASSES[this.#cls[chunk]!]!];
  }

  /** Clears the block's bit (the caller logged or will persist the word), counts it out and lists a run that has room again; returns the blocks still used. */
  #unclaim(chunk: number, word: number, bit: number): number {
    const dv = this.#dv;
    dv.setUint32(word, (dv.getUint32(word, true) & ~(1 << bit)) >>> 0, true);
    const used = --this.#count[chunk]!;
    const cls = this.#cls[chunk]!;
    if (used === this.#blocksIn(cls) - 1) this.#list(chunk, cls);
    return used;
  }

  #allocSmall(cls: number, tx: TxSink, touched: ChunkSet): [number, number] {
    let chunk = this.#runWithRoom(cls);
    if (chunk < 0) {
      chunk = this.#findFree(1);
      if (chunk < 0) throw this.#noSpace(SIZE_CLASSES[cls]!);
      // A free chunk's bitmap is all zeros (a run is released only when empty), so only its table word changes.
      const word = this.#g.chunkTable + chunk * 8;
      tx.snapshot(word, 8);
      this.#dv.setUint8(word, KIND_RUN);
      this.#dv.setUint8(word + 1, cls);
      this.#kind[chunk] = KIND_RUN;
      this.#cls[chunk] = cls;
      this.#count[chunk] = 0;
      this.#current[cls] = chunk;
    }
    touched.add(chunk);
    const [word, bit] = this.#freeBlock(chunk);
    tx.snapshot(word & ~7, 8);
    return this.#claim(chunk, word, bit);
  }

  /**
   * An allocation that is one 4-byte store (outside transactions): a free block of a run that
   * already exists. Returns the block and the bitmap word to store, without storing it, or null
   * when the allocation needs more (a new run, a large object): the caller then uses a transaction.
   */
  reserveAtomic(size: number): { chunk: number; word: number; bit: number; offset: number; size: number } | null {
    if (size > MAX_SMALL) return null;
    const cls = classOf(size);
    const chunk = this.#runWithRoom(cls);
    if (chunk < 0) return null;
    const [word, bit] = this.#freeBlock(chunk);
    return { chunk, word, bit, offset: this.#blockAt(chunk, word, bit), size: SIZE_CLASSES[cls]! };
  }

  /** Stores a reservation's bit (the caller persists `word`). */
  commitAtomic(r: { chunk: number; word: number; bit: number }): void {
    this.#claim(r.chunk, r.word, r.bit);
  }

  /**
   * Frees the block at `offset` (checked by the caller) with one 4-byte store, returning the word
   * to persist; or -1, changing nothing, when the free needs more (a large object, or a run it
   * empties, which goes back to the chunk pool): the caller then uses a transaction.
   */
  freeAtomic(offset: number): number {
    const g = this.#g;
    const chunk = Math.floor((offset - g.data) / CHUNK_SIZE);
    if (this.#kind[chunk] !== KIND_RUN) return -1;
    if (this.#count[chunk] === 1 && this.#current[this.#cls[chunk]!] !== chunk) return -1;
    const [word, bit] = this.#bitOf(chunk, offset);
    this.#unclaim(chunk, word, bit);
    return word;
  }

  #allocLarge(span: number, tx: TxSink, touched: ChunkSet): [number, number] {
    const head = this.#findFree(span);
    if (head < 0) throw this.#noSpace(span * CHUNK_SIZE);
    const dv = this.#dv;
    const word = this.#g.chunkTable + head * 8;
    tx.snapshot(word, span * 8);
    for (let j = head; j < head + span; j++) {
      const at = this.#g.chunkTable + j * 8;
      dv.setUint32(at, j === head ? KIND_LARGE : KIND_CONTINUED, true);
      dv.setUint32(at + 4, j === head ? span : 0, true);
      this.#kind[j] = j === head ? KIND_LARGE : KIND_CONTINUED;
      this.#count[j] = j === head ? span : 0;
      touched.add(j);
    }
    return [this.#chunkStart(head), span * CHUNK_SIZE];
  }

  /** First run of `span` free chunks, or -1. */
  #findFree(span: number): number {
    const n = this.#g.chunkCount;
    const kind = this.#kind;
    while (this.#freeHint < n && kind[this.#freeHint] !== KIND_FREE) this.#freeHint++;
    for (let i = this.#freeHint; i + span <= n; i++) {
      let j = 0;
      while (j < span && kind[i + j] === KIND_FREE) j++;
      if (j === span) return i;
      i += j;
    }
    return -1;
  }

  #noSpace(bytes: number): Error {
    const s = this.stats();
    return pmemError(
      'ERR_HEAP_NO_SPACE',
      `${this.#path}: no room for an object of ${bytes} bytes (${s.freeBytes} bytes free, the largest free span ${s.largestFree}); nothing was allocated`,
    );
  }

  /**
   * The usable size of the object that starts at `offset`, or a reason it is not one: a string
   * saying what `offset` is instead.
   */
  sizeAt(offset: number): number | string {
    const g = this.#g;
    if (!Number.isSafeInteger(offset) || offset < g.data || offset >= g.data + g.chunkCount * CHUNK_SIZE) return 'outside the heap';
    const chunk = Math.floor((offset - g.data) / CHUNK_SIZE);
    const within = offset - this.#chunkStart(chunk);
    const kind = this.#kind[chunk];
    if (kind === KIND_LARGE) return within === 0 ? this.#count[chunk]! * CHUNK_SIZE : 'inside a large object, not at its start';
    if (kind === KIND_RUN) {
      const size = SIZE_CLASSES[this.#cls[chunk]!]!;
      if (within % size !== 0) return `inside a block of ${size} bytes, not at its start`;
      const [word, bit] = this.#bitOf(chunk, offset);
      return (this.#dv.getUint32(word, true) >>> bit) & 1 ? size : 'free (not allocated, or already freed)';
    }
    return kind === KIND_CONTINUED ? 'inside a large object, not at its start' : 'free (not allocated, or already freed)';
  }

  /** Frees the object at `offset` (checked by the caller with sizeAt) through `tx`. */
  free(offset: number, tx: TxSink, touched: ChunkSet): void {
    const g = this.#g;
    const dv = this.#dv;
    const chunk = Math.floor((offset - g.data) / CHUNK_SIZE);
    touched.add(chunk);
    if (this.#kind[chunk] === KIND_LARGE) {
      const span = this.#count[chunk]!;
      tx.snapshot(g.chunkTable + chunk * 8, span * 8);
      for (let j = chunk; j < chunk + span; j++) {
        dv.setFloat64(g.chunkTable + j * 8, 0, true);
        this.#kind[j] = KIND_FREE;
        this.#count[j] = 0;
        touched.add(j);
      }
      if (chunk < this.#freeHint) this.#freeHint = chunk;
      return;
    }
    const [word, bit] = this.#bitOf(chunk, offset);
    tx.snapshot(word & ~7, 8);
    if (this.#unclaim(chunk, word, bit) === 0 && this.#current[this.#cls[chunk]!] !== chunk) {
      // An empty run goes back to the chunk pool (its bitmap is all zeros again), for any class or a large object.
      tx.snapshot(g.chunkTable + chunk * 8, 8);
      dv.setFloat64(g.chunkTable + chunk * 8, 0, true);
      this.#kind[chunk] = KIND_FREE;
      if (chunk < this.#freeHint) this.#freeHint = chunk;
    }
  }

  stats(): AllocatorStats {
    const n = this.#g.chunkCount;
    let freeChunks = 0;
    let runChunks = 0;
    let largeChunks = 0;
    let objects = 0;
    let allocatedBytes = 0;
    let freeBytes = 0;
    let largestFree = 0;
    let freeSpan = 0;
    let roomInRuns = 0;
    for (let i = 0; i < n; i++) {
      const kind = this.#kind[i];
      if (kind === KIND_FREE) {
        freeChunks++;
        freeSpan++;
        largestFree = Math.max(largestFree, freeSpan * CHUNK_SIZE);
        freeBytes += CHUNK_SIZE;
        continue;
      }
      freeSpan = 0;
      if (kind === KIND_RUN) {
        runChunks++;
        const size = SIZE_CLASSES[this.#cls[i]!]!;
        const used = this.#count[i]!;
        objects += used;
        allocatedBytes += used * size;
        freeBytes += CHUNK_SIZE - used * size;
        if (used < this.#blocksIn(this.#cls[i]!)) roomInRuns = Math.max(roomInRuns, size);
      } else if (kind === KIND_LARGE) {
        objects++;
        allocatedBytes += this.#count[i]! * CHUNK_SIZE;
        largeChunks += this.#count[i]!;
      }
    }
    return { chunks: n, freeChunks, runChunks, largeChunks, objects, allocatedBytes, freeBytes, largestFree: Math.max(largestFree, roomInRuns) };
  }
}
