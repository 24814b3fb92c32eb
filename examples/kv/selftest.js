#!/usr/bin/env node
'use strict';
/**
 * Self-test of the key-value store (node-pmem/kv) on one target: a file, a file on a DAX
 * filesystem or a device-dax device. For running the store on each kind of device (for instance
 * in the emulated-NVDIMM guest):
 *
 *   node examples/kv/selftest.js <path> [--size 8M] [--granularity G] [--destroy] [--kills 3]
 *
 * A missing file is created (--size, default 8 MiB). An existing target must be all zeros at its
 * start or already a store; --destroy zeroes its first 8 KiB first (DESTROYS what the target
 * held: meant for scratch devices). Then: puts, overwrites, deletes, batches and compactions with
 * every result checked; close and reopen; `--kills` rounds of kill -9 of a writer child mid-loop,
 * each checked on reopen. Prints one JSON line ({ ok, kind, granularity, ... }); exit 0 when ok.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const pmem = require('node-pmem');
const { open, layout } = require('node-pmem/kv');
const torture = require('./torture.js');

function parse(argv) {
  const o = { size: 8 << 20, granularity: undefined, destroy: false, kills: 3, path: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--size') {
      const m = /^(\d+)([kKmMgG]?)$/.exec(argv[++i] ?? '');
      if (m === null) throw new Error(`bad --size ${argv[i]}: use bytes or 64K, 16M, 1G`);
      o.size = Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()];
    }
    else if (a === '--granularity') o.granularity = argv[++i];
    else if (a === '--destroy') o.destroy = true;
    else if (a === '--kills') o.kills = Number(argv[++i]);
    else if (o.path === undefined) o.path = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (o.path === undefined) throw new Error('usage: node examples/kv/selftest.js <path> [--size 8M] [--granularity G] [--destroy] [--kills 3]');
  return o;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function killRound(file, first, seed, delayMs, granularity) {
  const env = { ...process.env };
  if (granularity !== undefined) env.NODE_PMEM_KV_GRANULARITY = granularity;
  const child = spawn(process.execPath, [path.join(__dirname, 'torture.js'), file, String(first), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  let timer;
  child.stderr.on('data', (d) => (err += d));
  child.stdout.on('data', (d) => {
    out += d;
    timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000); // a writer that never acks
  const signal = await new Promise((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  clearTimeout(timer);
  clearTimeout(guard);
  check(signal === 'SIGKILL', `the writer was killed (stderr: ${err.trim()})`);
  return out.split('\n').filter((l, i) => l !== '' && Number(l) === first + i).length;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const opts = o.granularity ? { granularity: o.granularity } : {};
  if (o.destroy && fs.existsSync(o.path)) {
    const m = pmem.open(o.path, opts);
    m.fill(0, layout.DATA_OFFSET, 0, { persist: true });
    m.close();
  }
  const t0 = performance.now();
  let store = open(o.path, { create: true, size: o.size, ...opts });
  const st0 = store.stats();
  // Start from an empty store: a store left by an earlier run is emptied (deletes are durable too).
  store.batch([...store.keys()].map((key) => ({ type: 'del', key })));
  const model = new Map();
  const put = (k, v) => {
    store.put(k, v);
    model.set(k, v);
  };
  for (let i = 0; i < 2000; i++) put(`key${i}`, i % 2 ? `value ${i} `.repeat(1 + (i % 9)) : Buffer.alloc(1 + (i % 300), i & 0xff));
  for (let i = 0; i < 2000; i += 3) put(`key${i}`, `overwritten ${i}`);
  for (let i = 1; i < 2000; i += 4) {
    store.delete(`key${i}`);
    model.delete(`key${i}`);
  }
  for (let b = 0; b < 50; b++) {
    const ops = [];
    for (let j = 0; j < 8; j++) ops.push({ type: 'put', key: `batch${b}.${j}`, value: `b${b}`.repeat(j + 1) });
    ops.push({ type: 'del', key: `key${b * 6}` });
    store.batch(ops);
    for (const op of ops) (op.type === 'put' ? model.set(op.key, op.value) : model.delete(op.key));
  }
  store.compact();
  const verify = (s, what) => {
    check(s.count === model.size, `${what}: count ${s.count} vs ${model.size}`);
    for (const [k, v] of model) {
      const got = s.get(k);
      check(typeof v === 'string' ? got === v : Buffer.isBuffer(got) && got.equals(v), `${what}: value of ${k}`);
    }
  };
  verify(store, 'before close');
  store.close();
  store = open(o.path, opts);
  verify(store, 'after reopen');
  const st = store.stats();
  store.batch([...store.keys()].map((key) => ({ type: 'del', key })));
  store.close();

  // kill -9 rounds: every acknowledged op survives, the one in flight is all or nothing.
  const SEED = 3;
  const devdax = fs.statSync(o.path).isCharacterDevice();
  let applied = 0;
  let tm = new Map();
  let acks = 0;
  for (let r = 0; r < o.kills; r++) {
    const acked = await killRound(o.path, applied, SEED, 10 + r * 15, o.granularity);
    acks += acked;
    const last = applied + acked;
    for (let i = applied; i < last; i++) torture.applyToModel(tm, torture.opAt(SEED, i));
    const inFlight = torture.applyToModel(new Map(tm), torture.opAt(SEED, last));
    // Device-dax has no private mappings: a read-only open there cannot replay the log after the
    // index's checkpoint (it would write the shared mapping), so the check recovers writably.
    const s = open(o.path, { readOnly: !devdax, ...opts });
    const same = torture.sameState(s, tm) ? last : torture.sameState(s, inFlight) ? last + 1 : -1;
    s.close();
    check(same >= 0, `kill round ${r}: the store holds neither the state after op ${last} nor after ${last + 1}`);
    if (same > last) tm = inFlight;
    applied = same;
  }
  console.log(
    JSON.stringify({
      ok: true,
      path: o.path,
      kind: st0.kind,
      granularity: st0.granularity,
      keys: model.size,
      compactions: st.generation,
      recoveryMs: Number(st.recovery.ms.toFixed(2)),
      killRounds: o.kills,
      acknowledgedOps: acks,
      seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    }),
  );
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, code: e.code, error: e.message }));
  process.exitCode = 1;
});
