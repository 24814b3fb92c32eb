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
void TouchLast(const MappingCore* m, uint64_t off, uint64_t len) {
  if (len != 0) (void)*static_cast<const volatile char*>(m->addr() + off + len - 1);
}

// The flushes fault on a page that is gone on hardware (FlushFaultsOnMissingPage): a truncation
// is seen without a load of the range.
PMEM_GUARDED_BODY int FlushLines(MappingCore* m, uint64_t off, uint64_t len) {
  if (len != 0) Ops().flush(m->addr() + off, len);
  return 0;
}

// An emulator may run them without a page walk (QEMU's TCG does): the load of the last byte makes
// the truncation seen there too.
PMEM_GUARDED_BODY int FlushLinesTouching(MappingCore* m, uint64_t off, uint64_t len) {
  if (len == 0) return 0;
  TouchLast(m, off, len);
  Ops().flush(m->addr() + off, len);
  return 0;
}

// Byte tier: the caches are persistent, the fence alone persists.
PMEM_GUARDED_BODY int FlushNothing(MappingCore* m, uint64_t off, uint64_t len) {
  TouchLast(m, off, len);
  return 0;
}

bool Overlaps(const char* a, const char* b, uint64_t len) {
  return (a < b + len) && (b < a + len);
}

}  // namespace

int MappingCore::MsyncRange(MappingCore* m, uint64_t off, uint64_t len) {
  if (len == 0) return 0;
  uint64_t page = PageSize();
  uint64_t start = off & ~(page - 1);
  uint64_t end = off + len;
  if (msync(m->addr() + start, end - start, MS_SYNC) != 0) return -errno;
  TouchLast(m, off, len);
  return 0;
}

PersistFn ChooseFlush(Granularity g) {
  switch (g) {
    case Granularity::kCacheline:
      if (Ops().flush == nullptr) return MappingCore::MsyncRange;
      return FlushFaultsOnMissingPage() ? FlushLines : FlushLinesTouching;
    case Granularity::kByte: return FlushNothing;
    case Granularity::kPage: return MappingCore::MsyncRange;
  }
  return MappingCore::MsyncRange;
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
    return FlushAndDrain(off, len);
  }
  uint64_t head = (kCacheLine - (reinterpret_cast<uintptr_t>(dst) & (kCacheLine - 1))) & (kCacheLine - 1);
  uint64_t middle = (len - head) & ~(uint64_t)(kCacheLine - 1);
  uint64_t tail = len - head - middle;
  if (head != 0) {
    memcpy(dst, src, head);
    flush_(this, off, head);
  }
  ops.nt_copy(dst + head, src + head, middle);
  if (tail != 0) {
    memcpy(dst + head + middle, src + head + middle, tail);
    flush_(this, off + head + middle, tail);
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
    return FlushAndDrain(off, len);
  }
  uint64_t head = (kCacheLine - (reinterpret_cast<uintptr_t>(dst) & (kCacheLine - 1))) & (kCacheLine - 1);
  uint64_t middle = (len - head) & ~(uint64_t)(kCacheLine - 1);
  uint64_t tail = len - head - middle;
  if (head != 0) {
    memset(dst, byte, head);
    flush_(this, off, head);
  }
  ops.nt_fill(dst + head, byte, middle);
  if (tail != 0) {
    memset(dst + head + middle, byte, tail);
    flush_(this, off + head + middle, tail);
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
