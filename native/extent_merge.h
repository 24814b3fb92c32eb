// The merge at the heart of extent-based flush, as a template so that each architecture's flush
// routine can instantiate it with its cache-line instruction inlined (arch/*/cpu.cc); extent.cc
// holds the rest (sorting, the cold paths). Pairs are (offset, length) doubles, as JS stores them.
#pragma once
#include <stddef.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "sigbus_guard.h"

namespace pmem::extents {

struct Pair {
  double offset;
  double length;
};
static_assert(sizeof(Pair) == 2 * sizeof(double), "pairs are packed doubles");

// A non-negative integer, converted; the caller bounds it (below 2^53: every limit is a mapping
// length). Rejects NaN, negatives and fractions.
inline bool ToIndex(double v, uint64_t* out) {
#if defined(__x86_64__)
  // cvttsd2si turns NaN and out-of-range values into INT64_MIN, so one sign test covers them.
  int64_t i = _mm_cvttsd_si64(_mm_set_sd(v));
  *out = static_cast<uint64_t>(i);
  return i >= 0 && static_cast<double>(i) == v;
#else
  if (!(v >= 0 && v < 9223372036854775808.0)) return false;  // also rejects NaN
  int64_t i = static_cast<int64_t>(v);
  *out = static_cast<uint64_t>(i);
  return static_cast<double>(i) == v;
#endif
}
inline double AsDouble(uint64_t v) { return static_cast<double>(static_cast<int64_t>(v)); }

// Pairs may end past the mapping's length within its last flush unit (a unit never exceeds a
// page, and that page is mapped), so already-coalesced input stays valid.
inline bool ValidPair(const Pair& p, uint64_t limit, uint64_t* off, uint64_t* len) {
  return ToIndex(p.offset, off) && ToIndex(p.length, len) && *off <= limit && *len <= limit - *off;
}

enum class PassEnd { kDone, kInvalid, kUnordered };

struct PassResult {
  PassEnd end;
  size_t merged;    // runs
  size_t stopped;   // index of the pair that ended the pass early
  uint64_t bytes;   // covered by the runs
};

// Validate, align and merge overlapping or touching ranges; `on_run` sees each run once, as it
// closes. A pair may start anywhere at or after the current run's start (each run then ends before
// the next one starts); one that starts before it ends the pass with kUnordered, an invalid pair
// with kInvalid, and the runs reported so far are then incomplete. kWriteBack stores the runs as
// (start, length) pairs in place (run k goes to pair k, never past the pair being read); without
// it the pairs are only read, so an early end leaves them as they were.
template <bool kWriteBack, typename OnRun>
PassResult MergePass(Pair* pairs, size_t count, uint64_t unit, uint64_t limit, OnRun on_run) {
  size_t out = 0;
  uint64_t run_start = 0, run_end = 0, bytes = 0;
  size_t i = 0;
  for (; i < count; i++) {
    uint64_t off, len;
    if (!ValidPair(pairs[i], limit, &off, &len)) return PassResult{PassEnd::kInvalid, out, i, bytes};
    if (len == 0) continue;
    uint64_t start = off & ~(unit - 1);
    uint64_t stop = (off + len + unit - 1) & ~(unit - 1);
    if (out > 0) {
      if (start < run_start) return PassResult{PassEnd::kUnordered, out, i, bytes};
      if (start <= run_end) {
        if (stop > run_end) run_end = stop;
        continue;
      }
      if (kWriteBack) pairs[out - 1] = Pair{AsDouble(run_start), AsDouble(run_end - run_start)};
      on_run(run_start, run_end - run_start);
      bytes += run_end - run_start;
    }
    run_start = start;
    run_end = stop;
    out++;
  }
  if (out > 0) {
    if (kWriteBack) pairs[out - 1] = Pair{AsDouble(run_start), AsDouble(run_end - run_start)};
    on_run(run_start, run_end - run_start);
    bytes += run_end - run_start;
  }
  return PassResult{PassEnd::kDone, out, count, bytes};
}

// The hot path of persistExtents without its fence: every run goes to Line, an architecture's
// cache-line flush loop, inlined here (an indirect call per run cost ~25 instructions of spills).
// With touch_last, a load of the last run's last byte makes a truncated mapping fault under the
// SIGBUS guard where the flush instruction does not (an emulator running it without a page walk;
// see flush_probe_linux.cc). One load is enough: truncation cuts a suffix, and runs close in offset
// order, so when any run's page is gone the last run's is. A load per run instead waits for each
// line the flush loop evicts to come back.
template <void (*Line)(const void*, size_t)>
PMEM_GUARDED_BODY PassResult FlushRuns(Pair* pairs, size_t count, uint64_t unit, uint64_t limit, char* base, bool touch_last) {
  uint64_t last_end = 0;
  PassResult r = MergePass<false>(pairs, count, unit, limit, [base, &last_end](uint64_t off, uint64_t len) {
    Line(base + off, len);
    last_end = off + len;
  });
  if (touch_last && last_end != 0) (void)*static_cast<const volatile char*>(base + last_end - 1);
  return r;
}

}  // namespace pmem::extents
