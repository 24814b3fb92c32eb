#include "kv_index_wrap.h"

#include "js_args.h"
#include "kv_index.h"

namespace pmem {
namespace {

using Info = v8::FunctionCallbackInfo<v8::Value>;

// lib/kv/btree.ts's MAX_KEY: an entry's key length is a u16, and three entries fit in a node.
constexpr size_t kMaxKey = 1024;

// The arguments both calls share, checked: 0, or the status to return. `nodes` views the region's
// nodes (node_count = its length / 4096). `state` views the tree's DRAM state: the output
// (kIndexOutLength doubles), then the allocation bitmap (a bit for each node) to its end. One view
// for both, because each typed array argument costs about as much as the rest of a call.
int Region(const Info& info, IndexRegion* r, uint32_t* root, const uint8_t** key, size_t* key_len, double** out) {
  uint8_t *nodes, *state, *key_bytes;
  size_t nodes_len, state_len;
  uint64_t root_index;
  int rc = BytesArg(info[0], &nodes, &nodes_len);  // -EBADF: the mapping was closed
  if (rc != 0) return rc;
  if (BytesArg(info[1], &state, &state_len) != 0 || !Index(info[2], &root_index) ||
      BytesArg(info[3], &key_bytes, key_len) != 0)
    return -EINVAL;
  *key = key_bytes;
  constexpr size_t kOutBytes = kIndexOutLength * sizeof(double);
  uint64_t node_count = nodes_len / kIndexNodeSize;
  if (node_count == 0 || node_count > UINT32_MAX || reinterpret_cast<uintptr_t>(state) % alignof(double) != 0 ||
      state_len < kOutBytes || (state_len - kOutBytes) * 8 < node_count || *key_len > kMaxKey || root_index >= node_count)
    return -EINVAL;
  static const uint8_t kEmptyKey[1] = {0};
  if (*key_len == 0) *key = kEmptyKey;  // an empty view has no data pointer; memcmp/memcpy want one
  r->nodes = nodes;
  r->node_count = static_cast<uint32_t>(node_count);
  r->allocated = state + kOutBytes;
  *out = reinterpret_cast<double*>(state);
  *root = static_cast<uint32_t>(root_index);
  return 0;
}

}  // namespace

void KvIndexSearchJs(const Info& info) {
  IndexRegion r;
  uint32_t root;
  const uint8_t* key;
  size_t key_len;
  double* out;
  int rc = Region(info, &r, &root, &key, &key_len, &out);
  if (rc != 0) return Return(info, rc);
  if (info.Length() == 4) return Return(info, GuardedOnView([&] { return IndexSearchUnguarded(r, root, key, key_len, out); }));
  // kvIndexSet: (value, epoch) follow.
  uint64_t epoch;
  if (!info[4]->IsNumber() || !Index(info[5], &epoch) || epoch > UINT32_MAX) return Return(info, -EINVAL);
  double value = info[4].As<v8::Number>()->Value();
  Return(info, GuardedOnView([&] { return IndexSetUnguarded(r, root, key, key_len, value, static_cast<uint32_t>(epoch), out); }));
}

}  // namespace pmem
