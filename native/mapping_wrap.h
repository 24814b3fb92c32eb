// MappingHandle: the JS object over a MappingCore. Hot methods take plain numbers and return a
// status number (>= 0 ok, -errno); they never allocate JS objects on success.
#pragma once
#include <napi.h>

#include <memory>

#include "addon_data.h"
#include "mapping.h"

namespace pmem {

class MappingHandle : public Napi::ObjectWrap<MappingHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps a freshly mapped core in a new JS handle.
  static Napi::Object Create(Napi::Env env, AddonData* data, std::shared_ptr<MappingCore> core);

  explicit MappingHandle(const Napi::CallbackInfo& info);
  ~MappingHandle() override;

 private:
  Napi::Value JS_buffer(const Napi::CallbackInfo& info);
  Napi::Value JS_info(const Napi::CallbackInfo& info);
  Napi::Value JS_flush(const Napi::CallbackInfo& info);
  Napi::Value JS_drain(const Napi::CallbackInfo& info);
  Napi::Value JS_persist(const Napi::CallbackInfo& info);
  Napi::Value JS_persistAsync(const Napi::CallbackInfo& info);
  Napi::Value JS_persistExtents(const Napi::CallbackInfo& info);
  Napi::Value JS_coalesceExtents(const Napi::CallbackInfo& info);
  Napi::Value JS_copyPersist(const Napi::CallbackInfo& info);
  Napi::Value JS_fillPersist(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  Napi::Value JS_pins(const Napi::CallbackInfo& info);

  void Detach();

  std::shared_ptr<MappingCore> core_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  bool detached_ = false;
};

}  // namespace pmem
