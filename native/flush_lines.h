// The line walk of a cache flush, for architectures whose line size is known only at run time
// (aarch64 reads it from CTR_EL0: 32, 64, 128 or 256 bytes). Kept apart from the instructions so
// that flushPlan() can report exactly which lines a flush of a range touches, for the tests.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace pmem {

// Calls op(line start) for every line of `line` bytes (a power of two) that [addr, addr + len) touches.
template <typename Op>
inline void ForEachLine(uintptr_t addr, size_t len, size_t line, Op op) {
  if (len == 0) return;  // else an unaligned addr would still clean the line it is in
  const uintptr_t end = addr + len;
  for (uintptr_t p = addr & ~static_cast<uintptr_t>(line - 1); p < end; p += line) op(p);
}

}  // namespace pmem
