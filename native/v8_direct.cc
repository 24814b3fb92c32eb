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
  // Node's N-API represents a napi_value as the address of the Local's handle slot
  // (v8impl::JsValueFromV8LocalValue); the Local lives in the callback's HandleScope.
  v8::Local<v8::Value> value = buffer;
  napi_value raw;
  static_assert(sizeof(raw) == sizeof(value), "napi_value and v8::Local have the same size");
  memcpy(&raw, &value, sizeof(raw));
  return Napi::ArrayBuffer(env, raw);
}

namespace {
v8::Local<v8::Value> AsLocal(napi_value value) {
  v8::Local<v8::Value> local;  // the layout N-API itself relies on (v8impl::V8LocalValueFromJsValue)
  static_assert(sizeof(local) == sizeof(value), "napi_value and v8::Local have the same size");
  memcpy(static_cast<void*>(&local), &value, sizeof(local));
  return local;
}

char* ViewBytes(v8::Local<v8::ArrayBufferView> view) {
  // Buffer() moves an on-heap array's bytes off-heap (once); Data() is then stable during the call.
  v8::Local<v8::ArrayBuffer> buffer = view->Buffer();
  char* base = static_cast<char*>(buffer->Data());
  return base == nullptr ? nullptr : base + view->ByteOffset();
}
}  // namespace

bool Uint8ArrayBytes(napi_value value, char** data, size_t* length) {
  v8::Local<v8::Value> v = AsLocal(value);
  if (v.IsEmpty() || !v->IsUint8Array()) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
  *length = view->ByteLength();
  *data = *length == 0 ? nullptr : ViewBytes(view);
  return true;
}

bool Float64ArrayElements(napi_value value, double** data, size_t* count) {
  v8::Local<v8::Value> v = AsLocal(value);
  if (v.IsEmpty() || !v->IsFloat64Array()) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
  *count = view->ByteLength() / sizeof(double);
  *data = *count == 0 ? nullptr : reinterpret_cast<double*>(ViewBytes(view));
  return true;
}

}  // namespace pmem
