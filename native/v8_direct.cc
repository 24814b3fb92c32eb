#include "v8_direct.h"

#include <string.h>
#include <v8.h>

namespace pmem {

Napi::ArrayBuffer MappedArrayBuffer(Napi::Env env, void* data, size_t length) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // The mapping owns the memory (munmap at close, after Detach()); V8 must never free it. With
  // V8's EmptyDeleter the backing store is not counted as external memory: a 64 GiB mapping
  // would otherwise count as 64 GiB of allocations and force a full GC at every open().
  std::unique_ptr<v8::BackingStore> store =
      v8::ArrayBuffer::NewBackingStore(data, length, v8::BackingStore::EmptyDeleter, nullptr);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  return Napi::ArrayBuffer(env, ToNapiValue(buffer));
}

napi_value ToNapiValue(v8::Local<v8::Value> value) {
  // Node's N-API represents a napi_value as the address of the Local's handle slot
  // (v8impl::JsValueFromV8LocalValue); the Local lives in the current HandleScope.
  napi_value raw;
  static_assert(sizeof(raw) == sizeof(value), "napi_value and v8::Local have the same size");
  memcpy(&raw, &value, sizeof(raw));
  return raw;
}

}  // namespace pmem
