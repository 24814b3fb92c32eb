// What happens to a mapping's address range when it is released. The range is never simply
// unmapped: Node's thread pool (fs.read/write, crypto, zlib) or another addon may still hold a raw
// pointer into it, and a fresh mmap (another mapping, malloc) could be handed the same addresses.
// Instead the source's pages are replaced in place (mmap MAP_FIXED) by private zero-fill scratch
// memory, so the file or device is released at once and a late access touches scratch bytes; the
// range is kept reserved in a process-wide quarantine and returned to the system (munmap) only
// when the quarantine exceeds its bounds, oldest first. Process-wide, not per environment: the
// address space is the process's.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace pmem {

struct QuarantineStats {
  uint64_t ranges = 0;    // ranges held now
  uint64_t bytes = 0;     // their total length
  uint64_t released = 0;  // ranges returned to the system so far
  uint64_t kept = 0;      // ranges whose source could not be replaced (left mapped, never reused)
  uint64_t max_ranges = 0;
  uint64_t max_bytes = 0;
};

// Replaces [addr, addr + len) with scratch memory and quarantines it. Never fails: if the kernel
// refuses the replacement (ENOMEM: no memory or no VMA left), the original mapping stays in place,
// held forever, rather than be unmapped under a pointer that may still be in use.
void RetireRange(void* addr, size_t len);

QuarantineStats GetQuarantineStats();

}  // namespace pmem
