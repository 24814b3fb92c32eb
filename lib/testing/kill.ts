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
 * any kill point is rebuilt from the initial image by applying the steps in order.
 * @internal
 */
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

  /** A kill point just before a call; `cut` is what the call is about to store, if anything. */
  point(op: string, offset: number, length: number, cut: KillCut | null): void {
    const changed: number[] = [];
    const live = this.live;
    const shadow = this.shadow;
    const line = CACHE_LINE_SIZE;
    for (let at = 0; at < this.size; at += 4096) {
      const end = Math.min(at + 4096, this.size);
      if (live.compare(shadow, at, end, at, end) === 0) continue;
      for (let l = at; l < end; l += line) {
        const le = Math.min(l + line, end);
        if (live.compare(shadow, l, le, l, le) !== 0) changed.push(l / line);
      }
    }
    const data = Buffer.alloc(changed.length * line);
    changed.forEach((l, i) => {
      live.copy(data, i * line, l * line, Math.min((l + 1) * line, this.size));
      live.copy(shadow, l * line, l * line, Math.min((l + 1) * line, this.size));
    });
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
