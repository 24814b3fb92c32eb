/**
 * The simulated mapping backend and its durability model.
 *
 * The program sees an ordinary ArrayBuffer (the "live" image, what the CPU sees). Next to it the
 * model keeps the "durable" image: what is guaranteed to be on the media. Bytes move from live to
 * durable only through the durability operations of the tier:
 *
 * - cacheline: flush() takes a snapshot of each flushed line that differs from the durable image;
 *   the next fence (drain, persist, persistDirty, write/fill with persist) makes the snapshots
 *   durable, and persist-like calls also make their own range durable with its current content.
 * - byte: every fence makes the whole live image durable (eADR: caches are persistent).
 * - page: flush/persist (msync) make the touched pages durable at once; drain is a no-op.
 *
 * Every durability point (a fence; an msync at page tier) is a crash point. At each one the model
 * scans live against durable unit by unit (64-byte lines, or pages at page tier) - stores made
 * through views are caught that way, not by write hooks - and records, for the units that differ,
 * the pieces that may land at a power failure: each aligned `atom` of the unit (8-byte words by
 * default, the only stores x86-64 makes atomic; 512-byte sectors at page tier) whose content
 * differs from the durable image, with that content. That is the "maybe" set of the crash point:
 * any subset of it may have reached the media, so a line can land torn. Units flushed but not yet
 * fenced add their flushed content as a further variant of each atom. The record also says which
 * of those entries the fence made durable, so the durable image at any crash point can be rebuilt
 * from the initial image by applying the records' commits in order.
 * @internal
 */
import type { MappingBackend, NativeMappingInfo } from '../binding';
import type { Granularity } from '../types';
import type { KillRecorder } from './kill';

/** Cache line size of the simulated CPU. */
export const CACHE_LINE_SIZE = 64;
/** Page size of the simulated system. */
export const SIM_PAGE_SIZE = 4096;

/** Unit a tier makes durable at once: 64-byte lines, or pages at page tier. */
export function unitSizeOf(granularity: Granularity): number {
  return granularity === 'page' ? SIM_PAGE_SIZE : CACHE_LINE_SIZE;
}

/**
 * The largest aligned piece of a unit guaranteed to land whole at a power failure, by default:
 * an 8-byte word for CPU stores (x86-64 makes nothing larger atomic), a 512-byte sector for a page
 * written back by msync.
 */
export function defaultAtomicUnit(granularity: Granularity): number {
  return granularity === 'page' ? 512 : 8;
}

/** What the model recorded at one crash point. */
export interface CrashRecord {
  /** The operation whose fence this is ('drain', 'persist', ..., 'end'). */
  op: string;
  /** Byte range the operation named (0, 0 when it has none). */
  offset: number;
  length: number;
  /** Stack of the fencing call, when captured. */
  stack: string | undefined;
  /** Atom index of each entry, ascending; an atom has one entry per possible non-durable content. */
  units: Uint32Array;
  /** Variant of each entry: 0 = the atom's content at the crash point, k >= 1 = its content in the k-th distinct flushed-but-unfenced snapshot. */
  variants: Uint8Array;
  /** Contents of the entries, `atom` bytes each (a partial last atom is zero-padded). */
  data: Buffer;
  /** Entries the fence made durable (applied to the durable image after this crash point). */
  commit: Uint32Array;
  /** True when the durable image and the maybe-set are the same as at the previous crash point. */
  sameAsPrevious: boolean;
}

const EMPTY_U32 = new Uint32Array(0);
const EMPTY_U8 = new Uint8Array(0);
const EMPTY_BUF = Buffer.alloc(0);

/** Which units a fence makes durable with their live content. */
type LiveCommit = 'all' | 'none' | number[]; // number[]: sorted, disjoint [u0, u1) unit pairs

export interface ModelOptions {
  /** Keep a CrashRecord per crash point (crashTest); false for a standalone simulated mapping. */
  keepRecords: boolean;
  /** Capture the stack of every fencing call. */
  captureStacks: boolean;
  /** Capture the stack only at this crash point (replay); -1 for none. */
  stackAt: number;
  /** Bytes that land whole at a power failure (a power of two dividing the unit). Default: defaultAtomicUnit. */
  atomicUnit?: number;
}

