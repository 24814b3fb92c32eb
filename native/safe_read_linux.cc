#include "safe_read.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace pmem {

int PreadFully(int fd, char* dst, size_t len, unsigned long long offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, dst + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;  // the file ends before the mapping does (truncated underneath)
    done += static_cast<size_t>(n);
  }
  return 0;
}

bool ForceGuardedCopy() {
  static const bool forced = [] {
    const char* v = getenv("NODE_PMEM_SAFE_READ");
    return v != nullptr && strcmp(v, "copy") == 0;
  }();
  return forced;
}

}  // namespace pmem
