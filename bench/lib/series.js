'use strict';
/**
 * The benchmarks' measurements: the samples of each id, kept per round as well, so a ratio can be
 * read both from the medians of all samples and round by round (C and JS alternate within rounds,
 * so paired rounds share the machine's state). bench/run.js and bench/heap/run.js keep theirs here.
 */
const { summarize } = require('./stats');

class Series {
  #byId = new Map(); // id -> { samples: number[], rounds: number[][] }
  #positive;

  /** `positive`: refuse a sample that is not a positive finite number (a timing that cannot be one). */
  constructor({ positive = false } = {}) {
    this.#positive = positive;
  }

  /** One round's samples of `id`. */
  record = (id, samples) => {
    if (this.#positive) {
      if (!Array.isArray(samples) || samples.length === 0) throw new Error(`no samples for ${id}`);
      for (const s of samples) if (!Number.isFinite(s) || s <= 0) throw new Error(`${id}: sample ${s} is not a positive number`);
    }
    let s = this.#byId.get(id);
    if (!s) this.#byId.set(id, (s = { samples: [], rounds: [] }));
    s.samples.push(...samples);
    s.rounds.push(samples);
  };

  has = (id) => this.#byId.has(id);

  /** The summary of all of `id`'s samples; throws when there are none or the median is not a positive number. */
  stat = (id) => {
    const s = this.#byId.get(id);
    if (!s || s.samples.length === 0) throw new Error(`no samples for ${id}`);
    const st = summarize(s.samples);
    if (!Number.isFinite(st.median) || st.median <= 0) throw new Error(`${id}: median is ${st.median}`);
    return st;
  };

  /** Per-round ratios a/b (b/a with `invert`) of the paired rounds, summarized: how stable a ratio is. */
  roundRatios = (a, b, invert = false) => {
    const ra = this.#byId.get(a).rounds;
    const rb = this.#byId.get(b).rounds;
    const ratios = [];
    for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
      const ma = summarize(ra[i]).median;
      const mb = summarize(rb[i]).median;
      ratios.push(invert ? mb / ma : ma / mb);
    }
    return summarize(ratios);
  };

  /** Every id's summary and round count, for the results file. */
  summaries() {
    return Object.fromEntries([...this.#byId].map(([id, s]) => [id, { ...summarize(s.samples), rounds: s.rounds.length }]));
  }
}

/** Alternates C and JS within each of `n` rounds, flipping the order every round; `c` may be null (no C side). */
function rounds(n, c, js) {
  for (let r = 0; r < n; r++) {
    if (r % 2 === 0) {
      if (c) c(r);
      js(r);
    } else {
      js(r);
      if (c) c(r);
    }
  }
}

module.exports = { Series, rounds };
