#!/usr/bin/env node
// node-pmem demo: open a mapping, write, persist, close, reopen and show the data came back,
// with the durability tier and the reason for it.
//
//   npm run demo                 # DRAM-backed file (tmpfs), clearly labelled
//   npm run demo -- /mnt/pmem/x  # a file on a DAX filesystem, /dev/daxX.Y or /dev/pmemN
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const pmem = require('node-pmem');

const given = process.argv[2];
const dramDir = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const target = given ?? path.join(dramDir, `node-pmem-demo-${process.pid}.pmem`);
const isDevice = given !== undefined && given.startsWith('/dev/');

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
