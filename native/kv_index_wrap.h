// The JS face of kv_index.h: module functions (not methods of a mapping), because the index is
// read through a view, and the crash simulator's mappings have no native side.
#pragma once
#include <v8.h>

namespace pmem {

// kvIndexSearch(nodes: Uint8Array, state: Uint8Array, root, key: Uint8Array), and with
// (value: number, epoch) after those, the set: one function, for one argument check.
void KvIndexSearchJs(const v8::FunctionCallbackInfo<v8::Value>& info);

}  // namespace pmem
