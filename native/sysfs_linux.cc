#include "sysfs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

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
    ReadSysfsString(dir.substr(0, dir.rfind('/')) + "/provider", &info.provider);
    info.async_flush = info.provider == "virtio-pmem";
    return info;
  }
  return info;
}

}  // namespace pmem
