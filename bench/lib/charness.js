'use strict';
/**
 * The C benchmark harnesses: each is one source in bench/c or bench/heap, built with cc into
 * bench/.build/ when its binary is missing or older than its source (or than bench/c/harness.h,
 * which they share), and run once per section, printing one JSON object a line.
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const BUILD_DIR = path.join(__dirname, '..', '.build');
const SHARED_HEADER = path.join(__dirname, '..', 'c', 'harness.h');
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-std=gnu11'];

class HarnessUnavailable extends Error {}

/**
 * A harness: `name` (the binary), `src`, `libs` (linker flags), `headers` (what /usr/include must
 * have, with the install hint for when it does not), `env` (what its runs get).
 */
function harness({ name, src, libs, headers, install, env }) {
  const bin = path.join(BUILD_DIR, name);
  return {
    bin,
    /** Compiles when needed; returns the binary. HarnessUnavailable when headers or the compiler are missing. */
    build() {
      const missing = headers.filter((h) => !fs.existsSync(path.join('/usr/include', h)));
      if (missing.length > 0) throw new HarnessUnavailable(`${missing.join(', ')} missing: ${install}`);
      fs.mkdirSync(BUILD_DIR, { recursive: true });
      const newest = Math.max(fs.statSync(src).mtimeMs, fs.statSync(SHARED_HEADER).mtimeMs);
      if (fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= newest) return bin;
      const cc = process.env.CC || 'cc';
      const r = spawnSync(cc, [...CFLAGS, '-o', bin, src, ...libs], { encoding: 'utf8' });
      if (r.error) throw new HarnessUnavailable(`cannot run ${cc} (${r.error.code ?? r.error.message})`);
      if (r.status !== 0) throw new Error(`building ${path.basename(src)} failed:\n${r.stderr}`);
      return bin;
    },
    /** Runs one section; returns { id: line } for every JSON line it printed. */
    run(...args) {
      const r = spawnSync(bin, args.map(String), { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (r.error) throw r.error;
      if (r.status !== 0) throw new Error(`${name} ${args[1] ?? ''} exited with ${r.status}: ${r.stderr.trim()}`);
      const out = {};
      for (const line of r.stdout.split('\n')) {
        if (!line.trim()) continue;
        const o = JSON.parse(line);
        out[o.id] = o;
      }
      return out;
    },
  };
}

/** bench/run.js's harness: libpmem and libpmem2. */
const pmembench = harness({
  name: 'pmembench',
  src: path.join(__dirname, '..', 'c', 'pmembench.c'),
  libs: ['-lpmem', '-lpmem2'],
  headers: ['libpmem.h', 'libpmem2.h'],
  install: "install Debian's libpmem-dev and libpmem2-dev (apt-get install -y libpmem-dev libpmem2-dev), or pass --no-c to skip the C baselines",
  env: { PMEM_IS_PMEM_FORCE: '1', PMEM2_FORCE_GRANULARITY: 'CACHE_LINE' },
});

/** Run one section of pmembench; returns { id: samples[] } (and the info object under 'info'). */
function run(file, section, samples, warmup, ...args) {
  const out = pmembench.run(file, section, samples, warmup, ...args);
  for (const id of Object.keys(out)) out[id] = out[id].samples ?? out[id];
  return out;
}

/** Version of a Debian package, or null. */
function debVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

module.exports = { harness, build: () => pmembench.build(), run, debVersion, HarnessUnavailable, BIN: pmembench.bin, BUILD_DIR };
