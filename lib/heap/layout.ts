/**
 * The pool's on-media layout (format version 1), in one place. All offsets are from the start of
 * the mapping; every multi-byte field is little-endian.
 *
 * ```
 * 0      header (4 KiB)
 *        0    magic "NPMHEAP\0" ("NPMHINIT" during create)  8 version u32            12   crc32c of [16, 192) u32
 *        16   uuid (16 bytes)            32   pool size f64          40   log offset f64
 *        48   log size f64               56   chunk table offset f64 64   chunk count f64
 *        72   bitmaps offset f64         80   data offset f64        88   root offset f64
 *        96   root size f64              128  layout name (64 bytes, NUL-padded UTF-8)
 *        256  in use (1 while open, 0 after a clean close) f64        (a line of its own)
 *        320  unsafe-shutdown count at the last open, f64, -1 = unknown (a line of its own)
 *        384  id of the last finished transaction, f64                  (a line of its own)
 * 4096   undo log (logSize bytes; see undo-log.ts)
 *        chunk table: one 8-byte word per chunk (kind u8, size class u8, 0 u16, span u32)
 *        run bitmaps: BITMAP_BYTES per chunk, bit b set = block b of a run chunk allocated
 *        data: chunkCount chunks of CHUNK_SIZE bytes (the root object is the first allocation)
 * ```
 *
 * Numbers are stored as f64 where JavaScript reads and writes them: exact up to 2^53, and one
 * aligned 8-byte store (x86-64 and Arm make those power-fail atomic), which matters for the three
 * words outside the checksum: they change after the format, one store each.
 * @internal
 */
export const MAGIC = Buffer.from('NPMHEAP\0', 'latin1');
/** The first 8 bytes while a create is in progress: a file that holds it is an interrupted create, which create may redo. */
export const MAGIC_CREATING = Buffer.from('NPMHINIT', 'latin1');
export const VERSION = 1;
export const HEADER_SIZE = 4096;
export const CRC_START = 16;
export const CRC_END = 192;

export const H_VERSION = 8;
export const H_CRC = 12;
export const H_UUID = 16;
export const H_POOL_SIZE = 32;
export const H_LOG_OFFSET = 40;
export const H_LOG_SIZE = 48;
export const H_CHUNK_TABLE = 56;
export const H_CHUNK_COUNT = 64;
export const H_BITMAPS = 72;
export const H_DATA = 80;
export const H_ROOT_OFFSET = 88;
export const H_ROOT_SIZE = 96;
export const H_LAYOUT = 128;
export const LAYOUT_MAX_BYTES = 63;
export const H_IN_USE = 256;
export const H_SHUTDOWN_COUNT = 320;
export const H_LAST_TX = 384;

/** Chunks: the unit of the large-object path and of a run of small blocks of one size class. */
export const CHUNK_SIZE = 64 * 1024;
export const MIN_BLOCK = 64;
export const BLOCKS_PER_CHUNK_MAX = CHUNK_SIZE / MIN_BLOCK;
export const BITMAP_BYTES = BLOCKS_PER_CHUNK_MAX / 8;
/** Size classes of the small-object path: powers of two from 64 B to 32 KiB; larger objects take whole chunks. */
export const SIZE_CLASSES: readonly number[] = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];
export const MAX_SMALL = SIZE_CLASSES[SIZE_CLASSES.length - 1]!;

export const KIND_FREE = 0;
export const KIND_RUN = 1;
export const KIND_LARGE = 2;
/** A chunk inside a large object (after its first). */
export const KIND_CONTINUED = 3;

export const DEFAULT_LOG_SIZE = 64 * 1024;
export const MIN_LOG_SIZE = 4096;
/** The smallest pool: header, the smallest log, and one chunk (with its table word and bitmap). */
export const MIN_POOL_SIZE = HEADER_SIZE + MIN_LOG_SIZE + 4096 + CHUNK_SIZE;

/** Where each area of a pool of `size` bytes with a log of `logSize` bytes goes. */
export interface Geometry {
  poolSize: number;
  logOffset: number;
  logSize: number;
  chunkTable: number;
  chunkCount: number;
  bitmaps: number;
  data: number;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** The largest chunk count whose table, bitmaps and chunks fit after the log. */
export function geometry(poolSize: number, logSize: number): Geometry | null {
  const logOffset = HEADER_SIZE;
  const chunkTable = logOffset + logSize;
  const perChunk = 8 + BITMAP_BYTES + CHUNK_SIZE;
  let chunkCount = Math.floor((poolSize - chunkTable) / perChunk);
  for (; chunkCount > 0; chunkCount--) {
    const bitmaps = align(chunkTable + chunkCount * 8, 64);
    const data = align(bitmaps + chunkCount * BITMAP_BYTES, 4096);
    if (data + chunkCount * CHUNK_SIZE <= poolSize) return { poolSize, logOffset, logSize, chunkTable, chunkCount, bitmaps, data };
  }
  return null;
}
