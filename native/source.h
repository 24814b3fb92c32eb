// Opening what the caller named and learning what it is: regular file, pmem block device or
// device-dax character device. Nothing else is accepted.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include <string>

#include "status.h"
#include "sysfs.h"

namespace pmem {

enum class SourceKind { kFile, kBlock, kDevDax };
enum class LockMode { kExclusive, kShared, kNone };

struct SourceOptions {
  bool create = false;
  bool exclusive = false;
  int64_t size = -1;  // with create: minimum file size
  bool read_only = false;
  LockMode lock = LockMode::kExclusive;
  unsigned mode = 0600;
};

struct Source {
  int fd = -1;
  std::string path;
  SourceKind kind = SourceKind::kFile;
  uint64_t size = 0;           // file size, BLKGETSIZE64, or device-dax size
  uint64_t alignment = 4096;   // page size, or device-dax align
  bool statx_dax = false;      // STATX_ATTR_DAX (regular files)
  int64_t fs_magic = 0;        // fstatfs f_type of a regular file's file system (0: unknown)
  RegionInfo region;
  // Undo information, so a failed open changes nothing on disk.
  bool created = false;
  bool extended = false;
  uint64_t original_size = 0;
};

// Opens, locks, classifies and (with create/size) creates or extends. On failure nothing is
// left behind: a created file is unlinked, an extended one truncated back.
bool OpenSource(const std::string& path, const SourceOptions& opts, Source* src, Failure* f);
// Undo what OpenSource changed on disk (for a later failure) and close the descriptor.
void AbandonSource(Source* src);
void CloseSource(Source* src);
// The size of the open file or device now, which for a file may be less than at open (another
// process truncated it): 0 or -errno. A device-dax namespace cannot be reconfigured while open.
int CurrentSize(const Source& src, uint64_t* size);

uint64_t PageSize();

}  // namespace pmem
