'use strict';
/**
 * A DRAM-backed ext4 file system for the durable-update comparison: an image in /dev/shm, attached
 * to a loop device, formatted and mounted. Unlike tmpfs, whose msync and fsync do nothing
 * (shmem's fsync is noop_fsync: there is nothing to write back to), msync here does the work it
 * does on any disk-backed file system (page write-back through ext4 and the block layer, plus the
 * flush the loop driver passes on), only with RAM under it. Needs root, losetup and mkfs.ext4;
 * create() returns { error } when any of that is missing, so the caller reports it and goes on.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const IMAGE_BYTES = 128 << 20;

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

// A mapping still alive (an mmap addon unmaps only when its buffer is collected) keeps the file
// system busy: then detach it lazily, and the loop device (auto-cleared by losetup -d while busy)
// goes away with the last user, at the latest when this process exits.
function unmount(dir) {
  try {
    run('umount', [dir]);
  } catch {
    run('umount', ['-l', dir]);
  }
}

/** @returns {{ dir: string, device: string, image: string, destroy(): void } | { error: string }} */
function create(tag) {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { error: 'needs root (losetup, mount)' };
  const image = path.join('/dev/shm', `node-pmem-bench-${tag}.ext4.img`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-pmem-bench-ramext4-'));
  const undo = [() => fs.rmSync(dir, { recursive: true, force: true })];
  const destroy = () => {
    for (const step of undo.splice(0).reverse()) {
      try {
        step();
      } catch {
        // best effort: the next steps still run
      }
    }
  };
  try {
    fs.writeFileSync(image, '');
    undo.push(() => fs.rmSync(image, { force: true }));
    fs.truncateSync(image, IMAGE_BYTES);
    const device = run('losetup', ['--find', '--show', image]);
    undo.push(() => run('losetup', ['-d', device]));
    run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', device]);
    run('mount', ['-t', 'ext4', device, dir]);
    undo.push(() => unmount(dir));
    return { dir, device, image, destroy };
  } catch (error) {
    destroy();
    const detail = (error.stderr || error.message || String(error)).toString().trim().split('\n')[0];
    return { error: `RAM-backed ext4 not available: ${detail}` };
  }
}

module.exports = { create };
