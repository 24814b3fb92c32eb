// Argument reading shared by the wrap layer.
#pragma once
#include <errno.h>
#include <math.h>
#include <napi.h>
#include <stdint.h>

namespace pmem {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

// A non-negative safe integer from JS, without creating any JS object.
inline bool ReadIndex(napi_env env, napi_value v, uint64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= kMaxSafeInteger) || d != floor(d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

}  // namespace pmem
