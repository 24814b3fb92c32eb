'use strict';
/** Builds bench/c/pmembench.c with cc into bench/.build/ and runs it. */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SRC = path.join(__dirname, '..', 'c', 'pmembench.c');
const BUILD_DIR = path.join(__dirname, '..', '.build');
const BIN = path.join(BUILD_DIR, 'pmembench');
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-std=gnu11'];

class HarnessUnavailable extends Error {}

function headersPresent() {
  return ['libpmem.h', 'libpmem2.h'].every((h) => fs.existsSync(path.join('/usr/include', h)));
}

/** Compile when the binary is missing or older than its source. Returns the binary's path. */
function build() {
  if (!headersPresent()) {
    throw new HarnessUnavailable(
      "libpmem's headers are missing: install Debian's libpmem-dev and libpmem2-dev " +
        '(apt-get install -y libpmem-dev libpmem2-dev), or pass --no-c to skip the C baselines',
    );
  }
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const fresh = fs.existsSync(BIN) && fs.statSync(BIN).mtimeMs >= fs.statSync(SRC).mtimeMs;
  if (!fresh) {
    const cc = process.env.CC || 'cc';
    const r = spawnSync(cc, [...CFLAGS, '-o', BIN, SRC, '-lpmem', '-lpmem2'], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run ${cc}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`building the C harness failed:\n${r.stderr}`);
  }
  return BIN;
}

const ENV = { ...process.env, PMEM_IS_PMEM_FORCE: '1', PMEM2_FORCE_GRANULARITY: 'CACHE_LINE' };

/** Run one section; returns { id: samples[] } (and the info object under 'info'). */
function run(file, section, samples, warmup, ...args) {
  const r = spawnSync(BIN, [file, section, String(samples), String(warmup), ...args.map(String)], {
    env: ENV,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`pmembench ${section} exited with ${r.status}: ${r.stderr.trim()}`);
  const out = {};
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    out[o.id] = o.samples ?? o;
  }
  return out;
}

/** Version of a Debian package, or null. */
function debVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

module.exports = { build, run, debVersion, HarnessUnavailable, BIN, BUILD_DIR };
