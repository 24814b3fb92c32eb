// A source: what the caller named, opened once and probed once from its descriptor (in the spirit
// of libpmem2's pmem2_source). open(), getDax() and deviceInfo() all go through ProbeFd; nothing
// looks at the path again after it is open.
#pragma once
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "status.h"
#include "sysfs.h"

namespace pmem {

enum class SourceKind { kFile, kDirectory, kBlock, kDevDax };
enum class LockMode { kExclusive, kShared, kNone };

struct ByteRange {
  uint64_t offset;
  uint64_t length;
};

struct FileExtent {
  uint64_t logical;
  uint64_t physical;
  uint64_t length;
};

struct DimmHealth {
  std::string name;            // "nmem0"
  int64_t dirty_shutdown = -1; // nfit/dirty_shutdown, -1 when the platform does not expose it
};

// Everything learnt from the descriptor: its kind, size and alignment, and (through the device's
// own /sys/dev links) the nd namespace and region behind it, the region's DIMMs and bad blocks.
struct SourceFacts {
  SourceKind kind = SourceKind::kFile;
  uint64_t size = 0;           // file size, BLKGETSIZE64, or device-dax size
  uint64_t alignment = 4096;   // page size, or device-dax align
  bool statx_dax = false;      // STATX_ATTR_DAX (files and directories)
  int64_t fs_magic = 0;        // fstatfs f_type of a file's or directory's file system (0: unknown)
  // The block device (files, directories: the one holding the file system) or the device-dax.
  std::string block_device;    // "pmem0p1"; empty for device-dax or when sysfs has none
  uint32_t dev_major = 0, dev_minor = 0;
  std::string namespace_name;  // "namespace0.0"
  std::string namespace_mode;  // "fsdax" | "devdax" | "raw" | "sector"
  uint64_t namespace_size = 0;
  RegionInfo region;
  int numa_node = -1;
  std::vector<DimmHealth> dimms;
  // Known bad ranges in the coordinates of the block device (files: of the file system's device;
  // FileExtents says where the file's bytes are there) or of the device-dax instance;
  // `badblocks_source` names the sysfs file.
  std::vector<ByteRange> badblocks;
  std::string badblocks_source;
};

// The kind a stat result names, for the kinds node-pmem knows; false for anything else (a fifo,
// a socket, a character device that is not device-dax). Looked at before opening a path, so fifos
// (open would block) and devices like /dev/mem are never opened.
bool KindOfStat(const struct stat& st, SourceKind* kind);
// "a fifo", "a directory", ...: what a refused stat result is, for messages.
const char* DescribeMode(mode_t m);

// The probe: fstat, KindOfStat, size, alignment and sysfs facts of an open descriptor. Fails
// (kUnsupported, or the errno of fstat/BLKGETSIZE64/the device-dax size) for kinds it does not know.
bool ProbeFd(int fd, const std::string& path, SourceFacts* out, Failure* f);

// Opens a path read-only for looking at it (getDax, deviceInfo) and probes it. `refuse` words the
// failure for kinds this caller does not handle. Returns the descriptor, or -1 with f filled.
int OpenAndProbe(const std::string& path, std::string (*refuse)(const std::string& path, const char* what),
                 SourceFacts* out, Failure* f);

// FS_IOC_FIEMAP: where a file's bytes live on its file system's device.
bool FileExtents(int fd, const std::string& path, std::vector<FileExtent>* out, Failure* f);

struct SourceOptions {
  bool create = false;
  bool exclusive = false;
  int64_t size = -1;  // with create: minimum file size
  bool read_only = false;
  LockMode lock = LockMode::kExclusive;
  unsigned mode = 0600;
};

struct Source : SourceFacts {
  int fd = -1;
  std::string path;
  // Undo information, so a failed open changes nothing on disk.
  bool created = false;
  bool extended = false;
  uint64_t original_size = 0;
};

// Opens, locks, probes and (with create/size) creates or extends. On failure nothing is left
// behind: a created file is unlinked, an extended one truncated back.
bool OpenSource(const std::string& path, const SourceOptions& opts, Source* src, Failure* f);
// Undo what OpenSource changed on disk (for a later failure) and close the descriptor.
void AbandonSource(Source* src);
void CloseSource(Source* src);
// The size of the open file or device now, which for a file may be less than at open (another
// process truncated it): 0 or -errno. A device-dax namespace cannot be reconfigured while open.
int CurrentSize(const Source& src, uint64_t* size);

uint64_t PageSize();

}  // namespace pmem
