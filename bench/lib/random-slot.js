'use strict';
/**
 * Where the random-offset benchmarks write: the slot of call t among `slots` (a power of two below
 * 2^31), a 32-bit integer mix. bench/c/pmembench.c's random_slot computes the same, so C and
 * JavaScript draw the same offsets. Self-contained: bench/run.js hands its source to workers.
 */
function randomSlot(t, slots) {
  let x = Math.imul(t, 0x9e3779b1);
  x ^= x >>> 15;
  x = Math.imul(x, 0x85ebca77);
  x ^= x >>> 13;
  return x & (slots - 1);
}

module.exports = { randomSlot };
