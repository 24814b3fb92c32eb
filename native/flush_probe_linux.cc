// Whether this CPU's cache-line flush takes a page fault on a page that is no longer mapped in, as
// a load does. Hardware does (x86-64's CLWB/CLFLUSHOPT/CLFLUSH and aarch64's DC CVA* fault like
// loads; the kernel then raises SIGBUS for a page past the end of the file). An emulator may run
// the flush without a page walk (QEMU's TCG does), and there a truncation under the mapping would
// go unseen, so the flush is followed by a load of the range's last byte. That load waits for the
// line the flush just wrote back (and may have evicted) to come back: on hardware it buys nothing.
// So the flush is tried once, on a page truncated away, and the load is made only where the flush
// did not fault.
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "persist.h"
#include "sigbus_guard.h"

namespace pmem {
namespace {

PMEM_GUARDED_BODY int FlushOnce(const char* p) {
  Ops().flush(p, 1);
  return 0;
}

// Any step that fails answers "no": the load stays, the safe choice.
bool Probe() {
  if (Ops().flush == nullptr || InstallSigbusHandler() != 0) return false;
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return false;
  int fd = memfd_create("node-pmem-flush-probe", MFD_CLOEXEC);
  if (fd < 0) return false;
  bool faults = false;
  if (ftruncate(fd, page) == 0) {
    void* p = mmap(nullptr, static_cast<size_t>(page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      *static_cast<volatile char*>(p) = 1;  // map the page in, so that the truncation has to take it away
      if (ftruncate(fd, 0) == 0) faults = Guarded([p] { return FlushOnce(static_cast<const char*>(p)); }) == kSigbus;
      if (munmap(p, static_cast<size_t>(page)) != 0) faults = false;
    }
  }
  if (close(fd) != 0) faults = false;
  return faults;
}

}  // namespace

bool FlushFaultsOnMissingPage() {
  static const bool faults = Probe();  // once, thread-safe
  return faults;
}

}  // namespace pmem
