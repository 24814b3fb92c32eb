#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dax.h"
#include "linux_compat.h"

// The 2015 raw block-device DAX ioctls (int* argument). Shipped only in Linux 4.5-4.6.
#define PMEM_BLKDAXSET _IO(0x12, 128)
#define PMEM_BLKDAXGET _IO(0x12, 129)
#ifndef FS_XFLAG_DAX
#define FS_XFLAG_DAX 0x00008000
#endif
#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000
#endif

namespace pmem {
namespace {

const char kBlkDaxHistory[] =
    "raw block-device DAX and its BLKDAXGET/BLKDAXSET ioctls existed only in Linux 4.5-4.6 (BLKDAXSET was "
    "reverted before release) and current kernels do not know them; use device-dax (/dev/daxX.Y, "
    "'ndctl create-namespace -m devdax') or a filesystem mounted with -o dax instead";

// What the errno of a BLKDAXGET/BLKDAXSET means, then the history.
std::string BlkDaxExplanation(int err) {
  std::string meaning;
  switch (err) {
    case ENOTTY: meaning = "the block layer and driver do not know this ioctl"; break;
    case EINVAL: meaning = "the driver rejected an ioctl it does not know"; break;
    case EACCES:
    case EPERM: meaning = "changing DAX needs CAP_SYS_ADMIN"; break;
    case EBUSY: meaning = "the device is mapped or in use, so DAX cannot change now"; break;
    case EFAULT: meaning = "the kernel could not access the int argument"; break;
    default: meaning = "the kernel refused the request"; break;
  }
  return meaning + "; " + kBlkDaxHistory;
}


std::string Unsupported(const std::string& path, const char* what) {
  return "DAX state applies to regular files, directories, block devices and device-dax; '" + path +
         "' is none of them (it is " + what + ")";
}

bool FileDax(int fd, const std::string& path, DaxState* out, Failure* f) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) != 0) return SysFail(f, errno, "statx", path);
  bool statx_knows = (stx.stx_attributes_mask & STATX_ATTR_DAX) != 0;
  out->effective = statx_knows ? ((stx.stx_attributes & STATX_ATTR_DAX) ? 1 : 0) : -1;
  struct fsxattr fsx;
  if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx) == 0) {
    out->mechanism = "statx+fsxattr";
    out->inode_flag = (fsx.fsx_xflags & FS_XFLAG_DAX) ? 1 : 0;
  } else if (errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL) {
    out->mechanism = "statx";
    out->inode_flag = -1;
  } else {
    return SysFail(f, errno, "ioctl(FS_IOC_FSGETXATTR)", path);
  }
  out->reason = std::string(statx_knows ? "statx STATX_ATTR_DAX says " : "statx does not report DAX here; ") +
                (out->effective == 1 ? "DAX is in effect (page cache bypassed)"
                                     : out->effective == 0 ? "DAX is not in effect" : "effective state unknown");
  if (out->inode_flag != -1)
    out->reason += std::string("; FS_XFLAG_DAX is ") + (out->inode_flag ? "set" : "clear") +
                   " (it takes effect on a dax=inode mount once the inode is reloaded)";
  return true;
}

bool BlockDax(int fd, const std::string& path, DaxState* out, Failure* f) {
  int value = 0;
  if (ioctl(fd, PMEM_BLKDAXGET, &value) != 0)
    return SysFail(f, errno, "ioctl(BLKDAXGET)", path, BlkDaxExplanation(errno));
  out->mechanism = "blkdaxget";
  out->effective = value ? 1 : 0;
  out->inode_flag = -1;
  out->reason = std::string("BLKDAXGET answered ") + (value ? "1" : "0");
  return true;
}

}  // namespace

bool DaxOfFd(int fd, const std::string& path, const SourceFacts& facts, DaxState* out, Failure* f) {
  switch (facts.kind) {
    case SourceKind::kDevDax:
      out->mechanism = "devdax";
      out->effective = 1;
      out->inode_flag = -1;
      out->reason = "device-dax is always DAX";
      return true;
    case SourceKind::kBlock:
      return BlockDax(fd, path, out, f);
    case SourceKind::kFile:
    case SourceKind::kDirectory:
      return FileDax(fd, path, out, f);
  }
  return true;
}

bool GetDax(const std::string& path, DaxState* out, Failure* f) {
  SourceFacts facts;
  UniqueFd fd(OpenAndProbe(path, Unsupported, &facts, f));
  return fd.get() >= 0 && DaxOfFd(fd.get(), path, facts, out, f);
}

bool SetDax(const std::string& path, bool enabled, DaxState* out, Failure* f) {
  SourceFacts facts;
  UniqueFd fd(OpenAndProbe(path, Unsupported, &facts, f));
  if (fd.get() < 0) return false;
  if (facts.kind == SourceKind::kDevDax) {
    if (!enabled)
      return PmemFail(f, PmemCode::kUnsupported, path,
                      "device-dax is always DAX; reconfigure the namespace (ndctl create-namespace -m fsdax) to "
                      "get a block device instead");
    return DaxOfFd(fd.get(), path, facts, out, f);
  }
  if (facts.kind == SourceKind::kBlock) {
    int value = enabled ? 1 : 0;
    if (ioctl(fd.get(), PMEM_BLKDAXSET, &value) != 0)
      return SysFail(f, errno, "ioctl(BLKDAXSET)", path, BlkDaxExplanation(errno));
    return BlockDax(fd.get(), path, out, f);
  }
  struct fsxattr fsx;
  if (ioctl(fd.get(), FS_IOC_FSGETXATTR, &fsx) != 0)
    return SysFail(f, errno, "ioctl(FS_IOC_FSGETXATTR)", path,
                   errno == ENOTTY || errno == EOPNOTSUPP ? "this filesystem has no per-inode DAX flag" : "");
  if (enabled)
    fsx.fsx_xflags |= FS_XFLAG_DAX;
  else
    fsx.fsx_xflags &= ~FS_XFLAG_DAX;
  if (ioctl(fd.get(), FS_IOC_FSSETXATTR, &fsx) != 0)
    return SysFail(f, errno, "ioctl(FS_IOC_FSSETXATTR)", path,
                   errno == EOPNOTSUPP || errno == EINVAL ? "this filesystem does not accept FS_XFLAG_DAX" : "");
  return FileDax(fd.get(), path, out, f);
}

}  // namespace pmem
