// DAX state of a path: statx STATX_ATTR_DAX and FS_XFLAG_DAX for files and directories,
// BLKDAXGET/BLKDAXSET for block devices (gone from current kernels), device-dax is always DAX.
#pragma once
#include <string>

#include "source.h"
#include "status.h"

namespace pmem {

struct DaxState {
  std::string mechanism;  // "statx+fsxattr" | "statx" | "blkdaxget" | "devdax"
  int effective = -1;     // 1, 0, or -1 when unknown
  int inode_flag = -1;    // FS_XFLAG_DAX: 1, 0, or -1 when the filesystem has no such flag
  std::string reason;
};

// The DAX state of a probed source, from its descriptor.
bool DaxOfFd(int fd, const std::string& path, const SourceFacts& facts, DaxState* out, Failure* f);
bool GetDax(const std::string& path, DaxState* out, Failure* f);
bool SetDax(const std::string& path, bool enabled, DaxState* out, Failure* f);

}  // namespace pmem
