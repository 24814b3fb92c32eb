#!/usr/bin/env node
'use strict';
/**
 * The key-value store (node-pmem/kv) across process restarts: each step below is a separate Node
 * process (the command line, examples/kv/cli.js), so what one writes the next one reads back
 * from the mapping, not from memory. Then a writer is killed with SIGKILL in the middle of its
 * loop and the store is reopened: every write it acknowledged is there.
 *
 *   node examples/kv/demo.js                 # a DRAM-backed file (tmpfs), clearly labelled
 *   node examples/kv/demo.js /mnt/pmem/kv    # a file on a DAX filesystem, or /dev/daxX.Y
 *
 * A device must be all zeros (or already hold a store): anything else is refused, not formatted.
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { fromUser, forUser, commandLine } = require('../user-path.js');

const CLI = path.join(__dirname, 'cli.js');
const TORTURE = path.join(__dirname, 'torture.js');
const given = process.argv[2] === undefined ? undefined : fromUser(process.argv[2]);
const dramDir = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const target = given ?? path.join(dramDir, `node-pmem-kv-demo-${process.pid}.kv`);

function cli(args, { quiet = false } = {}) {
  // Printed so that it runs as shown where the user stands (while the store exists).
  console.log(`$ ${commandLine(['node', forUser(CLI), forUser(target), ...args])}`);
  const out = execFileSync(process.execPath, [CLI, target, ...args], { encoding: 'utf8' });
  if (!quiet) process.stdout.write(out.replace(/^(?=.)/gm, '  '));
  return out;
}

async function main() {
  if (given === undefined) {
    console.log('No persistent memory path given: using a DRAM-backed file (this is NOT persistent memory;');
    console.log(`its contents are lost at power-off): ${target}\n`);
  }
  console.log('1. One process writes (each command is a new process; put returns once the write is durable):');
  const stamp = new Date().toISOString();
  cli(['put', 'greeting', `hello from pid ${process.pid} at ${stamp}`, '--size', '4M']);
  cli(['put', 'lang', 'JavaScript', 'tier', 'persistent memory']);

  console.log('\n2. Other processes read it back from the mapping:');
  const back = cli(['get', 'greeting']).trim();
  cli(['list']);
  const stats = JSON.parse(cli(['stats'], { quiet: true }));
  console.log(`  (${stats.kind}, tier ${stats.granularity}, ${stats.count} keys, ${stats.logBytes} bytes of log, recovered in ${stats.recovery.ms.toFixed(2)} ms)`);

  console.log('\n3. A writer loops over puts, deletes and batches and is killed with SIGKILL mid-loop:');
  const acked = await killWriter();
  const { open } = require('node-pmem/kv');
  const { modelState, sameState } = require('./torture.js');
  const store = open(target, { readOnly: true });
  // The demo's writer uses its own keys beside the ones above: compare only those.
  const mine = new Map([...store].filter(([k]) => typeof k !== 'string' || /^k\d+$/.test(k)));
  const view = { count: mine.size, [Symbol.iterator]: () => mine[Symbol.iterator](), get: (k) => store.get(k) };
  const ok = [acked, acked + 1].find((n) => sameState(view, modelState(DEMO_SEED, n)));
  console.log(`  reopened after the kill: ${store.count} keys, recovery scanned ${store.stats().recovery.records} records`);
  store.close();
  if (ok === undefined) {
    console.error(`MISMATCH: the store does not hold the ${acked} acknowledged ops`);
    process.exitCode = 1;
  } else {
    console.log(`  OK: all ${acked} acknowledged ops are there${ok > acked ? ' (and the op in flight landed whole)' : ' (the op in flight did not land)'}`);
  }

  if (back !== `hello from pid ${process.pid} at ${stamp}`) {
    console.error('MISMATCH: the greeting did not come back');
    process.exitCode = 1;
  } else {
    console.log('\nOK: data written by one process was read by others and survived a kill -9');
  }
}

const DEMO_SEED = 5;

function killWriter() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TORTURE, target, '0', String(DEMO_SEED)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let timer;
    child.stdout.on('data', (d) => {
      out += d;
      timer ??= setTimeout(() => child.kill('SIGKILL'), 30);
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000); // a writer that never acks
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      const lines = out.split('\n').filter((l, i) => l !== '' && Number(l) === i);
      console.log(`  writer exited by ${signal ?? `code ${code}`} after acknowledging ${lines.length} ops`);
      if (signal !== 'SIGKILL') reject(new Error(`the writer was not killed (exit code ${code})`));
      else resolve(lines.length);
    });
  });
}

main()
  .catch((e) => {
    console.error(`${e.code ?? e.name}: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    if (given === undefined) {
      fs.rmSync(target, { force: true });
      console.log(`\n(removed ${target}; give the demo a path to keep the store and rerun the commands above)`);
    }
  });
