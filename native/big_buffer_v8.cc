#include "big_buffer_v8.h"

#include <string.h>
#include <v8.h>

namespace pmem {
namespace {
// The mapping owns the memory (munmap at close); V8 must never free it.
void KeepMemory(void*, size_t, void*) {}
}  // namespace

Napi::ArrayBuffer BigExternalArrayBuffer(Napi::Env env, void* data, size_t length) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, length, KeepMemory, nullptr);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  // Node's N-API represents a napi_value as the address of the Local's handle slot
  // (v8impl::JsValueFromV8LocalValue); the Local lives in the callback's HandleScope.
  v8::Local<v8::Value> value = buffer;
  napi_value raw;
  static_assert(sizeof(raw) == sizeof(value), "napi_value and v8::Local have the same size");
  memcpy(&raw, &value, sizeof(raw));
  return Napi::ArrayBuffer(env, raw);
}

}  // namespace pmem
