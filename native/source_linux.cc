#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace pmem {

uint64_t PageSize() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

const char* DescribeMode(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a fifo";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device that is not device-dax";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file or device";
}

bool KindOfStat(const struct stat& st, SourceKind* kind) {
  if (S_ISREG(st.st_mode)) *kind = SourceKind::kFile;
  else if (S_ISDIR(st.st_mode)) *kind = SourceKind::kDirectory;
  else if (S_ISBLK(st.st_mode)) *kind = SourceKind::kBlock;
  // device-dax lives on the "dax" bus (a class of that name on older kernels).
  else if (S_ISCHR(st.st_mode) && BusOf(SysfsDeviceDir(true, st.st_rdev)) == "dax") *kind = SourceKind::kDevDax;
  else return false;
  return true;
}

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
void FillNamespace(const std::string& parent_dir, SourceFacts* out) {
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

void FillRegionHealth(SourceFacts* out) {
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
void ReadBadblocks(const std::string& file, int64_t shift_bytes, uint64_t limit, SourceFacts* out) {
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

// A block device (or partition), from /sys/dev/block/M:m: name, region, namespace, bad blocks in
// its own coordinates.
void FillBlock(dev_t dev, SourceFacts* out) {
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

// A device-dax instance, from /sys/dev/char/M:m.
bool FillDevDax(dev_t rdev, const std::string& path, SourceFacts* out, Failure* f) {
  out->dev_major = major(rdev);
  out->dev_minor = minor(rdev);
  std::string dir = SysfsDeviceDir(true, rdev);
  if (!ReadSysfsU64(dir + "/size", &out->size))
    return SysFail(f, errno ? errno : EIO, "read", dir + "/size", "device-dax size unreadable");
  uint64_t align = 0;
  out->alignment = ReadSysfsU64(dir + "/align", &align) && align != 0 ? align : PageSize();
  out->region = FindRegion(dir);
  FillNamespace(Dirname(dir), out);
  FillRegionHealth(out);
  // Region bad blocks are region-relative; the instance's physical start says where it begins.
  uint64_t region_start = 0, dax_start = 0;
  if (out->region.found && ReadSysfsU64(out->region.dir + "/resource", &region_start) &&
      ReadSysfsU64(dir + "/resource", &dax_start) && dax_start >= region_start)
    ReadBadblocks(out->region.dir + "/badblocks", -static_cast<int64_t>(dax_start - region_start), out->size, out);
  return true;
}

void FillFsObject(int fd, const struct stat& st, SourceFacts* out) {
  out->size = static_cast<uint64_t>(st.st_size);
  out->alignment = PageSize();
  // The file system, for what to say about a file that cannot be mapped (procfs, sysfs).
  struct statfs sfs;
  if (fstatfs(fd, &sfs) == 0) out->fs_magic = static_cast<int64_t>(sfs.f_type);
  // STATX_ATTR_DAX: is the page cache bypassed for this inode right now?
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) == 0 && (stx.stx_attributes_mask & STATX_ATTR_DAX))
    out->statx_dax = (stx.stx_attributes & STATX_ATTR_DAX) != 0;
  FillBlock(st.st_dev, out);
}

}  // namespace

bool ProbeFd(int fd, const std::string& path, SourceFacts* out, Failure* f) {
  struct stat st;
  if (fstat(fd, &st) != 0) return SysFail(f, errno, "fstat", path);
  if (!KindOfStat(st, &out->kind))
    return PmemFail(f, PmemCode::kUnsupported, path, "'" + path + "' is " + DescribeMode(st.st_mode));
  switch (out->kind) {
    case SourceKind::kFile:
    case SourceKind::kDirectory:
      FillFsObject(fd, st, out);
      return true;
    case SourceKind::kBlock:
      if (ioctl(fd, BLKGETSIZE64, &out->size) != 0) return SysFail(f, errno, "ioctl(BLKGETSIZE64)", path);
      out->alignment = PageSize();
      FillBlock(st.st_rdev, out);
      return true;
    case SourceKind::kDevDax:
      return FillDevDax(st.st_rdev, path, out, f);
  }
  return true;
}

int OpenAndProbe(const std::string& path, std::string (*refuse)(const std::string& path, const char* what),
                 SourceFacts* out, Failure* f) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return SysFail(f, errno, "stat", path), -1;
  SourceKind kind;
  if (!KindOfStat(st, &kind)) return PmemFail(f, PmemCode::kUnsupported, path, refuse(path, DescribeMode(st.st_mode))), -1;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return SysFail(f, errno, "open", path), -1;
  if (!ProbeFd(fd, path, out, f)) {
    close(fd);
    return -1;
  }
  return fd;
}

bool FileExtents(int fd, const std::string& path, std::vector<FileExtent>* out, Failure* f) {
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
    if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0) return SysFail(f, errno, "ioctl(FS_IOC_FIEMAP)", path);
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

