/*
 * C side of node-pmem's benchmarks (bench/run.js builds it with cc into bench/.build/ and runs it
 * once per round, alternating with the JS side, on the same file).
 *
 *   pmembench <file> <section> <samples> <warmup> [section arguments]
 *
 * sections (every access pattern mirrors the JS code in bench/run.js exactly):
 *   info                      libpmem/libpmem2 facts, as JSON
 *   persist  <batch>          store 1 byte + persist 64 B, cycling over 256 lines at offset 0:
 *                             pmem_persist, the pmem2 persist function, and an inline clwb+sfence
 *   extents  <n,n,...> <ext>  store 1 byte in each of n lines (128 B apart, at 1 MiB), then
 *                             n x pmem_flush + 1 pmem_drain; also n x pmem_persist, and the
 *                             ranges recorded in an array of doubles first. <ext> is the
 *                             number of extents one sample covers
 *   write    <size,size,...>  pmem_memcpy_persist of size bytes from the file at 12 MiB
 *                             (destinations cycle at 8 MiB)
 *   nt       <bytes>          single-core non-temporal store bandwidth: a plain movnt loop over
 *                             <bytes> at 16 MiB + one sfence (the physical ceiling)
 *
 * Output: one JSON object per line, {"id": ..., "unit": "ns", "samples": [...]}, where each
 * sample is nanoseconds per operation (per extent for "extents"; per copy for "write").
 * The file must exist and be at least 64 MiB. PMEM_IS_PMEM_FORCE=1 and
 * PMEM2_FORCE_GRANULARITY=CACHE_LINE are set by the caller (the file lives on DRAM).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <immintrin.h>
#include <libpmem.h>
#include <libpmem2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_NAME "pmembench"
#include "harness.h"

#define MiB (1024UL * 1024UL)
#define LINE 64
#define PERSIST_LINES 256
#define EXTENT_BASE (1 * MiB)
#define EXTENT_STRIDE 128
#define WRITE_BASE (8 * MiB)
#define WRITE_WINDOW (4 * MiB)
#define WRITE_SOURCE (12 * MiB) /* the copies' source, filled by bench/run.js */
#define NT_BASE (16 * MiB)
#define MIN_FILE (64 * MiB)

static char *base;      /* libpmem mapping of the whole file */
static size_t mapped;
static struct pmem2_map *map2;
static pmem2_persist_fn persist2;
static char *base2;


static void map_libpmem(const char *path) {
  int is_pmem = 0;
  base = pmem_map_file(path, 0, 0, 0, &mapped, &is_pmem);
  if (base == NULL) die("pmem_map_file", pmem_errormsg());
  if (mapped < MIN_FILE) die("file", "must be at least 64 MiB");
}

static void map_pmem2(const char *path) {
  int fd = open(path, O_RDWR);
  if (fd < 0) die("open", strerror(errno));
  struct pmem2_config *cfg;
  struct pmem2_source *src;
  if (pmem2_config_new(&cfg)) die("pmem2_config_new", pmem2_errormsg());
  if (pmem2_source_from_fd(&src, fd)) die("pmem2_source_from_fd", pmem2_errormsg());
  if (pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_CACHE_LINE))
    die("pmem2_config_set_required_store_granularity", pmem2_errormsg());
  if (pmem2_map_new(&map2, cfg, src)) die("pmem2_map_new (is PMEM2_FORCE_GRANULARITY=CACHE_LINE set?)", pmem2_errormsg());
  persist2 = pmem2_get_persist_fn(map2);
  base2 = pmem2_map_get_address(map2);
  pmem2_source_delete(&src);
  pmem2_config_delete(&cfg);
  close(fd);
}

/* The floor: what node-pmem's cacheline tier does per call, without any library around it. */
__attribute__((target("clwb"))) static void inline_clwb_persist(const void *addr, size_t len) {
  uintptr_t p = (uintptr_t)addr & ~(uintptr_t)(LINE - 1);
  uintptr_t end = (uintptr_t)addr + len;
  for (; p < end; p += LINE) _mm_clwb((void *)p);
  _mm_sfence();
}

