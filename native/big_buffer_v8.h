// An external ArrayBuffer larger than 4 GiB. Node 20 implements napi_create_external_arraybuffer
// through node::Buffer, which refuses more than 4 GiB (ERR_BUFFER_TOO_LARGE); V8 itself allows
// up to 2^53 - 1 bytes, so mappings above 4 GiB get their ArrayBuffer from V8 directly.
#pragma once
#include <napi.h>

namespace pmem {

constexpr size_t kNodeExternalBufferLimit = size_t{1} << 32;

// A detachable ArrayBuffer over [data, data + length) that never frees the memory.
Napi::ArrayBuffer BigExternalArrayBuffer(Napi::Env env, void* data, size_t length);

}  // namespace pmem
