// Shared contract for every style: (offset, length), each a non-negative integer <= 2^53-1
// (Number.MAX_SAFE_INTEGER, as native/mapping_wrap.cc Index() takes them); range-checked against a
// C++ state's size; returns a status number (0 ok, -EINVAL bad arg, -ERANGE out of range).
// Like node-pmem's persist(): nothing allocated, nothing thrown, minus the flush itself.
#pragma once
#include <errno.h>
#include <math.h>
#include <stdint.h>

constexpr double kMaxSafeInteger = 9007199254740991.0;

struct State {
  uint64_t size;
  uint64_t calls;
};

inline bool IndexOk(double d, uint64_t* out) {
  if (!(d >= 0 && d <= kMaxSafeInteger) || d != floor(d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

inline double Op(State* s, double doff, double dlen) {
  uint64_t off, len;
  if (!IndexOk(doff, &off) || !IndexOk(dlen, &len)) return -EINVAL;
  if (off > s->size || len > s->size - off) return -ERANGE;
  s->calls++;
  return 0;
}