static int has_clwb(void) {
  __builtin_cpu_init();
  unsigned int a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  return (b >> 24) & 1;
}

/* ---- persist(64 B) ---- */
typedef void (*persist_fn)(const void *, size_t);

static double run_persist(char *region, persist_fn fn, long batch, unsigned *tick) {
  uint64_t t0 = now_ns();
  unsigned t = *tick;
  for (long i = 0; i < batch; i++, t++) {
    char *p = region + (size_t)(t % PERSIST_LINES) * LINE;
    *(volatile char *)p = (char)t;
    fn(p, LINE);
  }
  *tick = t;
  return (double)(now_ns() - t0) / (double)batch;
}

static void libpmem_persist(const void *a, size_t n) { pmem_persist(a, n); }

static void section_persist(int samples, int warmup, long batch) {
  double *s = calloc(samples, sizeof(double));
  unsigned tick = 0;
  struct { const char *id; char *region; persist_fn fn; } v[3] = {
      {"c.persist64.pmem_persist", base, libpmem_persist},
      {"c.persist64.pmem2", base2, persist2},
      {"c.persist64.inline_clwb", base, inline_clwb_persist},
  };
  int nv = has_clwb() ? 3 : 2;
  for (int k = 0; k < nv; k++) {
    for (int i = 0; i < warmup; i++) run_persist(v[k].region, v[k].fn, batch, &tick);
    for (int i = 0; i < samples; i++) s[i] = run_persist(v[k].region, v[k].fn, batch, &tick);
    emit(v[k].id, s, samples);
  }
  free(s);
}

/* ---- n extents: n stores, then n flushes + one drain ---- */
enum extent_mode {
  EXTENT_FLUSH_DRAIN,   /* n x pmem_flush + one pmem_drain */
  EXTENT_PERSIST_EACH,  /* n x pmem_persist */
  EXTENT_RECORDED,      /* the ranges first written to an array of (offset, length) doubles, as
                           node-pmem's markDirty does, then flushed from it + one pmem_drain */
};

static double run_extents(int n, long iters, enum extent_mode mode, volatile double *pairs, unsigned *tick) {
  char *region = base + EXTENT_BASE;
  uint64_t t0 = now_ns();
  unsigned t = *tick;
  for (long it = 0; it < iters; it++, t++) {
    for (int i = 0; i < n; i++) *(volatile char *)(region + (size_t)i * EXTENT_STRIDE) = (char)t;
    switch (mode) {
      case EXTENT_PERSIST_EACH:
        for (int i = 0; i < n; i++) pmem_persist(region + (size_t)i * EXTENT_STRIDE, LINE);
        break;
      case EXTENT_FLUSH_DRAIN:
        for (int i = 0; i < n; i++) pmem_flush(region + (size_t)i * EXTENT_STRIDE, LINE);
        pmem_drain();
        break;
      case EXTENT_RECORDED:
        /* volatile: the compiler may not fold the array away into the flush loop */
        for (int i = 0; i < n; i++) {
          pairs[2 * i] = (double)((size_t)i * EXTENT_STRIDE);
          pairs[2 * i + 1] = LINE;
        }
        for (int i = 0; i < n; i++) pmem_flush(base + EXTENT_BASE + (size_t)pairs[2 * i], (size_t)pairs[2 * i + 1]);
        pmem_drain();
        break;
    }
  }
  *tick = t;
  return (double)(now_ns() - t0) / (double)(iters * n);
}

