#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/flush.h"
#include "cpu.h"

namespace pmem {
namespace {

bool EnvSet(const char* name) {
  const char* v = getenv(name);
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

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
  CpuFeatures f;
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    f.clflush = edx & (1u << 19);
    f.sse2 = edx & (1u << 26);
    f.sse42 = ecx & (1u << 20);
  }
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.clflushopt = ebx & (1u << 23);
    f.clwb = ebx & (1u << 24);
    f.avx2 = (ebx & (1u << 5)) && OsSavesYmm(false);
    f.avx512f = (ebx & (1u << 16)) && OsSavesYmm(true);
  }
  return f;
}

void FenceSfence() { x86::Sfence(); }
PMEM_GUARDED_BODY void FlushClwb(const void* a, size_t n) { x86::FlushClwb(a, n); }
PMEM_GUARDED_BODY void FlushClflushopt(const void* a, size_t n) { x86::FlushClflushopt(a, n); }
PMEM_GUARDED_BODY void FlushClflush(const void* a, size_t n) { x86::FlushClflush(a, n); }
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
  FlushOps ops{nullptr, nullptr, FenceSfence, CopyPlain, FillPlain, "none", "none", false, Crc32cTable, "table"};
  if (f.sse42 && !EnvSet("NODE_PMEM_NO_SSE42")) ops.crc32c = Crc32cSse42, ops.crc32c_name = "sse4.2";
  if (f.clwb && !EnvSet("NODE_PMEM_NO_CLWB")) {
    ops.flush = FlushClwb, ops.flush_runs = extents::FlushRuns<x86::FlushClwb>, ops.flush_name = "clwb";
  } else if (f.clflushopt && !EnvSet("NODE_PMEM_NO_CLFLUSHOPT")) {
    ops.flush = FlushClflushopt, ops.flush_runs = extents::FlushRuns<x86::FlushClflushopt>;
    ops.flush_name = "clflushopt";
  } else if (f.clflush) {
    ops.flush = FlushClflush, ops.flush_runs = extents::FlushRuns<x86::FlushClflush>, ops.flush_name = "clflush";
  }
  if (EnvSet("NODE_PMEM_NO_MOVNT")) return ops;
  if (f.avx512f && !EnvSet("NODE_PMEM_NO_AVX512F")) {
    ops.nt_copy = x86::NtCopyAvx512, ops.nt_fill = x86::NtFillAvx512, ops.nt_name = "avx512f";
    ops.non_temporal = true;
  } else if (f.avx2 && !EnvSet("NODE_PMEM_NO_AVX2")) {
    ops.nt_copy = x86::NtCopyAvx2, ops.nt_fill = x86::NtFillAvx2, ops.nt_name = "avx2";
    ops.non_temporal = true;
  } else if (f.sse2) {
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

const FlushOps& Ops() {
  static const FlushOps ops = Choose(Cpu());
  return ops;
}

const char* ArchName() { return "x64"; }

}  // namespace pmem
