// libpmem's own calls reached from JavaScript through the thinnest V8 addon there can be: V8
// FunctionCallbacks that read no receiver state, a number check per argument and one range check,
// then pmem_persist / pmem_memcpy_persist on a mapping the caller attached once. Nothing on
// node-pmem's side of the boundary is in it, so bench/run.js's `(bound)` rows built on it are what
// any persist() or write() made as a call into an addon costs, with libpmem doing the work.
// Bench-only: built by bench/lib/charness.js against the running node's headers, never shipped.
#include <libpmem.h>
#include <node.h>
#include <stdint.h>

namespace {

using Info = v8::FunctionCallbackInfo<v8::Value>;

char* g_base = nullptr;
uint64_t g_size = 0;

inline bool InMapping(const Info& info, int first, int count, uint64_t* out) {
  for (int i = 0; i < count; i++) {
    v8::Local<v8::Value> v = info[first + i];
    if (!v->IsNumber()) return false;
    double d = v.As<v8::Number>()->Value();
    if (!(d >= 0 && d <= static_cast<double>(g_size))) return false;
    out[i] = static_cast<uint64_t>(d);
  }
  return true;
}

void Throw(const Info& info, const char* message) {
  v8::Isolate* isolate = info.GetIsolate();
  isolate->ThrowException(v8::Exception::RangeError(v8::String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

// attach(arrayBuffer): the mapping every later call works on (its bytes stay mapped while the
// caller holds the buffer; the bench detaches nothing before it is done with this addon).
void Attach(const Info& info) {
  if (!info[0]->IsArrayBuffer()) return Throw(info, "attach(arrayBuffer)");
  v8::Local<v8::ArrayBuffer> buffer = info[0].As<v8::ArrayBuffer>();
  g_base = static_cast<char*>(buffer->Data());
  g_size = buffer->ByteLength();
}

// persist(offset, length)
void Persist(const Info& info) {
  uint64_t a[2];
  if (!InMapping(info, 0, 2, a) || a[1] > g_size - a[0]) return Throw(info, "persist: range outside the mapping");
  pmem_persist(g_base + a[0], a[1]);
}

// drain(offset, length): persist's checks, then pmem_drain() alone (the fence, no flush): what a
// call into an addon followed by an ordering instruction costs, whatever is flushed before it.
void Drain(const Info& info) {
  uint64_t a[2];
  if (!InMapping(info, 0, 2, a) || a[1] > g_size - a[0]) return Throw(info, "drain: range outside the mapping");
  pmem_drain();
}

// memcpyPersist(offset, sourceOffset, length): both ranges in the attached mapping.
void MemcpyPersist(const Info& info) {
  uint64_t a[3];
  if (!InMapping(info, 0, 3, a) || a[2] > g_size - a[0] || a[2] > g_size - a[1])
    return Throw(info, "memcpyPersist: range outside the mapping");
  pmem_memcpy_persist(g_base + a[0], g_base + a[1], a[2]);
}

}  // namespace

NODE_MODULE_INIT() {
  // Context::GetIsolate() is gone on V8 14.6; Isolate::GetCurrent() exists on all three lines.
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // Methods with a signature on one instance, the form node-pmem's handles use: V8 calls those
  // more cheaply than plain functions (bench/boundary: v8-method against v8-plain).
  v8::Local<v8::FunctionTemplate> type = v8::FunctionTemplate::New(isolate);
  type->SetClassName(v8::String::NewFromUtf8Literal(isolate, "Libpmem"));
  v8::Local<v8::Signature> signature = v8::Signature::New(isolate, type);
  const struct {
    const char* name;
    v8::FunctionCallback fn;
  } methods[] = {{"attach", Attach}, {"persist", Persist}, {"drain", Drain}, {"memcpyPersist", MemcpyPersist}};
  for (const auto& m : methods) {
    type->PrototypeTemplate()->Set(v8::String::NewFromUtf8(isolate, m.name).ToLocalChecked(),
                                   v8::FunctionTemplate::New(isolate, m.fn, v8::Local<v8::Value>(), signature));
  }
  v8::Local<v8::Object> instance = type->GetFunction(context).ToLocalChecked()->NewInstance(context).ToLocalChecked();
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "libpmem"), instance).Check();
}
