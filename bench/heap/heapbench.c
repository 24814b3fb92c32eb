/*
 * C side of bench/heap/run.js: libpmemobj's transactions and allocator, the same operations as the
 * JS side runs on node-pmem/heap (bench/heap/run.js builds this with cc -O2 ... -lpmemobj into
 * bench/.build/ and runs it once per round and section, alternating with the JS side).
 *
 *   heapbench <pool> <section> <samples> <warmup> [section arguments]
 *
 * The pool is created at the first run (pmemobj_create, POOL_SIZE bytes) and opened by the later
 * ones. sections (each mirrors the JS code in bench/heap/run.js):
 *   info                  {"id":"info", ...}: the libpmemobj API version this was built against
 *   tx <batch> <k,k,...>  one transaction per operation: TX_BEGIN, k x (pmemobj_tx_add_range of
 *                         64 B + an 8-byte store into it), TX_END; the k ranges disjoint, at random
 *                         64 B-aligned offsets of one 1 MiB object (k regions of it, one line drawn
 *                         in each), cycling over SETS precomputed sets; k = 0 is an empty
 *                         transaction
 *   alloc <batch> <size,size,...>
 *                         atomic API: batch x pmemobj_zalloc(size), then batch x pmemobj_free;
 *                         transactional: batch x TX { pmemobj_tx_zalloc(size) }, then
 *                         batch x TX { pmemobj_tx_free } (one transaction each: alloc in one, free
 *                         in a later one). A sample is ns per alloc+free pair
 *   list <batch> <buckets>
 *                         batch inserts of the keys mix(0..batch-1) into <buckets> sorted singly
 *                         linked lists (bucket = key % buckets), one transaction each: walk to the
 *                         predecessor, pmemobj_tx_zalloc a 64 B node, set its key and next, add the
 *                         predecessor's next pointer (or the bucket head) and link the node.
 *                         Before each sample (untimed) the lists are emptied in one transaction;
 *                         after it (untimed) they are checked: sorted, batch nodes. ns per insert
 *
 * Output: one JSON object per line, {"id": ..., "unit": "ns", "samples": [...]}. The caller sets
 * PMEM_IS_PMEM_FORCE=1 (the file lives on DRAM: flushes, not msync).
 */
#define _GNU_SOURCE
#include <libpmemobj.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_NAME "heapbench"
#include "../c/harness.h"

#define LAYOUT "node-pmem-heapbench"
#define POOL_SIZE (128UL << 20)
#define BIG_SIZE (1UL << 20)
#define SLOTS (BIG_SIZE / 64)
#define SETS 4096 /* power of two */
#define MAX_BUCKETS 1024
#define MAX_BATCH 65536

struct root {
  PMEMoid big;
  PMEMoid heads[MAX_BUCKETS];
};

struct node {
  uint32_t key;
  uint32_t pad;
  PMEMoid next;
  char rest[40];
};

_Static_assert(sizeof(struct node) == 64, "a node is 64 bytes, as on the JS side");
_Static_assert(offsetof(struct node, next) == 8, "next at 8, as on the JS side");
_Static_assert(offsetof(struct root, heads) == 16, "heads at 16, as on the JS side");

static PMEMobjpool *pop;
static PMEMoid root_oid;
static struct root *root;


/* The same bijective 32-bit mix as bench/heap/run.js (and bench/kv/run.js). */
static uint32_t mix(uint32_t i) {
  uint32_t x = i + 0x9e3779b9u;
  x = (x ^ (x >> 16)) * 0x85ebca6bu;
  x = (x ^ (x >> 13)) * 0xc2b2ae35u;
  return x ^ (x >> 16);
}

static int created;

static void open_pool(const char *path) {
  if (access(path, F_OK) == 0) {
    pop = pmemobj_open(path, LAYOUT);
    if (pop == NULL) die("pmemobj_open", pmemobj_errormsg());
  } else {
    pop = pmemobj_create(path, LAYOUT, POOL_SIZE, 0600);
    if (pop == NULL) die("pmemobj_create", pmemobj_errormsg());
    created = 1;
  }
  root_oid = pmemobj_root(pop, sizeof(struct root));
  if (OID_IS_NULL(root_oid)) die("pmemobj_root", pmemobj_errormsg());
  root = pmemobj_direct(root_oid);
}

