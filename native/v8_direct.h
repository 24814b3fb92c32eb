// The few places node-pmem talks to V8 directly instead of through N-API, each because N-API
// cannot do it or costs too much on a hot path:
// - the mapping's ArrayBuffer: Node 20 builds napi_create_external_arraybuffer on node::Buffer,
//   which refuses more than 4 GiB and reports the memory as external allocations, so V8 runs a full
//   GC at every open of a large mapping; a V8 backing store with EmptyDeleter has neither problem;
// - the hot mapping methods, as plain V8 function callbacks (mapping_fast_v8.cc): N-API's
//   callback wrapper and argument reading cost ~40 ns a call.
// They rely on N-API's own representation of a napi_value as the address of a Local's handle
// slot (v8impl::JsValueFromV8LocalValue), so the addon is built per Node version, as node-gyp does.
#pragma once
#include <napi.h>
#include <v8.h>

namespace pmem {

// A detachable ArrayBuffer over [data, data + length) that never frees the memory: the mapping
// detaches it before munmap.
Napi::ArrayBuffer MappedArrayBuffer(Napi::Env env, void* data, size_t length);

// A V8 value as N-API's napi_value (valid in the current HandleScope).
napi_value ToNapiValue(v8::Local<v8::Value> value);

}  // namespace pmem
