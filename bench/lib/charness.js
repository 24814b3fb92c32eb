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
 * Runs `compiler` with `args` to build `out` from `src`, unless `out` is newer than `src` and
 * every one of `deps`. HarnessUnavailable when a header /usr/include must have (`headers`, with
 * the `install` hint) or the compiler is missing; an Error with the compiler's output when it fails.
 */
function compile({ compiler, args, src, out, deps = [], headers = [], install = '' }) {
  const missing = headers.filter((h) => !fs.existsSync(path.join('/usr/include', h)));
  if (missing.length > 0) throw new HarnessUnavailable(`${missing.join(', ')} missing: ${install}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const newest = Math.max(...[src, ...deps].map((f) => fs.statSync(f).mtimeMs));
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest) return out;
  const r = spawnSync(compiler, args, { encoding: 'utf8' });
  if (r.error) throw new HarnessUnavailable(`cannot run ${compiler} (${r.error.code ?? r.error.message})`);
  if (r.status !== 0) throw new Error(`building ${path.basename(src)} failed:\n${r.stderr}`);
  return out;
}

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
      const compiler = process.env.CC || 'cc';
      return compile({ compiler, args: [...CFLAGS, '-o', bin, src, ...libs], src, out: bin, deps: [SHARED_HEADER], headers, install });
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

/** The running node's headers (node.h): npm_config_nodedir's, the ones beside the binary, or Debian's. */
function nodeInclude() {
  const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
  const include = [path.join(nodedir, 'include', 'node'), '/usr/include/nodejs'].find((d) => fs.existsSync(path.join(d, 'node.h')));
  if (!include) throw new HarnessUnavailable(`no node.h under ${nodedir}/include/node: set npm_config_nodedir to this node's headers`);
  return include;
}

/**
 * A bench-only addon: one C++ source built with c++ against the running node's headers into
 * `dir` (default: one folder of bench/.build/ per node ABI), when missing or older than its
 * source or any of `deps`.
 * Returns the .node path; HarnessUnavailable when the headers, a library's header or the compiler
 * are missing.
 */
function buildAddon({ name, src, deps = [], libs = [], headers = [], install = '', defines = [], dir = path.join(BUILD_DIR, `addons-abi${process.versions.modules}`) }) {
  const out = path.join(dir, `${name}.node`);
  const args = ['-O2', '-std=gnu++20', '-shared', '-fPIC', ...defines, `-DNODE_GYP_MODULE_NAME=${name}`, `-I${nodeInclude()}`, src, '-o', out, ...libs];
  return compile({ compiler: process.env.CXX || 'c++', args, src, out, deps, headers, install });
}

/** libpmem's calls behind the thinnest V8 addon (bench/c/libpmem_addon.cc), loaded; for the (bound) rows. */
function loadLibpmemAddon() {
  const file = buildAddon({
    name: 'libpmem_addon',
    src: path.join(__dirname, '..', 'c', 'libpmem_addon.cc'),
    libs: ['-lpmem'],
    headers: ['libpmem.h'],
    install: "install Debian's libpmem-dev (apt-get install -y libpmem-dev)",
  });
  return require(file).libpmem;
}

/** Version of a Debian package, or null. */
function debVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

module.exports = { harness, build: () => pmembench.build(), run, buildAddon, loadLibpmemAddon, debVersion, HarnessUnavailable, BIN: pmembench.bin, BUILD_DIR };
