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

bool IsDevDaxDevice(dev_t rdev, std::string* dir) {
  std::string d = SysfsDeviceDir(true, rdev);
  if (d.empty()) return false;
  char target[PATH_MAX];
  ssize_t n = readlink((d + "/subsystem").c_str(), target, sizeof(target) - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  std::string subsystem(target);
  // device-dax lives on the "dax" bus (a class of that name on older kernels).
  if (subsystem.substr(subsystem.rfind('/') + 1) != "dax") return false;
  *dir = d;
  return true;
}

static bool IsRegionName(const std::string& name) {
  if (name.rfind("region", 0) != 0 || name.size() == 6) return false;
  for (size_t i = 6; i < name.size(); i++)
    if (name[i] < '0' || name[i] > '9') return false;
  return true;
}

RegionInfo FindRegion(const std::string& device_dir) {
  RegionInfo info;
  std::string dir = device_dir;
  while (dir.size() > 1) {
    size_t slash = dir.rfind('/');
    if (slash == std::string::npos) break;
    std::string name = dir.substr(slash + 1);
    if (IsRegionName(name)) {
      info.found = true;
      info.name = name;
      info.dir = dir;
      ReadSysfsString(dir + "/persistence_domain", &info.persistence_domain);
      // The kernel always creates deep_flush but makes it writable (and reads 1) only when the
      // region has a flush mechanism; "0" means nothing to flush, as libpmem2 reads it.
      std::string deep_flush;
      info.has_deep_flush = ReadSysfsString(dir + "/deep_flush", &deep_flush) && deep_flush == "1";
      // The region's parent is its nd bus (ndbusN), which names its provider.
      std::string bus = dir.substr(0, slash);
      ReadSysfsString(bus + "/provider", &info.provider);
      info.async_flush = info.provider == "virtio-pmem";
      return info;
    }
    dir = dir.substr(0, slash);
  }
  return info;
}

}  // namespace pmem
