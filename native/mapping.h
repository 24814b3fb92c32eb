// A live mapping of a Source: the address range, its durability tier, and its teardown.
// Plain C++ (no N-API): mapping_wrap.cc exposes it to JS, flush_worker.cc uses it off-thread.
#pragma once
#include <stdint.h>

#include <memory>
#include <mutex>
#include <string>

#include "cpu.h"
#include "sigbus_guard.h"
#include "source.h"
#include "status.h"

namespace pmem {

enum class Granularity { kByte = 0, kCacheline = 1, kPage = 2 };
const char* GranularityName(Granularity g);

struct MapOptions {
  uint64_t offset = 0;
  int64_t length = -1;  // -1: to the end of the source
  bool sparse = false;
  bool force = false;   // granularity forced by the caller
  Granularity forced = Granularity::kPage;
};

// A flush, or a flush and fence, of [addr, addr + len) inside a mapping at its tier (persist.cc):
// 0 or -errno. A PMEM_GUARDED_BODY, chosen once per mapping.
using RangeFn = int (*)(char* addr, size_t len);

class MappingCore {
 public:
  ~MappingCore();

  // Tier and description, fixed at creation.
  char* addr() const { return addr_; }
  uint64_t length() const { return length_; }
  uint64_t offset() const { return offset_; }
  const Source& source() const { return src_; }
  Granularity granularity() const { return granularity_; }
  Granularity detected() const { return detected_; }
  const std::string& reason() const { return reason_; }
  bool forced() const { return forced_; }
  bool map_sync() const { return map_sync_; }
  bool read_only() const { return read_only_; }
  uint64_t flush_unit() const { return flush_unit_; }
  const char* KindName() const;

  // Hot paths: return 0 or -errno, or kStatusTruncated (status.h). Callers have checked bounds
  // (see InRange). Every access they make to the mapping runs under the SIGBUS guard
  // (sigbus_guard.h), so a page gone under it is an error, not the end of the process.
  // Inline, so the guard's try lands in the caller's frame and costs no call level of its own.
  int Flush(uint64_t off, uint64_t len) { return Guard([&] { return flush_(addr_ + off, len); }); }
  int Drain() {
    if (granularity_ != Granularity::kPage) Ops().fence();
    return 0;
  }
  int Persist(uint64_t off, uint64_t len) { return Guard([&] { return persist_(addr_ + off, len); }); }
  int Copy(uint64_t off, const char* src, uint64_t len) {
    return len == 0 ? 0 : Guard([&] { return CopyUnguarded(off, src, len); });
  }
  // Like libpmem's memcpy_persist: temporal stores (then flush) for small copies and the unaligned
  // head and tail, non-temporal stores for the 64-byte aligned middle, one fence at the end.
  int CopyPersist(uint64_t off, const char* src, uint64_t len) {
    return len == 0 ? 0 : Guard([&] { return CopyPersistUnguarded(off, src, len); });
  }
  int Fill(uint64_t off, uint64_t len, int byte) {
    return len == 0 ? 0 : Guard([&] { return FillUnguarded(off, len, byte); });
  }
  int FillPersist(uint64_t off, uint64_t len, int byte) {
    return len == 0 ? 0 : Guard([&] { return FillPersistUnguarded(off, len, byte); });
  }
  int Read(uint64_t off, uint64_t len, char* dst) {
    return len == 0 ? 0 : Guard([&] { return ReadUnguarded(off, len, dst); });
  }
  // Copy out without dying on poisoned media (see safe_read.h): 0 or -errno (EIO).
  int ReadSafe(uint64_t off, uint64_t len, char* dst);
  // Align to flush_unit, sort and merge (offset, length) pairs in place; returns the merged count
  // or -EINVAL (nothing changed) when a pair is not a valid range of this mapping.
  int64_t Coalesce(double* pairs, size_t count) const;
  // Flush every range the pairs cover, merged to flush_unit, and fence once. Returns the number
  // of merged runs, and stores (runs, bytes covered) in the first pair, or -errno. The pairs are
  // not otherwise specified afterwards (sorted, merged or as they were), but -EINVAL changes nothing.
  int64_t PersistExtents(double* pairs, size_t count) {
    return Guard([&] { return PersistExtentsUnguarded(pairs, count); });
  }
  // persistRanges: the caller's pairs, checked against the mapping's exact length, are copied into
  // scratch (room for count pairs) and flushed from there as PersistExtents does, so theirs stay as
  // they were. Same result, in scratch's first pair.
  int64_t PersistRanges(const double* ranges, size_t count, double* scratch) {
    return Guard([&] { return PersistRangesUnguarded(ranges, count, scratch); });
  }

  bool InRange(uint64_t off, uint64_t len) const { return off <= length_ && len <= length_ - off; }

