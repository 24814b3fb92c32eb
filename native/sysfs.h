// Reading sysfs: attributes, the sysfs directory of a device number, and the nd region a device
// hangs from.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include <string>

namespace pmem {

// Whole contents of a small file, trailing newline stripped; false when it cannot be read.
bool ReadSysfsString(const std::string& path, std::string* out);
bool ReadSysfsU64(const std::string& path, uint64_t* out);

// Canonical sysfs directory of a device number ("/sys/devices/..."), empty when absent.
std::string SysfsDeviceDir(bool char_device, dev_t dev);

// The bus a sysfs device directory hangs on ("nd", "cxl", "dax"): the last component of its
// subsystem link; empty when it has none.
std::string BusOf(const std::string& device_dir);

struct RegionInfo {
  bool found = false;
  std::string name;               // "region0"
  std::string dir;                // its sysfs directory
  std::string persistence_domain; // empty when the file is absent (the platform said nothing)
  std::string provider;           // the nd bus provider, e.g. "ACPI.NFIT", "virtio-pmem", "CXL"
  bool async_flush = false;       // virtio-pmem: only fsync/msync make data durable
  bool has_deep_flush = false;    // deep_flush exists and reads 1 (a flush mechanism exists)
};

// The nd region a device belongs to: the nearest ancestor of its sysfs directory that is a region
// device on the nd bus (devtype nd_pmem or nd_volatile), never merely a directory named regionN (the
// CXL bus has its own). Its nd bus (the region's parent) names the provider.
RegionInfo FindRegion(const std::string& device_dir);

}  // namespace pmem
