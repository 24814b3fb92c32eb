#include "sysfs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

namespace pmem {

bool ReadSysfsString(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n < 0) return false;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
  out->assign(buf, static_cast<size_t>(n));
  return true;
}

bool ReadSysfsU64(const std::string& path, uint64_t* out) {
  std::string s;
  if (!ReadSysfsString(path, &s) || s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

std::string SysfsDeviceDir(bool char_device, dev_t dev) {
  std::string link = std::string(char_device ? "/sys/dev/char/" : "/sys/dev/block/") +
                     std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  char resolved[PATH_MAX];
  if (realpath(link.c_str(), resolved) == nullptr) return std::string();
  return resolved;
}

std::string BusOf(const std::string& device_dir) {
  char target[PATH_MAX];
  ssize_t n = readlink((device_dir + "/subsystem").c_str(), target, sizeof(target) - 1);
  if (n <= 0) return std::string();
  target[n] = '\0';
  std::string subsystem(target);
  return subsystem.substr(subsystem.rfind('/') + 1);
}

namespace {

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string Canonical(const std::string& p) {
  char resolved[PATH_MAX];
  return realpath(p.c_str(), resolved) == nullptr ? std::string() : std::string(resolved);
}

// The device type: its devtype attribute, or (memdevs have none) DEVTYPE= of its uevent.
std::string Devtype(const std::string& dir) {
  std::string t;
  if (ReadSysfsString(dir + "/devtype", &t)) return t;
  if (!ReadSysfsString(dir + "/uevent", &t)) return std::string();
  size_t at = t.rfind("DEVTYPE=", 0) == 0 ? 0 : t.find("\nDEVTYPE=");
  if (at == std::string::npos) return std::string();
  size_t start = t.find('=', at) + 1;
  return t.substr(start, t.find('\n', start) - start);
}

const char kCxlDevices[] = "/sys/bus/cxl/devices/";

// The memdev behind an endpoint decoder: the decoder's port is an endpoint whose uport link points
// at the memdev.
CxlMemdev MemdevOfDecoder(const std::string& decoder) {
  CxlMemdev m;
  m.endpoint_decoder = decoder;
  std::string dir = Canonical(kCxlDevices + decoder);
  if (dir.empty()) return m;
  std::string memdev = Canonical(dir.substr(0, dir.rfind('/')) + "/uport");
  if (memdev.empty() || BusOf(memdev) != "cxl") return m;
  m.name = memdev.substr(memdev.rfind('/') + 1);
  ReadSysfsString(memdev + "/serial", &m.serial);
  ReadSysfsString(memdev + "/firmware_version", &m.firmware_version);
  ReadSysfsU64(memdev + "/pmem/size", &m.pmem_size);
  return m;
}

CxlRegionInfo ReadCxlRegion(const std::string& dir) {
  CxlRegionInfo r;
  r.found = true;
  r.dir = dir;
  r.name = dir.substr(dir.rfind('/') + 1);
  std::string parent = dir.substr(0, dir.rfind('/'));
  r.root_decoder = parent.substr(parent.rfind('/') + 1);
  ReadSysfsString(dir + "/uuid", &r.uuid);
  uint64_t commit = 0;
  r.committed = ReadSysfsU64(dir + "/commit", &commit) && commit == 1;
  ReadSysfsU64(dir + "/interleave_ways", &r.interleave_ways);
  ReadSysfsU64(dir + "/interleave_granularity", &r.interleave_granularity);
  ReadSysfsU64(dir + "/resource", &r.resource);
  ReadSysfsU64(dir + "/size", &r.size);
  for (uint64_t i = 0; i < r.interleave_ways; i++) {
    std::string target;
    if (!ReadSysfsString(dir + "/target" + std::to_string(i), &target) || target.empty()) continue;
    CxlMemdev m = MemdevOfDecoder(target);
    m.position = static_cast<int>(i);
    r.memdevs.push_back(m);
  }
  return r;
}

// CXL regions (devtype cxl_region) carved from the root decoders of a CXL root port.
std::vector<std::string> CxlRegionDirs(const std::string& root_port) {
  std::vector<std::string> out;
  for (const std::string& decoder : ListDir(root_port)) {
    std::string d = root_port + "/" + decoder;
    if (Devtype(d) != "cxl_decoder_root") continue;
    for (const std::string& child : ListDir(d))
      if (Devtype(d + "/" + child) == "cxl_region") out.push_back(d + "/" + child);
  }
  return out;
}

// The kernel links neither way between a CXL region and the nd region cxl_pmem made of it; both
// cover the same host physical range, so they are matched by it. The nd region's resource is
// readable by root only: otherwise a CXL region of the same size is taken when it is the only one.
CxlRegionInfo FindCxlRegion(const std::string& root_port, const std::string& nd_region_dir) {
  uint64_t nd_start = 0, nd_size = 0;
  bool have_start = ReadSysfsU64(nd_region_dir + "/resource", &nd_start);
  ReadSysfsU64(nd_region_dir + "/size", &nd_size);
  std::vector<CxlRegionInfo> same_size;
  for (const std::string& dir : CxlRegionDirs(root_port)) {
    CxlRegionInfo r = ReadCxlRegion(dir);
    if (have_start && r.resource == nd_start && r.size == nd_size) return r;
    if (!have_start && r.size == nd_size) same_size.push_back(r);
  }
  return same_size.size() == 1 ? same_size[0] : CxlRegionInfo();
}

}  // namespace

static bool IsNdRegion(const std::string& dir) {
  if (BusOf(dir) != "nd") return false;
  std::string devtype;
  return ReadSysfsString(dir + "/devtype", &devtype) && (devtype == "nd_pmem" || devtype == "nd_volatile");
}

RegionInfo FindRegion(const std::string& device_dir) {
  RegionInfo info;
  for (std::string dir = device_dir; dir.size() > 1; dir = dir.substr(0, dir.rfind('/'))) {
    if (!IsNdRegion(dir)) continue;
    info.found = true;
    info.name = dir.substr(dir.rfind('/') + 1);
    info.dir = dir;
    ReadSysfsString(dir + "/persistence_domain", &info.persistence_domain);
    // The kernel always creates deep_flush but makes it writable (and reads 1) only when the
    // region has a flush mechanism; "0" means nothing to flush, as libpmem2 reads it.
    std::string deep_flush;
    info.has_deep_flush = ReadSysfsString(dir + "/deep_flush", &deep_flush) && deep_flush == "1";
    // The region's parent is its nd bus (ndbusN), which names its provider.
    std::string bus = dir.substr(0, dir.rfind('/'));
    ReadSysfsString(bus + "/provider", &info.provider);
    info.async_flush = info.provider == "virtio-pmem";
    // A CXL nd bus hangs off an nvdimm bridge on the CXL bus, itself under the CXL root port whose
    // decoders hold the CXL regions.
    std::string bridge = bus.substr(0, bus.rfind('/'));
    if (BusOf(bridge) == "cxl") info.cxl = FindCxlRegion(bridge.substr(0, bridge.rfind('/')), dir);
    return info;
  }
  return info;
}

std::vector<std::string> CxlSetupGaps() {
  std::vector<std::string> gaps;
  std::vector<std::string> devices = ListDir(kCxlDevices);
  std::set<std::string> in_region;
  // nd regions by host physical start, to tell which CXL regions have one.
  std::set<uint64_t> nd_starts;
  std::vector<std::pair<std::string, uint64_t>> nd_regions;
  for (const std::string& name : ListDir("/sys/bus/nd/devices")) {
    std::string dir = Canonical("/sys/bus/nd/devices/" + name);
    uint64_t start = 0;
    if (IsNdRegion(dir) && ReadSysfsU64(dir + "/resource", &start)) nd_regions.push_back({dir, start});
  }
  for (const std::string& name : devices) {
    std::string dir = Canonical(kCxlDevices + name);
    if (Devtype(dir) != "cxl_region") continue;
    CxlRegionInfo r = ReadCxlRegion(dir);
    for (const CxlMemdev& m : r.memdevs) in_region.insert(m.name);
    if (!r.committed) {
      gaps.push_back("CXL region " + r.name + " is not committed (its decoders do not decode it yet, and "
                     "`cxl enable-region` refuses it so): run `cxl destroy-region " + r.name +
                     "` and `cxl create-region`, which commits");
      continue;
    }
    const std::pair<std::string, uint64_t>* nd = nullptr;
    for (const auto& candidate : nd_regions)
      if (candidate.second == r.resource) nd = &candidate;
    if (nd == nullptr) {
      gaps.push_back("CXL region " + r.name + " is committed but has no nd region: load cxl_pmem (`modprobe cxl_pmem`)" +
                     (nd_regions.empty() ? std::string(" (or run as root: the nd regions' resource is root-only)") : std::string()));
      continue;
    }
    bool has_namespace = false;
    for (const std::string& child : ListDir(nd->first)) {
      uint64_t size = 0;
      if (child.rfind("namespace", 0) == 0 && ReadSysfsU64(nd->first + "/" + child + "/size", &size) && size > 0)
        has_namespace = true;
    }
    std::string nd_name = nd->first.substr(nd->first.rfind('/') + 1);
    if (!has_namespace)
      gaps.push_back("CXL region " + r.name + " (nd " + nd_name + ") has no namespace: create one with "
                     "`ndctl create-namespace -r " + nd_name + " -m fsdax` (or `-m devdax`)");
  }
  // Where a new pmem region can come from: the root decoders (CXL windows) that take pmem.
  std::string windows;
  int window_count = 0;
  for (const std::string& name : devices) {
    std::string dir = Canonical(kCxlDevices + name);
    uint64_t cap = 0;
    if (Devtype(dir) == "cxl_decoder_root" && ReadSysfsU64(dir + "/cap_pmem", &cap) && cap == 1) {
      windows = window_count++ == 0 ? name : windows + "|" + name;
    }
  }
  if (window_count == 0) windows = "<root decoder>";
  else if (window_count > 1) windows = "<" + windows + ">";
  for (const std::string& name : devices) {
    std::string dir = Canonical(kCxlDevices + name);
    uint64_t pmem = 0;
    if (Devtype(dir) != "cxl_memdev" || in_region.count(name) || !ReadSysfsU64(dir + "/pmem/size", &pmem) || pmem == 0)
      continue;
    gaps.push_back("CXL memdev " + name + " has " + std::to_string(pmem >> 20) + " MiB of persistent capacity in no "
                   "region: create one with `cxl create-region -m -t pmem -d " + windows + " " + name + "`" +
                   (window_count == 1 ? std::string() : std::string(" (`cxl list -D -d root` lists the root decoders)")));
  }
  return gaps;
}

}  // namespace pmem
