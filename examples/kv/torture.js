#!/usr/bin/env node
'use strict';
/**
 * A deterministic stream of store operations (puts, overwrites, deletes, batches) and a writer
 * that applies them until it is killed, printing one line per acknowledged (durable) operation.
 * The kill -9 test and the demo run it as a child process, kill it mid-loop, reopen the store and
 * check it against a model replayed from the same stream.
 *
 *   node examples/kv/torture.js <file> <first-op> [seed] [limit]
 *     prints "<op index>\n" (with a synchronous write) after each op returns.
 *     NODE_PMEM_KV_GRANULARITY=<tier> opens the store with that node-pmem tier override.
 *
 * As a module: opAt(seed, i), applyToModel(model, op), modelState(seed, n) and sameState(store, model).
 */

/** Default number of distinct keys in the stream. */
const KEYS = 48;

/** xorshift-multiply hash of (seed, i, salt) -> uint32. */
function hash(seed, i, salt) {
  let x = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35) ^ Math.imul(salt + 7, 0x27d4eb2f);
  x ^= x >>> 15;
  x = Math.imul(x, 0x2c1b3c6d);
  x ^= x >>> 12;
  x = Math.imul(x, 0x297a2d39);
  x ^= x >>> 15;
  return x >>> 0;
}

function valueFor(seed, i, j, kind) {
  const len = 1 + (hash(seed, i, 100 + j) % 300);
  if (kind === 'string') return `v${i}.${j}:`.padEnd(len, String.fromCharCode(97 + (i % 26)));
  const b = Buffer.alloc(len);
  for (let p = 0; p < len; p++) b[p] = (i * 31 + j * 7 + p) & 0xff;
  return b;
}

/** Key number n as a string ('k12') or as bytes (odd n). */
function keyFor(n) {
  return n % 2 === 0 ? `k${n}` : Buffer.from([0x00, 0xff, n, 0x80]);
}

/**
 * Operation i of the stream `seed` over `keys` distinct keys:
 * { type: 'put', key, value } | { type: 'del', key } | { type: 'batch', ops }.
 */
function opAt(seed, i, keys = KEYS) {
  const r = hash(seed, i, 0) % 100;
  const key = keyFor(hash(seed, i, 1) % keys);
  if (r < 55) return { type: 'put', key, value: valueFor(seed, i, 0, hash(seed, i, 2) & 1 ? 'string' : 'bytes') };
  if (r < 75) return { type: 'del', key };
  const n = 2 + (hash(seed, i, 3) % 5);
  const ops = [];
  for (let j = 0; j < n; j++) {
    const k = keyFor(hash(seed, i, 10 + j) % keys);
    if (hash(seed, i, 20 + j) % 4 === 0) ops.push({ type: 'del', key: k });
    else ops.push({ type: 'put', key: k, value: valueFor(seed, i, j + 1, j & 1 ? 'string' : 'bytes') });
  }
  return { type: 'batch', ops };
}

function indexKey(key) {
  return typeof key === 'string' ? Buffer.from(key, 'utf8').toString('latin1') : Buffer.from(key).toString('latin1');
}

/**
 * Apply op to a model: a Map from the key's latin1 image to [key, value]. (The store iterates in
 * byte order of the keys, which is the order of these images as JS strings.)
 */
function applyToModel(model, op) {
  if (op.type === 'put') model.set(indexKey(op.key), [op.key, op.value]);
  else if (op.type === 'del') model.delete(indexKey(op.key));
  else for (const o of op.ops) applyToModel(model, o);
  return model;
}

/** The model after ops [0, n). */
function modelState(seed, n) {
  const model = new Map();
  for (let i = 0; i < n; i++) applyToModel(model, opAt(seed, i));
  return model;
}

function same(a, b) {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return Buffer.isBuffer(a) && Buffer.from(b).equals(a);
}

/** Whether the store holds exactly the model (keys, values, their types and the order). Every read verifies. */
function sameState(store, model) {
  if (store.count !== model.size) return false;
  const want = [...model.keys()].sort().map((k) => model.get(k));
  let i = 0;
  for (const [key, value] of store) {
    const [k, v] = want[i++];
    if (!same(key, k) || !same(value, v)) return false;
    if (!same(store.get(k), v)) return false;
  }
  return i === want.length;
}

module.exports = { opAt, applyToModel, modelState, sameState, indexKey };

if (require.main === module) {
  const fs = require('node:fs');
  const { open } = require('node-pmem/kv');
  const [file, first = '0', seedText = '1', limitText = 'Infinity'] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node examples/kv/torture.js <file> <first-op> [seed] [limit]');
    process.exit(2);
  }
  const seed = Number(seedText);
  const limit = Number(limitText);
  const granularity = process.env.NODE_PMEM_KV_GRANULARITY; // e.g. 'cacheline' on a virtio-pmem device-dax
  const store = open(file, granularity ? { granularity } : {});
  for (let i = Number(first); i < limit; i++) {
    const op = opAt(seed, i);
    if (op.type === 'put') store.put(op.key, op.value);
    else if (op.type === 'del') store.delete(op.key);
    else store.batch(op.ops);
    fs.writeSync(1, `${i}\n`);
  }
  store.close();
}
