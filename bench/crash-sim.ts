/**
 * Crash simulator throughput: crash images checked per second for a 1 MiB simulated mapping.
 *
 *   npm run build:ts && npm run build:test && node dist-test/bench/crash-sim.js [transactions]
 *
 * Workload: an append log. Each transaction writes a 256-byte record (through a view), persists
 * it, then bumps the committed count in the header and persists that; it also keeps scratch
 * statistics in 16 lines it never persists (so every crash point has maybe-units). Two recoveries:
 * "trivial" (reads the header) measures the simulator itself; "log check" verifies every
 * committed record's checksum, like a real recovery; "mutating" writes to the image, which makes
 * the simulator build every image with a full copy instead of incrementally.
 */
import { crashTest, type CrashTestOptions } from 'node-pmem/testing';

const SIZE = 1 << 20;
const REC = 256;
const LOG = 4096;
const SLOTS = (SIZE - LOG - 8192) / REC;
const SCRATCH = SIZE - 4096;

function checksum(v: DataView, at: number): number {
  let s = 0x9e3779b9;
  for (let i = 8; i < REC; i += 4) s = (Math.imul(s ^ v.getUint32(at + i, true), 0x01000193) >>> 0);
  return s;
}

function workload(transactions: number): CrashTestOptions['workload'] {
  return (m) => {
    const v = m.dataView();
    const bytes = m.bytes();
    for (let t = 0; t < transactions; t++) {
      const at = LOG + (t % SLOTS) * REC;
      for (let i = 8; i < REC; i++) bytes[at + i] = (t * 31 + i) & 0xff;
      v.setUint32(at, t + 1, true);
      v.setUint32(at + 4, checksum(v, at), true);
      m.persist(at, REC);
      v.setUint32(0, t + 1, true);
      m.persist(0, 4);
      for (let i = 0; i < 16; i++) v.setUint32(SCRATCH + i * 64, t, true);
    }
  };
}

function logCheck(image: Uint8Array): void {
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const count = v.getUint32(0, true);
  for (let t = Math.max(0, count - SLOTS); t < count; t++) {
    const at = LOG + (t % SLOTS) * REC;
    if (v.getUint32(at, true) !== t + 1) throw new Error(`record ${t}: bad sequence`);
    if (v.getUint32(at + 4, true) !== checksum(v, at)) throw new Error(`record ${t}: bad checksum`);
  }
}

async function main(): Promise<void> {
  const transactions = Number(process.argv[2] ?? 200);
  for (const [name, recover] of [
    ['trivial', (image: Uint8Array) => void image[0]],
    ['log check', logCheck],
    // Writes to the image: the simulator falls back to a full copy of the 1 MiB image per image.
    ['mutating', (image: Uint8Array) => void (image[SCRATCH] = 1)],
  ] as const) {
    for (const granularity of ['cacheline', 'byte', 'page'] as const) {
      const r = await crashTest({ size: SIZE, granularity, workload: workload(transactions), recover });
      if (r.failures.length > 0) throw new Error(r.failures[0].message);
      const perSecond = r.imagesChecked / (r.timing.checkMs / 1000);
      console.log(
        `${granularity.padEnd(9)} ${name.padEnd(9)}: ${r.crashPoints} crash points, ${r.imagesChecked} images ` +
          `(max ${r.maxMaybeUnits} maybe-units) | record ${r.timing.recordMs.toFixed(0)} ms ` +
          `(${((r.timing.recordMs * 1000) / r.crashPoints).toFixed(0)} us/crash point) | ` +
          `check ${r.timing.checkMs.toFixed(0)} ms = ${perSecond.toFixed(0)} images/s`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