export class DurabilityModel {
  readonly unit: number;
  readonly nUnits: number;
  /** Size of the pieces a crash record is made of: `unit`, or less when units can tear. */
  readonly atom: number;
  /** The live image: the mapping's buffer, or its contents after close. */
  private live: Buffer;
  /** The durable image, padded to whole units (the padding stays zero). */
  readonly durable: Buffer;
  /** Snapshots of lines flushed since the last fence on the JS thread (cacheline tier). */
  private readonly pending = new Map<number, Buffer>();
  /** Snapshots taken by persistAsync calls not yet completed. */
  private readonly inflight = new Set<Map<number, Buffer>>();
  readonly records: CrashRecord[] | null;
  /** Number of crash points so far. */
  crashPoints = 0;

  constructor(
    readonly size: number,
    readonly granularity: Granularity,
    live: Uint8Array,
    initialDurable: Uint8Array,
    private readonly options: ModelOptions,
  ) {
    this.unit = unitSizeOf(granularity);
    this.nUnits = Math.ceil(size / this.unit);
    this.atom = options.atomicUnit ?? defaultAtomicUnit(granularity);
    this.live = Buffer.from(live.buffer, live.byteOffset, live.byteLength);
    this.durable = Buffer.alloc(this.nUnits * this.unit);
    this.durable.set(initialDurable.subarray(0, size));
    this.records = options.keepRecords ? [] : null;
  }

  /** After close the buffer is detached: the model keeps the contents it was moved to. */
  setLive(live: Uint8Array): void {
    this.live = Buffer.from(live.buffer, live.byteOffset, live.byteLength);
  }

  private unitEnd(u: number): number {
    return Math.min((u + 1) * this.unit, this.size);
  }

  /** Append the units in [u0, u1) whose live content differs from the durable image (ascending). */
  diff(u0: number, u1: number, out: number[]): void {
    const live = this.live;
    const dur = this.durable;
    const size = this.size;
    const unit = this.unit;
    const BIG = 65536;
    const MID = 4096;
    const end = Math.min(u1 * unit, size);
    for (let b = u0 * unit; b < end; ) {
      // First level: 64 KiB blocks aligned to 64 KiB (or shorter at the edges).
      const be = Math.min((Math.floor(b / BIG) + 1) * BIG, end);
      if (live.compare(dur, b, be, b, be) !== 0) {
        for (let m = b; m < be; ) {
          const me = Math.min((Math.floor(m / MID) + 1) * MID, be);
          if (live.compare(dur, m, me, m, me) !== 0) {
            if (unit >= MID) {
              // Page units: [m, me) lies within one page.
              const u = Math.floor(m / unit);
              if (out.length === 0 || out[out.length - 1] !== u) out.push(u);
            } else {
              for (let l = m; l < me; l += unit) {
                const le = Math.min(l + unit, me);
                if (live.compare(dur, l, le, l, le) !== 0) out.push(l / unit);
              }
            }
          }
          m = me;
        }
      }
      b = be;
    }
  }

  /** Snapshot the differing units of [u0, u1) into map (a flush); units now equal to durable are dropped. */
  snapshot(map: Map<number, Buffer>, u0: number, u1: number): void {
    const diffs: number[] = [];
    this.diff(u0, u1, diffs);
    if (map.size > 0) {
      const differing = new Set(diffs);
      for (const u of map.keys()) {
        // The latest flush wins: a line flushed again while equal to durable writes back durable content.
        if (u >= u0 && u < u1 && !differing.has(u)) map.delete(u);
      }
    }
    for (const u of diffs) {
      let b = map.get(u);
      if (b === undefined) {
        b = Buffer.alloc(this.unit);
        map.set(u, b);
      }
      const end = this.unitEnd(u);
      this.live.copy(b, 0, u * this.unit, end);
      if (end - u * this.unit < this.unit) b.fill(0, end - u * this.unit);
    }
  }

  /** cacheline-tier flush(): snapshot the lines for the next fence. */
  flush(offset: number, length: number): void {
    if (length === 0) return;
    const [u0, u1] = this.unitRange(offset, length);
    this.snapshot(this.pending, u0, u1);
  }

  unitRange(offset: number, length: number): [number, number] {
    if (length === 0) return [0, 0];
    return [Math.floor(offset / this.unit), Math.min(Math.ceil((offset + length) / this.unit), this.nUnits)];
  }