static void section_extents(int samples, int warmup, const char *list, long per_sample) {
  static const struct {
    enum extent_mode mode;
    const char *id;
  } modes[] = {
      {EXTENT_FLUSH_DRAIN, "c.extents.%d.flush_drain"},
      {EXTENT_PERSIST_EACH, "c.extents.%d.pmem_persist_each"},
      {EXTENT_RECORDED, "c.extents.%d.recorded"},
  };
  double *s = calloc(samples, sizeof(double));
  unsigned tick = 0;
  char *copy = strdup(list), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int n = atoi(tok);
    if (n <= 0 || (size_t)n * EXTENT_STRIDE > WRITE_BASE - EXTENT_BASE) die("extents", "bad count");
    long iters = (per_sample + n - 1) / n;
    double *pairs = calloc(2 * (size_t)n, sizeof(double));
    if (s == NULL || pairs == NULL) die("extents", "out of memory");
    char id[96];
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
      for (int i = 0; i < warmup; i++) run_extents(n, iters, modes[m].mode, pairs, &tick);
      for (int i = 0; i < samples; i++) s[i] = run_extents(n, iters, modes[m].mode, pairs, &tick);
      snprintf(id, sizeof id, modes[m].id, n);
      emit(id, s, samples);
    }
    free(pairs);
  }
  free(copy);
  free(s);
}

/* ---- pmem_memcpy_persist bandwidth ---- */
static long write_batch(size_t size) {
  long b = (long)((2 * MiB + size - 1) / size);
  if (b < 2) b = 2;
  if (b > 4000) b = 4000;
  return b;
}

static size_t write_slots(size_t size) {
  size_t slots = WRITE_WINDOW / size;
  if (slots > 64) slots = 64;
  return slots ? slots : 1;
}

/* node-pmem's own copy algorithm (native/persist.cc CopyPersist + arch/x86_64 NtCopyAvx2 with clwb),
 * replicated in C: separates the cost of the copy loop from the cost of the call from JS. */
static int avx2_clwb(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && has_clwb();
}

__attribute__((target("avx2,clwb"))) static void nodepmem_copy_persist(char *dst, const char *src, size_t len) {
  if (len < 256) {
    memmove(dst, src, len);
    inline_clwb_persist(dst, len);
    return;
  }
  size_t head = (LINE - ((uintptr_t)dst & (LINE - 1))) & (LINE - 1);
  memcpy(dst, src, head);
  size_t middle = (len - head) & ~(size_t)(LINE - 1);
  __m256i *d = (__m256i *)(dst + head);
  const __m256i *s = (const __m256i *)(src + head);
  for (size_t i = 0; i < middle / 32; i += 2) {
    __m256i a = _mm256_loadu_si256(s + i), b = _mm256_loadu_si256(s + i + 1);
    _mm256_stream_si256(d + i, a);
    _mm256_stream_si256(d + i + 1, b);
  }
  size_t tail = len - head - middle;
  memcpy(dst + head + middle, src + head + middle, tail);
  for (uintptr_t p = (uintptr_t)dst & ~(uintptr_t)(LINE - 1); p < (uintptr_t)dst + head; p += LINE) _mm_clwb((void *)p);
  for (uintptr_t p = (uintptr_t)(dst + head + middle) & ~(uintptr_t)(LINE - 1); p < (uintptr_t)dst + len; p += LINE)
    _mm_clwb((void *)p);
  _mm_sfence();
}

static void section_write(int samples, int warmup, const char *list) {
  double *s = calloc(samples, sizeof(double));
  char *copy = strdup(list), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    size_t size = strtoull(tok, NULL, 10);
    if (size == 0 || size > MiB) die("write", "bad size");
    const char *src = base + WRITE_SOURCE;
    long batch = write_batch(size);
    size_t slots = write_slots(size);
    unsigned tick = 0;
    for (int i = -warmup; i < samples; i++) {
      uint64_t t0 = now_ns();
      for (long b = 0; b < batch; b++, tick++)
        pmem_memcpy_persist(base + WRITE_BASE + (tick % slots) * size, src, size);
      double ns = (double)(now_ns() - t0) / (double)batch;
      if (i >= 0) s[i] = ns;
    }
    char id[64];
    snprintf(id, sizeof id, "c.write.%zu.pmem_memcpy_persist", size);
    emit(id, s, samples);
    if (avx2_clwb()) {
      tick = 0;
      for (int i = -warmup; i < samples; i++) {
        uint64_t t0 = now_ns();
        for (long b = 0; b < batch; b++, tick++) nodepmem_copy_persist(base + WRITE_BASE + (tick % slots) * size, src, size);
        double ns = (double)(now_ns() - t0) / (double)batch;
        if (i >= 0) s[i] = ns;
      }
      snprintf(id, sizeof id, "c.write.%zu.nodepmem_algo", size);
      emit(id, s, samples);
    }
  }
  free(copy);
  free(s);
}

