#include "quarantine.h"

#include <stdlib.h>
#include <sys/mman.h>

#include <deque>
#include <mutex>

namespace pmem {
namespace {

struct Range {
  void* addr;
  size_t len;
};

// Bounds: a range costs one VMA (vm.max_map_count is 65530 by default) and its address space
// (128 TiB on x86-64), nothing else until a late access writes to it. NODE_PMEM_QUARANTINE_RANGES
// and NODE_PMEM_QUARANTINE_BYTES override them (tests use small values to see the release).
constexpr uint64_t kDefaultMaxRanges = 1024;
constexpr uint64_t kDefaultMaxBytes = 16ull << 40;  // 16 TiB

uint64_t Knob(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  unsigned long long n = strtoull(v, &end, 10);
  return end != nullptr && *end == '\0' ? n : fallback;
}

struct Quarantine {
  std::mutex mutex;
  std::deque<Range> ranges;
  QuarantineStats stats;
  Quarantine() {
    stats.max_ranges = Knob("NODE_PMEM_QUARANTINE_RANGES", kDefaultMaxRanges);
    stats.max_bytes = Knob("NODE_PMEM_QUARANTINE_BYTES", kDefaultMaxBytes);
  }
};

Quarantine& TheQuarantine() {
  static Quarantine* q = new Quarantine();  // never destroyed: retires may run during exit
  return *q;
}

}  // namespace

void RetireRange(void* addr, size_t len) {
  if (addr == nullptr || len == 0) return;
  Quarantine& q = TheQuarantine();
  std::lock_guard<std::mutex> lock(q.mutex);
  void* p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    q.stats.kept++;
    return;
  }
  q.ranges.push_back({addr, len});
  q.stats.ranges++;
  q.stats.bytes += len;
  // Release the oldest while over a bound; the newest always stays.
  while (q.ranges.size() > 1 && (q.stats.ranges > q.stats.max_ranges || q.stats.bytes > q.stats.max_bytes)) {
    Range old = q.ranges.front();
    q.ranges.pop_front();
    if (munmap(old.addr, old.len) != 0) q.stats.kept++;  // still reserved: never reused
    q.stats.ranges--;
    q.stats.bytes -= old.len;
    q.stats.released++;
  }
}

QuarantineStats GetQuarantineStats() {
  Quarantine& q = TheQuarantine();
  std::lock_guard<std::mutex> lock(q.mutex);
  return q.stats;
}

}  // namespace pmem