  /** Start a persistAsync: its flush snapshots the range now; its fence comes at completion. */
  beginAsync(offset: number, length: number): Map<number, Buffer> {
    const op = new Map<number, Buffer>();
    if (this.granularity !== 'byte' && length > 0) {
      const [u0, u1] = this.unitRange(offset, length);
      this.snapshot(op, u0, u1);
    }
    this.inflight.add(op);
    return op;
  }

  /** Complete a persistAsync: a crash point, then its snapshots (everything at byte tier) become durable. */
  endAsync(op: Map<number, Buffer>, offset: number, length: number): void {
    this.fence('persistAsync', offset, length, this.granularity === 'byte' ? 'all' : 'none', false, op);
    this.inflight.delete(op);
  }

  /**
   * A durability point: record the crash point (the state just before the fence takes effect),
   * then apply what the fence makes durable.
   * @param live which units become durable with their current content
   * @param syncPending whether the flushes pending on the JS thread become durable (a JS-thread fence)
   * @param asyncOp the completing persistAsync whose snapshots become durable
   */
  fence(
    op: string,
    offset: number,
    length: number,
    live: LiveCommit,
    syncPending: boolean,
    asyncOp: Map<number, Buffer> | null,
  ): void {
    const unit = this.unit;
    const diffs: number[] = [];
    this.diff(0, this.nUnits, diffs);

    const sources: Map<number, Buffer>[] = [];
    const commits: boolean[] = [];
    if (this.pending.size > 0) {
      sources.push(this.pending);
      commits.push(syncPending);
    }
    for (const s of this.inflight) {
      if (s.size > 0) {
        sources.push(s);
        commits.push(s === asyncOp);
      }
    }

    let units: number[];
    let differing: Set<number> | null = null;
    if (sources.length === 0) {
      units = diffs;
    } else {
      differing = new Set(diffs);
      const all = new Set(diffs);
      for (const s of sources) for (const u of s.keys()) all.add(u);
      units = [...all].sort((a, b) => a - b);
    }

    const atom = this.atom;
    const perUnit = unit / atom;
    const maxEntries = units.length * perUnit * (1 + sources.length);
    const data = maxEntries === 0 ? EMPTY_BUF : Buffer.alloc(maxEntries * atom);
    const eUnits = maxEntries === 0 ? EMPTY_U32 : new Uint32Array(maxEntries);
    const eVariants = maxEntries === 0 ? EMPTY_U8 : new Uint8Array(maxEntries);
    const commit: number[] = [];
    let n = 0;
    let r = 0; // cursor into the live-commit ranges
    const ranges = typeof live === 'string' ? null : live;
    const dur = this.durable;
    // The unit's possible contents: live first (variant 0), then each flushed snapshot; and which
    // of them the fence commits (-1: none).
    const contents: Buffer[] = [];
    const variantOf: number[] = [];
    const liveUnit = Buffer.alloc(unit);

    for (const u of units) {
      const base = u * unit;
      let liveCommitted = live === 'all';
      if (ranges !== null) {
        while (r < ranges.length && ranges[r + 1] <= u) r += 2;
        liveCommitted = r < ranges.length && ranges[r] <= u;
      }
      contents.length = 0;
      variantOf.length = 0;
      let committedContent = -1;
      if (differing === null || differing.has(u)) {
        liveUnit.fill(0);
        this.live.copy(liveUnit, 0, base, this.unitEnd(u));
        contents.push(liveUnit);
        variantOf.push(0);
        if (liveCommitted) committedContent = 0;
      }
      let variant = 1;
      for (let s = 0; s < sources.length; s++) {
        const snap = sources[s].get(u);
        if (snap === undefined) continue;
        if (snap.compare(dur, base, base + unit) === 0) {
          // The flushed content is the durable one: committing it changes nothing.
          if (commits[s] && !liveCommitted) committedContent = -1;
          continue;
        }
        contents.push(snap);
        variantOf.push(Math.min(variant++, 255));
        if (commits[s] && !liveCommitted) committedContent = contents.length - 1;
      }
      for (let a = 0; a < perUnit; a++) {
        const at = a * atom;
        const first = n;
        let committed = -1;
        for (let c = 0; c < contents.length; c++) {
          const content = contents[c];
          if (content.compare(dur, base + at, base + at + atom, at, at + atom) === 0) continue;
          let e = -1;
          for (let j = first; j < n; j++) {
            if (content.compare(data, j * atom, (j + 1) * atom, at, at + atom) === 0) {
              e = j;
              break;
            }
          }
          if (e < 0) {
            e = n++;
            eUnits[e] = (base + at) / atom;
            eVariants[e] = variantOf[c];
            content.copy(data, e * atom, at, at + atom);
          }
          if (c === committedContent) committed = e;
        }
        if (committed >= 0) commit.push(committed);
      }
    }

    const stack =
      this.options.captureStacks || this.options.stackAt === this.crashPoints ? captureStack() : undefined;
    if (this.records !== null) {
      const rec: CrashRecord = {
        op,
        offset,
        length,
        stack,
        units: n === maxEntries ? eUnits : eUnits.slice(0, n),
        variants: n === maxEntries ? eVariants : eVariants.slice(0, n),
        data: n === maxEntries ? data : Buffer.from(data.subarray(0, n * unit)),
        commit: commit.length === 0 ? EMPTY_U32 : Uint32Array.from(commit),
        sameAsPrevious: false,
      };
      const prev = this.records.length > 0 ? this.records[this.records.length - 1] : undefined;
      if (
        prev !== undefined &&
        prev.commit.length === 0 &&
        prev.units.length === rec.units.length &&
        Buffer.compare(u8(prev.units), u8(rec.units)) === 0 &&
        Buffer.compare(prev.variants, rec.variants) === 0 &&
        prev.data.equals(rec.data)
      ) {
        // Nothing was stored or made durable since: the same images. Share the storage.
        rec.sameAsPrevious = true;
        rec.units = prev.units;
        rec.variants = prev.variants;
        rec.data = prev.data;
      }
      this.records.push(rec);
    }
    this.crashPoints++;

    // Apply the fence.
    for (const e of commit) data.copy(dur, eUnits[e] * atom, e * atom, (e + 1) * atom);
    if (syncPending) this.pending.clear();
  }

