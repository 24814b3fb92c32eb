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

bool ValidNumber(double v) { return v >= 0 && v <= kMaxSafe && v == floor(v); }

}  // namespace

int64_t MappingCore::Coalesce(double* raw, size_t count) const {
  Pair* pairs = reinterpret_cast<Pair*>(raw);
  // Aligned runs may end past length_ within the last flush unit (mapped: units never exceed a
  // page), so already-coalesced input stays valid.
  const double len_limit = static_cast<double>((length_ + flush_unit_ - 1) & ~(flush_unit_ - 1));
  for (size_t i = 0; i < count; i++) {
    const Pair& p = pairs[i];
    if (!ValidNumber(p.first) || !ValidNumber(p.second) || p.first > len_limit || p.second > len_limit - p.first)
      return -EINVAL;  // checked before anything is rewritten
  }
  // Align each range to the flush unit: [start, end).
  const uint64_t unit = flush_unit_;
  for (size_t i = 0; i < count; i++) {
    uint64_t off = static_cast<uint64_t>(pairs[i].first);
    uint64_t end = off + static_cast<uint64_t>(pairs[i].second);
    uint64_t start = off & ~(unit - 1);
    uint64_t aligned_end = pairs[i].second == 0 ? start : (end + unit - 1) & ~(unit - 1);
    pairs[i].first = static_cast<double>(start);
    pairs[i].second = static_cast<double>(aligned_end);
  }
  auto by_start = [](const Pair& a, const Pair& b) { return a.first < b.first; };
  if (!std::is_sorted(pairs, pairs + count, by_start)) std::sort(pairs, pairs + count, by_start);
  size_t out = 0;
  for (size_t i = 0; i < count; i++) {
    if (pairs[i].second <= pairs[i].first) continue;  // empty
    if (out > 0 && pairs[i].first <= pairs[out - 1].second) {
      pairs[out - 1].second = std::max(pairs[out - 1].second, pairs[i].second);
    } else {
      pairs[out++] = pairs[i];
    }
  }
  for (size_t i = 0; i < out; i++) pairs[i].second -= pairs[i].first;  // back to lengths
  return static_cast<int64_t>(out);
}

int64_t MappingCore::PersistExtents(double* raw, size_t count) {
  int64_t merged = Coalesce(raw, count);
  if (merged <= 0) return merged;
  for (int64_t i = 0; i < merged; i++) {
    uint64_t off = static_cast<uint64_t>(raw[2 * i]);
    uint64_t len = static_cast<uint64_t>(raw[2 * i + 1]);
    // The aligned end may pass the mapping's length only within its last page, which is mapped.
    int rc = flush_(this, off, len);
    if (rc != 0) return rc;
  }
  Drain();
  return merged;
}

}  // namespace pmem
