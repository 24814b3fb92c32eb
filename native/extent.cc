// Extent-based flush: many dirty (offset, length) ranges, coalesced to the flush unit and flushed
// with a single fence. Works on the caller's Float64Array: no allocation.
//
// persistExtents' common input (ranges marked in address order) takes one read-only pass that
// validates, aligns, merges and flushes each run as it closes. One pass matters: the per-pair
// arithmetic then runs in the shadow of the previous run's cache-line write-back, which bounds
// the loop; a separate validation pass cost ~2.5 ns a pair that nothing hid (perf, 64 extents).
// Unordered input is sorted once and then takes the same pass. The pass itself is a template in
// extent_merge.h so that arch/*/cpu.cc can inline its flush instruction into it.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "cpu.h"
#include "extent_merge.h"
#include "mapping.h"

namespace pmem {
namespace {

using extents::AsDouble;
using extents::MergePass;
using extents::Pair;
using extents::PassEnd;
using extents::PassResult;
using extents::ValidPair;

// Validates pairs[from, count) and tells whether their aligned starts are in order.
bool Scan(const Pair* pairs, size_t from, size_t count, uint64_t unit, uint64_t limit, bool* in_order) {
  uint64_t prev = 0, off, len;
  *in_order = true;
  for (size_t i = from; i < count; i++) {
    if (!ValidPair(pairs[i], limit, &off, &len)) return false;
    uint64_t start = off & ~(unit - 1);
    *in_order &= start >= prev;
    prev = start;
  }
  return true;
}

// A per-thread buffer for the sorts' second copy of the pairs: it grows to the largest list
// this thread sorted and stays, so a sort allocates only when a list is longer than any before.
// Null when that allocation fails (the caller then sorts without it).
[[gnu::noinline]] Pair* SortScratch(size_t count) noexcept {
  struct Buffer {
    Pair* pairs = nullptr;
    size_t room = 0;
    ~Buffer() { free(pairs); }
  };
  static thread_local Buffer buffer;
  if (buffer.room < count) {
    void* grown = realloc(buffer.pairs, count * sizeof(Pair));
    if (grown == nullptr) return nullptr;
    buffer.pairs = static_cast<Pair*>(grown);
    buffer.room = count;
  }
  return buffer.pairs;
}

// Ranges marked in application order (an index's random keys) arrive in random order, where
// std::sort's comparisons mispredict about half the time. Least-significant-digit radix sort by
// the start's unit number instead, 8 bits a pass and only as many passes as the mapping's size
// needs: no data-dependent branches. Below this many pairs its histograms cost more than they save;
// up to kBucketMaxPairs the bucket sort below is faster still (and hands crowded input to this one).
constexpr size_t kRadixMinPairs = 64;

// Sorts aligned pairs by start; every start's unit number is at most max_unit. `other` has room
// for count pairs.
void RadixSortByStart(Pair* pairs, size_t count, unsigned unit_shift, uint64_t max_unit, Pair* other) {
  Pair* from = pairs;
  Pair* to = other;
  unsigned shift = 0;
  do {
    size_t at[257] = {};
    for (size_t i = 0; i < count; i++) at[((static_cast<uint64_t>(from[i].offset) >> unit_shift >> shift) & 0xff) + 1]++;
    for (size_t d = 1; d < 257; d++) at[d] += at[d - 1];
    for (size_t i = 0; i < count; i++) to[at[(static_cast<uint64_t>(from[i].offset) >> unit_shift >> shift) & 0xff]++] = from[i];
    std::swap(from, to);
    shift += 8;
  } while (shift < 64 && (max_unit >> shift) != 0);
  if (from != pairs) memcpy(pairs, from, count * sizeof(Pair));
}

// Up to this many pairs, one counting pass into about four buckets a pair (by the top bits of the
// starts' unit numbers, over the span they cover) and an insertion sort that moves each pair a
// place or two do the radix sort's job in about two thirds of its time (64 random lines of 1 GiB,
// measured in C): one pass instead of three, and the insertion's branches mostly go one way.
constexpr size_t kBucketMinPairs = 8;
constexpr size_t kBucketMaxPairs = 1024;

// Sorts aligned pairs whose starts' unit numbers lie in [lo, hi] by start; `other` has room for
// count pairs. Starts that crowd into a few buckets would make the insertion quadratic: past a
// budget of moves it stops, and the radix sort finishes from where it is.
void BucketSortByStart(Pair* pairs, size_t count, unsigned unit_shift, uint64_t lo, uint64_t hi, uint64_t max_unit,
                       Pair* other) {
  const unsigned span_bits = 64 - static_cast<unsigned>(__builtin_clzll((hi - lo) | 1));
  const unsigned want_bits = 64 - static_cast<unsigned>(__builtin_clzll(4 * count - 1));  // 4 * count <= 4096
  const unsigned shift = span_bits > want_bits ? span_bits - want_bits : 0;
  const size_t buckets = static_cast<size_t>((hi - lo) >> shift) + 1;
  uint32_t at[4 * kBucketMaxPairs + 1];
  memset(at, 0, (buckets + 1) * sizeof at[0]);
  auto bucket = [=](const Pair& p) { return static_cast<size_t>(((static_cast<uint64_t>(p.offset) >> unit_shift) - lo) >> shift); };
  for (size_t i = 0; i < count; i++) at[bucket(pairs[i]) + 1]++;
  for (size_t b = 1; b <= buckets; b++) at[b] += at[b - 1];
  for (size_t i = 0; i < count; i++) other[at[bucket(pairs[i])]++] = pairs[i];
  size_t budget = 4 * count;
  for (size_t i = 1; i < count; i++) {
    const Pair moving = other[i];
    size_t j = i;
    for (; j > 0 && other[j - 1].offset > moving.offset; j--) {
      if (budget-- == 0) {
        other[j] = moving;  // a permutation again, not yet sorted
        RadixSortByStart(other, count, unit_shift, max_unit, pairs);
        memcpy(pairs, other, count * sizeof(Pair));
        return;
      }
      other[j] = other[j - 1];
    }
    other[j] = moving;
  }
  memcpy(pairs, other, count * sizeof(Pair));
}

// The unordered case: align every (validated) pair in place and sort by start.
void AlignAndSort(Pair* pairs, size_t count, uint64_t unit, uint64_t limit) {
  const unsigned unit_shift = static_cast<unsigned>(__builtin_ctzll(unit));
  uint64_t off = 0, len = 0, lo = UINT64_MAX, hi = 0;
  for (size_t i = 0; i < count; i++) {
    ValidPair(pairs[i], limit, &off, &len);
    uint64_t start = off & ~(unit - 1);
    uint64_t stop = len == 0 ? start : (off + len + unit - 1) & ~(unit - 1);
    pairs[i] = Pair{AsDouble(start), AsDouble(stop - start)};
    lo = std::min(lo, start >> unit_shift);
    hi = std::max(hi, start >> unit_shift);
  }
  Pair* other = count >= kBucketMinPairs ? SortScratch(count) : nullptr;
  if (other != nullptr && count <= kBucketMaxPairs) {
    BucketSortByStart(pairs, count, unit_shift, lo, hi, limit / unit, other);
  } else if (other != nullptr && count >= kRadixMinPairs) {
    RadixSortByStart(pairs, count, unit_shift, limit / unit, other);
  } else {
    std::sort(pairs, pairs + count, [](const Pair& a, const Pair& b) { return a.offset < b.offset; });
  }
}

inline uint64_t Limit(uint64_t length, uint64_t unit) { return (length + unit - 1) & ~(unit - 1); }

}  // namespace

int64_t MappingCore::Coalesce(double* raw, size_t count) const {
  return CoalesceWithin(raw, count, Limit(length_, flush_unit_));
}

// `valid` bounds the pairs as given; the aligned runs made from them may reach the next flush unit.
int64_t MappingCore::CoalesceWithin(double* raw, size_t count, uint64_t valid) const {
  // Cold (a full dirty list, or the page and byte tiers): validate everything first so that a
  // failure changes nothing, then sort if needed and merge in place.
  Pair* pairs = reinterpret_cast<Pair*>(raw);
  const uint64_t unit = flush_unit_;
  const uint64_t limit = Limit(length_, unit);
  bool in_order = false;
  if (!Scan(pairs, 0, count, unit, valid, &in_order)) return -EINVAL;
  if (!in_order) AlignAndSort(pairs, count, unit, limit);
  return static_cast<int64_t>(MergePass<true>(pairs, count, unit, limit, [](uint64_t, uint64_t) {}).merged);
}

int64_t MappingCore::PersistExtentsUnguarded(double* raw, size_t count) {
  // persistDirty's pairs were checked by markDirty, then perhaps coalesced to whole flush units.
  return PersistPairs(raw, count, Limit(length_, flush_unit_));
}

int64_t MappingCore::PersistRangesUnguarded(const double* ranges, size_t count, double* scratch) {
  memmove(scratch, ranges, count * sizeof(Pair));  // ranges may be a view of this mapping
  return PersistPairs(scratch, count, length_);
}

int64_t MappingCore::PersistPairs(double* raw, size_t count, uint64_t valid) {
  Pair* pairs = reinterpret_cast<Pair*>(raw);
  const uint64_t unit = flush_unit_;
  const uint64_t limit = Limit(length_, unit);
  const FlushOps& ops = Ops();
  PassResult r{PassEnd::kDone, 0, 0, 0};
  if (granularity_ == Granularity::kCacheline && ops.flush_runs != nullptr) {
    // Hot path, one read-only pass with the line flush inlined, each run flushed as it closes.
    // Storing the runs back cost ~1.5 ns a pair on top (measured in C): those stores do not hide
    // behind the write-backs the way the arithmetic does.
    r = ops.flush_runs(pairs, count, unit, valid, addr_, touch_last_);
    if (r.end == PassEnd::kUnordered) {
      // Rare: sort, then flush everything (the runs already flushed again: harmless).
      bool in_order;
      if (!Scan(pairs, r.stopped, count, unit, valid, &in_order)) return -EINVAL;
      AlignAndSort(pairs, count, unit, limit);
      r = ops.flush_runs(pairs, count, unit, limit, addr_, touch_last_);
    }
    if (r.end != PassEnd::kDone) return -EINVAL;  // nothing was rewritten
  } else {
    int64_t merged = CoalesceWithin(raw, count, valid);
    if (merged < 0) return merged;
    r.merged = static_cast<size_t>(merged);
    for (size_t i = 0; i < r.merged; i++) {
      const Pair& run = pairs[i];
      r.bytes += static_cast<uint64_t>(run.length);
      int rc = flush_(addr_ + static_cast<uint64_t>(run.offset), static_cast<uint64_t>(run.length));
      if (rc != 0) return rc;
    }
  }
  if (r.merged == 0) return 0;
  Drain();
  pairs[0] = Pair{AsDouble(r.merged), AsDouble(r.bytes)};  // the caller's result, see mapping.h
  return static_cast<int64_t>(r.merged);
}

}  // namespace pmem