  /** The durable image now (a copy, `size` bytes). */
  durableCopy(): Uint8Array {
    return new Uint8Array(this.durable.subarray(0, this.size));
  }

  /** Units whose content is not yet guaranteed durable: differing from durable, or flushed but not fenced. */
  unpersistedUnits(): number[] {
    const diffs: number[] = [];
    this.diff(0, this.nUnits, diffs);
    const all = new Set(diffs);
    for (const u of this.pending.keys()) all.add(u);
    for (const s of this.inflight) for (const u of s.keys()) all.add(u);
    return [...all].sort((a, b) => a - b);
  }
}

function u8(a: Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function captureStack(): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, captureStack);
  const lines = (holder.stack ?? '').split('\n');
  // Drop the header and the simulator's own frames.
  return lines
    .slice(1)
    .filter((l) => !/[\\/]testing[\\/]simulator\.[jt]s/.test(l))
    .join('\n');
}

/**
 * A MappingBackend over ordinary memory. With a model it tracks durability; without one (a crash
 * image opened for recovery, a kill-model run) flush and fence do nothing. With a kill recorder,
 * every call is a kill point.
 */
export class SimulatedBackend implements MappingBackend {
  private ab: ArrayBuffer;
  private closed = false;
  private inflight = 0;
  /** The contents, moved out of the detached buffer by close(). */
  retained: ArrayBuffer | null = null;
  private readonly meta: NativeMappingInfo;

  constructor(
    ab: ArrayBuffer,
    readonly granularity: Granularity,
    path: string,
    readOnly: boolean,
    readonly model: DurabilityModel | null,
    readonly kill: KillRecorder | null = null,
  ) {
    this.ab = ab;
    this.meta = {
      path,
      kind: 'file',
      length: ab.byteLength,
      offset: 0,
      sourceSize: ab.byteLength,
      granularity,
      detectedGranularity: granularity,
      granularityReason: `simulated by node-pmem/testing (forced '${granularity}')`,
      forced: true,
      readOnly,
      mapSync: granularity !== 'page',
      alignment: SIM_PAGE_SIZE,
      flushUnit: unitSizeOf(granularity),
      region: null,
    };
  }

  buffer(): ArrayBuffer {
    return this.ab;
  }

  info(): NativeMappingInfo {
    return { ...this.meta };
  }

