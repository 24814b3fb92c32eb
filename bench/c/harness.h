/*
 * What the C benchmark harnesses (pmembench.c, bench/heap/heapbench.c) share: a monotonic clock,
 * a fatal error, and one JSON line of samples for the JS driver. Define HARNESS_NAME before
 * including it: errors name the program.
 */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "%s: %s: %s\n", HARNESS_NAME, what, detail ? detail : "");
  exit(2);
}

static void emit(const char *id, const double *samples, int n) {
  printf("{\"id\":\"%s\",\"unit\":\"ns\",\"samples\":[", id);
  for (int i = 0; i < n; i++) printf("%s%.3f", i ? "," : "", samples[i]);
  printf("]}\n");
  fflush(stdout);
}
