// CPU features and the flush / fence / non-temporal copy / checksum routines chosen once from them.
// Architecture-specific code lives in arch/<arch>/; everything else calls through FlushOps.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extent_merge.h"
#include "sigbus_guard.h"

namespace pmem {

constexpr size_t kCacheLine = 64;
// libpmem's default: copies of at least this many bytes use non-temporal stores.
constexpr size_t kNonTemporalThreshold = 256;

// What the CPU offers, in its architecture's own terms (x86-64: clwb, clflushopt, ...; aarch64:
// dcpop, dcpodp, ...): cpuInfo() reports each as a boolean property, in this order.
struct CpuFeatures {
  static constexpr size_t kMax = 12;
  struct Feature {
    const char* name;
    bool present;
  };
  Feature list[kMax] = {};
  size_t count = 0;
  void Add(const char* name, bool present) {
    if (count < kMax) list[count++] = {name, present};
  }
};

struct FlushOps {
  // Write back the cache lines covering [addr, addr+len); nullptr when the architecture has none.
  void (*flush)(const void* addr, size_t len);
  // persistExtents' merge-and-flush pass with `flush` inlined (extent_merge.h); nullptr with it.
  // touch_last: load the last run's last byte (where the flush does not fault; flush_probe_linux.cc).
  extents::PassResult (*flush_runs)(extents::Pair* pairs, size_t count, uint64_t unit, uint64_t limit, char* base,
                                    bool touch_last);
  // `flush` then `fence` in one body (FlushAndFence below): persist()'s whole work at cacheline
  // tier, one call from the guard's frame; nullptr with `flush`.
  int (*flush_fence)(char* addr, size_t len);
  // Order earlier flushes and non-temporal stores before later stores.
  void (*fence)();
  // dst 64-byte aligned, len a multiple of 64: stores that bypass the cache (need only a fence).
  void (*nt_copy)(void* dst, const void* src, size_t len);
  void (*nt_fill)(void* dst, int byte, size_t len);
  const char* flush_name;  // x86-64 "clwb" | "clflushopt" | "clflush"; aarch64 "cvadp" | "cvap" | "cvac"; or "none"
  const char* nt_name;     // "avx512f" | "avx2" | "sse2" | "none"
  bool non_temporal;       // nt_copy/nt_fill bypass the cache (else they are plain memcpy/memset)
  // CRC-32C of p[0, n) continuing from crc (the CRC of what came before, or 0): node-pmem/kv's checksum.
  uint32_t (*crc32c)(uint32_t crc, const uint8_t* p, size_t n);
  const char* crc32c_name;  // "sse4.2" | "crc32" (aarch64) | "table"
  // The step of `flush`: the smallest data cache line (CTR_EL0 on aarch64; 64 on x86-64).
  size_t line_size;
  // Whether `flush` then `fence` reaches the point of persistence (x86-64's flushes do, under ADR;
  // aarch64's DC CVAP and CVADP do, DC CVAC only reaches the point of coherency).
  bool flush_persistent;
  const char* fence_name;  // "sfence" | "dsb sy" | "seq_cst"
  // Why this flush was chosen, when it is not the obvious one (a probe that failed, a knob); or "".
  const char* flush_note;
};

// The routines built on one architecture's cache-line flush loop (Line, inlined into each):
// FlushOps::flush, and flush_fence with the fence inlined too, since at random lines each call
// level a persist() makes costs it time (bench/README.md, issue 16, session g).
template <void (*Line)(const void*, size_t)>
PMEM_GUARDED_BODY void FlushWith(const void* addr, size_t len) {
  Line(addr, len);
}

template <void (*Line)(const void*, size_t), void (*Fence)()>
PMEM_GUARDED_BODY int FlushAndFence(char* addr, size_t len) {
  if (len != 0) Line(addr, len);  // an empty range at an unaligned offset covers no line
  Fence();
  return 0;
}

// An architecture's Choose() picking Line: flush, flush_runs and flush_fence all run it.
template <void (*Line)(const void*, size_t), void (*Fence)()>
void UseFlushLoop(FlushOps* ops, const char* name) {
  ops->flush = FlushWith<Line>;
  ops->flush_runs = extents::FlushRuns<Line>;
  ops->flush_fence = FlushAndFence<Line, Fence>;
  ops->flush_name = name;
}

// Whether an environment knob (NODE_PMEM_NO_*) is set to something other than "" or "0".
inline bool KnobSet(const char* name) {
  const char* v = getenv(name);
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

// The portable CRC-32C (crc32c.cc), for CPUs without an instruction for it.
PMEM_GUARDED_BODY uint32_t Crc32cTable(uint32_t crc, const uint8_t* p, size_t n);

// Detected once (thread-safe); environment knobs force the older paths, as PMDK's PMEM_NO_*
// variables do, so tests can exercise each of them: on x86-64 NODE_PMEM_NO_CLWB,
// NODE_PMEM_NO_CLFLUSHOPT, NODE_PMEM_NO_AVX512F, NODE_PMEM_NO_AVX2, NODE_PMEM_NO_MOVNT and
// NODE_PMEM_NO_SSE42 (the CRC-32C table); on aarch64 NODE_PMEM_NO_CVADP (DC CVAP instead),
// NODE_PMEM_NO_CVAP (DC CVAC only) and NODE_PMEM_NO_CRC32 (the table).
const CpuFeatures& Cpu();
// Per architecture (arch/<arch>/cpu.cc): detects and chooses, once. noexcept, so the static
// below needs no cleanup where Ops() is inlined: a guarded body must have no exception table.
const FlushOps& ArchOps() noexcept;
// Inline, so a hot call reads the routines with a load and a test instead of a call into cpu.cc.
inline const FlushOps& Ops() {
  static const FlushOps& ops = ArchOps();
  return ops;
}
const char* ArchName();

}  // namespace pmem