  private ranges(offset: number, length: number): number[] {
    const m = this.model!;
    const [u0, u1] = m.unitRange(offset, length);
    return u1 > u0 ? [u0, u1] : [];
  }

  /** Crash points so far (kill points in a kill-model run); null without a model or recorder. */
  crashPoints(): number | null {
    return this.model?.crashPoints ?? this.kill?.points ?? null;
  }

  flush(offset: number, length: number): number {
    this.kill?.point('flush', offset, length, null);
    const m = this.model;
    if (m === null || length === 0) return 0;
    if (this.granularity === 'cacheline') m.flush(offset, length);
    else if (this.granularity === 'page') m.fence('flush', offset, length, this.ranges(offset, length), false, null);
    return 0;
  }

  drain(): number {
    this.kill?.point('drain', 0, 0, null);
    const m = this.model;
    if (m === null || this.granularity === 'page') return 0;
    m.fence('drain', 0, 0, this.granularity === 'byte' ? 'all' : 'none', true, null);
    return 0;
  }

  /** flush + fence as one durability point (nothing can be stored in between). */
  private persistRange(op: string, offset: number, length: number): void {
    const m = this.model;
    if (m === null) return;
    if (this.granularity === 'page') {
      if (length > 0) m.fence(op, offset, length, this.ranges(offset, length), false, null);
    } else if (this.granularity === 'byte') {
      m.fence(op, offset, length, 'all', true, null);
    } else {
      m.fence(op, offset, length, this.ranges(offset, length), true, null);
    }
  }

  persist(offset: number, length: number): number {
    // As the native backend does: the Mapping relies on these checks for persist()'s fast path.
    const status = this.checkRange(offset, length);
    if (status !== 0) return status;
    this.kill?.point('persist', offset, length, null);
    this.persistRange('persist', offset, length);
    return 0;
  }

