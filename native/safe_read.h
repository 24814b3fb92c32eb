// Reads that survive poisoned media: a load from a bad block raises SIGBUS (a machine check),
// which would kill the process. pread() on the file or block device goes through the kernel's
// machine-check-safe copy and returns EIO instead; device-dax has no read(), so its mapping is
// copied under the SIGBUS guard (sigbus_guard.h), which turns the signal into an error.
#pragma once
#include <stddef.h>

namespace pmem {

// pread all of [offset, offset + len) into dst; 0 or -errno (-EIO for a short read).
int PreadFully(int fd, char* dst, size_t len, unsigned long long offset);
// NODE_PMEM_SAFE_READ=copy forces the guarded copy for every kind (to test it without device-dax).
bool ForceGuardedCopy();

}  // namespace pmem
