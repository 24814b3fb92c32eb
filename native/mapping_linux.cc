#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu.h"
#include "linux_compat.h"
#include "mapping.h"
#include "persist.h"
#include "quarantine.h"

// Raw block-device DAX query from Linux 4.5-4.6; an unknown command on current kernels.
#define PMEM_BLKDAXGET _IO(0x12, 129)

namespace pmem {

const char* GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kByte: return "byte";
    case Granularity::kCacheline: return "cacheline";
    case Granularity::kPage: return "page";
  }
  return "page";
}

const char* MappingCore::KindName() const {
  switch (src_.kind) {
    case SourceKind::kFile: return map_sync_ || src_.statx_dax ? "fsdax" : "file";
    case SourceKind::kDirectory: return "directory";  // never mapped: OpenSource refuses directories
    case SourceKind::kBlock: return "block";
    case SourceKind::kDevDax: return "devdax";
  }
  return "file";
}

namespace {

std::string ErrnoText(int err) { return std::string(KernelErrnoName(err)); }

// mmap with the start address aligned to `align` (device-dax needs 2 MiB or 1 GiB): reserve
// len + align of address space, then map the source over its aligned part.
void* MapAligned(uint64_t len, uint64_t align, int prot, int flags, int fd, uint64_t off,
                 char** reservation, uint64_t* reservation_len) {
  if (align <= PageSize()) {
    void* p = mmap(nullptr, len, prot, flags, fd, static_cast<off_t>(off));
    if (p == MAP_FAILED) return MAP_FAILED;
    *reservation = static_cast<char*>(p);
    *reservation_len = len;
    return p;
  }
  uint64_t total = len + align;
  if (total < len) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  void* r = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) return MAP_FAILED;
  uintptr_t base = reinterpret_cast<uintptr_t>(r);
  uintptr_t aligned = (base + align - 1) & ~(uintptr_t)(align - 1);
  void* p = mmap(reinterpret_cast<void*>(aligned), len, prot, flags | MAP_FIXED, fd, static_cast<off_t>(off));
  if (p == MAP_FAILED) {
    int err = errno;
    munmap(r, total);
    errno = err;
    return MAP_FAILED;
  }
  // Give back the slack on both sides.
  if (aligned > base) munmap(r, aligned - base);
  uintptr_t end = aligned + len, rend = base + total;
  if (rend > end) munmap(reinterpret_cast<void*>(end), rend - end);
  *reservation = static_cast<char*>(p);
  *reservation_len = len;
  return p;
}

bool ValidateWindow(const Source& src, const MapOptions& o, uint64_t* length, Failure* f) {
  const std::string& path = src.path;
  if (o.offset % src.alignment != 0)
    return PmemFail(f, PmemCode::kUnaligned, path,
                    "offset " + std::to_string(o.offset) + " is not a multiple of the required alignment " +
                        std::to_string(src.alignment) + " of '" + path + "'");
  if (o.offset > src.size)
    return PmemFail(f, PmemCode::kOutOfRange, path,
                    "offset " + std::to_string(o.offset) + " is beyond the end of '" + path + "' (" +
                        std::to_string(src.size) + " bytes)");
  uint64_t avail = src.size - o.offset;
  uint64_t len = o.length < 0 ? avail : static_cast<uint64_t>(o.length);
  if (len > avail)
    return PmemFail(f, PmemCode::kOutOfRange, path,
                    "window offset " + std::to_string(o.offset) + " + length " + std::to_string(len) +
                        " is beyond the end of '" + path + "' (" + std::to_string(src.size) + " bytes)");
  if (len == 0 && src.size == 0 && (src.fs_magic == PROC_SUPER_MAGIC || src.fs_magic == SYSFS_MAGIC))
    return PmemFail(f, PmemCode::kUnsupported, path,
                    "'" + path + "' is on " + (src.fs_magic == PROC_SUPER_MAGIC ? "procfs" : "sysfs") +
                        ": its contents are made when read and cannot be mapped (it reports 0 bytes); "
                        "read it with fs.readFileSync instead");
  if (len == 0)
    return PmemFail(f, PmemCode::kEmpty, path,
                    "nothing to map: '" + path + "' has " + std::to_string(src.size) +
                        " bytes and the window is empty (create it with a size, or pass length)");
  if (src.kind == SourceKind::kDevDax && len % src.alignment != 0)
    return PmemFail(f, PmemCode::kUnaligned, path,
                    "device-dax length " + std::to_string(len) + " is not a multiple of its align " +
                        std::to_string(src.alignment));
  *length = len;
  return true;
}

}  // namespace

