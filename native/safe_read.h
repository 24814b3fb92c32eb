// Reads that survive poisoned media: a load from a bad block raises SIGBUS (a machine check),
// which would kill the process. pread() on the file or block device goes through the kernel's
// machine-check-safe copy and returns EIO instead; device-dax has no read(), so its mapping is
// copied under a SIGBUS guard that turns the signal into EIO.
#pragma once
#include <stddef.h>

namespace pmem {

// pread all of [offset, offset + len) into dst; 0 or -errno (-EIO for a short read).
int PreadFully(int fd, char* dst, size_t len, unsigned long long offset);
// memcpy that returns -EIO instead of dying when a SIGBUS hits the source.
int GuardedCopy(char* dst, const char* src, size_t len);
// NODE_PMEM_SAFE_READ=copy forces GuardedCopy for every kind (to test it without device-dax).
bool ForceGuardedCopy();

}  // namespace pmem