/* ---- the physical ceiling: non-temporal stores straight from registers ---- */
__attribute__((target("avx2"))) static void nt_fill_avx2(char *dst, size_t len) {
  __m256i v = _mm256_set1_epi8(0x5a);
  for (size_t i = 0; i < len; i += 128) {
    _mm256_stream_si256((__m256i *)(dst + i), v);
    _mm256_stream_si256((__m256i *)(dst + i + 32), v);
    _mm256_stream_si256((__m256i *)(dst + i + 64), v);
    _mm256_stream_si256((__m256i *)(dst + i + 96), v);
  }
  _mm_sfence();
}

static void nt_fill_sse2(char *dst, size_t len) {
  __m128i v = _mm_set1_epi8(0x5a);
  for (size_t i = 0; i < len; i += 64) {
    _mm_stream_si128((__m128i *)(dst + i), v);
    _mm_stream_si128((__m128i *)(dst + i + 16), v);
    _mm_stream_si128((__m128i *)(dst + i + 32), v);
    _mm_stream_si128((__m128i *)(dst + i + 48), v);
  }
  _mm_sfence();
}

static void section_nt(int samples, int warmup, size_t bytes) {
  if (bytes == 0 || bytes % 128 || NT_BASE + bytes > mapped) die("nt", "bad size");
  double *s = calloc(samples, sizeof(double));
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2");
  for (int i = -warmup; i < samples; i++) {
    uint64_t t0 = now_ns();
    if (avx2) nt_fill_avx2(base + NT_BASE, bytes);
    else nt_fill_sse2(base + NT_BASE, bytes);
    double ns = (double)(now_ns() - t0);
    if (i >= 0) s[i] = ns;
  }
  emit(avx2 ? "c.nt.avx2" : "c.nt.sse2", s, samples);
  free(s);
}

/* ---- random offsets over the whole file (1 GiB): where an index or a log writes ---- */
/* The slot of call t among `slots` (a power of two): the same mix bench/run.js computes. */
static inline size_t random_slot(uint32_t t, size_t slots) {
  uint32_t x = t * 0x9E3779B1u;
  x ^= x >> 15;
  x *= 0x85EBCA77u;
  x ^= x >> 13;
  return x & (slots - 1);
}

static size_t pow2_floor(size_t v) {
  size_t p = 1;
  while (p <= v / 2) p *= 2;
  return p;
}

