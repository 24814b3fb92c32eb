// aarch64: the flush instruction from HWCAP/HWCAP2, verified by executing it once (emulators and
// hypervisors may advertise DC CVAP and then refuse it), the line size from CTR_EL0, and the CRC
// extension for CRC-32C.
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "arch/aarch64/flush.h"
#include "cpu.h"

namespace pmem {
namespace arm64 {
size_t g_line = 64;
}  // namespace arm64

namespace {

using arm64::CleanCvac;
using arm64::CleanCvadp;
using arm64::CleanCvap;

size_t DminLine() {
  uint64_t ctr;
  asm volatile("mrs %0, ctr_el0" : "=r"(ctr));
  return static_cast<size_t>(4) << ((ctr >> 16) & 0xf);
}

// One execution of a clean under a temporary SIGILL handler: false when the CPU (or the emulator)
// refuses it. Run once, from the first Ops() call, before any mapping exists; the previous
// handler is restored right after.
sigjmp_buf g_probe_jump;
void OnProbeSigill(int) { siglongjmp(g_probe_jump, 1); }

bool Executes(void (*clean)(uintptr_t)) {
  alignas(256) static char line[256];
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnProbeSigill;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGILL, &sa, &old) != 0) return false;
  // volatile: a local changed between sigsetjmp and siglongjmp is otherwise indeterminate after
  // the jump (the compiler may store it before the call it follows, which is what it did).
  volatile bool ok = false;
  if (sigsetjmp(g_probe_jump, 1) == 0) {
    clean(reinterpret_cast<uintptr_t>(line));
    ok = true;
  }
  sigaction(SIGILL, &old, nullptr);
  return ok;
}

struct Detected {
  CpuFeatures features;
  bool dcpop = false, cvadp = false, cvap = false, crc32 = false;
};

Detected Detect() {
  Detected d;
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  d.dcpop = hwcap & HWCAP_DCPOP;
  const bool dcpodp = hwcap2 & HWCAP2_DCPODP;
  d.crc32 = hwcap & HWCAP_CRC32;
  d.cvadp = dcpodp && Executes(CleanCvadp);
  d.cvap = d.dcpop && Executes(CleanCvap);
  d.features.Add("dcpop", d.dcpop);
  d.features.Add("dcpodp", dcpodp);
  d.features.Add("cvapExecutes", d.cvap);
  d.features.Add("cvadpExecutes", d.cvadp);
  d.features.Add("crc32", d.crc32);
  return d;
}

const Detected& Cached() {
  static const Detected d = Detect();
  return d;
}

void FenceDsb() { arm64::DsbSy(); }
PMEM_GUARDED_BODY void CopyPlain(void* d, const void* s, size_t n) { memcpy(d, s, n); }
PMEM_GUARDED_BODY void FillPlain(void* d, int c, size_t n) { memset(d, c, n); }

// The CRC extension's crc32c* instructions compute CRC-32C, 8 bytes an instruction.
__attribute__((target("+crc"))) PMEM_GUARDED_BODY uint32_t Crc32cArm(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c = __crc32cd(c, word);
  }
  for (; n > 0; p++, n--) c = __crc32cb(c, *p);
  return ~c;
}

FlushOps Choose(const Detected& d) {
  arm64::g_line = DminLine();
  // No non-temporal copy: STNP is only a hint, the lines still need a clean to reach persistence,
  // so copies are ordinary stores and the same clean loop (as libpmem2 does on aarch64).
  FlushOps ops{nullptr, nullptr, nullptr, FenceDsb, CopyPlain, FillPlain, "none", "none", false, Crc32cTable, "table", arm64::g_line, false, "dsb sy", ""};
  if (d.crc32 && !KnobSet("NODE_PMEM_NO_CRC32")) ops.crc32c = Crc32cArm, ops.crc32c_name = "crc32";
  const bool no_cvadp = KnobSet("NODE_PMEM_NO_CVADP");
  const bool no_cvap = KnobSet("NODE_PMEM_NO_CVAP");
  if (d.cvadp && !no_cvadp && !no_cvap) {
    UseFlushLoop<arm64::Flush<CleanCvadp>, arm64::DsbSy>(&ops, "cvadp");
    ops.flush_persistent = true;
  } else if (d.cvap && !no_cvap) {
    UseFlushLoop<arm64::Flush<CleanCvap>, arm64::DsbSy>(&ops, "cvap");
    ops.flush_persistent = true;
  } else {
    UseFlushLoop<arm64::Flush<CleanCvac>, arm64::DsbSy>(&ops, "cvac");
    ops.flush_note = no_cvap     ? "DC CVAP disabled by NODE_PMEM_NO_CVAP: DC CVAC, which cleans only to the point of coherency"
                     : d.dcpop    ? "HWCAP_DCPOP is set but DC CVAP raised SIGILL when tried: DC CVAC, which cleans only to the point of coherency"
                                  : "no DC CVAP on this CPU (HWCAP_DCPOP clear): DC CVAC, which cleans only to the point of coherency";
  }
  return ops;
}

}  // namespace

const CpuFeatures& Cpu() { return Cached().features; }

const FlushOps& ArchOps() noexcept {
  static const FlushOps ops = Choose(Cached());
  return ops;
}

const char* ArchName() { return "arm64"; }

}  // namespace pmem
