#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pmem {

uint64_t PageSize() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

static const char* KindOfMode(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a fifo";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device that is not device-dax";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file or device";
}

static bool Refuse(const std::string& path, mode_t m, Failure* f) {
  return PmemFail(f, PmemCode::kUnsupported, path,
                  "cannot map '" + path + "': it is " + KindOfMode(m) +
                      "; node-pmem maps regular files, pmem block devices and device-dax (/dev/daxX.Y)");
}

// Classify by stat before opening, so fifos (open would block) and /dev/mem are never opened.
static bool PreCheck(const std::string& path, struct stat* st, std::string* dax_dir, Failure* f) {
  if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode)) return true;
  if (S_ISCHR(st->st_mode) && IsDevDaxDevice(st->st_rdev, dax_dir)) return true;
  return Refuse(path, st->st_mode, f);
}

static bool OpenFd(const std::string& path, const SourceOptions& o, Source* src, Failure* f) {
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
    std::string dax_dir;
    if (stat(path.c_str(), &st) == 0) {
      if (!PreCheck(path, &st, &dax_dir, f)) return false;
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

static bool Lock(Source* src, LockMode mode, Failure* f) {
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

static bool SizeRegular(Source* src, const struct stat& st, const SourceOptions& o, Failure* f) {
  src->original_size = static_cast<uint64_t>(st.st_size);
  src->size = src->original_size;
  if (o.create && o.size >= 0 && static_cast<uint64_t>(o.size) > src->size) {
    if (o.read_only)
      return PmemFail(f, PmemCode::kInvalidArg, src->path, "cannot extend a file opened readOnly");
    if (ftruncate(src->fd, o.size) != 0) return SysFail(f, errno, "ftruncate", src->path);
    src->extended = !src->created;
    src->size = static_cast<uint64_t>(o.size);
  }
  src->alignment = PageSize();
  // The file system, for what to say about a file that cannot be mapped (procfs, sysfs).
  struct statfs sfs;
  if (fstatfs(src->fd, &sfs) == 0) src->fs_magic = static_cast<int64_t>(sfs.f_type);
  // STATX_ATTR_DAX: is the page cache bypassed for this inode right now?
  struct statx stx;
  if (statx(src->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) == 0 &&
      (stx.stx_attributes_mask & STATX_ATTR_DAX))
    src->statx_dax = (stx.stx_attributes & STATX_ATTR_DAX) != 0;
  src->region = FindRegion(SysfsDeviceDir(false, st.st_dev));
  return true;
}

static bool SizeBlock(Source* src, const struct stat& st, Failure* f) {
  int err = CurrentSize(*src, &src->size);
  if (err != 0) return SysFail(f, -err, "ioctl(BLKGETSIZE64)", src->path);
  src->alignment = PageSize();
  src->region = FindRegion(SysfsDeviceDir(false, st.st_rdev));
  return true;
}

static bool SizeDevDax(Source* src, const struct stat& st, Failure* f) {
  std::string dir = SysfsDeviceDir(true, st.st_rdev);
  if (!ReadSysfsU64(dir + "/size", &src->size))
    return SysFail(f, errno ? errno : EIO, "read", dir + "/size", "device-dax size unreadable");
  uint64_t align = 0;
  src->alignment = ReadSysfsU64(dir + "/align", &align) && align != 0 ? align : PageSize();
  src->region = FindRegion(dir);
  return true;
}

bool OpenSource(const std::string& path, const SourceOptions& o, Source* src, Failure* f) {
  src->path = path;
  if (!OpenFd(path, o, src, f)) return false;
  struct stat st;
  if (fstat(src->fd, &st) != 0) {
    SysFail(f, errno, "fstat", path);
    AbandonSource(src);
    return false;
  }
  std::string dax_dir;
  bool ok = true;
  if (S_ISREG(st.st_mode)) {
    src->kind = SourceKind::kFile;
  } else if (S_ISBLK(st.st_mode)) {
    src->kind = SourceKind::kBlock;
  } else if (S_ISCHR(st.st_mode) && IsDevDaxDevice(st.st_rdev, &dax_dir)) {
    src->kind = SourceKind::kDevDax;
  } else {
    ok = Refuse(path, st.st_mode, f);  // it changed under us since the stat
  }
  if (ok && src->kind != SourceKind::kFile && o.size >= 0)
    ok = PmemFail(f, PmemCode::kInvalidArg, path, "size applies to regular files only; '" + path + "' is a device");
  if (ok && !Lock(src, o.lock, f)) {
    // Someone else holds the file, maybe one we just created and they opened: never unlink it.
    src->created = false;
    ok = false;
  }
  if (ok) {
    switch (src->kind) {
      case SourceKind::kFile: ok = SizeRegular(src, st, o, f); break;
      case SourceKind::kBlock: ok = SizeBlock(src, st, f); break;
      case SourceKind::kDevDax: ok = SizeDevDax(src, st, f); break;
    }
  }
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
    case SourceKind::kFile: {
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
