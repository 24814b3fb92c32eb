// Reading sysfs: attributes, the sysfs directory of a device number, the nd region a device hangs
// from, and the CXL topology behind an nd region that the CXL bus registered.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace pmem {

// Whole contents of a small file, trailing newline stripped; false when it cannot be read.
bool ReadSysfsString(const std::string& path, std::string* out);
bool ReadSysfsU64(const std::string& path, uint64_t* out);

// Canonical sysfs directory of a device number ("/sys/devices/..."), empty when absent.
std::string SysfsDeviceDir(bool char_device, dev_t dev);

// The bus a sysfs device directory hangs on ("nd", "cxl", "dax"): the last component of its
// subsystem link; empty when it has none.
std::string BusOf(const std::string& device_dir);

// A CXL memory device (memdev) interleaved into a CXL region.
struct CxlMemdev {
  std::string name;              // "mem0"
  std::string serial;            // as sysfs prints it ("0x0")
  std::string firmware_version;  // empty when sysfs has none
  std::string endpoint_decoder;  // "decoder2.0": the memdev's decoder that maps it into the region
  uint64_t pmem_size = 0;
  int position = -1;             // its place in the interleave (the region's targetN)
};

// The CXL region behind an nd region whose nd bus hangs off a CXL nvdimm bridge.
struct CxlRegionInfo {
  bool found = false;
  std::string name;         // "region0" (a CXL region, not the nd one)
  std::string dir;
  std::string root_decoder; // the root decoder (CXL window) it was carved from, e.g. "decoder0.0"
  std::string uuid;
  bool committed = false;
  uint64_t interleave_ways = 0;
  uint64_t interleave_granularity = 0;
  uint64_t resource = 0;
  uint64_t size = 0;
  std::vector<CxlMemdev> memdevs;
};

struct RegionInfo {
  bool found = false;
  std::string name;               // "region0"
  std::string dir;                // its sysfs directory
  std::string persistence_domain; // empty when the file is absent (the platform said nothing)
  std::string provider;           // the nd bus provider, e.g. "ACPI.NFIT", "virtio-pmem", "CXL"
  bool async_flush = false;       // virtio-pmem: only fsync/msync make data durable
  bool has_deep_flush = false;    // deep_flush exists and reads 1 (a flush mechanism exists)
  CxlRegionInfo cxl;              // found when the nd bus is a CXL nvdimm bridge's
};

// The nd region a device belongs to: the nearest ancestor of its sysfs directory that is a region
// device on the nd bus (devtype nd_pmem or nd_volatile), never merely a directory named regionN (the
// CXL bus has its own). Its nd bus (the region's parent) names the provider; when that bus hangs
// off a CXL nvdimm bridge, the CXL region is found too.
RegionInfo FindRegion(const std::string& device_dir);

// What is missing between a CXL memdev and a mapping (a memdev without a region, a region not
// committed, a committed region without an nd region or a namespace), each with the command
// that does the missing step. Empty without CXL.
std::vector<std::string> CxlSetupGaps();

}  // namespace pmem
