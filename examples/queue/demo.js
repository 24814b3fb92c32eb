#!/usr/bin/env node
'use strict';
/**
 * The persistent queue (examples/queue/queue.js, on node-pmem/heap) across a reopen, another
 * process, and a kill -9:
 *
 *   node examples/queue/demo.js                 # a DRAM-backed file (/dev/shm or the temp dir), removed at the end
 *   node examples/queue/demo.js /mnt/pmem/q     # a file on a DAX filesystem (kept; run it again to see it reopened)
 *
 * 1. pushes (one at a time and a batch), shifts, and prints the queue;
 * 2. closes it, reopens it, and prints it again;
 * 3. starts a writer process that pushes numbered values in a loop, printing each one once push
 *    returned (durable), kills it with SIGKILL, reopens the queue and checks that every
 *    acknowledged value is there, in order, with nothing half-pushed.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { PersistentQueue } = require('./queue.js');
const { fromUser, forUser } = require('../user-path.js');

const SIZE = 8 * 1024 * 1024;

if (process.argv[2] === '--writer') {
  writer(process.argv[3], process.argv[4]);
} else {
  main();
}

/** The child: pushes `${tag} ${i}` for i = 0, 1, ... and prints i after each push returns. */
function writer(target, tag) {
  const q = PersistentQueue.open(target);
  let i = 0;
  const step = () => {
    // Bounded, so that a parent that never kills it cannot fill the heap; then it waits for the kill.
    for (let n = 0; n < 64 && i < 20_000; n++, i++) {
      q.push(`${tag} ${i}`);
      fs.writeSync(1, `${i}\n`);
    }
    setImmediate(step);
  };
  step();
}

function show(values) {
  return `[${values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : `<Buffer ${v.toString('hex')}>`)).join(', ')}]`;
}

function main() {
  const given = process.argv[2] === undefined ? undefined : fromUser(process.argv[2]);
  const dramDir = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const target = given ?? path.join(dramDir, `node-pmem-queue-demo-${process.pid}.heap`);
  if (given === undefined) {
    console.log('No persistent memory path given: using a DRAM-backed file (this is NOT persistent memory;');
    console.log(`its contents are lost at power-off): ${target}\n`);
  }
  let failed = false;
  const finish = () => {
    if (given === undefined) {
      fs.rmSync(target, { force: true });
      console.log(`\n(removed ${target}; give the demo a path to keep the queue and run it again)`);
    }
  };

  try {
    let q = PersistentQueue.open(target, { create: true, size: SIZE });
    console.log(`1. Opened ${forUser(target)}: ${q.heap.openReport.created ? 'a new heap' : 'an existing heap'}, tier ${q.heap.mapping.granularity}`);
    if (q.length > 0) {
      console.log(`   it holds ${q.length} values from an earlier run; shifting them: ${show(q.toArray().slice(0, 4))}${q.length > 4 ? ' ...' : ''}`);
      while (q.length > 0) q.shift();
    }
    q.push('job 1');
    q.push(Buffer.from([0xca, 0xfe]));
    q.pushMany(['job 3', 'job 4', 'job 5']); // one transaction: all three, or none after a crash
    console.log(`   pushed 5 values: length ${q.length}, ${show(q.toArray())}`);
    console.log(`   shift() -> ${show([q.shift()])}, shift() -> ${show([q.shift()])}; peek() -> ${show([q.peek()])}`);
    const s = q.heap.stats();
    console.log(`   the heap: ${s.objects} objects (the root and ${q.length} nodes), ${s.allocatedBytes} bytes allocated, ${s.transactions} transactions so far`);
    q.close();

    q = PersistentQueue.open(target);
    console.log(`\n2. Reopened: length ${q.length}, ${show(q.toArray())} (clean shutdown: ${q.heap.openReport.cleanShutdown})`);
    const before = q.toArray();
    q.close();

    console.log('\n3. A writer process pushes numbered values in a loop and is killed with SIGKILL mid-loop:');
    const tag = `writer ${process.pid}`;
    killWriter(target, tag)
      .then((acked) => {
        const r = PersistentQueue.open(target);
        const report = r.heap.openReport;
        const { length } = r.check();
        const values = r.toArray();
        const mine = values.slice(before.length);
        const ok =
          before.every((v, i) => String(v) === String(values[i])) &&
          mine.every((v, i) => v === `${tag} ${i}`) &&
          (mine.length === acked || mine.length === acked + 1);
        console.log(
          `   reopened after the kill: length ${length} (clean shutdown: ${report.cleanShutdown}, ` +
            `rolled back: ${report.rolledBack === null ? 'nothing' : `transaction ${report.rolledBack.transaction}, ${report.rolledBack.ranges} ranges`})`,
        );
        console.log(`   the writer's values: ${mine.length} (the last: ${show(mine.slice(-1))}); heap objects: ${r.heap.stats().objects}`);
        if (!ok || r.heap.stats().objects !== length + 1) {
          console.error(`MISMATCH: expected the ${before.length} earlier values, then "${tag} 0" .. "${tag} ${acked - 1}" (or one more)`);
          failed = true;
        } else {
          console.log(
            `   every one of the ${acked} acknowledged pushes is there, in order${mine.length > acked ? ' (and the push in flight landed whole)' : ''}; no node leaked`,
          );
        }
        r.close();
        if (!failed) console.log('\nOK: the queue survived a close, a reopen and a kill -9');
      })
      .catch((e) => {
        console.error(`${e.code ?? e.name}: ${e.message}`);
        failed = true;
      })
      .finally(() => {
        finish();
        if (failed) process.exitCode = 1;
      });
  } catch (e) {
    console.error(`${e.code ?? e.name}: ${e.message}`);
    process.exitCode = 1;
    finish();
  }
}

function killWriter(target, tag) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--writer', target, tag], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let timer;
    child.stdout.on('data', (d) => {
      out += d;
      timer ??= setTimeout(() => child.kill('SIGKILL'), 40);
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000); // a writer that never acknowledges
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      // Only whole lines count: a line cut by the kill was not seen acknowledged.
      const lines = out.split('\n').slice(0, -1).filter((l, i) => Number(l) === i);
      console.log(`   the writer exited by ${signal ?? `code ${code}`} after acknowledging ${lines.length} pushes`);
      if (signal !== 'SIGKILL') reject(new Error(`the writer was not killed (exit code ${code})`));
      else resolve(lines.length);
    });
  });
}
