/**
 * The kill model: a process killed (SIGKILL, a crash of Node itself) while writing a mapping.
 *
 * Nothing is lost to the kill itself: the kernel keeps every store the process made (in the page
 * cache, or in the CPU caches over DAX), and nothing it had not made yet. So the image at a kill is
 * the live content at that instant, whatever was or was not persisted, and the question is only
 * which instant. The recorder sees the workload at the granularity of node-pmem's calls: a kill
 * point at the start, before each call on the mapping and at the end, where the image holds every store
 * made so far, those through views included; and for a call that stores a range (write, fill),
 * kill points inside it, where only a prefix of that range is stored (memcpy stores in ascending
 * order; a kill can land after any byte of it). Stores made through views between two calls are
 * one step: a kill cannot be placed between two of them.
 *
 * Recording keeps, per kill point, the lines that changed since the previous one, so the image of
 * any kill point is rebuilt from the initial image by applying the steps in order. To find them it
 * compares only the lines that can have changed: those the calls stored since the previous point
 * and those under a view handed out (watchViews). So a point costs what was stored, plus what views
 * expose, not the mapping's size; a workload that takes the whole ArrayBuffer (mapping.buffer)
 * still has all of it compared at every point.
 * @internal
 */
import type { Mapping } from '../mapping';
import { CACHE_LINE_SIZE } from './simulator';

/** A call in flight at a kill point whose stores may be cut short: `bytes` go to `offset` in order. */
export interface KillCut {
  offset: number;
  bytes: Buffer;
}

/** What the recorder keeps for one kill point. */
export interface KillStep {
  /** The call about to run ('write', 'persist', ..., 'end'). */
  op: string;
  offset: number;
  length: number;
  /** Lines (64 bytes) whose content changed since the previous kill point, ascending. */
  lines: Uint32Array;
  /** Their contents at this kill point, 64 bytes each (a partial last line is zero-padded). */
  data: Buffer;
  /** The call's own stores, which a kill inside it cuts after any byte; null when it stores nothing. */
  cut: KillCut | null;
  /** Nothing changed since the previous kill point and neither has a cut: the same image. */
  sameAsPrevious: boolean;
}

export class KillRecorder {
  /** The image at the last kill point. */
  private readonly shadow: Buffer;
  private live: Buffer;
  readonly steps: KillStep[] = [];
  /**
   * Lines that may differ from the shadow at the next kill point, as [l0, l1) pairs: what the calls
   * stored since the last one (cleared at each point) and what views let the workload store
   * (kept: a view stays writable until close). Everything else equals the shadow, so comparing
   * these alone finds the same changed lines as comparing the whole mapping.
   */
  private written: number[] = [];
  private exposed: number[] = [];
  private exposedAll = false;
  /** Bytes compared against the shadow so far (the cost of recording; read by the tests). */
  compared = 0;

  constructor(
    readonly size: number,
    live: Uint8Array,
  ) {
    this.live = Buffer.from(live.buffer, live.byteOffset, live.byteLength);
    this.shadow = Buffer.alloc(Math.ceil(size / CACHE_LINE_SIZE) * CACHE_LINE_SIZE);
    this.live.copy(this.shadow, 0, 0, size);
  }

  /** Number of kill points so far: the index the next one gets. */
  get points(): number {
    return this.steps.length;
  }

  /** After close the buffer is detached: keep following the contents it was moved to. */
  setLive(live: Uint8Array): void {
    this.live = Buffer.from(live.buffer, live.byteOffset, live.byteLength);
  }

  /** A view over [offset, offset + length) was handed out: the workload may store there at any time. */
  expose(offset: number, length: number): void {
    if (this.exposedAll || length === 0) return;
    const [l0, l1] = this.lineRange(offset, length);
    this.exposed = mergeRanges(this.exposed, [l0, l1]);
  }

  /** The whole ArrayBuffer was handed out (mapping.buffer, or a view's .buffer). */
  exposeAll(): void {
    this.exposedAll = true;
    this.exposed = [0, this.lineRange(0, this.size)[1]];
  }

  private lineRange(offset: number, length: number): [number, number] {
    return [Math.floor(offset / CACHE_LINE_SIZE), Math.ceil(Math.min(offset + length, this.size) / CACHE_LINE_SIZE)];
  }

