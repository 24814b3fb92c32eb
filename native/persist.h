// The per-tier flush and persist routines, chosen once per mapping.
#pragma once
#include "mapping.h"

namespace pmem {
struct TierRoutines {
  RangeFn flush;    // write back, no fence
  RangeFn persist;  // write back and fence
  bool touch_last;  // persistExtents' flush_runs loads the last run's last byte (the flush does not fault)
};
TierRoutines ChooseRoutines(Granularity g);

// Whether the cache-line flush itself faults on a page truncated away (hardware), so that a flush
// needs no load of its range to notice a truncation; false under an emulator that flushes without
// a page walk, or when the probe could not run. Probed once (flush_probe_linux.cc).
bool FlushFaultsOnMissingPage();
}  // namespace pmem
