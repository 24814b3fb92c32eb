// aarch64 cache maintenance by line: DC CVADP (clean to the point of deep persistence, ARMv8.5),
// DC CVAP (to the point of persistence, ARMv8.2) and DC CVAC (to the point of coherency, ARMv8.0),
// written as their SYS aliases so that no -march flag is needed to assemble them, and the DSB that
// completes them.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "flush_lines.h"

namespace pmem::arm64 {

// The smallest data cache line (CTR_EL0.DminLine), set once before any flush runs.
extern size_t g_line;

inline void CleanCvadp(uintptr_t p) { asm volatile("sys #3, c7, c13, #1, %0" ::"r"(p) : "memory"); }
inline void CleanCvap(uintptr_t p) { asm volatile("sys #3, c7, c12, #1, %0" ::"r"(p) : "memory"); }
inline void CleanCvac(uintptr_t p) { asm volatile("sys #3, c7, c10, #1, %0" ::"r"(p) : "memory"); }

template <void (*Clean)(uintptr_t)>
inline void Flush(const void* addr, size_t len) {
  ForEachLine(reinterpret_cast<uintptr_t>(addr), len, g_line, Clean);
}

// The fence after the cleans. The architecture (Arm ARM, "Ordering and completion of data and
// instruction cache instructions") orders a DC clean against later loads and stores with a DMB,
// but guarantees its completion - the line written to the point of persistence - only once a DSB
// that follows it has completed. persist() promises durability when it returns (the caller may
// next tell another machine, or a device, that the data is safe), so a DMB is not enough: DSB.
// SY rather than ISH: the point of persistence lies outside the inner-shareable domain, as in
// Linux's dcache_clean_pop. (libpmem2 uses DMB ISHST, which orders but does not wait.)
inline void DsbSy() { asm volatile("dsb sy" ::: "memory"); }

}  // namespace pmem::arm64