  /** A kill point just before a call; `cut` is what the call is about to store, if anything. */
  point(op: string, offset: number, length: number, cut: KillCut | null): void {
    const changed: number[] = [];
    const live = this.live;
    const shadow = this.shadow;
    const line = CACHE_LINE_SIZE;
    const block = 4096;
    const ranges = this.written.length === 0 ? this.exposed : mergeRanges(this.exposed, this.written);
    for (let r = 0; r < ranges.length; r += 2) {
      const start = ranges[r] * line;
      const stop = Math.min(ranges[r + 1] * line, this.size);
      this.compared += stop - start;
      // Whole 4 KiB blocks first: most of a long range is unchanged.
      for (let at = start; at < stop; ) {
        const end = Math.min((Math.floor(at / block) + 1) * block, stop);
        if (live.compare(shadow, at, end, at, end) !== 0) {
          for (let l = at; l < end; l += line) {
            const le = Math.min(l + line, end);
            if (live.compare(shadow, l, le, l, le) !== 0) changed.push(l / line);
          }
        }
        at = end;
      }
    }
    const data = Buffer.alloc(changed.length * line);
    changed.forEach((l, i) => {
      live.copy(data, i * line, l * line, Math.min((l + 1) * line, this.size));
      live.copy(shadow, l * line, l * line, Math.min((l + 1) * line, this.size));
    });
    // The call's own stores come after this point: the next one compares them.
    this.written = cut !== null && cut.bytes.length > 0 ? [...this.lineRange(cut.offset, cut.bytes.length)] : [];
    const prev = this.steps[this.steps.length - 1];
    this.steps.push({
      op,
      offset,
      length,
      lines: Uint32Array.from(changed),
      data,
      cut: cut !== null && cut.bytes.length > 1 ? { offset: cut.offset, bytes: Buffer.from(cut.bytes) } : null,
      sameAsPrevious: prev !== undefined && changed.length === 0 && prev.cut === null && cut === null,
    });
  }
}

/** Union of two lists of sorted, disjoint [a, b) pairs: sorted, disjoint, touching pairs joined. */
function mergeRanges(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let s: number;
    let e: number;
    if (j >= b.length || (i < a.length && a[i] <= b[j])) {
      s = a[i];
      e = a[i + 1];
      i += 2;
    } else {
      s = b[j];
      e = b[j + 1];
      j += 2;
    }
    if (out.length > 0 && s <= out[out.length - 1]) out[out.length - 1] = Math.max(out[out.length - 1], e);
    else out.push(s, e);
  }
  return out;
}

const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as Uint8Array;
const typedArrayBuffer = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'buffer')!.get!;
const typedArraySubarray = typedArrayPrototype.subarray;
const dataViewBuffer = Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer')!.get!;

/**
 * Tell `recorder` where the workload can store without a call: the ranges of the views that
 * mapping.bytes() and dataView() hand out, and everything once it holds the ArrayBuffer itself
 * (mapping.buffer, or .buffer of one of those views or of their subarrays). Only this run's
 * mapping gets these own properties; the recording run is the only one that needs them.
 */
export function watchViews(mapping: Mapping, recorder: KillRecorder): void {
  const proto = Object.getPrototypeOf(mapping) as Mapping;
  const { bytes, dataView } = proto;
  const buffer = Object.getOwnPropertyDescriptor(proto, 'buffer')!.get!;
  const guarded = <T extends Uint8Array | DataView>(view: T): T => {
    const getBuffer = view instanceof DataView ? dataViewBuffer : typedArrayBuffer;
    Object.defineProperty(view, 'buffer', {
      configurable: true,
      get(this: T) {
        recorder.exposeAll();
        return getBuffer.call(this);
      },
    });
    if (view instanceof Uint8Array) {
      // A subarray lies within its parent's range, but its .buffer is the whole ArrayBuffer again.
      Object.defineProperty(view, 'subarray', {
        configurable: true,
        writable: true,
        value(this: Uint8Array, begin?: number, end?: number) {
          return guarded(typedArraySubarray.call(this, begin, end));
        },
      });
    }
    return view;
  };
  // mapping.bytes / dataView as they are, and the view's range exposed.
  const viewMaker = <T extends Uint8Array | DataView>(make: (offset?: number, length?: number) => T): PropertyDescriptor => ({
    configurable: true,
    writable: true,
    value(this: Mapping, offset?: number, length?: number): T {
      const view = make.call(this, offset, length);
      recorder.expose(view.byteOffset, view.byteLength);
      return guarded(view);
    },
  });
  Object.defineProperties(mapping, {
    buffer: {
      configurable: true,
      get(this: Mapping) {
        const ab = buffer.call(this) as ArrayBuffer;
        recorder.exposeAll();
        return ab;
      },
    },
    bytes: viewMaker(bytes),
    dataView: viewMaker(dataView),
  });
}

/** Apply step `step`'s changes to `image` (the image of the previous kill point becomes this one's). */
export function applyStep(image: Buffer, step: KillStep, size: number): void {
  const line = CACHE_LINE_SIZE;
  for (let i = 0; i < step.lines.length; i++) {
    const at = step.lines[i] * line;
    step.data.copy(image, at, i * line, i * line + Math.min(line, size - at));
  }
}

/**
 * Where kill images cut the call in flight: after how many of its `length` bytes (1 to length - 1;
 * 0 and length are the kill points before and after it). All of them when there are at most
 * `budget`, else `budget` of them: the first and last byte when `extremes`, the rest drawn with
 * `random`.
 */
export function cutPoints(length: number, budget: number, extremes: boolean, random: () => number): number[] {
  const inner = length - 1;
  if (inner <= 0 || budget <= 0) return [];
  if (inner <= budget) return Array.from({ length: inner }, (_, i) => i + 1);
  const chosen = new Set<number>();
  if (extremes) {
    chosen.add(1);
    chosen.add(length - 1);
  }
  for (let tries = 0; chosen.size < budget && tries < budget * 8; tries++) chosen.add(1 + Math.floor(random() * inner));
  return [...chosen].sort((a, b) => a - b);
}