/* About 100 ns of dependent arithmetic that touches no memory. */
__attribute__((noinline)) static uint64_t spacer(uint64_t x) {
  for (int i = 0; i < 64; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

/* ns per persist of `batch` random lines (store, pmem_persist), from call *t on; with `spacing`,
 * the spacer runs after each one (inlined with a constant argument: no test in the loop without it). */
__attribute__((always_inline)) static inline double random_persists(long batch, size_t lines, uint32_t *t, uint64_t *spacing) {
  uint64_t t0 = now_ns();
  for (long b = 0; b < batch; b++, (*t)++) {
    char *p = base + random_slot(*t, lines) * LINE;
    *(volatile char *)p = (char)*t;
    pmem_persist(p, LINE);
    if (spacing != NULL) *spacing = spacer(*spacing);
  }
  return (double)(now_ns() - t0) / (double)batch;
}

static int by_offset(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* What a C caller who wants persistRanges' contract (every range flushed once, touching and
 * overlapping ranges merged, in any order given) writes: sort the line offsets, then flush each
 * run once. */
static void flush_coalesced(uint64_t *offs, int n) {
  qsort(offs, (size_t)n, sizeof offs[0], by_offset);
  for (int e = 0; e < n;) {
    uint64_t start = offs[e], end = start + LINE;
    for (e++; e < n && offs[e] <= end; e++)
      if (offs[e] + LINE > end) end = offs[e] + LINE;
    pmem_flush(base + start, end - start);
  }
  pmem_drain();
}

static void section_random(int samples, int warmup, long persist_batch, const char *sizes, const char *counts, long per_sample) {
  double *s = calloc(samples, sizeof(double));
  if (s == NULL) die("random", "out of memory");
  /* The offsets cover a power-of-two span; the copies' source is the MiB after it, in the same
   * file for C and JS alike (see section_write: where a source sits moves a copy's cost). */
  if (mapped < 2 * MiB) die("random", "the file must hold a span and 1 MiB of source");
  const size_t span = pow2_floor(mapped - MiB);
  const char *src = base + span;
  const size_t lines = span / LINE;
  /* Fault every page in first, as bench/run.js does for its own mapping: a fresh process's page
   * tables are empty, and random offsets would time page faults. */
  for (size_t off = 0; off < mapped; off += 4096) {
    volatile char *p = base + off;
    *p = *p;
  }
  uint32_t t = 0;
  uint64_t x = 1;
  for (int i = -warmup; i < samples; i++) {
    double ns = random_persists(persist_batch, lines, &t, NULL);
    if (i >= 0) s[i] = ns;
  }
  emit("c.random.persist64.pmem_persist", s, samples);
  /* The same persists with other work between them, as a caller with its own code between calls
   * (a JS loop and the call into the addon) has: the work's own time is subtracted, so what is left
   * is what a persist costs when its misses can no longer overlap the next iteration's. */
  for (int i = -warmup; i < samples; i++) {
    double ns = random_persists(persist_batch, lines, &t, &x);
    uint64_t t0 = now_ns();
    for (long b = 0; b < persist_batch; b++) x = spacer(x);
    double work = (double)(now_ns() - t0) / (double)persist_batch;
    if (i >= 0) s[i] = ns - work;
  }
  emit("c.random.persist64.spaced", s, samples);
  if (x == 42) fputs("", stderr); /* keep the work */

  char id[96], *copy = strdup(sizes), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    size_t size = strtoull(tok, NULL, 10);
    if (size == 0 || size > MiB) die("random", "bad size");
    const size_t slots = span / size;
    long batch = write_batch(size);
    for (int i = -warmup; i < samples; i++) {
      uint64_t t0 = now_ns();
      for (long b = 0; b < batch; b++, t++) pmem_memcpy_persist(base + random_slot(t, slots) * size, src, size);
      if (i >= 0) s[i] = (double)(now_ns() - t0) / (double)batch;
    }
    snprintf(id, sizeof id, "c.random.write.%zu.pmem_memcpy_persist", size);
    emit(id, s, samples);
    /* node-pmem's copy loop at the same random offsets: what is left of the gap is the call from JS. */
    if ((size == 4096 || size == 65536) && avx2_clwb()) {
      for (int i = -warmup; i < samples; i++) {
        uint64_t t0 = now_ns();
        for (long b = 0; b < batch; b++, t++) nodepmem_copy_persist(base + random_slot(t, slots) * size, src, size);
        if (i >= 0) s[i] = (double)(now_ns() - t0) / (double)batch;
      }
      snprintf(id, sizeof id, "c.random.write.%zu.nodepmem_algo", size);
      emit(id, s, samples);
    }
  }
  free(copy);

  copy = strdup(counts);
  save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int n = atoi(tok);
    if (n <= 0) die("random", "bad count");
    long iters = (per_sample + n - 1) / n;
    uint32_t k = 0; /* the i-th line of iteration j is random_slot(j * n + i) */
    for (int i = -warmup; i < samples; i++) {
      uint64_t t0 = now_ns();
      for (long it = 0; it < iters; it++) {
        for (int e = 0; e < n; e++) {
          char *p = base + random_slot(k + (uint32_t)e, lines) * LINE;
          *(volatile char *)p = (char)k;
        }
        for (int e = 0; e < n; e++) pmem_flush(base + random_slot(k + (uint32_t)e, lines) * LINE, LINE);
        pmem_drain();
        k += (uint32_t)n;
      }
      if (i >= 0) s[i] = (double)(now_ns() - t0) / (double)(iters * n);
    }
    snprintf(id, sizeof id, "c.random.extents.%d.flush_drain", n);
    emit(id, s, samples);
    /* The two halves of that loop alone: the caller's stores, and the flushes of lines nothing
     * was stored to (what the library's call does, given the ranges). */
    for (int i = -warmup; i < samples; i++) {
      uint64_t t0 = now_ns();
      for (long it = 0; it < iters; it++, k += (uint32_t)n)
        for (int e = 0; e < n; e++) *(volatile char *)(base + random_slot(k + (uint32_t)e, lines) * LINE) = (char)k;
      if (i >= 0) s[i] = (double)(now_ns() - t0) / (double)(iters * n);
    }
    snprintf(id, sizeof id, "c.random.extents.%d.stores", n);
    emit(id, s, samples);
    for (int i = -warmup; i < samples; i++) {
      uint64_t t0 = now_ns();
      for (long it = 0; it < iters; it++, k += (uint32_t)n) {
        for (int e = 0; e < n; e++) pmem_flush(base + random_slot(k + (uint32_t)e, lines) * LINE, LINE);
        pmem_drain();
      }
      if (i >= 0) s[i] = (double)(now_ns() - t0) / (double)(iters * n);
    }
    snprintf(id, sizeof id, "c.random.extents.%d.flush_only", n);
    emit(id, s, samples);
    uint64_t *offs = malloc((size_t)n * sizeof *offs);
    if (offs == NULL) die("random", "out of memory");
    for (int i = -warmup; i < samples; i++) {
      uint64_t t0 = now_ns();
      for (long it = 0; it < iters; it++, k += (uint32_t)n) {
        for (int e = 0; e < n; e++) {
          offs[e] = random_slot(k + (uint32_t)e, lines) * LINE;
          *(volatile char *)(base + offs[e]) = (char)k;
        }
        flush_coalesced(offs, n);
      }
      if (i >= 0) s[i] = (double)(now_ns() - t0) / (double)(iters * n);
    }
    free(offs);
    snprintf(id, sizeof id, "c.random.extents.%d.coalesced", n);
    emit(id, s, samples);
  }
  free(copy);
  free(s);
}

