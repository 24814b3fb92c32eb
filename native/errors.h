// Builds every JS error the addon throws (cold paths only).
#pragma once
#include <napi.h>
#include "status.h"

namespace pmem {

Napi::Error MakeError(Napi::Env env, const Failure& failure);
[[noreturn]] void ThrowFailure(Napi::Env env, const Failure& failure);

}  // namespace pmem
