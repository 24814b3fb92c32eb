// JS shape of an nd region, shared by mapping info and deviceProbe.
#pragma once
#include <napi.h>

#include "sysfs.h"

namespace pmem {

// { name, persistenceDomain, provider, asyncFlush, deepFlushPath }, or null when no region was found.
Napi::Value RegionToJs(Napi::Env env, const RegionInfo& region);

}  // namespace pmem
