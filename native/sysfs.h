// Reading sysfs: device-dax attributes and the nd region/bus behind a device.
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

// Is this character device a device-dax instance (on the "dax" bus)? Sets its sysfs directory.
bool IsDevDaxDevice(dev_t rdev, std::string* dir);

struct RegionInfo {
  bool found = false;
  std::string name;               // "region0"
  std::string dir;                // its sysfs directory
  std::string persistence_domain; // empty when the file is absent (the platform said nothing)
  std::string provider;           // the nd bus provider, e.g. "ACPI.NFIT", "virtio-pmem"
  bool async_flush = false;       // virtio-pmem: only fsync/msync make data durable
  bool has_deep_flush = false;    // deep_flush exists and reads 1 (a flush mechanism exists)
};

// Walks up from a device's sysfs directory to the nd region (regionN) it belongs to.
RegionInfo FindRegion(const std::string& device_dir);

}  // namespace pmem