  /** 0, or -EINVAL for a value that is not a non-negative safe integer, -ERANGE past the end. */
  private checkRange(offset: unknown, length: unknown): number {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || (offset as number) < 0 || (length as number) < 0)
      return -22; // EINVAL
    const size = this.meta.length;
    if ((offset as number) > size || (length as number) > size - (offset as number)) return -34; // ERANGE
    return 0;
  }

  persistAsync(offset: number, length: number, callback: (status: number) => void): void {
    this.kill?.point('persistAsync', offset, length, null);
    const m = this.model;
    const op = m !== null ? m.beginAsync(offset, length) : null;
    this.inflight++;
    setImmediate(() => {
      let status = 0;
      try {
        if (m !== null && op !== null) m.endAsync(op, offset, length);
      } catch {
        status = -5; // EIO: the model failed; should not happen
      }
      this.inflight--;
      callback(status);
    });
  }

  coalesceExtents(extents: Float64Array, count: number): number {
    return coalesce(extents, count, this.meta.length, this.meta.flushUnit);
  }

  persistRanges(ranges: Float64Array, count: number, scratch: Float64Array): number {
    scratch.set(ranges.subarray(0, 2 * count));
    return this.persistPairs(scratch, count, this.meta.length);
  }

  persistExtents(extents: Float64Array, count: number): number {
    return this.persistPairs(extents, count, undefined);
  }

  /** As the native PersistPairs: `valid` bounds the pairs as given (default: as coalesce's). */
  private persistPairs(extents: Float64Array, count: number, valid: number | undefined): number {
    const merged = coalesce(extents, count, this.meta.length, this.meta.flushUnit, valid);
    if (merged <= 0) return merged;
    this.kill?.point('persistDirty', 0, 0, null);
    this.persistRuns(extents, merged);
    // As the native backend does: (runs, bytes) in the first pair.
    let bytes = 0;
    for (let i = 0; i < merged; i++) bytes += extents[2 * i + 1]!;
    extents[0] = merged;
    extents[1] = bytes;
    return merged;
  }

  private persistRuns(extents: Float64Array, merged: number): void {
    const m = this.model;
    if (m === null) return;
    const unit = m.unit;
    let lo = Infinity;
    let hi = 0;
    const ranges: number[] = [];
    for (let i = 0; i < merged; i++) {
      const off = extents[2 * i];
      const len = extents[2 * i + 1];
      lo = Math.min(lo, off);
      hi = Math.max(hi, off + len);
      const u0 = Math.floor(off / unit);
      const u1 = Math.min(Math.ceil((off + len) / unit), m.nUnits);
      if (ranges.length > 0 && ranges[ranges.length - 1] >= u0) ranges[ranges.length - 1] = Math.max(u1, ranges[ranges.length - 1]);
      else if (u1 > u0) ranges.push(u0, u1);
    }
    const g = this.granularity;
    m.fence('persistDirty', lo, hi - lo, g === 'byte' ? 'all' : ranges, g !== 'page', null);
  }

  /** write() without persist: stores only (a kill point, which a kill may cut after any byte). */
  copy(offset: number, src: Uint8Array): number {
    const length = src.byteLength;
    // As the native backend does: the Mapping relies on these checks for write().
    const status = this.checkRange(offset, length);
    if (status !== 0) return status;
    if (length === 0) return 0;
    this.kill?.point('write', offset, length, { offset, bytes: Buffer.from(src.buffer, src.byteOffset, length) });
    new Uint8Array(this.ab).set(src, offset);
    return length;
  }

  copyPersist(offset: number, src: Uint8Array): number {
    const n = this.copy(offset, src);
    if (n > 0) this.persistRange('write', offset, n);
    return n;
  }

  /** fill() without persist: stores only. */
  fill(offset: number, length: number, byte: number): number {
    if (length === 0) return 0;
    this.kill?.point('fill', offset, length, this.kill !== null ? { offset, bytes: Buffer.alloc(length, byte) } : null);
    new Uint8Array(this.ab).fill(byte, offset, offset + length);
    return 0;
  }

  fillPersist(offset: number, length: number, byte: number): number {
    if (length === 0) return 0;
    this.fill(offset, length, byte);
    this.persistRange('fill', offset, length);
    return 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Detach the program's buffer as munmap would; keep the contents.
    this.retained = detach(this.ab);
    this.model?.setLive(new Uint8Array(this.retained));
    this.kill?.setLive(new Uint8Array(this.retained));
  }

  pins(): number {
    return this.inflight;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/**
 * Mirror of the native CoalesceWithin (native/extent.cc): align to unit, sort, merge; -EINVAL on a
 * pair beyond `valid` (by default the length rounded up to the unit, as for pairs already coalesced).
 */
export function coalesce(raw: Float64Array, count: number, length: number, unit: number, valid = Math.ceil(length / unit) * unit): number {
  for (let i = 0; i < count; i++) {
    const off = raw[2 * i];
    const len = raw[2 * i + 1];
    if (!validNumber(off) || !validNumber(len) || off > valid || len > valid - off) return -22;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const off = raw[2 * i];
    const len = raw[2 * i + 1];
    const start = Math.floor(off / unit) * unit;
    const end = len === 0 ? start : Math.ceil((off + len) / unit) * unit;
    pairs.push([start, end]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  let out = 0;
  for (const [s, e] of pairs) {
    if (e <= s) continue;
    if (out > 0 && s <= raw[2 * (out - 1) + 1]) {
      raw[2 * (out - 1) + 1] = Math.max(raw[2 * (out - 1) + 1], e);
    } else {
      raw[2 * out] = s;
      raw[2 * out + 1] = e;
      out++;
    }
  }
  for (let i = 0; i < out; i++) raw[2 * i + 1] -= raw[2 * i];
  return out;
}

function validNumber(v: number): boolean {
  return v >= 0 && v <= Number.MAX_SAFE_INTEGER && v === Math.floor(v);
}

/** A buffer a simulated mapping can detach at close (an ordinary ArrayBuffer). */
export function allocDetachable(size: number): ArrayBuffer {
  return new ArrayBuffer(size);
}

/** Detach `ab` (every view of it reads as length 0) and return a buffer with its contents (no copy). */
export function detach(ab: ArrayBuffer): ArrayBuffer {
  return (ab as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
}

const simulated = new WeakMap<object, SimulatedBackend>();

/** Remember which backend a simulated Mapping wraps (for durableImage / unpersistedLines). */
export function registerSimulated(mapping: object, backend: SimulatedBackend): void {
  simulated.set(mapping, backend);
}

export function backendOf(mapping: unknown): SimulatedBackend | undefined {
  return typeof mapping === 'object' && mapping !== null ? simulated.get(mapping) : undefined;
}
