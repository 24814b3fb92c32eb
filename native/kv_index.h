// The hot half of node-pmem/kv's index (lib/kv/btree.ts): the descent of its B+-tree, and a set
// that lands in a leaf the current epoch may change in place and that has room. Everything else
// the tree does (copy-on-write, splits, deletes, checkpoints, iteration) stays in TypeScript; these
// two are where a put and a get spend their time, and JS pays about three times C's cost for the
// dependent loads of a binary search over 4 KiB nodes.
//
// The node layout is lib/kv/btree.ts's (its module comment is the definition; both sides must
// agree): little-endian, 4096-byte nodes of
//   0 u16 kind (1 leaf, 2 inner) | 2 u16 count | 4 u16 heap start | 6 u16 garbage | 8 u32 epoch
//   | 12 u32 0 | 16 u16 slot[count] (entry offsets, in key order) | entries: u16 key length | key
//   | leaf: f64 value, inner: u32 child. An inner node's entry 0 has an empty key (-infinity).
//
// Nothing read is trusted: every node's header, every slot and entry the walk touches and every
// child it follows are checked against the node's bounds, the node count and the allocation
// bitmap, and the walk stops at kIndexMaxDepth, so a damaged tree is a status, never an access
// outside the region or a loop.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "sigbus_guard.h"

namespace pmem {

constexpr uint32_t kIndexNodeSize = 4096;
// Deeper than any tree of 4 GiB of nodes holding at least three entries each.
constexpr int kIndexMaxDepth = 48;

// Where the walk writes what it found (a Float64Array on the JS side):
//   [0, kIndexMaxDepth)              the path's node numbers, root first
//   [kIndexMaxDepth, 2*kIndexMaxDepth) the entry taken in each inner node of the path
//   kIndexOutValue                   the value found (search), or the one replaced (set)
//   kIndexOutDepth                   nodes on the path (so far, when the walk stopped early)
//   kIndexOutBadNode, kIndexOutWhy   a damaged node and an IndexDamage, with kStatusIndexCorrupt
constexpr int kIndexOutValue = 2 * kIndexMaxDepth;
constexpr int kIndexOutDepth = kIndexOutValue + 1;
constexpr int kIndexOutBadNode = kIndexOutDepth + 1;
constexpr int kIndexOutWhy = kIndexOutBadNode + 1;
// Set by the caller: where node 0 is in the mapping, so a search can prefetch the record (the
// value found is its offset in the mapping); 0 for no prefetch.
constexpr int kIndexOutRecordBase = kIndexOutWhy + 1;
constexpr int kIndexOutLength = kIndexOutRecordBase + 1;

// What is wrong with a damaged node (lib/kv/btree.ts words each one).
enum class IndexDamage { kHeader = 1, kEntry = 2, kChild = 3, kDepth = 4 };

// A result >= 0 is (leaf slot << 2) | kIndexFound | kIndexApplied: the slot of the first entry
// whose key is >= the key looked up, whether it is equal, and (set) whether the change was made.
constexpr int kIndexFound = 1;
constexpr int kIndexApplied = 2;

struct IndexRegion {
  uint8_t* nodes;            // node 0
  uint32_t node_count;
  const uint8_t* allocated;  // one bit a node, node_count bits
};

// Descend from `root` to the leaf for `key`, filling `out`. kStatusIndexCorrupt (status.h) when
// the walk meets damage.
PMEM_GUARDED_BODY int64_t IndexSearchUnguarded(const IndexRegion& r, uint32_t root, const uint8_t* key,
                                               size_t key_len, double* out);

// The search, then, when the leaf's epoch is `epoch` and it has `key` (replace its value) or room
// for it without compaction (insert it), that change, marked kIndexApplied. Otherwise nothing is
// written and the caller makes the change its own way (copying nodes, compacting, splitting).
PMEM_GUARDED_BODY int64_t IndexSetUnguarded(const IndexRegion& r, uint32_t root, const uint8_t* key, size_t key_len,
                                            double value, uint32_t epoch, double* out);

}  // namespace pmem
