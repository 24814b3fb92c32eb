#!/usr/bin/env node
// node-pmem demo: open a mapping, write, persist, close, reopen and show the data came back,
// with the durability tier and the reason for it; then the key-value store (node-pmem/kv) across
// process restarts (examples/kv/demo.js).
//
//   npm run demo                 # DRAM-backed file (tmpfs), clearly labelled
//   npm run demo -- /mnt/pmem/x  # a file on a DAX filesystem (the store goes to /mnt/pmem/x.kv),
//                                # or /dev/daxX.Y, /dev/pmemN (the store part is skipped: it would
//                                # need a device of its own)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const pmem = require('node-pmem');
const { fromUser, forUser, commandLine } = require('./user-path.js');

const given = process.argv[2] === undefined ? undefined : fromUser(process.argv[2]);
const dramDir = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const target = given ?? path.join(dramDir, `node-pmem-demo-${process.pid}.pmem`);
// A device is what the path names, not where it sits: /dev/shm/x is a file to create.
const isDevice = (() => {
  if (given === undefined) return false;
  try {
    const st = fs.statSync(given);
    return st.isBlockDevice() || st.isCharacterDevice();
  } catch {
    return false;
  }
})();

if (given === undefined) {
  console.log('No persistent memory path given: using a DRAM-backed file (this is NOT persistent memory;');
  console.log(`its contents are lost at power-off): ${target}\n`);
}

const message = `hello from node-pmem, pid ${process.pid}, ${new Date().toISOString()}`;
const cpu = pmem.cpuInfo();
console.log(`CPU: flush with ${cpu.flush}, non-temporal stores via ${cpu.nonTemporal}`);

// 1. Open (creating a 1 MiB file unless a device was named), write and persist.
let mapping = pmem.open(target, isDevice ? {} : { create: true, size: 1 << 20 });
console.log(`opened ${mapping.path}: kind ${mapping.kind}, ${mapping.length} bytes`);
console.log(`tier: ${mapping.granularity}${mapping.isPmem ? '' : ' (not persistent-memory fast path)'}`);
console.log(`why:  ${mapping.granularityReason}`);
const header = Buffer.alloc(4);
header.writeUInt32LE(Buffer.byteLength(message));
mapping.write(0, header);
mapping.write(4, message);
mapping.persist(0, 4 + Buffer.byteLength(message));
console.log(`wrote and persisted: "${message}"`);
mapping.close();

// 2. Reopen read-only and read it back.
mapping = pmem.open(target, { readOnly: true });
const length = mapping.dataView(0, 4).getUint32(0, true);
const back = mapping.read(4, length).toString();
mapping.close();
console.log(`reopened and read:   "${back}"`);
if (back !== message) {
  console.error('MISMATCH: the data did not come back');
  process.exitCode = 1;
} else {
  console.log('OK: the data came back after close and reopen');
}
if (given === undefined) fs.unlinkSync(target);

// Part two: the key-value store, each step a separate process.
if (process.exitCode === undefined) {
  console.log('\n--- the key-value store (node-pmem/kv; examples/kv/demo.js) ---\n');
  if (isDevice) {
    console.log(`skipped on ${given}: the store needs a device of its own (run ${commandLine(['node', forUser(path.join(__dirname, 'kv', 'demo.js'))])} <device>)`);
  } else {
    const kv = spawnSync(process.execPath, [path.join(__dirname, 'kv', 'demo.js'), ...(given === undefined ? [] : [`${given}.kv`])], {
      stdio: 'inherit',
    });
    process.exitCode = kv.status ?? 1;
  }
}