/* ------------------------------------------------------------------ tx */

static uint32_t *offsets; /* SETS x k offsets inside the big object */
static char *big;

static void tx_once(const uint32_t *offs, int k, uint64_t value) {
  TX_BEGIN(pop) {
    for (int i = 0; i < k; i++) {
      uint32_t off = offs[i];
      pmemobj_tx_add_range(root->big, off, 64);
      *(uint64_t *)(big + off) = value;
    }
  }
  TX_ONABORT {
    die("tx", pmemobj_errormsg());
  }
  TX_END
}

static uint64_t tick;

static void bench_tx(int samples, int warmup, int batch, const char *ks) {
  if (OID_IS_NULL(root->big)) {
    if (pmemobj_zalloc(pop, &root->big, BIG_SIZE, 0) != 0) die("pmemobj_zalloc(big)", pmemobj_errormsg());
  }
  big = pmemobj_direct(root->big);
  char *list = strdup(ks);
  double *out = malloc(sizeof(double) * samples);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    int k = atoi(tok);
    if (k < 0 || k > 256) die("tx", "k must be 0..256");
    offsets = malloc(sizeof(uint32_t) * SETS * (k ? k : 1));
    uint32_t region = k ? SLOTS / k : 0;
    for (uint32_t t = 0; t < SETS; t++)
      for (int i = 0; i < k; i++) offsets[t * k + i] = (i * region + mix(t * k + i) % region) * 64;
    for (int s = -warmup; s < samples; s++) {
      uint64_t t0 = now_ns();
      for (int n = 0; n < batch; n++, tick++) tx_once(offsets + (tick & (SETS - 1)) * k, k, tick);
      uint64_t dt = now_ns() - t0;
      if (s >= 0) out[s] = (double)dt / batch;
    }
    char id[64];
    snprintf(id, sizeof id, "c.tx.%d", k);
    emit(id, out, samples);
    free(offsets);
  }
  free(out);
  free(list);
}

/* ------------------------------------------------------------------ alloc */

static PMEMoid oids[MAX_BATCH];

static void tx_zalloc_once(int i, size_t size) {
  TX_BEGIN(pop) {
    oids[i] = pmemobj_tx_zalloc(size, 0);
  }
  TX_ONABORT {
    die("pmemobj_tx_zalloc", pmemobj_errormsg());
  }
  TX_END
}

static void tx_free_once(int i) {
  TX_BEGIN(pop) {
    pmemobj_tx_free(oids[i]);
  }
  TX_ONABORT {
    die("pmemobj_tx_free", pmemobj_errormsg());
  }
  TX_END
  oids[i] = OID_NULL;
}

static void bench_alloc(int samples, int warmup, int batch, const char *sizes) {
  if (batch > MAX_BATCH) die("alloc", "batch too large");
  char *list = strdup(sizes);
  double *atomic = malloc(sizeof(double) * samples);
  double *tx = malloc(sizeof(double) * samples);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    size_t size = strtoul(tok, NULL, 10);
    for (int s = -warmup; s < samples; s++) {
      uint64_t t0 = now_ns();
      for (int i = 0; i < batch; i++)
        if (pmemobj_zalloc(pop, &oids[i], size, 0) != 0) die("pmemobj_zalloc", pmemobj_errormsg());
      for (int i = 0; i < batch; i++) pmemobj_free(&oids[i]);
      uint64_t dt = now_ns() - t0;
      if (s >= 0) atomic[s] = (double)dt / batch;
    }
    for (int s = -warmup; s < samples; s++) {
      uint64_t t0 = now_ns();
      for (int i = 0; i < batch; i++) tx_zalloc_once(i, size);
      for (int i = 0; i < batch; i++) tx_free_once(i);
      uint64_t dt = now_ns() - t0;
      if (s >= 0) tx[s] = (double)dt / batch;
    }
    char id[64];
    snprintf(id, sizeof id, "c.alloc.atomic.%zu", size);
    emit(id, atomic, samples);
    snprintf(id, sizeof id, "c.alloc.tx.%zu", size);
    emit(id, tx, samples);
  }
  free(atomic);
  free(tx);
  free(list);
}

/* ------------------------------------------------------------------ list */

static unsigned nbuckets;