static void section_info(void) {
  printf("{\"id\":\"info\",\"libpmemApi\":\"%d.%d\",\"clwb\":%s,\"pmem2Granularity\":%d,"
         "\"isPmemForce\":\"%s\",\"pmem2Force\":\"%s\"}\n",
         PMEM_MAJOR_VERSION, PMEM_MINOR_VERSION,
         has_clwb() ? "true" : "false", (int)pmem2_map_get_store_granularity(map2),
         getenv("PMEM_IS_PMEM_FORCE") ? getenv("PMEM_IS_PMEM_FORCE") : "",
         getenv("PMEM2_FORCE_GRANULARITY") ? getenv("PMEM2_FORCE_GRANULARITY") : "");
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: pmembench <file> <section> <samples> <warmup> [args]\n");
    return 2;
  }
  const char *path = argv[1], *section = argv[2];
  int samples = atoi(argv[3]), warmup = atoi(argv[4]);
  if (samples <= 0 || warmup < 0) die("args", "samples must be > 0");
  map_libpmem(path);
  map_pmem2(path);
  if (!strcmp(section, "info")) section_info();
  else if (!strcmp(section, "persist") && argc > 5) section_persist(samples, warmup, atol(argv[5]));
  else if (!strcmp(section, "extents") && argc > 6) section_extents(samples, warmup, argv[5], atol(argv[6]));
  else if (!strcmp(section, "write") && argc > 5) section_write(samples, warmup, argv[5]);
  else if (!strcmp(section, "nt") && argc > 5) section_nt(samples, warmup, strtoull(argv[5], NULL, 10));
  else if (!strcmp(section, "random") && argc > 8)
    section_random(samples, warmup, atol(argv[5]), argv[6], argv[7], atol(argv[8]));
  else die("args", "unknown section or missing arguments");
  pmem2_map_delete(&map2);
  pmem_unmap(base, mapped);
  return 0;
}
