#!/usr/bin/env node
// The per-call cost of the two JS-to-native boundary styles node-pmem could use, measured under
// the running node: N-API (a plain function and a method with a data pointer) and plain V8
// FunctionCallbacks (a plain function, and a prototype method with a Signature reading its
// receiver's internal field, as native/mapping_wrap.cc does). Every function does node-pmem's
// persist() argument checks and returns a status, minus the flush. Builds the two addons with
// the C++ compiler against this node's headers, then times each style in fresh processes,
// alternating, and prints medians. README.md ("Native boundary") has the results per line.
//
//   node bench/boundary/run.js [--rounds N] [--calls N]
'use strict';
const { spawnSync } = require('node:child_process');
const { buildAddon } = require('../lib/charness');
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = opt('--rounds', 7);
const CALLS = opt('--calls', 10_000_000);
const STYLES = ['empty', 'napi-plain', 'napi-method', 'v8-plain', 'v8-method'];

if (args[0] === '--child') {
  const [, style, build, n] = args;
  const N = Number(n);
  const [kind, form] = style.split('-');
  let f = (a, b) => 0;
  let obj = null;
  if (kind !== 'empty') {
    const m = require(path.join(build, `${kind}.node`));
    if (form === 'plain') f = m.plain;
    else obj = m.obj;
  }
  const run = obj
    ? (k) => { let acc = 0; for (let i = 0; i < k; i++) acc += obj.method(i & 1023, 64); return acc; }
    : (k) => { let acc = 0; for (let i = 0; i < k; i++) acc += f(i & 1023, 64); return acc; };
  let acc = run(2_000_000); // warm-up: the loop is optimised before it is timed
  const t0 = process.hrtime.bigint();
  acc += run(N);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  if (acc !== 0) throw new Error(`unexpected status sum ${acc}`);
  console.log(ns);
  process.exit(0);
}

const build = path.join(__dirname, '..', '.build', `boundary-node-v${process.versions.modules}`);
for (const [name, src, defines] of [['napi', 'napi.cc', ['-DNAPI_VERSION=8']], ['v8', 'v8style.cc', []]]) {
  buildAddon({ name, src: path.join(__dirname, src), deps: [path.join(__dirname, 'common.h')], defines, dir: build });
}

const samples = Object.fromEntries(STYLES.map((s) => [s, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [...STYLES].reverse() : STYLES;
  for (const style of order) {
    const p = spawnSync(process.execPath, [__filename, '--child', style, build, String(CALLS)], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`${style}: ${p.stderr}`);
    samples[style].push(Number(p.stdout));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`node ${process.version} (V8 ${process.versions.v8}), ${ROUNDS} rounds of ${CALLS} calls per style, load ${load}`);
for (const s of STYLES) {
  const xs = samples[s];
  console.log(`${s.padEnd(12)} median ${median(xs).toFixed(1)} ns/call  [${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)}]`);
}
