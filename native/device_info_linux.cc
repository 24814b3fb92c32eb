#include "device_info.h"
#include "linux_compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>


namespace pmem {
namespace {


std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }
std::string Dirname(const std::string& p) { return p.substr(0, p.rfind('/')); }

// "memory" (pfn) is fsdax, "dax" is devdax, "safe" (btt) is sector, as ndctl names them.
std::string ModeName(const std::string& sysfs_mode) {
  if (sysfs_mode == "memory") return "fsdax";
  if (sysfs_mode == "dax") return "devdax";
  if (sysfs_mode == "safe") return "sector";
  return sysfs_mode;
}

// The namespace behind a device whose sysfs parent is a namespace, or a pfn/btt/dax claim of one.
void FillNamespace(const std::string& parent_dir, DeviceFacts* out) {
  std::string parent = Basename(parent_dir);
  std::string ns = parent;
  if (parent.rfind("namespace", 0) != 0 && !ReadSysfsString(parent_dir + "/namespace", &ns)) return;
  if (!out->region.found || ns.empty()) return;
  std::string ns_dir = out->region.dir + "/" + ns;
  std::string mode;
  out->namespace_name = ns;
  if (ReadSysfsString(ns_dir + "/mode", &mode)) out->namespace_mode = ModeName(mode);
  ReadSysfsU64(ns_dir + "/size", &out->namespace_size);
}

void FillRegionHealth(DeviceFacts* out) {
  if (!out->region.found) return;
  const std::string& dir = out->region.dir;
  std::string numa;
  if (ReadSysfsString(dir + "/numa_node", &numa)) out->numa_node = atoi(numa.c_str());
  // mappingN: "nmem0,offset,length,position" names each DIMM interleaved into the region.
  for (int i = 0;; i++) {
    std::string mapping;
    if (!ReadSysfsString(dir + "/mapping" + std::to_string(i), &mapping)) break;
    DimmHealth dimm;
    dimm.name = mapping.substr(0, mapping.find(','));
    uint64_t count;
    if (ReadSysfsU64("/sys/bus/nd/devices/" + dimm.name + "/nfit/dirty_shutdown", &count))
      dimm.dirty_shutdown = static_cast<int64_t>(count);
    out->dimms.push_back(dimm);
  }
}

// sysfs badblocks: "sector count" lines in 512-byte sectors.
void ReadBadblocks(const std::string& file, int64_t shift_bytes, uint64_t limit, DeviceFacts* out) {
  FILE* fp = fopen(file.c_str(), "re");
  if (fp == nullptr) return;
  out->badblocks_source = file;
  unsigned long long sector, count;
  while (fscanf(fp, "%llu %llu", &sector, &count) == 2) {
    int64_t start = static_cast<int64_t>(sector * 512) + shift_bytes;
    int64_t end = start + static_cast<int64_t>(count * 512);
    // A bad sector poisons its whole page: DAX refuses the page, the page cache cannot fill it,
    // and a load anywhere in it raises SIGBUS. Report whole pages.
    const int64_t page = static_cast<int64_t>(PageSize());
    start = start >= 0 ? start / page * page : -((-start + page - 1) / page * page);
    end = (end + page - 1) / page * page;
    if (end <= 0 || (limit != 0 && static_cast<uint64_t>(start) >= limit)) continue;
    if (start < 0) start = 0;
    if (limit != 0 && static_cast<uint64_t>(end) > limit) end = static_cast<int64_t>(limit);
    out->badblocks.push_back({static_cast<uint64_t>(start), static_cast<uint64_t>(end - start)});
  }
  fclose(fp);
  // Sectors of one page became the same range: merge overlapping and touching ones.
  std::vector<ByteRange>& bad = out->badblocks;
  std::sort(bad.begin(), bad.end(), [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  size_t kept = 0;
  for (const ByteRange& r : bad) {
    if (kept > 0 && r.offset <= bad[kept - 1].offset + bad[kept - 1].length) {
      uint64_t end = std::max(bad[kept - 1].offset + bad[kept - 1].length, r.offset + r.length);
      bad[kept - 1].length = end - bad[kept - 1].offset;
    } else {
      bad[kept++] = r;
    }
  }
  bad.resize(kept);
}

// A block device (or partition): name, region, namespace, bad blocks in its own coordinates.
void FillBlock(dev_t dev, DeviceFacts* out) {
  out->dev_major = major(dev);
  out->dev_minor = minor(dev);
  std::string dir = SysfsDeviceDir(false, dev);
  if (dir.empty()) return;
  out->block_device = Basename(dir);
  out->region = FindRegion(dir);
  std::string disk_dir = dir;
  uint64_t start_sectors = 0;
  if (access((dir + "/partition").c_str(), F_OK) == 0) {
    ReadSysfsU64(dir + "/start", &start_sectors);
    disk_dir = Dirname(dir);
  }
  // .../<namespace or claim>/block/<disk>
  FillNamespace(Dirname(Dirname(disk_dir)), out);
  FillRegionHealth(out);
  if (out->region.found) ReadBadblocks(disk_dir + "/badblocks", -static_cast<int64_t>(start_sectors * 512), 0, out);
}

void FillDevDax(const std::string& dir, DeviceFacts* out) {
  ReadSysfsU64(dir + "/size", &out->size);
  ReadSysfsU64(dir + "/align", &out->align);
  out->region = FindRegion(dir);
  FillNamespace(Dirname(dir), out);
  FillRegionHealth(out);
  // Region bad blocks are region-relative; the instance's physical start says where it begins.
  uint64_t region_start = 0, dax_start = 0;
  if (out->region.found && ReadSysfsU64(out->region.dir + "/resource", &region_start) &&
      ReadSysfsU64(dir + "/resource", &dax_start) && dax_start >= region_start)
    ReadBadblocks(out->region.dir + "/badblocks", -static_cast<int64_t>(dax_start - region_start), out->size, out);
}

// Would MAP_SYNC be accepted? Probe with a one-page read-only shared mapping (no store, no fault).
void ProbeFileTier(int fd, DeviceFacts* out) {
  void* p = mmap(nullptr, static_cast<size_t>(PageSize()), PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
  int err = p == MAP_FAILED ? errno : 0;
  if (p != MAP_FAILED) munmap(p, static_cast<size_t>(PageSize()));
  if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
    out->tier.reason = std::string("could not probe MAP_SYNC (") + KernelErrnoName(err) + ")";
    return;
  }
  out->tier = FileTier(err, out->statx_dax);
  RefineTier(out->region, &out->tier);
  out->tier_known = true;
}

bool StatxDax(int fd) {
  struct statx stx;
  return statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) == 0 &&
         (stx.stx_attributes_mask & STATX_ATTR_DAX) && (stx.stx_attributes & STATX_ATTR_DAX);
}

}  // namespace

bool ProbeDevice(const std::string& path, DeviceFacts* out, Failure* f) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return SysFail(f, errno, "stat", path);
  std::string dax_dir;
  if (S_ISCHR(st.st_mode) && IsDevDaxDevice(st.st_rdev, &dax_dir)) {
    out->type = "devdax";
    out->dev_major = major(st.st_rdev);
    out->dev_minor = minor(st.st_rdev);
    FillDevDax(dax_dir, out);
    if (out->region.async_flush) {
      out->open_refused = true;
      out->tier.reason = AsyncDevDaxRefusal(out->region);
    } else {
      out->tier = DevDaxTier();
      RefineTier(out->region, &out->tier);
      out->tier_known = true;
    }
    return true;
  }
  if (S_ISBLK(st.st_mode)) {
    out->type = "block";
    FillBlock(st.st_rdev, out);
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return SysFail(f, errno, "open", path);
    if (ioctl(fd.get(), BLKGETSIZE64, &out->size) != 0) return SysFail(f, errno, "ioctl(BLKGETSIZE64)", path);
    out->tier = BlockTier(fd.get());
    RefineTier(out->region, &out->tier);
    out->tier_known = true;
    return true;
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return PmemFail(f, PmemCode::kUnsupported, path,
                    "'" + path + "' is not a regular file, directory, block device or device-dax");
  out->type = S_ISDIR(st.st_mode) ? "directory" : "file";
  out->size = static_cast<uint64_t>(st.st_size);
  FillBlock(st.st_dev, out);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return SysFail(f, errno, "open", path);
  out->statx_dax = StatxDax(fd.get());
  if (S_ISREG(st.st_mode)) {
    ProbeFileTier(fd.get(), out);
    return true;
  }
  // A directory: probe a file that would be created in it, as an unnamed O_TMPFILE (gone on close).
  UniqueFd tmp(open(path.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (tmp.get() < 0) {
    out->tier.reason = std::string("cannot probe a new file in this directory (O_TMPFILE: ") + KernelErrnoName(errno) + ")";
    return true;
  }
  bool dir_dax = out->statx_dax;
  out->statx_dax = StatxDax(tmp.get());
  ProbeFileTier(tmp.get(), out);
  out->statx_dax = dir_dax;
  if (out->tier_known) out->tier.reason = "a new file here: " + out->tier.reason;
  return true;
}

bool FileExtents(const std::string& path, std::vector<FileExtent>* out, Failure* f) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return SysFail(f, errno, "open", path);
  constexpr unsigned kBatch = 256;
  size_t bytes = sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent);
  std::unique_ptr<char[]> storage(new char[bytes]);
  auto* fm = reinterpret_cast<struct fiemap*>(storage.get());
  uint64_t start = 0;
  for (;;) {
    memset(fm, 0, bytes);
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kBatch;
    if (ioctl(fd.get(), FS_IOC_FIEMAP, fm) != 0) return SysFail(f, errno, "ioctl(FS_IOC_FIEMAP)", path);
    if (fm->fm_mapped_extents == 0) return true;
    bool last = false;
    for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
      const struct fiemap_extent& e = fm->fm_extents[i];
      if (!(e.fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DATA_INLINE)))
        out->push_back({e.fe_logical, e.fe_physical, e.fe_length});
      last = last || (e.fe_flags & FIEMAP_EXTENT_LAST);
      start = e.fe_logical + e.fe_length;
    }
    if (last) return true;
  }
}

}  // namespace pmem