  // Lifetime. Pins are taken and dropped on the JS thread; the mutex serialises off-thread work
  // (persistAsync) against the release. Releasing never munmaps: the source's pages are replaced
  // in place by scratch memory and the address range goes to the quarantine (quarantine.h), so a
  // raw pointer still held somewhere (Node's thread pool, a transferred view) never reaches
  // another mapping or a freed page.
  bool mapped() const { return addr_ != nullptr; }
  bool closing() const { return closing_; }
  void Pin() { pins_++; }
  void Unpin();                 // drops a pin; releases if closing and it was the last one
  uint32_t pins() const { return pins_; }
  void RequestClose();          // releases now, or when the last pin drops
  void Unmap();                 // releases immediately (waits for an off-thread flush in progress)
  std::mutex& work_mutex() { return work_mutex_; }

 private:
  friend bool MapSource(Source* src, const MapOptions& opts, std::shared_ptr<MappingCore>* out, Failure* f);
  MappingCore() = default;

  // Unguarded bodies: the guarded entry points run them, and they call each other, inside one
  // guard. Every access to the mapping is in one of them (or in a flush_ / persist_ target), never
  // inline in an entry point: the rule in sigbus_guard.h.
  PMEM_GUARDED_BODY int CopyUnguarded(uint64_t off, const char* src, uint64_t len);
  PMEM_GUARDED_BODY int CopyPersistUnguarded(uint64_t off, const char* src, uint64_t len);
  PMEM_GUARDED_BODY int FillUnguarded(uint64_t off, uint64_t len, int byte);
  PMEM_GUARDED_BODY int FillPersistUnguarded(uint64_t off, uint64_t len, int byte);
  PMEM_GUARDED_BODY int ReadUnguarded(uint64_t off, uint64_t len, char* dst);
  PMEM_GUARDED_BODY int64_t PersistExtentsUnguarded(double* pairs, size_t count);
  PMEM_GUARDED_BODY int64_t PersistRangesUnguarded(const double* ranges, size_t count, double* scratch);
  // Their shared body; `valid` bounds the pairs as given (the mapping's length, or that rounded up
  // to the flush unit for pairs already coalesced).
  int64_t PersistPairs(double* pairs, size_t count, uint64_t valid);
  int64_t CoalesceWithin(double* pairs, size_t count, uint64_t valid) const;
  // body() under the SIGBUS guard, a SIGBUS reported as SigbusStatus().
  template <typename Body>
  auto Guard(const Body& body) -> decltype(body()) {
    auto rc = Guarded(body);
    return rc == kSigbus ? SigbusStatus() : rc;
  }
  // What a SIGBUS in the mapping means (cold): kStatusTruncated when the source is now shorter
  // than the window, else -EIO (poisoned media, an I/O error or a full file system paging it in).
  int SigbusStatus() const;

  char* addr_ = nullptr;
  char* reservation_ = nullptr;  // what to munmap (differs from addr_ only when over-aligned)
  uint64_t reservation_len_ = 0;
  uint64_t length_ = 0;
  uint64_t offset_ = 0;
  Source src_;
  Granularity granularity_ = Granularity::kPage;
  Granularity detected_ = Granularity::kPage;
  std::string reason_;
  bool forced_ = false;
  bool map_sync_ = false;
  bool read_only_ = false;
  uint64_t flush_unit_ = 4096;
  RangeFn flush_ = nullptr;    // flush(): the tier's write-back, no fence
  RangeFn persist_ = nullptr;  // persist(): write-back and fence (msync at page tier)
  bool touch_last_ = false;    // persistExtents loads its last byte: the flush does not fault (persist.h)
  bool closing_ = false;
  uint32_t pins_ = 0;
  std::mutex work_mutex_;
};

// A durability tier and why.
struct TierDecision {
  Granularity granularity = Granularity::kPage;
  bool map_sync = false;
  std::string reason;
};

// The tier mmap found, before the region has its say: a file mapped with MAP_SYNC accepted
// (map_sync_errno 0) or refused; a block device after BLKDAXGET; device-dax.
TierDecision FileTier(int map_sync_errno, bool statx_dax);
TierDecision BlockTier(int fd);
TierDecision DevDaxTier();
// Why granularity 'page' is refused on device-dax (it has no msync).
std::string DevDaxPageRefusal(const Source& src);
// Why a writable device-dax on an asynchronous-flush (virtio-pmem) region is refused.
std::string AsyncDevDaxRefusal(const RegionInfo& region);

// Applies what the region and the CPU say to a tier found from mmap: virtio-pmem (asynchronous
// flush) caps it at page, so does an architecture without flush routines, or one whose flush
// stops at the point of coherency (except on device-dax, which has no msync: the reason says so),
// and persistence_domain cpu_cache (eADR) lifts cacheline to byte. Decided per region, unlike
// libpmem2's system-wide check.
void RefineTier(const RegionInfo& region, TierDecision* d, bool devdax);

// Validates the window, maps it (MAP_SYNC where the kernel allows, device-dax alignment) and
// decides the tier. Takes ownership of src on success; on failure src is abandoned (files it
// created or extended are restored).
bool MapSource(Source* src, const MapOptions& opts, std::shared_ptr<MappingCore>* out, Failure* f);

}  // namespace pmem
