/**
 * The undo log: before a transaction changes a range, the range's old bytes are appended here and
 * made durable; a transaction that does not reach its commit point is undone from them (on abort,
 * or at the next open after a crash).
 *
 * An entry is `crc u32 | length u32 | txid f64 | offset f64 | old bytes, padded to 8`; the CRC-32C
 * covers everything after itself, in one pass. Entries are appended in order, each batch flushed and
 * fenced before the caller may change what it covers, so after a crash the valid entries of the
 * unfinished transaction are a prefix of the log: the scan stops at the first entry that fails its
 * CRC or belongs to another transaction (an older one's, left behind; ids are never reused).
 * @internal
 */
import type { Mapping } from '../mapping';
import { crc32c } from '../kv/crc32c';
import { pmemError } from '../errors';

export const ENTRY_HEADER = 24;

export interface LogEntry {
  offset: number;
  length: number;
  /** Where the old bytes are in the mapping. */
  at: number;
}

const pad8 = (n: number): number => Math.ceil(n / 8) * 8; // not (n + 7) & ~7: a torn length can be >= 2^31

export class UndoLog {
  readonly #m: Mapping;
  readonly #u8: Uint8Array;
  readonly #dv: DataView;
  readonly #start: number;
  readonly #end: number;
  /** Next free byte: only meaningful inside a transaction. */
  #tail: number;

  constructor(m: Mapping, u8: Uint8Array, dv: DataView, start: number, size: number) {
    this.#m = m;
    this.#u8 = u8;
    this.#dv = dv;
    this.#start = start;
    this.#end = start + size;
    this.#tail = start;
  }

  /** The bytes an entry for `length` bytes takes. */
  static entrySize(length: number): number {
    return ENTRY_HEADER + pad8(length);
  }

  get used(): number {
    return this.#tail - this.#start;
  }

  get capacity(): number {
    return this.#end - this.#start;
  }

  /**
   * Appends one entry per (offset, length) pair of `pairs[0, 2n)`, then one flush and one fence:
   * when it returns, the old bytes are durable. Throws ERR_HEAP_TX_LOG_FULL before writing
   * anything when they do not fit.
   */
  append(txid: number, pairs: ArrayLike<number>, n: number): void {
    let need = 0;
    for (let i = 0; i < n; i++) need += UndoLog.entrySize(pairs[2 * i + 1]!);
    if (this.#tail + need > this.#end) {
      throw pmemError(
        'ERR_HEAP_TX_LOG_FULL',
        `The transaction's undo log is full: ${this.used} of ${this.capacity} bytes used, ${need} more needed. ` +
          'Nothing of this add() was logged; the transaction will be rolled back. Create the pool with a larger logSize',
      );
    }
    const u8 = this.#u8;
    const dv = this.#dv;
    const first = this.#tail;
    let at = first;
    for (let i = 0; i < n; i++) {
      const offset = pairs[2 * i]!;
      const length = pairs[2 * i + 1]!;
      dv.setUint32(at + 4, length, true);
      dv.setFloat64(at + 8, txid, true);
      dv.setFloat64(at + 16, offset, true);
      u8.copyWithin(at + ENTRY_HEADER, offset, offset + length);
      dv.setUint32(at, crc32c(u8, at + 4, at + ENTRY_HEADER + length), true);
      at += UndoLog.entrySize(length);
    }
    this.#m.persist(first, at - first);
    this.#tail = at;
  }

  /** The valid entries of transaction `txid`, in the order they were appended. */
  scan(txid: number, limit: number): LogEntry[] {
    const u8 = this.#u8;
    const dv = this.#dv;
    const out: LogEntry[] = [];
    let at = this.#start;
    while (at + ENTRY_HEADER <= this.#end) {
      if (dv.getFloat64(at + 8, true) !== txid) break;
      const length = dv.getUint32(at + 4, true);
      const offset = dv.getFloat64(at + 16, true);
      if (length > this.#end - at || at + UndoLog.entrySize(length) > this.#end) break; // torn: past the log
      if (crc32c(u8, at + 4, at + ENTRY_HEADER + length) !== dv.getUint32(at, true)) break;
      // A valid CRC over a range outside the heap would be a bug in this code, not a crash: refuse it.
      if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + length <= limit)) {
        throw pmemError('ERR_HEAP_CORRUPT', `${this.#m.path}: undo log entry at ${at} covers [${offset}, +${length}), outside the pool`);
      }
      out.push({ offset, length, at: at + ENTRY_HEADER });
      at += UndoLog.entrySize(length);
    }
    return out;
  }

  /** Copies the old bytes back, last entry first (so overlapping entries end with the oldest bytes), then makes them durable. */
  undo(entries: readonly LogEntry[]): void {
    const u8 = this.#u8;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      u8.copyWithin(e.offset, e.at, e.at + e.length);
    }
    for (const e of entries) if (e.length > 0) this.#m.flush(e.offset, e.length);
    this.#m.drain();
  }

  reset(): void {
    this.#tail = this.#start;
  }
}
