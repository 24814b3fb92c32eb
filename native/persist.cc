// Making bytes durable, per tier:
//   cacheline: write back the lines (clwb > clflushopt > clflush), then sfence;
//   byte:      the caches are persistent (eADR): only the fence;
//   page:      msync(MS_SYNC) of the page-aligned range (page cache, virtio-pmem).
// Each entry point runs its accesses to the mapping under the SIGBUS guard (mapping.h, Guard).
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu.h"
#include "persist.h"
#include "safe_read.h"

namespace pmem {
namespace {

// msync (the kernel returns 0 for a range past the end of the file) and a bare fence touch no
// mapped byte, so a range truncated away would pass them silently: load its last byte, which the
// SIGBUS guard turns into an error when its page is gone. Truncation cuts a suffix: when the last
// byte's page is there, so is the rest of the range.
void TouchLast(const char* addr, size_t len) {
  if (len != 0) (void)*static_cast<const volatile char*>(addr + len - 1);
}

// The flushes fault on a page that is gone on hardware (FlushFaultsOnMissingPage): a truncation
// is seen without a load of the range. persist() there is FlushOps::flush_fence, one body.
PMEM_GUARDED_BODY int FlushLines(char* addr, size_t len) {
  if (len != 0) Ops().flush(addr, len);
  return 0;
}

// An emulator may run them without a page walk (QEMU's TCG does): the load of the last byte makes
// the truncation seen there too.
PMEM_GUARDED_BODY int FlushLinesTouching(char* addr, size_t len) {
  if (len == 0) return 0;
  TouchLast(addr, len);
  Ops().flush(addr, len);
  return 0;
}

// Byte tier: the caches are persistent, the fence alone persists.
PMEM_GUARDED_BODY int FlushNothing(char* addr, size_t len) {
  TouchLast(addr, len);
  return 0;
}

// persist_ for a tier whose flush_ is Flush: it, then the fence.
template <RangeFn Flush>
PMEM_GUARDED_BODY int ThenFence(char* addr, size_t len) {
  int rc = Flush(addr, len);
  if (rc == 0) Ops().fence();
  return rc;
}

// Page tier (and cacheline without a flush instruction): msync of the pages the range is in.
PMEM_GUARDED_BODY int MsyncRange(char* addr, size_t len) {
  if (len == 0) return 0;
  uintptr_t page = PageSize();
  uintptr_t start = reinterpret_cast<uintptr_t>(addr) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(addr) + len;
  if (msync(reinterpret_cast<void*>(start), end - start, MS_SYNC) != 0) return -errno;
  TouchLast(addr, len);
  return 0;
}

bool Overlaps(const char* a, const char* b, uint64_t len) {
  return (a < b + len) && (b < a + len);
}

}  // namespace

TierRoutines ChooseRoutines(Granularity g) {
  switch (g) {
    case Granularity::kCacheline:
      if (Ops().flush == nullptr) return {MsyncRange, MsyncRange, false};
      if (FlushFaultsOnMissingPage()) return {FlushLines, Ops().flush_fence, false};
      return {FlushLinesTouching, ThenFence<FlushLinesTouching>, true};
    case Granularity::kByte: return {FlushNothing, ThenFence<FlushNothing>, false};
    case Granularity::kPage: return {MsyncRange, MsyncRange, false};
  }
  return {MsyncRange, MsyncRange, false};
}

int MappingCore::CopyUnguarded(uint64_t off, const char* src, uint64_t len) {
  memmove(addr_ + off, src, len);  // src may be a view of this mapping
  return 0;
}

int MappingCore::FillUnguarded(uint64_t off, uint64_t len, int byte) {
  memset(addr_ + off, byte, len);
  return 0;
}

int MappingCore::ReadUnguarded(uint64_t off, uint64_t len, char* dst) {
  memmove(dst, addr_ + off, len);  // dst may be a view of this mapping
  return 0;
}

int MappingCore::CopyPersistUnguarded(uint64_t off, const char* src, uint64_t len) {
  char* dst = addr_ + off;
  const FlushOps& ops = Ops();
  bool nt = granularity_ != Granularity::kPage && len >= kNonTemporalThreshold &&
            !Overlaps(dst, src, len) && ops.non_temporal;
  if (!nt) {
    memmove(dst, src, len);
    return persist_(dst, len);
  }
  uint64_t head = (kCacheLine - (reinterpret_cast<uintptr_t>(dst) & (kCacheLine - 1))) & (kCacheLine - 1);
  uint64_t middle = (len - head) & ~(uint64_t)(kCacheLine - 1);
  uint64_t tail = len - head - middle;
  if (head != 0) {
    memcpy(dst, src, head);
    flush_(dst, head);
  }
  ops.nt_copy(dst + head, src + head, middle);
  if (tail != 0) {
    memcpy(dst + head + middle, src + head + middle, tail);
    flush_(dst + head + middle, tail);
  }
  ops.fence();
  return 0;
}

int MappingCore::FillPersistUnguarded(uint64_t off, uint64_t len, int byte) {
  char* dst = addr_ + off;
  const FlushOps& ops = Ops();
  bool nt = granularity_ != Granularity::kPage && len >= kNonTemporalThreshold && ops.non_temporal;
  if (!nt) {
    memset(dst, byte, len);
    return persist_(dst, len);
  }
  uint64_t head = (kCacheLine - (reinterpret_cast<uintptr_t>(dst) & (kCacheLine - 1))) & (kCacheLine - 1);
  uint64_t middle = (len - head) & ~(uint64_t)(kCacheLine - 1);
  uint64_t tail = len - head - middle;
  if (head != 0) {
    memset(dst, byte, head);
    flush_(dst, head);
  }
  ops.nt_fill(dst + head, byte, middle);
  if (tail != 0) {
    memset(dst + head + middle, byte, tail);
    flush_(dst + head + middle, tail);
  }
  ops.fence();
  return 0;
}

int MappingCore::ReadSafe(uint64_t off, uint64_t len, char* dst) {
  if (len == 0) return 0;
  if (src_.kind == SourceKind::kDevDax || ForceGuardedCopy()) return Read(off, len, dst);
  int rc = PreadFully(src_.fd, dst, len, offset_ + off);
  // EIO is bad media or a read past the end of a file truncated under the mapping: tell which as
  // a SIGBUS in the mapping would.
  return rc == -EIO ? SigbusStatus() : rc;
}

}  // namespace pmem
