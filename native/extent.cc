// Extent-based flush: many dirty (offset, length) ranges, coalesced to the flush unit and flushed
// with a single fence. Works in place on the caller's Float64Array: no allocation.
#include <errno.h>
#include <math.h>

#include <algorithm>

#include "cpu.h"
#include "mapping.h"

namespace pmem {
namespace {

struct Pair {
  double first;   // offset, then aligned start
  double second;  // length, then aligned end (exclusive) while merging
};
static_assert(sizeof(Pair) == 2 * sizeof(double), "pairs are packed doubles");

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

// A non-negative safe integer, converted. Values are below 2^53, so the signed conversions
// (one cvttsd2si / cvtsi2sd each) are exact; the unsigned ones cost a compare and branch more.
inline bool ToIndex(double v, uint64_t* out) {
  if (!(v >= 0 && v <= kMaxSafe)) return false;  // also rejects NaN
  int64_t i = static_cast<int64_t>(v);
  *out = static_cast<uint64_t>(i);
  return static_cast<double>(i) == v;  // rejects fractions
}
inline uint64_t AsIndex(double v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }
inline double AsDouble(uint64_t v) { return static_cast<double>(static_cast<int64_t>(v)); }

// Pass 1 of both entry points: validate every pair before anything is rewritten, and find out
// whether the aligned starts are already in order (ranges marked in address order, or already
// coalesced). Returns 0 or -EINVAL.
int Scan(const Pair* pairs, size_t count, uint64_t unit, uint64_t limit, bool* sorted) {
  bool in_order = true;
  uint64_t prev_start = 0;
  for (size_t i = 0; i < count; i++) {
    uint64_t off, len;
    if (!ToIndex(pairs[i].first, &off) || !ToIndex(pairs[i].second, &len) || off > limit || len > limit - off)
      return -EINVAL;
    uint64_t start = off & ~(unit - 1);
    in_order &= start >= prev_start;
    prev_start = start;
  }
  *sorted = in_order;
  return 0;
}

// Pass 2: align, merge overlapping or touching runs and write back (start, length) pairs in place
// (out <= i: only entries already read are overwritten). `on_run` sees each merged run once.
template <typename OnRun>
size_t MergeRuns(Pair* pairs, size_t count, uint64_t unit, bool aligned, OnRun on_run) {
  size_t out = 0;
  uint64_t run_start = 0, run_end = 0;
  for (size_t i = 0; i < count; i++) {
    uint64_t start, end;
    if (!aligned) {
      uint64_t off = AsIndex(pairs[i].first), len = AsIndex(pairs[i].second);
      if (len == 0) continue;  // empty
      start = off & ~(unit - 1);
      end = (off + len + unit - 1) & ~(unit - 1);
    } else {
      start = AsIndex(pairs[i].first);
      end = AsIndex(pairs[i].second);
      if (end <= start) continue;  // empty
    }
    if (out > 0 && start <= run_end) {
      if (end > run_end) run_end = end;
      continue;
    }
    if (out > 0) {
      pairs[out - 1] = Pair{AsDouble(run_start), AsDouble(run_end - run_start)};
      on_run(run_start, run_end - run_start);
    }
    run_start = start;
    run_end = end;
    out++;
  }
  if (out > 0) {
    pairs[out - 1] = Pair{AsDouble(run_start), AsDouble(run_end - run_start)};
    on_run(run_start, run_end - run_start);
  }
  return out;
}

// Rare path of unordered input: align in place as [start, end) and sort by start.
void AlignAndSort(Pair* pairs, size_t count, uint64_t unit) {
  for (size_t i = 0; i < count; i++) {
    uint64_t off = AsIndex(pairs[i].first), len = AsIndex(pairs[i].second);
    uint64_t start = off & ~(unit - 1);
    pairs[i].first = AsDouble(start);
    pairs[i].second = AsDouble(len == 0 ? start : (off + len + unit - 1) & ~(unit - 1));
  }
  std::sort(pairs, pairs + count, [](const Pair& a, const Pair& b) { return a.first < b.first; });
}

}  // namespace

int64_t MappingCore::Coalesce(double* raw, size_t count) const {
  Pair* pairs = reinterpret_cast<Pair*>(raw);
  const uint64_t unit = flush_unit_;
  // Aligned runs may end past length_ within the last flush unit (mapped: units never exceed a
  // page), so already-coalesced input stays valid.
  const uint64_t limit = (length_ + unit - 1) & ~(unit - 1);
  bool sorted = false;
  if (int rc = Scan(pairs, count, unit, limit, &sorted)) return rc;
  if (!sorted) AlignAndSort(pairs, count, unit);
  return static_cast<int64_t>(MergeRuns(pairs, count, unit, !sorted, [](uint64_t, uint64_t) {}));
}

int64_t MappingCore::PersistExtents(double* raw, size_t count) {
  Pair* pairs = reinterpret_cast<Pair*>(raw);
  const uint64_t unit = flush_unit_;
  const uint64_t limit = (length_ + unit - 1) & ~(unit - 1);
  const FlushOps& ops = Ops();
  if (granularity_ == Granularity::kCacheline && ops.flush != nullptr) {
    // Hot path: validate, then merge and flush each run as it closes (one indirect call per run,
    // straight to the line flush loop), one fence. The aligned end may pass the mapping's length
    // only within its last page, which is mapped.
    bool sorted = false;
    if (int rc = Scan(pairs, count, unit, limit, &sorted)) return rc;
    if (!sorted) AlignAndSort(pairs, count, unit);
    auto flush_lines = ops.flush;
    char* base = addr_;
    size_t merged = MergeRuns(pairs, count, unit, !sorted, [&](uint64_t off, uint64_t len) { flush_lines(base + off, len); });
    Drain();
    return static_cast<int64_t>(merged);
  }
  int64_t merged = Coalesce(raw, count);
  if (merged <= 0) return merged;
  if (granularity_ != Granularity::kByte) {
    for (int64_t i = 0; i < merged; i++) {
      int rc = flush_(this, AsIndex(raw[2 * i]), AsIndex(raw[2 * i + 1]));
      if (rc != 0) return rc;
    }
  }
  Drain();
  return merged;
}

}  // namespace pmem
