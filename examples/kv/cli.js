#!/usr/bin/env node
'use strict';
/**
 * Command line for the key-value store (node-pmem/kv).
 *
 *   node examples/kv/cli.js <file> put <key> <value> [<key> <value> ...]   (several pairs: one atomic batch)
 *   node examples/kv/cli.js <file> get <key>            prints the value; exit 1 if absent
 *   node examples/kv/cli.js <file> del <key> [<key> ...] (several keys: one atomic batch)
 *   node examples/kv/cli.js <file> list [<prefix>]      key<TAB>value lines, in key order
 *   node examples/kv/cli.js <file> stats                JSON
 *   node examples/kv/cli.js <file> compact
 *
 * Options (anywhere): --size <bytes|64M|1G> size of a new file (default 16M; `put` creates the file
 * if missing), --granularity auto|byte|cacheline|page (node-pmem's tier override).
 * Keys and values are taken as UTF-8 strings. Errors print `code: message` (once) and exit 2.
 */
const { open, KvStore } = require('node-pmem/kv');

const USAGE = `usage: node examples/kv/cli.js <file> put|get|del|list|stats|compact [args...] [--size N] [--granularity G]
  put <key> <value> [<key> <value> ...]   store (several pairs: one atomic batch); creates the file
  get <key>                               print the value (exit 1 if absent)
  del <key> [<key> ...]                   delete (several keys: one atomic batch)
  list [<prefix>]                         key<TAB>value per line, in key order
  stats                                   layout and space figures (JSON)
  compact                                 reclaim space now
limits: keys ${KvStore.limits.maxKeyBytes} bytes, values ${KvStore.limits.maxValueBytes} bytes`;

function parseSize(text) {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text ?? '');
  if (m === null) throw Object.assign(new Error(`bad --size ${text}: use bytes or 64K, 16M, 1G`), { code: 'ERR_USAGE' });
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()];
}

function main(argv) {
  const args = [];
  let size = 16 * 1024 * 1024;
  let granularity;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--size') size = parseSize(argv[++i]);
    else if (argv[i] === '--granularity') granularity = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') return usage(0);
    else args.push(argv[i]);
  }
  const [file, command, ...rest] = args;
  if (file === undefined || command === undefined) return usage(2);
  const writes = command === 'put' || command === 'del' || command === 'compact';
  const options = writes ? { create: command === 'put', size, granularity } : { readOnly: true, granularity };
  if (command === 'put' && (rest.length === 0 || rest.length % 2 !== 0)) return usage(2);
  if ((command === 'get' && rest.length !== 1) || (command === 'del' && rest.length === 0)) return usage(2);
  if (!['put', 'get', 'del', 'list', 'stats', 'compact'].includes(command)) return usage(2);

  const store = open(file, options);
  try {
    switch (command) {
      case 'put':
        if (rest.length === 2) store.put(rest[0], rest[1]);
        else {
          const ops = [];
          for (let i = 0; i < rest.length; i += 2) ops.push({ type: 'put', key: rest[i], value: rest[i + 1] });
          store.batch(ops);
        }
        console.log(`ok: ${rest.length / 2} put${rest.length === 2 ? '' : 's'} durable (${plural(store.count, 'key')})`);
        return 0;
      case 'get': {
        const value = store.get(rest[0]);
        if (value === undefined) {
          console.error(`not found: ${rest[0]}`);
          return 1;
        }
        process.stdout.write(typeof value === 'string' ? value + '\n' : value.toString('hex') + '\n');
        return 0;
      }
      case 'del': {
        if (rest.length === 1) {
          const existed = store.delete(rest[0]);
          console.log(existed ? 'ok: deleted' : `not found: ${rest[0]}`);
          return existed ? 0 : 1;
        }
        store.batch(rest.map((key) => ({ type: 'del', key })));
        console.log(`ok: ${rest.length} deletes durable (${plural(store.count, 'key')})`);
        return 0;
      }
      case 'list': {
        const prefix = rest[0] ?? '';
        const out = [];
        // Keys are in byte order: those with the prefix start at it, and end at the first without.
        for (const [key, value] of store.entries({ gte: prefix })) {
          const k = typeof key === 'string' ? key : key.toString('hex');
          if (!Buffer.from(typeof key === 'string' ? key : key).subarray(0, Buffer.byteLength(prefix)).equals(Buffer.from(prefix))) break;
          out.push(`${k}\t${typeof value === 'string' ? value : value.toString('hex')}`);
        }
        if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
        return 0;
      }
      case 'stats':
        console.log(JSON.stringify(store.stats(), null, 2));
        return 0;
      case 'compact':
        store.compact();
        console.log(`ok: compacted (${store.stats().logBytes} bytes of log)`);
        return 0;
    }
  } finally {
    store.close();
  }
  return 2;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function usage(code) {
  (code === 0 ? console.log : console.error)(USAGE);
  return code;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  // System errors already start with their code ("ENOENT: no such file..."); others get it in front.
  const code = e.code ?? e.name;
  console.error(e.message.startsWith(`${code}: `) ? e.message : `${code}: ${e.message}`);
  process.exitCode = 2;
}
