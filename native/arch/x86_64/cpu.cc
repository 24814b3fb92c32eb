#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/flush.h"
#include "cpu.h"

namespace pmem {
namespace {

// AVX state must be enabled by the OS (XCR0) before AVX instructions may run.
bool OsSavesYmm(bool avx512) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) return false;
  unsigned int lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  unsigned int need = avx512 ? 0xE6 : 0x06;
  return (lo & need) == need;
}

CpuFeatures Detect() {
  bool clflush = false, clflushopt = false, clwb = false, sse2 = false, avx2 = false, avx512f = false, sse42 = false;
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    clflush = edx & (1u << 19);
    sse2 = edx & (1u << 26);
    sse42 = ecx & (1u << 20);
  }
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    clflushopt = ebx & (1u << 23);
    clwb = ebx & (1u << 24);
    avx2 = (ebx & (1u << 5)) && OsSavesYmm(false);
    avx512f = (ebx & (1u << 16)) && OsSavesYmm(true);
  }
  CpuFeatures f;
  f.Add("clwb", clwb);
  f.Add("clflushopt", clflushopt);
  f.Add("clflush", clflush);
  f.Add("sse2", sse2);
  f.Add("avx2", avx2);
  f.Add("avx512f", avx512f);
  f.Add("sse42", sse42);
  return f;
}

bool Has(const CpuFeatures& f, const char* name) {
  for (size_t i = 0; i < f.count; i++)
    if (strcmp(f.list[i].name, name) == 0) return f.list[i].present;
  return false;
}

void FenceSfence() { x86::Sfence(); }
PMEM_GUARDED_BODY void CopyPlain(void* d, const void* s, size_t n) { memcpy(d, s, n); }
PMEM_GUARDED_BODY void FillPlain(void* d, int c, size_t n) { memset(d, c, n); }

// SSE4.2's crc32 computes CRC-32C (the Castagnoli polynomial), 8 bytes an instruction.
__attribute__((target("sse4.2"))) PMEM_GUARDED_BODY uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; p++, n--) c32 = __builtin_ia32_crc32qi(c32, *p);
  return ~c32;
}

FlushOps Choose(const CpuFeatures& f) {
  FlushOps ops{nullptr, nullptr, nullptr, FenceSfence, CopyPlain, FillPlain, "none", "none", false, Crc32cTable, "table", kCacheLine, false, "sfence", ""};
  if (Has(f, "sse42") && !KnobSet("NODE_PMEM_NO_SSE42")) ops.crc32c = Crc32cSse42, ops.crc32c_name = "sse4.2";
  if (Has(f, "clwb") && !KnobSet("NODE_PMEM_NO_CLWB")) {
    UseFlushLoop<x86::FlushClwb, x86::Sfence>(&ops, "clwb");
  } else if (Has(f, "clflushopt") && !KnobSet("NODE_PMEM_NO_CLFLUSHOPT")) {
    UseFlushLoop<x86::FlushClflushopt, x86::Sfence>(&ops, "clflushopt");
  } else if (Has(f, "clflush")) {
    UseFlushLoop<x86::FlushClflush, x86::Sfence>(&ops, "clflush");
  }
  // Each of them writes the line back to the memory controller, which ADR makes persistent.
  ops.flush_persistent = ops.flush != nullptr;
  if (KnobSet("NODE_PMEM_NO_MOVNT")) return ops;
  if (Has(f, "avx512f") && !KnobSet("NODE_PMEM_NO_AVX512F")) {
    ops.nt_copy = x86::NtCopyAvx512, ops.nt_fill = x86::NtFillAvx512, ops.nt_name = "avx512f";
    ops.non_temporal = true;
  } else if (Has(f, "avx2") && !KnobSet("NODE_PMEM_NO_AVX2")) {
    ops.nt_copy = x86::NtCopyAvx2, ops.nt_fill = x86::NtFillAvx2, ops.nt_name = "avx2";
    ops.non_temporal = true;
  } else if (Has(f, "sse2")) {
    ops.nt_copy = x86::NtCopySse2, ops.nt_fill = x86::NtFillSse2, ops.nt_name = "sse2";
    ops.non_temporal = true;
  }
  return ops;
}

}  // namespace

const CpuFeatures& Cpu() {
  static const CpuFeatures features = Detect();
  return features;
}

const FlushOps& ArchOps() noexcept {
  static const FlushOps ops = Choose(Cpu());
  return ops;
}

const char* ArchName() { return "x64"; }

}  // namespace pmem
