// One-line preconditions for the wrap layer.
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

// Hot-path guards: return a status number instead of throwing (the TS layer throws).
#define RETURN_STATUS(env, rc) return Napi::Number::New((env), (rc))
#define REQUIRE_MAPPED_OR_STATUS(env, core) \
  if (!(core) || !(core)->mapped() || (core)->closing()) RETURN_STATUS(env, -EBADF)
#define REQUIRE_INDEX_OR_STATUS(env, value, out) \
  if (!::pmem::ReadIndex((env), (value), &(out))) RETURN_STATUS(env, -EINVAL)
