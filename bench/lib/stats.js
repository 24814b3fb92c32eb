'use strict';
/** Order statistics over timing samples (nanoseconds per operation). */

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** { n, median, p10, p90 } of an array of numbers. */
function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  return { n: sorted.length, median: quantile(sorted, 0.5), p10: quantile(sorted, 0.1), p90: quantile(sorted, 0.9) };
}

/** Time `fn(batch)` and return nanoseconds per operation (`ops` operations; default batch). */
function timeBatch(fn, batch, ops = batch) {
  const t0 = process.hrtime.bigint();
  fn(batch);
  return Number(process.hrtime.bigint() - t0) / ops;
}

/** Warm up, then take `samples` timings of fn(batch). */
function sample(fn, batch, samples, warmup, ops = batch) {
  for (let i = 0; i < warmup; i++) fn(batch);
  const out = new Array(samples);
  for (let i = 0; i < samples; i++) out[i] = timeBatch(fn, batch, ops);
  return out;
}

function fmtNs(ns) {
  if (!Number.isFinite(ns)) return 'n/a';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns >= 100) return `${ns.toFixed(0)} ns`;
  return `${ns.toFixed(1)} ns`;
}

function fmtSize(bytes) {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

module.exports = { quantile, summarize, timeBatch, sample, fmtNs, fmtSize };
