/**
 * A set of non-negative integers for the transaction path, where most transactions hold none or a
 * few: an array scanned while small, a Set built only past that. Clearing keeps the array (a Map
 * or Set cleared, like an array truncated to 0, reallocates its storage on the next insert).
 * @internal
 */
const SCAN_LIMIT = 16;

export class OffsetSet {
  readonly #items: number[] = [];
  #n = 0;
  #set: Set<number> | null = null;

  get size(): number {
    return this.#n;
  }

  has(v: number): boolean {
    if (this.#set !== null) return this.#set.has(v);
    const items = this.#items;
    for (let i = 0; i < this.#n; i++) if (items[i] === v) return true;
    return false;
  }

  add(v: number): void {
    if (this.has(v)) return;
    this.#items[this.#n++] = v;
    if (this.#set !== null) this.#set.add(v);
    else if (this.#n > SCAN_LIMIT) this.#set = new Set(this.#items.slice(0, this.#n));
  }

  /** The i-th value added (0 <= i < size). */
  at(i: number): number {
    return this.#items[i]!;
  }

  clear(): void {
    this.#n = 0;
    this.#set = null;
  }
}
