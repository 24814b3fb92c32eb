#include "kv_index.h"

#include <string.h>

#include "status.h"

namespace pmem {
namespace {

constexpr uint16_t kLeaf = 1;
constexpr uint16_t kInner = 2;
constexpr uint32_t kNodeHeader = 16;
constexpr uint32_t kLeafValue = 8;
constexpr uint32_t kInnerValue = 4;

// Unaligned little-endian loads and stores (the layout packs entries at any byte offset).
inline uint32_t Load16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
inline void Store16(uint8_t* p, uint32_t v) {
  uint16_t w = static_cast<uint16_t>(v);
  memcpy(p, &w, 2);
}

// A node whose header has been checked: count slots fit below heap, heap within the node.
struct Node {
  uint8_t* at;
  uint32_t count;
  uint32_t heap;
};

inline int64_t Damaged(double* out, uint32_t node, IndexDamage why) {
  out[kIndexOutBadNode] = node;
  out[kIndexOutWhy] = static_cast<double>(why);
  return kStatusIndexCorrupt;
}

// Offset in the node of entry i's key length, once its slot and extent are checked; 0 (never an
// entry: the slots start at 16) when it lies outside the heap or the node.
inline uint32_t EntryAt(const Node& n, uint32_t i, uint32_t value_size) {
  uint32_t off = Load16(n.at + kNodeHeader + 2 * i);
  if (off < n.heap || off + 2 > kIndexNodeSize) return 0;
  if (off + 2 + Load16(n.at + off) + value_size > kIndexNodeSize) return 0;
  return off;
}

// The looked-up key against an entry's key, in byte order (a shorter prefix sorts first).
inline int Compare(const uint8_t* key, size_t key_len, const uint8_t* entry) {
  size_t len = Load16(entry);
  int c = memcmp(key, entry + 2, key_len < len ? key_len : len);
  if (c != 0) return c;
  return key_len < len ? -1 : key_len > len ? 1 : 0;
}

// The descent shared by search and set: fills out's path, and on reaching the leaf, the leaf and
// (when the key is there) its entry. A guarded body of its own (it is too big to inline anyway).
PMEM_GUARDED_BODY int64_t Descend(const IndexRegion& r, uint32_t root, const uint8_t* key, size_t key_len, double* out,
                       Node* leaf, uint32_t* found_entry) {
  uint32_t n = root;
  for (int depth = 0;; depth++) {
    if (depth == kIndexMaxDepth) return Damaged(out, n, IndexDamage::kDepth);
    if (n >= r.node_count || ((r.allocated[n >> 3] >> (n & 7)) & 1) == 0) return Damaged(out, n, IndexDamage::kChild);
    out[depth] = n;
    out[kIndexOutDepth] = depth + 1;
    Node node{r.nodes + static_cast<size_t>(n) * kIndexNodeSize, 0, 0};
    uint32_t kind = Load16(node.at);
    node.count = Load16(node.at + 2);
    node.heap = Load16(node.at + 4);
    if ((kind != kLeaf && kind != kInner) || node.heap > kIndexNodeSize || kNodeHeader + 2 * node.count > node.heap ||
        (kind == kInner && node.count == 0))
      return Damaged(out, n, IndexDamage::kHeader);
    if (kind == kInner) {
      // The last entry whose key is <= the key (entry 0 stands for -infinity and is not compared).
      uint32_t lo = 1, hi = node.count;
      while (lo < hi) {
        uint32_t mid = (lo + hi) >> 1;
        uint32_t e = EntryAt(node, mid, kInnerValue);
        if (e == 0) return Damaged(out, n, IndexDamage::kEntry);
        if (Compare(key, key_len, node.at + e) >= 0) lo = mid + 1;
        else hi = mid;
      }
      uint32_t e = EntryAt(node, lo - 1, kInnerValue);
      if (e == 0) return Damaged(out, n, IndexDamage::kEntry);
      out[kIndexMaxDepth + depth] = lo - 1;
      n = Load32(node.at + e + 2 + Load16(node.at + e));
      continue;
    }
    // Leaf: the first entry whose key is >= the key.
    uint32_t lo = 0, hi = node.count;
    while (lo < hi) {
      uint32_t mid = (lo + hi) >> 1;
      uint32_t e = EntryAt(node, mid, kLeafValue);
      if (e == 0) return Damaged(out, n, IndexDamage::kEntry);
      if (Compare(key, key_len, node.at + e) > 0) lo = mid + 1;
      else hi = mid;
    }
    *leaf = node;
    *found_entry = 0;
    if (lo < node.count) {
      uint32_t e = EntryAt(node, lo, kLeafValue);
      if (e == 0) return Damaged(out, n, IndexDamage::kEntry);
      if (Compare(key, key_len, node.at + e) == 0) {
        double value;
        memcpy(&value, node.at + e + 2 + key_len, 8);
        out[kIndexOutValue] = value;
        *found_entry = e;
        return (static_cast<int64_t>(lo) << 2) | kIndexFound;
      }
    }
    return static_cast<int64_t>(lo) << 2;
  }
}

}  // namespace

int64_t IndexSearchUnguarded(const IndexRegion& r, uint32_t root, const uint8_t* key, size_t key_len, double* out) {
  Node leaf;
  uint32_t entry;
  int64_t rc = Descend(r, root, key, key_len, out, &leaf, &entry);
  // The caller reads the record next (its header, checksum and key): start its first lines now.
  // A prefetch never faults, whatever the address.
  double base = out[kIndexOutRecordBase];
  if (rc >= 0 && (rc & kIndexFound) != 0 && base > 0) {
    const uint8_t* record = r.nodes - static_cast<uintptr_t>(base) + static_cast<uintptr_t>(out[kIndexOutValue]);
    __builtin_prefetch(record);
    __builtin_prefetch(record + 64);
    __builtin_prefetch(record + 128);
  }
  return rc;
}

int64_t IndexSetUnguarded(const IndexRegion& r, uint32_t root, const uint8_t* key, size_t key_len, double value,
                          uint32_t epoch, double* out) {
  Node leaf;
  uint32_t entry;
  int64_t rc = Descend(r, root, key, key_len, out, &leaf, &entry);
  // Only a leaf made in this epoch may change in place (copy-on-write, lib/kv/btree.ts).
  if (rc < 0 || Load32(leaf.at + 8) != epoch) return rc;
  if (entry != 0) {
    memcpy(leaf.at + entry + 2 + key_len, &value, 8);
    return rc | kIndexApplied;
  }
  uint32_t size = static_cast<uint32_t>(2 + key_len + kLeafValue);
  if (leaf.heap < kNodeHeader + 2 * (leaf.count + 1) + size) return rc;  // needs a compaction or a split
  uint32_t slot = static_cast<uint32_t>(rc >> 2);
  uint32_t heap = leaf.heap - size;
  uint8_t* e = leaf.at + heap;
  Store16(e, static_cast<uint32_t>(key_len));
  memcpy(e + 2, key, key_len);
  memcpy(e + 2 + key_len, &value, 8);
  uint8_t* slots = leaf.at + kNodeHeader;
  memmove(slots + 2 * (slot + 1), slots + 2 * slot, 2 * (leaf.count - slot));
  Store16(slots + 2 * slot, heap);
  Store16(leaf.at + 2, leaf.count + 1);
  Store16(leaf.at + 4, heap);
  return rc | kIndexApplied;
}

}  // namespace pmem