static void list_insert(uint32_t key) {
  TX_BEGIN(pop) {
    unsigned b = key % nbuckets;
    PMEMoid prev = OID_NULL;
    PMEMoid cur = root->heads[b];
    while (!OID_IS_NULL(cur)) {
      struct node *n = pmemobj_direct(cur);
      if (n->key >= key) break;
      prev = cur;
      cur = n->next;
    }
    PMEMoid fresh = pmemobj_tx_zalloc(sizeof(struct node), 1);
    struct node *np = pmemobj_direct(fresh);
    np->key = key;
    np->next = cur;
    if (OID_IS_NULL(prev)) {
      pmemobj_tx_add_range(root_oid, offsetof(struct root, heads) + b * sizeof(PMEMoid), sizeof(PMEMoid));
      root->heads[b] = fresh;
    } else {
      pmemobj_tx_add_range(prev, offsetof(struct node, next), sizeof(PMEMoid));
      ((struct node *)pmemobj_direct(prev))->next = fresh;
    }
  }
  TX_ONABORT {
    die("list insert", pmemobj_errormsg());
  }
  TX_END
}

/* Empties every list in one transaction (untimed). */
static void list_reset(void) {
  TX_BEGIN(pop) {
    pmemobj_tx_add_range(root_oid, offsetof(struct root, heads), MAX_BUCKETS * sizeof(PMEMoid));
    for (unsigned b = 0; b < MAX_BUCKETS; b++) {
      PMEMoid cur = root->heads[b];
      while (!OID_IS_NULL(cur)) {
        PMEMoid next = ((struct node *)pmemobj_direct(cur))->next;
        pmemobj_tx_free(cur);
        cur = next;
      }
      root->heads[b] = OID_NULL;
    }
  }
  TX_ONABORT {
    die("list reset", pmemobj_errormsg());
  }
  TX_END
}

static void list_check(int expected) {
  int count = 0;
  for (unsigned b = 0; b < nbuckets; b++) {
    uint32_t last = 0;
    for (PMEMoid cur = root->heads[b]; !OID_IS_NULL(cur);) {
      struct node *n = pmemobj_direct(cur);
      if (n->key < last || n->key % nbuckets != b) die("list check", "a list is out of order or in the wrong bucket");
      last = n->key;
      count++;
      cur = n->next;
    }
  }
  if (count != expected) die("list check", "wrong number of nodes");
}

static void bench_list(int samples, int warmup, int batch, int buckets) {
  if (buckets < 1 || buckets > MAX_BUCKETS) die("list", "buckets must be 1..1024");
  nbuckets = (unsigned)buckets;
  double *out = malloc(sizeof(double) * samples);
  for (int s = -warmup; s < samples; s++) {
    list_reset();
    uint64_t t0 = now_ns();
    for (int i = 0; i < batch; i++) list_insert(mix((uint32_t)i));
    uint64_t dt = now_ns() - t0;
    list_check(batch);
    if (s >= 0) out[s] = (double)dt / batch;
  }
  list_reset();
  emit("c.list.insert", out, samples);
  free(out);
}

int main(int argc, char **argv) {
  if (argc < 5) die("usage", "heapbench <pool> <section> <samples> <warmup> [args]");
  const char *path = argv[1];
  const char *section = argv[2];
  int samples = atoi(argv[3]);
  int warmup = atoi(argv[4]);
  if (samples < 1 || warmup < 0) die("usage", "samples >= 1, warmup >= 0");
  open_pool(path);
  if (strcmp(section, "info") == 0) {
    printf("{\"id\":\"info\",\"api\":\"%d.%d\",\"poolSize\":%lu,\"created\":%s}\n", PMEMOBJ_MAJOR_VERSION, PMEMOBJ_MINOR_VERSION, POOL_SIZE, created ? "true" : "false");
  } else if (strcmp(section, "tx") == 0 && argc == 7) {
    bench_tx(samples, warmup, atoi(argv[5]), argv[6]);
  } else if (strcmp(section, "alloc") == 0 && argc == 7) {
    bench_alloc(samples, warmup, atoi(argv[5]), argv[6]);
  } else if (strcmp(section, "list") == 0 && argc == 7) {
    bench_list(samples, warmup, atoi(argv[5]), atoi(argv[6]));
  } else {
    die("usage", "unknown section or wrong arguments");
  }
  pmemobj_close(pop);
  return 0;
}
