'use strict';
/**
 * A persistent FIFO queue of byte strings on node-pmem/heap: the worked example of issue 17.
 *
 * Every value lives in a node object of the heap; nodes are linked by persistent pointers
 * (Ref.setRef / getRef: the pool's id and an offset, valid wherever the pool is mapped). The
 * queue's head, tail and count live in the heap's root object. Each operation that changes more
 * than one field is one heap transaction, so after a crash or kill the queue is exactly what it
 * was after the last operation that returned - or, for the one in flight, what it would have been
 * had it returned. Nothing here flushes by hand: the transaction logs every field before it
 * changes, and the allocator's work (alloc, free) is part of the same transaction.
 *
 *   const { PersistentQueue } = require('./queue.js');
 *   const q = PersistentQueue.open('/mnt/pmem/jobs.queue', { create: true, size: 8 << 20 });
 *   q.push('job 1'); q.push(Buffer.from([1, 2, 3]));
 *   q.shift();                                    // 'job 1' (durably gone when it returns)
 *   q.close();
 *
 * On-media layout (all little-endian; see README.md):
 *   root object (ROOT_SIZE = 64 bytes)
 *     0   head: persistent pointer (16 bytes) to the first node, or null (all zeros)
 *     16  tail: persistent pointer to the last node, or null
 *     32  count: f64, the number of nodes
 *     40  magic u32 (ROOT_MAGIC), 44 format version u32: set when the queue is made
 *   node object (NODE_HEADER + value bytes, rounded up to the heap's size class)
 *     0   next: persistent pointer to the following node, or null at the tail
 *     16  byte length of the value, u32
 *     20  kind u32: 1 = bytes (read back as a Buffer), 2 = string (UTF-8)
 *     24  the value's bytes
 */
const { Heap, REF_BYTES } = require('node-pmem/heap');

/** The heap layout name PersistentQueue.open() stores and checks. */
const LAYOUT = 'node-pmem-example-queue-v1';
const FORMAT_VERSION = 1;
/** 'NPQ1' read as a little-endian u32. */
const ROOT_MAGIC = 0x3151504e;

const ROOT_SIZE = 64;
const R_HEAD = 0;
const R_TAIL = 16;
const R_COUNT = 32;
const R_MAGIC = 40;
const R_VERSION = 44;

const N_NEXT = 0;
const N_LENGTH = 16;
const N_KIND = 20;
const N_VALUE = 24;
const NODE_HEADER = 24;

const KIND_BYTES = 1;
const KIND_STRING = 2;

const OPEN_OPTIONS = ['create', 'size', 'layout', 'logSize', 'granularity', 'allowUnsafeShutdown'];

const kConstruct = Symbol('PersistentQueue');
/** Heaps that have an open queue: one queue object per heap (they would not see each other's iterators). */
const inUse = new WeakSet();

// ---------------------------------------------------------------------------------------- errors

function withCode(error, code, extra) {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return Object.assign(error, extra);
}

