// The few places node-pmem talks to V8 directly instead of through N-API, each because N-API
// cannot do it or costs too much on a hot path:
// - the mapping's ArrayBuffer: Node 20 builds napi_create_external_arraybuffer on node::Buffer,
//   which refuses more than 4 GiB and reports the memory as external allocations, so V8 runs a full
//   GC at every open of a large mapping; a V8 backing store with EmptyDeleter has neither problem;
// - reading Uint8Array / Float64Array arguments (napi_get_typedarray_info costs ~40 ns).
// They rely on N-API's own representation of a napi_value as the address of a Local's handle
// slot (v8impl::JsValueFromV8LocalValue), so the addon is built per Node version, as node-gyp does.
#pragma once
#include <napi.h>

namespace pmem {

// A detachable ArrayBuffer over [data, data + length) that never frees the memory: the mapping
// detaches it before munmap.
Napi::ArrayBuffer MappedArrayBuffer(Napi::Env env, void* data, size_t length);

// The bytes of a Uint8Array / Float64Array argument, straight from V8: napi_get_typedarray_info
// walks a chain of type checks and costs ~40 ns, a third of a 4 KiB copy. False when `value` is
// not exactly that kind of typed array. A detached array gives length 0.
bool Uint8ArrayBytes(napi_value value, char** data, size_t* length);
bool Float64ArrayElements(napi_value value, double** data, size_t* count);

}  // namespace pmem
