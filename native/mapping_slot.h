// A mapping's state shared by its native functions (mapping_wrap.cc builds them, mapping_fast_v8.cc
// holds the hot ones); destroyed when the last of those functions is collected.
#pragma once
#include <napi.h>

#include <memory>

#include "mapping.h"

namespace pmem {

// State shared by one mapping's native functions; destroyed when the last of them is collected.
struct MappingSlot {
  napi_env env = nullptr;
  std::shared_ptr<MappingCore> core;
  napi_ref buffer = nullptr;  // the one ArrayBuffer: V8 must never see two backing stores at one address

  ~MappingSlot() {
    // Collected without close(): detach (the buffer's memory is about to go), then unmap now or
    // when in-flight work drops its pin.
    Detach();
    if (core) core->RequestClose();
    if (buffer != nullptr) napi_delete_reference(env, buffer);
  }

  bool usable() const { return core->mapped() && !core->closing(); }

  void Detach() {
    if (buffer == nullptr) return;
    napi_value value = nullptr;
    bool detached = false;
    if (napi_get_reference_value(env, buffer, &value) == napi_ok && value != nullptr &&
        napi_is_detached_arraybuffer(env, value, &detached) == napi_ok && !detached)
      napi_detach_arraybuffer(env, value);
    napi_delete_reference(env, buffer);
    buffer = nullptr;
  }
};

using SlotRef = std::shared_ptr<MappingSlot>;

}  // namespace pmem
