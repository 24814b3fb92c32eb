// The JS face of a MappingCore: a plain object whose methods are native functions bound to the
// mapping (the function's data pointer), not an ObjectWrap. A bound call skips napi_unwrap, the
// slowest part of an instance-method call (about 2/3 of its cost here), and ignores `this`, so a
// method called on the wrong receiver cannot reach another mapping. Hot methods take plain
// numbers and return a status number (>= 0 ok, -errno); they never allocate JS objects on success.
#pragma once
#include <napi.h>

#include <memory>

#include "addon_data.h"
#include "mapping.h"

namespace pmem {

// Builds the handle object for a freshly mapped core and registers it with the env.
Napi::Object CreateMappingHandle(Napi::Env env, AddonData* data, std::shared_ptr<MappingCore> core);

}  // namespace pmem