function received(value) {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return value.constructor && value.constructor.name ? `an instance of ${value.constructor.name}` : 'an object';
  let shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'symbol' ? String(value) : JSON.stringify(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

function invalidArgType(name, expected, value) {
  const subject = name.includes('.') ? `The "${name}" property` : `The "${name}" argument`;
  return withCode(new TypeError(`${subject} must be ${expected}. Received ${received(value)}`), 'ERR_INVALID_ARG_TYPE');
}

function queueError(code, message, extra) {
  return withCode(new Error(message), code, extra);
}

// ---------------------------------------------------------------------------------------- values

/** [bytes, kind] of a value to store; ERR_INVALID_ARG_TYPE for anything but a string or bytes. */
function encode(value, name) {
  if (typeof value === 'string') return [Buffer.from(value, 'utf8'), KIND_STRING];
  if (value instanceof Uint8Array) return [value, KIND_BYTES];
  throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', value);
}

/** The value a node holds (a copy: the node may be freed and reused after this returns). */
function decode(node) {
  const length = node.getU32(N_LENGTH);
  const kind = node.getU32(N_KIND);
  if (N_VALUE + length > node.size || (kind !== KIND_BYTES && kind !== KIND_STRING)) {
    throw queueError('ERR_QUEUE_CORRUPT', `The queue node at ${node.offset} (${node.size} bytes) claims a value of ${length} bytes of kind ${kind}`);
  }
  const bytes = node.getBytes(N_VALUE, length);
  return kind === KIND_STRING ? Buffer.from(bytes.buffer, bytes.byteOffset, length).toString('utf8') : Buffer.from(bytes);
}

// ---------------------------------------------------------------------------------------- queue

class PersistentQueue {
  #heap;
  #root;
  #owned;
  #closed = false;
  /** Bumped by every change: an iterator made before one refuses to go on. */
  #version = 0;

  /**
   * Opens (and recovers) the heap at `path` and the queue in it; with `create`, makes both.
   * Options: create, size (bytes of a file to create), layout (default LAYOUT), logSize,
   * granularity, allowUnsafeShutdown: as Heap.open. close() closes the heap.
   */
  static open(path, options = {}) {
    if (typeof path !== 'string') throw invalidArgType('path', 'of type string', path);
    if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidArgType('options', 'of type object', options);
    for (const key of Object.keys(options)) {
      if (!OPEN_OPTIONS.includes(key)) {
        throw withCode(new TypeError(`The property 'options.${key}' is not an option of PersistentQueue.open() (one of: ${OPEN_OPTIONS.join(', ')})`), 'ERR_INVALID_ARG_VALUE');
      }
    }
    const { layout = LAYOUT, ...rest } = options;
    const heap = Heap.open(path, { ...rest, layout, rootSize: ROOT_SIZE });
    try {
      return new this(kConstruct, heap, true);
    } catch (e) {
      heap.close();
      throw e;
    }
  }

  /**
   * The queue in `heap`'s root object; a root that is all zeros (a new heap) becomes an empty
   * queue. close() leaves the heap open. ERR_QUEUE_NOT_A_QUEUE when the root holds something else.
   */
  static fromHeap(heap) {
    if (!(heap instanceof Heap)) throw invalidArgType('heap', 'an instance of Heap', heap);
    return new this(kConstruct, heap, false);
  }

  /** @private Queues are made by PersistentQueue.open() and fromHeap(). */
  constructor(token, heap, owned) {
    if (token !== kConstruct) throw withCode(new TypeError('Illegal constructor: use PersistentQueue.open() or PersistentQueue.fromHeap()'), 'ERR_ILLEGAL_CONSTRUCTOR');
    if (inUse.has(heap)) throw queueError('ERR_QUEUE_IN_USE', `The heap of '${heap.path}' already has an open queue: close it first, or share that one`);
    const root = heap.root;
    if (root.size < ROOT_SIZE) {
      throw queueError('ERR_QUEUE_NOT_A_QUEUE', `The root object of '${heap.path}' is ${root.size} bytes; a queue needs ${ROOT_SIZE}`);
    }
    const magic = root.getU32(R_MAGIC);
    if (magic === 0 && root.getBytes(0, ROOT_SIZE).every((b) => b === 0)) {
      // A new heap: an empty queue is the all-zero root plus the marker, set in one transaction.
      heap.transaction(() => {
        root.setU32(R_MAGIC, ROOT_MAGIC);
        root.setU32(R_VERSION, FORMAT_VERSION);
      });
    } else if (magic !== ROOT_MAGIC) {
      throw queueError('ERR_QUEUE_NOT_A_QUEUE', `The root object of '${heap.path}' does not hold a queue (its marker is 0x${magic.toString(16)})`);
    } else if (root.getU32(R_VERSION) !== FORMAT_VERSION) {
      throw queueError('ERR_QUEUE_VERSION', `'${heap.path}' holds a queue of format version ${root.getU32(R_VERSION)}; this code reads version ${FORMAT_VERSION}`);
    }
    this.#heap = heap;
    this.#root = root;
    this.#owned = owned;
    inUse.add(heap);
  }

  /** The heap the queue lives in (its stats(), openReport, transaction()). */
  get heap() {
    this.#live();
    return this.#heap;
  }

  get closed() {
    return this.#closed;
  }

  /** The number of values in the queue. */
  get length() {
    this.#live();
    return this.#root.getF64(R_COUNT);
  }

  /**
   * Appends `value` (a string, or bytes: a Buffer or any Uint8Array) at the tail, in one
   * transaction: durable when push returns, absent after a crash before that. Returns the new length.
   */
  push(value) {
    this.#live();
    const [bytes, kind] = encode(value, 'value');
    this.#version++;
    return this.#heap.transaction(() => {
      this.#append(bytes, kind);
      return this.#root.getF64(R_COUNT);
    });
  }

  /**
   * Appends every value of the iterable `values`, in order, in one transaction: after a crash
   * all of them are there or none. Values are checked as they are reached: a bad one (or an
   * iterator that throws, or ERR_HEAP_NO_SPACE) rolls back the ones before it. Returns the new length.
   */
  pushMany(values) {
    this.#live();
    if (values === null || typeof values !== 'object' || typeof values[Symbol.iterator] !== 'function') {
      throw invalidArgType('values', 'an iterable of strings or Uint8Arrays (an Array, a Set, a generator)', values);
    }
    this.#version++;
    return this.#heap.transaction(() => {
      let i = 0;
      for (const value of values) {
        const [bytes, kind] = encode(value, `values[${i}]`);
        this.#append(bytes, kind);
        i++;
      }
      return this.#root.getF64(R_COUNT);
    });
  }

  /**
   * Removes the value at the head and returns it (a string if it was pushed as one, else a
   * Buffer), in one transaction that also frees its node; undefined when the queue is empty.
   */
  shift() {
    this.#live();
    this.#version++;
    return this.#heap.transaction(() => {
      const root = this.#root;
      const head = root.getRef(R_HEAD);
      if (head === null) return undefined;
      const value = decode(head);
      const next = head.getRef(N_NEXT);
      this._storePointer(root, R_HEAD, next);
      if (next === null) this._storePointer(root, R_TAIL, null);
      root.setF64(R_COUNT, root.getF64(R_COUNT) - 1);
      this.#heap.free(head); // at commit, with the rest
      return value;
    });
  }

  /** The value at the head, without removing it; undefined when the queue is empty. */
  peek() {
    this.#live();
    const head = this.#root.getRef(R_HEAD);
    return head === null ? undefined : decode(head);
  }

  /** The values from head to tail. Any change to the queue while it runs makes it throw ERR_QUEUE_MODIFIED. */
  *values() {
    this.#live();
    const version = this.#version;
    let left = this.#root.getF64(R_COUNT);
    let node = this.#root.getRef(R_HEAD);
    while (node !== null) {
      if (left-- <= 0) throw queueError('ERR_QUEUE_CORRUPT', `The queue of '${this.#heap.path}' has more nodes than its count`);
      const value = decode(node);
      const next = node.getRef(N_NEXT);
      yield value;
      this.#live();
      if (this.#version !== version) throw queueError('ERR_QUEUE_MODIFIED', 'The queue was changed while it was being iterated');
      node = next;
    }
  }

  [Symbol.iterator]() {
    return this.values();
  }

  toArray() {
    return [...this.values()];
  }

  /**
   * Walks the whole queue and checks its structure: the count matches the nodes, the tail
   * pointer names the last node, every node's header is sane, no cycle. Returns
   * { length, valueBytes }; throws ERR_QUEUE_CORRUPT (with details) otherwise.
   */
  check() {
    this.#live();
    const root = this.#root;
    const count = root.getF64(R_COUNT);
    const fail = (why) => queueError('ERR_QUEUE_CORRUPT', `The queue of '${this.#heap.path}' is corrupt: ${why}`);
    if (!Number.isSafeInteger(count) || count < 0) throw fail(`its count is ${count}`);
    let node = root.getRef(R_HEAD);
    let last = null;
    let n = 0;
    let valueBytes = 0;
    while (node !== null) {
      if (n === count) throw fail(`more nodes than its count of ${count}`);
      decode(node); // its header is checked there
      valueBytes += node.getU32(N_LENGTH);
      last = node;
      node = node.getRef(N_NEXT);
      n++;
    }
    if (n !== count) throw fail(`${n} nodes, but a count of ${count}`);
    const tail = root.getRef(R_TAIL);
    if ((tail === null) !== (last === null) || (tail !== null && tail.offset !== last.offset)) {
      throw fail(`the tail pointer names ${tail === null ? 'nothing' : `the node at ${tail.offset}`}, the last node is ${last === null ? 'none' : `at ${last.offset}`}`);
    }
    return { length: n, valueBytes };
  }

  /** Ends the queue object; closes the heap if open() opened it. Idempotent. */
  close() {
    if (this.#closed) return;
    if (this.#heap.inTransaction) throw queueError('ERR_QUEUE_STATE', 'close() inside a transaction: let the transaction end first');
    this.#closed = true;
    inUse.delete(this.#heap);
    if (this.#owned) this.#heap.close();
  }

  [Symbol.dispose]() {
    this.close();
  }

  /**
   * Stores a persistent pointer to `target` (a Ref, or null) at `at` of the object `ref`. Every
   * pointer the queue stores goes through here, always inside a transaction, where setRef logs
   * the 16 bytes before changing them: one place to audit (and the hook the crash test's negative
   * control overrides with a store that is not logged).
   * @protected
   */
  _storePointer(ref, at, target) {
    ref.setRef(at, target);
  }

  // -------------------------------------------------------------------------------------- internals

  #live() {
    if (this.#closed) throw queueError('ERR_QUEUE_CLOSED', 'The queue is closed');
  }

  /** Inside a transaction: a new node holding `bytes`, linked after the tail. */
  #append(bytes, kind) {
    const heap = this.#heap;
    const root = this.#root;
    // A new object of this transaction: stores into it are not logged (there is nothing to undo;
    // it is freed again if the transaction rolls back) and it is made durable at commit.
    // zero: false, as every byte that matters is stored below.
    const node = heap.alloc(NODE_HEADER + bytes.length, { zero: false });
    this._storePointer(node, N_NEXT, null);
    node.setU32(N_LENGTH, bytes.length);
    node.setU32(N_KIND, kind);
    node.setBytes(N_VALUE, bytes);
    const tail = root.getRef(R_TAIL);
    this._storePointer(tail === null ? root : tail, tail === null ? R_HEAD : N_NEXT, node);
    this._storePointer(root, R_TAIL, node);
    root.setF64(R_COUNT, root.getF64(R_COUNT) + 1);
  }
}

module.exports = {
  PersistentQueue,
  LAYOUT,
  FORMAT_VERSION,
  ROOT_MAGIC,
  ROOT_SIZE,
  NODE_HEADER,
  REF_BYTES,
  offsets: Object.freeze({ R_HEAD, R_TAIL, R_COUNT, R_MAGIC, R_VERSION, N_NEXT, N_LENGTH, N_KIND, N_VALUE }),
};
