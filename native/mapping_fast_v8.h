// The hot mapping methods as plain V8 function callbacks (see mapping_fast_v8.cc).
#pragma once
#include <napi.h>

#include "mapping_slot.h"

namespace pmem {

// Creates the method `name` bound to `ref` when it is one of the hot ones; false otherwise (the
// caller then builds the N-API version).
bool CreateFastMethod(const char* name, SlotRef* ref, napi_value* out);

}  // namespace pmem
