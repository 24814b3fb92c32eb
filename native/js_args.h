// Reading the arguments of hot native calls, and returning their result, without creating JS
// objects: the one way mapping_wrap.cc, kv_index_wrap.cc and addon.cc take numbers and typed
// arrays from JS and hand a status or a count back.
#pragma once
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <v8.h>

#include "js_object.h"
#include "sigbus_guard.h"
#include "status.h"

namespace pmem {

// A non-negative safe integer.
inline bool Index(v8::Local<v8::Value> v, uint64_t* out) {
  if (!v->IsNumber()) return false;
  double d = v.As<v8::Number>()->Value();
  if (!(d >= 0 && d <= kMaxSafeInteger) || d != floor(d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

// A hot call's result: a status (>= 0 ok, -errno) or a count. In the Smi range (every status,
// most counts) it is stored inline; Set(double) calls out to Number::New and takes a handle.
inline void Return(const v8::FunctionCallbackInfo<v8::Value>& info, int64_t value) {
  if (value >= INT32_MIN && value <= INT32_MAX) return info.GetReturnValue().Set(static_cast<int32_t>(value));
  info.GetReturnValue().Set(static_cast<double>(value));
}

// V8's typed_array_max_size_in_heap default (a build-time setting): typed arrays up to this many
// bytes may keep their bytes on the V8 heap, where GetContents copies them out.
constexpr size_t kOnHeapMax = 64;

// The bytes of a typed array argument of exactly this kind, in place (the call may write them);
// false otherwise, or when its buffer is detached (a detached view has length 0 and would
// otherwise read as an empty source). Where V8 has GetContents (13+), an off-heap array's bytes
// come in that one V8 call instead of four (ByteLength, Buffer, Data, ByteOffset); an on-heap one
// comes back as a copy, so it takes the four calls, whose Buffer() moves its bytes off-heap for
// good (Data() is then stable, and the next call takes the one-call path).
template <typename T>
bool ViewOf(v8::Local<v8::Value> v, bool is_kind, T** data, size_t* length) {
  if (!is_kind) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
#if V8_MAJOR_VERSION >= 13
  uint8_t copied[kOnHeapMax];
  v8::MemorySpan<uint8_t> bytes = view->GetContents(v8::MemorySpan<uint8_t>(copied, kOnHeapMax));
  if (bytes.size() != 0 && bytes.data() != copied) {
    *length = bytes.size() / sizeof(T);
    *data = reinterpret_cast<T*>(bytes.data());
    return true;
  }
#endif
  *length = view->ByteLength() / sizeof(T);
  if (*length == 0) {
    *data = nullptr;
    return !view->Buffer()->WasDetached();
  }
  *data = reinterpret_cast<T*>(static_cast<char*>(view->Buffer()->Data()) + view->ByteOffset());
  return true;
}

// The bytes of a Uint8Array the call only reads (a copy's source): ViewOf's contract in one V8 call
// where V8 has it (13+), on-heap arrays included: one of up to kOnHeapMax bytes is copied into
// `storage`, so *data is valid while `storage` is.
inline bool SourceBytes(v8::Local<v8::Value> v, uint8_t (&storage)[kOnHeapMax], const char** data, size_t* length) {
#if V8_MAJOR_VERSION >= 13
  if (!v->IsUint8Array()) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
  v8::MemorySpan<uint8_t> bytes = view->GetContents(v8::MemorySpan<uint8_t>(storage, kOnHeapMax));
  *length = bytes.size();
  *data = reinterpret_cast<const char*>(bytes.data());
  return *length != 0 || !view->Buffer()->WasDetached();
#else
  (void)storage;
  char* bytes;
  bool ok = ViewOf(v, v->IsUint8Array(), &bytes, length);
  *data = bytes;
  return ok;
#endif
}

// A Uint8Array argument's bytes: 0, -EINVAL when it is not one, -EBADF when its buffer is
// detached (a closed mapping's view).
inline int BytesArg(v8::Local<v8::Value> v, uint8_t** data, size_t* length) {
  if (!v->IsUint8Array()) return -EINVAL;
  return ViewOf(v, true, data, length) ? 0 : -EBADF;
}

// body() under the SIGBUS guard, for a call that reads memory it was given as a view (so it has no
// mapping to ask why): a SIGBUS is kStatusFault, and the JS side asks the mapping it knows.
template <typename Body>
double GuardedOnView(const Body& body) {
  int64_t rc = Guarded(body);
  return static_cast<double>(rc == kSigbus ? kStatusFault : rc);
}

}  // namespace pmem
