#include "device_info.h"
#include "linux_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pmem {

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kFile: return "file";
    case SourceKind::kDirectory: return "directory";
    case SourceKind::kBlock: return "block";
    case SourceKind::kDevDax: return "devdax";
  }
  return "file";
}

namespace {

// Would MAP_SYNC be accepted? Probe with a one-page read-only shared mapping (no store, no fault).
void ProbeFileTier(int fd, DeviceFacts* out) {
  void* p = mmap(nullptr, static_cast<size_t>(PageSize()), PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
  int err = p == MAP_FAILED ? errno : 0;
  if (p != MAP_FAILED) munmap(p, static_cast<size_t>(PageSize()));
  if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
    out->tier.reason = std::string("could not probe MAP_SYNC (") + KernelErrnoName(err) + ")";
    return;
  }
  out->tier = FileTier(err, out->statx_dax);
  RefineTier(out->region, &out->tier, false);
  out->tier_known = true;
}

bool StatxDax(int fd) {
  struct statx stx;
  return statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) == 0 &&
         (stx.stx_attributes_mask & STATX_ATTR_DAX) && (stx.stx_attributes & STATX_ATTR_DAX);
}

std::string Unsupported(const std::string& path, const char* what) {
  return "'" + path + "' is not a regular file, directory, block device or device-dax (it is " + what + ")";
}

void ProbeTier(int fd, DeviceFacts* out) {
  switch (out->kind) {
    case SourceKind::kDevDax:
      if (out->region.async_flush) {
        out->open_refused = true;
        out->tier.reason = AsyncDevDaxRefusal(out->region);
      } else {
        out->tier = DevDaxTier();
        RefineTier(out->region, &out->tier, true);
        out->tier_known = true;
      }
      return;
    case SourceKind::kBlock:
      out->tier = BlockTier(fd);
      RefineTier(out->region, &out->tier, false);
      out->tier_known = true;
      return;
    case SourceKind::kFile:
      ProbeFileTier(fd, out);
      return;
    case SourceKind::kDirectory: {
      // A new file here: probe an unnamed O_TMPFILE in the directory (gone on close).
      UniqueFd tmp(openat(fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
      if (tmp.get() < 0) {
        out->tier.reason = std::string("cannot probe a new file in this directory (O_TMPFILE: ") + KernelErrnoName(errno) + ")";
        return;
      }
      bool dir_dax = out->statx_dax;
      out->statx_dax = StatxDax(tmp.get());
      ProbeFileTier(tmp.get(), out);
      out->statx_dax = dir_dax;
      if (out->tier_known) out->tier.reason = "a new file here: " + out->tier.reason;
      return;
    }
  }
}

}  // namespace

bool ProbeDevice(const std::string& path, DeviceFacts* out, Failure* f) {
  UniqueFd fd(OpenAndProbe(path, Unsupported, out, f));
  if (fd.get() < 0) return false;
  if (out->kind == SourceKind::kFile && !out->badblocks.empty() && !FileExtents(fd.get(), path, &out->extents, f))
    return false;
  ProbeTier(fd.get(), out);
  out->dax_known = DaxOfFd(fd.get(), path, *out, &out->dax, &out->dax_failure);
  return true;
}

}  // namespace pmem
