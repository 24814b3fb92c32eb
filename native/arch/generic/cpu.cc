// Architectures without a cache-flush routine here: cacheline persistence is unavailable, so
// mapping_linux.cc never detects a tier finer than page (msync) on them.
#include <string.h>

#include "cpu.h"
#include "sigbus_guard.h"

namespace pmem {
namespace {
void FenceFull() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
PMEM_GUARDED_BODY void CopyPlain(void* d, const void* s, size_t n) { memcpy(d, s, n); }
PMEM_GUARDED_BODY void FillPlain(void* d, int c, size_t n) { memset(d, c, n); }
}  // namespace

const CpuFeatures& Cpu() {
  static const CpuFeatures features;
  return features;
}

const FlushOps& ArchOps() noexcept {
  static const FlushOps ops{nullptr, nullptr, nullptr, FenceFull, CopyPlain, FillPlain, "none", "none", false, Crc32cTable, "table", kCacheLine, false, "seq_cst", ""};
  return ops;
}

const char* ArchName() { return "unknown"; }

}  // namespace pmem
