// Reading the arguments of hot native calls without creating JS objects: the one way both
// mapping_wrap.cc and kv_index_wrap.cc take numbers and typed arrays from JS.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <v8.h>

#include "js_object.h"

namespace pmem {

// A non-negative safe integer.
inline bool Index(v8::Local<v8::Value> v, uint64_t* out) {
  if (!v->IsNumber()) return false;
  double d = v.As<v8::Number>()->Value();
  if (!(d >= 0 && d <= kMaxSafeInteger) || d != floor(d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

// The bytes of a typed array argument of exactly this kind; false otherwise, or when its buffer
// is detached (a detached view has length 0 and would otherwise read as an empty source).
// Buffer() moves an on-heap array's bytes off-heap once; Data() is then stable.
template <typename T>
bool ViewOf(v8::Local<v8::Value> v, bool is_kind, T** data, size_t* length) {
  if (!is_kind) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
  *length = view->ByteLength() / sizeof(T);
  if (*length == 0) {
    *data = nullptr;
    return !view->Buffer()->WasDetached();
  }
  *data = reinterpret_cast<T*>(static_cast<char*>(view->Buffer()->Data()) + view->ByteOffset());
  return true;
}

}  // namespace pmem