TierDecision FileTier(int map_sync_errno, bool statx_dax) {
  TierDecision d;
  if (map_sync_errno == 0) {
    d.map_sync = true;
    d.granularity = Granularity::kCacheline;
    d.reason = "MAP_SYNC accepted: the filesystem keeps metadata of faulted blocks durable";
  } else if (statx_dax) {
    d.reason = "DAX file but MAP_SYNC refused (" + ErrnoText(map_sync_errno) +
               "): metadata may need fsync, so persist() calls msync";
  } else {
    d.reason = "page cache: MAP_SYNC refused (" + ErrnoText(map_sync_errno) + "), persist() calls msync";
  }
  return d;
}

TierDecision BlockTier(int fd) {
  TierDecision d;
  int dax = 0;
  if (ioctl(fd, PMEM_BLKDAXGET, &dax) != 0) {
    d.reason = "raw block device: kernel has no block-device DAX (BLKDAXGET: " + ErrnoText(errno) +
               "), page cache, persist() calls msync";
  } else if (dax == 1) {
    // Only a 4.5/4.6 kernel answers this way; its raw-DAX mapping needs cache flushes only.
    d.granularity = Granularity::kCacheline;
    d.reason = "raw block device with DAX (BLKDAXGET: 1)";
  } else {
    d.reason = "raw block device without DAX (BLKDAXGET: 0): page cache, persist() calls msync";
  }
  return d;
}

TierDecision DevDaxTier() {
  TierDecision d;
  d.granularity = Granularity::kCacheline;
  d.reason = "device-dax: stores go straight to the media, CPU cache flushes suffice";
  return d;
}

std::string AsyncDevDaxRefusal(const RegionInfo& region) {
  return "device-dax on " + region.name + " (provider " + region.provider +
         ") has an asynchronous flush: the kernel accepts MAP_SYNC but only fsync/msync make data durable, "
         "and device-dax has neither; refusing a writable mapping (force a granularity to override, for testing)";
}

std::string DevDaxPageRefusal(const Source& src) {
  return "granularity 'page' cannot work on device-dax '" + src.path +
         "': at the page tier persist() calls msync, and device-dax has no msync (EINVAL); its stores reach " +
         (src.region.found ? src.region.name : std::string("the media")) +
         " without the page cache, so use 'cacheline' (what 'auto' detects here) or 'byte' on an eADR platform";
}

void RefineTier(const RegionInfo& region, TierDecision* d, bool devdax) {
  // A virtio-pmem region flushes asynchronously: nothing finer than page, whatever mmap said.
  if (region.async_flush && d->granularity != Granularity::kPage) {
    d->granularity = Granularity::kPage;
    d->reason += "; but region " + region.name + " is virtio-pmem (asynchronous flush): page tier, msync";
  }
  // Without cache-flush instructions cacheline persistence cannot be honoured here.
  if (d->granularity == Granularity::kCacheline && Ops().flush == nullptr) {
    d->granularity = Granularity::kPage;
    d->reason += "; but this CPU architecture has no cache flush routine here: page tier, msync";
  }
  // A flush that stops at the point of coherency (aarch64 without DC CVAP) does not make stores
  // durable: leave it to msync, whose kernel flush knows the platform. Device-dax has no msync;
  // there the clean is all there is, and the reason says so.
  const FlushOps& ops = Ops();
  if (d->granularity == Granularity::kCacheline && ops.flush != nullptr && !ops.flush_persistent) {
    if (devdax) {
      d->reason += std::string("; but ") + ops.flush_note + ": stores are durable only if this platform's point of coherency is persistent";
    } else {
      d->granularity = Granularity::kPage;
      d->reason += std::string("; but ") + ops.flush_note + ", which does not reach persistent memory: page tier, msync";
    }
  }
  // A CXL region: the memory controller (the device) is the persistence domain, whatever mmap said.
  if (region.cxl.found && d->granularity == Granularity::kCacheline && region.persistence_domain != "cpu_cache")
    d->reason += "; " + region.name + " is CXL region " + region.cxl.name + " (" + std::to_string(region.cxl.memdevs.size()) +
                 " memdev(s), " + std::to_string(region.cxl.interleave_ways) + "-way interleave), whose persistence domain is " +
                 (region.persistence_domain.empty() ? std::string("not stated (assumed memory_controller)") : region.persistence_domain) +
                 ": stores are durable once flushed from the CPU caches (clwb) and fenced (sfence)";
  // eADR: the region itself says CPU caches are in the persistence domain.
  if (d->granularity == Granularity::kCacheline && region.persistence_domain == "cpu_cache") {
    d->granularity = Granularity::kByte;
    d->reason += "; " + region.name + " persistence_domain is cpu_cache (eADR): a fence suffices";
  }
}

