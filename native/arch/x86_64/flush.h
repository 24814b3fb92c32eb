// x86-64 cache flush, fence and non-temporal store loops. Each routine carries its own target
// attribute so the addon runs on any x86-64 and picks the best routine at run time.
#pragma once
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "sigbus_guard.h"

namespace pmem::x86 {

inline uintptr_t LineStart(const void* addr) {
  return reinterpret_cast<uintptr_t>(addr) & ~(uintptr_t)(kCacheLine - 1);
}

inline void FlushClwb(const void* addr, size_t len) {
  uintptr_t end = reinterpret_cast<uintptr_t>(addr) + len;
  for (uintptr_t p = LineStart(addr); p < end; p += kCacheLine)
    asm volatile("clwb %0" : "+m"(*reinterpret_cast<volatile char*>(p)));
}

inline void FlushClflushopt(const void* addr, size_t len) {
  uintptr_t end = reinterpret_cast<uintptr_t>(addr) + len;
  for (uintptr_t p = LineStart(addr); p < end; p += kCacheLine)
    asm volatile("clflushopt %0" : "+m"(*reinterpret_cast<volatile char*>(p)));
}

inline void FlushClflush(const void* addr, size_t len) {
  uintptr_t end = reinterpret_cast<uintptr_t>(addr) + len;
  for (uintptr_t p = LineStart(addr); p < end; p += kCacheLine)
    asm volatile("clflush %0" : "+m"(*reinterpret_cast<volatile char*>(p)));
}

inline void Sfence() { asm volatile("sfence" ::: "memory"); }

PMEM_GUARDED_BODY inline void NtCopySse2(void* dst, const void* src, size_t len) {
  auto* d = static_cast<__m128i*>(dst);
  auto* s = static_cast<const __m128i*>(src);
  for (size_t i = 0; i < len / 16; i += 4) {
    __m128i a = _mm_loadu_si128(s + i), b = _mm_loadu_si128(s + i + 1);
    __m128i c = _mm_loadu_si128(s + i + 2), e = _mm_loadu_si128(s + i + 3);
    _mm_stream_si128(d + i, a);
    _mm_stream_si128(d + i + 1, b);
    _mm_stream_si128(d + i + 2, c);
    _mm_stream_si128(d + i + 3, e);
  }
}

PMEM_GUARDED_BODY inline void NtFillSse2(void* dst, int byte, size_t len) {
  auto* d = static_cast<__m128i*>(dst);
  __m128i v = _mm_set1_epi8(static_cast<char>(byte));
  for (size_t i = 0; i < len / 16; i++) _mm_stream_si128(d + i, v);
}

__attribute__((target("avx2"))) PMEM_GUARDED_BODY inline void NtCopyAvx2(void* dst, const void* src, size_t len) {
  auto* d = static_cast<__m256i*>(dst);
  auto* s = static_cast<const __m256i*>(src);
  for (size_t i = 0; i < len / 32; i += 2) {
    __m256i a = _mm256_loadu_si256(s + i), b = _mm256_loadu_si256(s + i + 1);
    _mm256_stream_si256(d + i, a);
    _mm256_stream_si256(d + i + 1, b);
  }
}

__attribute__((target("avx2"))) PMEM_GUARDED_BODY inline void NtFillAvx2(void* dst, int byte, size_t len) {
  auto* d = static_cast<__m256i*>(dst);
  __m256i v = _mm256_set1_epi8(static_cast<char>(byte));
  for (size_t i = 0; i < len / 32; i++) _mm256_stream_si256(d + i, v);
}

__attribute__((target("avx512f"))) PMEM_GUARDED_BODY inline void NtCopyAvx512(void* dst, const void* src, size_t len) {
  auto* d = static_cast<__m512i*>(dst);
  auto* s = static_cast<const __m512i*>(src);
  for (size_t i = 0; i < len / 64; i++) _mm512_stream_si512(d + i, _mm512_loadu_si512(s + i));
}

__attribute__((target("avx512f"))) PMEM_GUARDED_BODY inline void NtFillAvx512(void* dst, int byte, size_t len) {
  auto* d = static_cast<__m512i*>(dst);
  __m512i v = _mm512_set1_epi8(static_cast<char>(byte));
  for (size_t i = 0; i < len / 64; i++) _mm512_stream_si512(d + i, v);
}

}  // namespace pmem::x86
