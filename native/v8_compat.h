// The V8 API differences between the supported Node lines (22: V8 12.4, 24: 13.6, 26: 14.6), in
// one place. V8 14 tags embedder pointers (internal fields, External) so a pointer stored as one
// type cannot be read back as another; node-pmem uses one tag per kind of pointer.
#pragma once
#include <v8.h>

namespace pmem {

// Small numbers: V8 14 allows 15 embedder-data tags and 40 External tags; Node itself uses 0.
enum class PointerTag : uint16_t { kAddonData = 7, kMappingHandle = 8 };

inline v8::Local<v8::External> NewExternal(v8::Isolate* isolate, void* value, PointerTag tag) {
#if V8_MAJOR_VERSION >= 14
  return v8::External::New(isolate, value, static_cast<v8::ExternalPointerTypeTag>(tag));
#else
  (void)tag;
  return v8::External::New(isolate, value);
#endif
}

inline void* ExternalValue(v8::Local<v8::Value> value, PointerTag tag) {
#if V8_MAJOR_VERSION >= 14
  return value.As<v8::External>()->Value(static_cast<v8::ExternalPointerTypeTag>(tag));
#else
  (void)tag;
  return value.As<v8::External>()->Value();
#endif
}

inline void SetInternalPointer(v8::Local<v8::Object> object, int index, void* value, PointerTag tag) {
#if V8_MAJOR_VERSION >= 14
  object->SetAlignedPointerInInternalField(index, value, static_cast<v8::EmbedderDataTypeTag>(tag));
#else
  (void)tag;
  object->SetAlignedPointerInInternalField(index, value);
#endif
}

inline void* InternalPointer(v8::Local<v8::Object> object, int index, PointerTag tag) {
#if V8_MAJOR_VERSION >= 14
  return object->GetAlignedPointerFromInternalField(index, static_cast<v8::EmbedderDataTypeTag>(tag));
#else
  (void)tag;
  return object->GetAlignedPointerFromInternalField(index);
#endif
}

// The mapped ArrayBuffer's detach key. From V8 13 (Node 24) a key makes transfer(),
// structuredClone and postMessage of the buffer throw, and only the key's holder can detach it.
// V8 12.4 (Node 22) has keys too, but ArrayBuffer.prototype.transfer() on a keyed buffer is a
// fatal error there (it checks the failed detach), so on 22 the buffer gets no key; lib/open.ts
// marks it untransferable and shadows transfer() instead (see README, "Lifetime").
constexpr bool kDetachKeys = V8_MAJOR_VERSION >= 13;

inline void SetDetachKey(v8::Local<v8::ArrayBuffer> buffer, v8::Local<v8::Value> key) {
  if (kDetachKeys) buffer->SetDetachKey(key);
}

// False only when the isolate is terminating.
inline bool DetachWithKey(v8::Local<v8::ArrayBuffer> buffer, v8::Local<v8::Value> key) {
  return buffer->Detach(kDetachKeys ? key : v8::Local<v8::Value>()).FromMaybe(false);
}

}  // namespace pmem