// Whether [off, off + len) of the file may hold a hole. tmpfs counts exactly the pages it holds
// (and walks them all for SEEK_HOLE): a file whose blocks cover its size has none. Elsewhere
// SEEK_HOLE finds the first hole at or after off (the end of the file counts as one). When
// neither can say, assume a hole.
static bool WindowHasHole(const Source& src, uint64_t off, uint64_t len) {
  struct stat st;
  if (fstat(src.fd, &st) != 0) return true;
  const uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  if (src.fs_magic == TMPFS_MAGIC) return allocated < static_cast<uint64_t>(st.st_size);
  off_t hole = lseek(src.fd, static_cast<off_t>(off), SEEK_HOLE);
  if (hole < 0) return true;
  return static_cast<uint64_t>(hole) < off + len;
}

bool MapSource(Source* src, const MapOptions& o, std::shared_ptr<MappingCore>* out, Failure* f) {
  const std::string& path = src->path;
  // Before the first mapping exists: node-pmem's calls rely on it to survive a SIGBUS in one.
  int guard_err = InstallSigbusHandler();
  if (guard_err != 0) {
    SysFail(f, -guard_err, "sigaction", path, "cannot install the SIGBUS handler that guards node-pmem's calls");
    AbandonSource(src);
    return false;
  }
  uint64_t length = 0;
  if (!ValidateWindow(*src, o, &length, f)) {
    AbandonSource(src);
    return false;
  }
  const bool read_only = (fcntl(src->fd, F_GETFL) & O_ACCMODE) == O_RDONLY;
  const RegionInfo& region = src->region;

  // Allocate blocks up front so a store into a hole cannot SIGBUS on a full filesystem; a window
  // with no hole has them already (posix_fallocate would still walk every block: slow on tmpfs).
  if (src->kind == SourceKind::kFile && !read_only && !o.sparse && WindowHasHole(*src, o.offset, length)) {
    int err = posix_fallocate(src->fd, static_cast<off_t>(o.offset), static_cast<off_t>(length));
    if (err != 0) {
      SysFail(f, err, "posix_fallocate", path,
              err == ENOSPC ? "not enough space to allocate the mapping up front; pass sparse: true to skip" : "");
      AbandonSource(src);
      return false;
    }
  }

  char* reservation = nullptr;
  uint64_t reservation_len = 0;
  void* addr = MAP_FAILED;
  TierDecision d;
  const int prot = PROT_READ | PROT_WRITE;

  if (read_only) {
    // Private copy-on-write: a store through a view changes only this process's copy. NORESERVE:
    // without it the kernel reserves memory for a private copy of the whole window up front and
    // refuses windows larger than the commit limit (ENOMEM), though almost none is ever copied.
    addr = MapAligned(length, src->alignment, prot, MAP_PRIVATE | MAP_NORESERVE, src->fd, o.offset, &reservation, &reservation_len);
    if (addr == MAP_FAILED) {
      int err = errno;
      if (src->kind == SourceKind::kDevDax && err == EINVAL)
        PmemFail(f, PmemCode::kUnsupported, path,
                 "device-dax refuses private mappings, so it cannot be opened readOnly; open it writable (shared)",
                 err, "mmap");
      else
        SysFail(f, err, "mmap", path);
      AbandonSource(src);
      return false;
    }
    d.reason = "read-only private (copy-on-write) mapping: stores never reach the media, nothing to persist";
  } else if (src->kind == SourceKind::kDevDax) {
    if (o.force && o.forced == Granularity::kPage) {
      PmemFail(f, PmemCode::kTierUnavailable, path, DevDaxPageRefusal(*src));
      AbandonSource(src);
      return false;
    }
    if (region.async_flush && !o.force) {
      PmemFail(f, PmemCode::kAsyncFlush, path, AsyncDevDaxRefusal(region));
      AbandonSource(src);
      return false;
    }
    addr = MapAligned(length, src->alignment, prot, MAP_SHARED, src->fd, o.offset, &reservation, &reservation_len);
    if (addr == MAP_FAILED) {
      SysFail(f, errno, "mmap", path);
      AbandonSource(src);
      return false;
    }
    d = DevDaxTier();
  } else if (src->kind == SourceKind::kFile) {
    addr = MapAligned(length, src->alignment, prot, MAP_SHARED_VALIDATE | MAP_SYNC, src->fd, o.offset,
                      &reservation, &reservation_len);
    if (addr != MAP_FAILED) {
      d = FileTier(0, src->statx_dax);
    } else if (errno == EOPNOTSUPP || errno == EINVAL) {
      d = FileTier(errno, src->statx_dax);
      addr = MapAligned(length, src->alignment, prot, MAP_SHARED, src->fd, o.offset, &reservation, &reservation_len);
      if (addr == MAP_FAILED) {
        SysFail(f, errno, "mmap", path);
        AbandonSource(src);
        return false;
      }
    } else {
      SysFail(f, errno, "mmap", path);
      AbandonSource(src);
      return false;
    }
  } else {
    // Raw block device: current kernels have no block-device DAX; the mapping uses the page cache.
    d = BlockTier(src->fd);
    addr = MapAligned(length, src->alignment, prot, MAP_SHARED, src->fd, o.offset, &reservation, &reservation_len);
    if (addr == MAP_FAILED) {
      SysFail(f, errno, "mmap", path);
      AbandonSource(src);
      return false;
    }
  }

  if (!read_only) RefineTier(region, &d, src->kind == SourceKind::kDevDax);

  auto core = std::shared_ptr<MappingCore>(new MappingCore());
  core->addr_ = static_cast<char*>(addr);
  core->reservation_ = reservation;
  core->reservation_len_ = reservation_len;
  core->length_ = length;
  core->offset_ = o.offset;
  core->src_ = *src;
  core->detected_ = d.granularity;
  core->map_sync_ = d.map_sync;
  core->read_only_ = read_only;
  if (o.force) {
    core->granularity_ = o.forced;
    core->forced_ = true;
    core->reason_ = std::string("forced by option (detected: ") + GranularityName(d.granularity) + ", " + d.reason + ")";
    const FlushOps& ops = Ops();
    if (o.forced == Granularity::kCacheline && ops.flush != nullptr && !ops.flush_persistent)
      core->reason_ += std::string("; ") + ops.flush_note + ": the forced cacheline tier cleans with it, which does not reach persistent memory";
  } else {
    core->granularity_ = d.granularity;
    core->reason_ = d.reason;
  }
  core->flush_unit_ = core->granularity_ == Granularity::kPage ? PageSize() : kCacheLine;
  const TierRoutines routines = ChooseRoutines(core->granularity_);
  core->flush_ = routines.flush;
  core->persist_ = routines.persist;
  core->touch_last_ = routines.touch_last;
  src->fd = -1;  // owned by the core now
  *out = std::move(core);
  return true;
}

MappingCore::~MappingCore() { Unmap(); }

int MappingCore::SigbusStatus() const {
  uint64_t size = 0;
  // Without the size the cause cannot be told: the fault itself is reported, as EIO.
  if (CurrentSize(src_, &size) != 0) return -EIO;
  return size < offset_ + length_ ? kStatusTruncated : -EIO;
}

void MappingCore::Unpin() {
  if (pins_ > 0) pins_--;
  if (pins_ == 0 && closing_) Unmap();
}

void MappingCore::RequestClose() {
  closing_ = true;
  if (pins_ == 0) Unmap();
}

void MappingCore::Unmap() {
  std::lock_guard<std::mutex> lock(work_mutex_);
  if (addr_ == nullptr) return;
  RetireRange(reservation_, reservation_len_);
  addr_ = nullptr;
  reservation_ = nullptr;
  CloseSource(&src_);
  closing_ = true;
}

}  // namespace pmem