namespace {

bool Refuse(const std::string& path, mode_t m, Failure* f) {
  return PmemFail(f, PmemCode::kUnsupported, path,
                  "cannot map '" + path + "': it is " + DescribeMode(m) +
                      "; node-pmem maps regular files, pmem block devices and device-dax (/dev/daxX.Y)");
}

// Refused by stat before opening (see KindOfStat): only what can be mapped is opened.
bool PreCheck(const std::string& path, const struct stat& st, Failure* f) {
  SourceKind kind;
  if (KindOfStat(st, &kind) && kind != SourceKind::kDirectory) return true;
  return Refuse(path, st.st_mode, f);
}

bool OpenFd(const std::string& path, const SourceOptions& o, Source* src, Failure* f) {
  int access_mode = o.read_only ? O_RDONLY : O_RDWR;
  int base = access_mode | O_CLOEXEC | O_NONBLOCK;
  if (o.create && o.exclusive) {
    src->fd = open(path.c_str(), base | O_CREAT | O_EXCL, o.mode);
    if (src->fd < 0) return SysFail(f, errno, "open", path);
    src->created = true;
    return true;
  }
  for (int attempt = 0; attempt < 8; attempt++) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0) {
      if (!PreCheck(path, st, f)) return false;
      src->fd = open(path.c_str(), base);
      if (src->fd >= 0) return true;
      if (errno != ENOENT) return SysFail(f, errno, "open", path);
    } else if (errno != ENOENT) {
      return SysFail(f, errno, "stat", path);
    }
    if (!o.create) return SysFail(f, ENOENT, "open", path);
    src->fd = open(path.c_str(), base | O_CREAT | O_EXCL, o.mode);
    if (src->fd >= 0) {
      src->created = true;
      return true;
    }
    if (errno != EEXIST) return SysFail(f, errno, "open", path);
    // Someone created it between stat and open: look again.
  }
  return SysFail(f, EAGAIN, "open", path, "the file kept appearing and disappearing");
}

bool Lock(Source* src, LockMode mode, Failure* f) {
  if (mode == LockMode::kNone) return true;
  int op = (mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  if (flock(src->fd, op) == 0) return true;
  int err = errno;
  if (err == EWOULDBLOCK)
    return PmemFail(f, PmemCode::kLocked, src->path,
                    "'" + src->path + "' is locked by another open (" +
                        (mode == LockMode::kExclusive ? "an exclusive lock was requested" : "a shared lock was requested") +
                        "); pass lock: 'none' to map it anyway",
                    err, "flock");
  return SysFail(f, err, "flock", src->path);
}

bool Extend(Source* src, const SourceOptions& o, Failure* f) {
  src->original_size = src->size;
  if (o.create && o.size >= 0 && static_cast<uint64_t>(o.size) > src->size) {
    if (o.read_only)
      return PmemFail(f, PmemCode::kInvalidArg, src->path, "cannot extend a file opened readOnly");
    if (ftruncate(src->fd, o.size) != 0) return SysFail(f, errno, "ftruncate", src->path);
    src->extended = !src->created;
    src->size = static_cast<uint64_t>(o.size);
  }
  return true;
}

}  // namespace

bool OpenSource(const std::string& path, const SourceOptions& o, Source* src, Failure* f) {
  src->path = path;
  if (!OpenFd(path, o, src, f)) return false;
  bool ok = ProbeFd(src->fd, path, src, f);
  if (ok && src->kind == SourceKind::kDirectory) {
    struct stat st;
    ok = fstat(src->fd, &st) == 0 ? Refuse(path, st.st_mode, f) : SysFail(f, errno, "fstat", path);
  }
  if (ok && src->kind != SourceKind::kFile && o.size >= 0)
    ok = PmemFail(f, PmemCode::kInvalidArg, path, "size applies to regular files only; '" + path + "' is a device");
  if (ok && !Lock(src, o.lock, f)) {
    // Someone else holds the file, maybe one we just created and they opened: never unlink it.
    src->created = false;
    ok = false;
  }
  if (ok && src->kind == SourceKind::kFile) ok = Extend(src, o, f);
  // O_NONBLOCK was only for the open itself.
  if (ok) fcntl(src->fd, F_SETFL, fcntl(src->fd, F_GETFL) & ~O_NONBLOCK);
  if (!ok) AbandonSource(src);
  return ok;
}

void AbandonSource(Source* src) {
  if (src->fd >= 0) {
    if (src->created) {
      unlink(src->path.c_str());
    } else if (src->extended) {
      if (ftruncate(src->fd, static_cast<off_t>(src->original_size)) != 0) {
        // Nothing better to do: the file stays longer than before, its old bytes intact.
      }
    }
  }
  CloseSource(src);
}

int CurrentSize(const Source& src, uint64_t* size) {
  switch (src.kind) {
    case SourceKind::kFile:
    case SourceKind::kDirectory: {
      struct stat st;
      if (fstat(src.fd, &st) != 0) return -errno;
      *size = static_cast<uint64_t>(st.st_size);
      return 0;
    }
    case SourceKind::kBlock:
      return ioctl(src.fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
    case SourceKind::kDevDax:
      *size = src.size;
      return 0;
  }
  return -EINVAL;
}

void CloseSource(Source* src) {
  if (src->fd >= 0) close(src->fd);  // also drops the flock
  src->fd = -1;
}

}  // namespace pmem
