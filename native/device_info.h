// What a path is and how healthy it is, from sysfs and syscalls (no ndctl): namespace, region,
// persistence domain, bad blocks, unsafe-shutdown counts, and the tier open() would get.
#pragma once
#include <stdint.h>

#include <string>
#include <vector>

#include "mapping.h"
#include "status.h"
#include "sysfs.h"

namespace pmem {

struct ByteRange {
  uint64_t offset;
  uint64_t length;
};

struct DimmHealth {
  std::string name;            // "nmem0"
  int64_t dirty_shutdown = -1; // nfit/dirty_shutdown, -1 when the platform does not expose it
};

struct DeviceFacts {
  std::string type;        // "file" | "directory" | "block" | "devdax"
  uint64_t size = 0;       // st_size (files, directories), block device size, device-dax size
  bool statx_dax = false;  // files and directories
  std::string block_device;          // for files: the filesystem's device ("pmem0p1"); for block devices: itself
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t align = 0;                // device-dax align
  std::string namespace_name;        // "namespace0.0"
  std::string namespace_mode;        // "fsdax" | "devdax" | "raw" | "sector"
  uint64_t namespace_size = 0;
  RegionInfo region;
  int numa_node = -1;
  std::vector<DimmHealth> dimms;
  // Known bad ranges in the coordinates of `block_device` (files: of the filesystem's device),
  // or of the device-dax instance; `badblocks_source` names the sysfs file they came from.
  std::vector<ByteRange> badblocks;
  std::string badblocks_source;
  bool tier_known = false;
  bool open_refused = false;  // a writable open() would be refused (device-dax with asynchronous flush)
  TierDecision tier;
};

bool ProbeDevice(const std::string& path, DeviceFacts* out, Failure* f);

struct FileExtent {
  uint64_t logical;
  uint64_t physical;
  uint64_t length;
};
// FS_IOC_FIEMAP: where a file's bytes live on its filesystem's device.
bool FileExtents(const std::string& path, std::vector<FileExtent>* out, Failure* f);

}  // namespace pmem
