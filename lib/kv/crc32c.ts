/**
 * CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and RocksDB), computed natively: with SSE4.2's
 * crc32 instruction where the CPU has it, else a slicing-by-8 table (native/crc32c.cc; which one:
 * `cpuInfo().crc32c`). Native even for the store's ~150-byte records: the call costs less than a
 * table loop in JavaScript.
 * @internal
 */
import { native } from '../binding';
import { STATUS_FAULT, statusError } from '../errors';

/** CRC-32C of bytes[start, end), continuing from `seed` (the CRC of what came before, or 0). Unsigned 32-bit. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  const r = native.crc32c(bytes, start, end, seed);
  if (r >= 0) return r;
  // A SIGBUS: the file under the mapping was truncated, or its media is poisoned.
  throw statusError(r === STATUS_FAULT ? -5 /* EIO */ : r, 'crc32c', '');
}
