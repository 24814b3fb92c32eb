/**
 * Dirty ranges waiting for persistDirty(): (offset, length) pairs in a preallocated Float64Array.
 * markDirty() only stores two numbers; when the array fills up it is coalesced in place by the
 * backend (sort + merge to the flush unit) and grown only if that does not free enough room.
 */
import type { MappingBackend } from './binding';

const INITIAL_PAIRS = 1024;

export class DirtyExtents {
  pairs = new Float64Array(INITIAL_PAIRS * 2);
  count = 0;
  /**
   * How many slots of `pairs` Mapping.markDirty's inline fast path may fill: pairs.length, or 0
   * once disabled (closed or read-only mapping), which sends every call to its slow path.
   */
  end = this.pairs.length;

  add(backend: MappingBackend, offset: number, length: number): void {
    if (this.count * 2 === this.pairs.length) this.#makeRoom(backend);
    const i = this.count * 2;
    this.pairs[i] = offset;
    this.pairs[i + 1] = length;
    this.count++;
  }

  clear(): void {
    this.count = 0;
  }

  disable(): void {
    this.count = 0;
    this.end = 0;
  }

  #makeRoom(backend: MappingBackend): void {
    const merged = backend.coalesceExtents(this.pairs, this.count);
    if (merged >= 0) this.count = merged;
    if (this.count * 2 > (this.pairs.length * 3) / 4) {
      const grown = new Float64Array(this.pairs.length * 2);
      grown.set(this.pairs.subarray(0, this.count * 2));
      this.pairs = grown;
      this.end = grown.length;
    }
  }
}
