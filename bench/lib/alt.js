'use strict';
/**
 * The Node alternative to node-pmem for a durable update of mapped memory: an mmap addon's msync.
 * mmap-io 1.1.7 no longer builds on Node 20; its fork @raygun-nickj/mmap-io is installed here, at
 * bench time, into bench/.alt/ (its own package.json, gitignored), so that a failed native build
 * never breaks the project's own `npm install`. Install scripts are skipped and the addon is built
 * from source explicitly (its prebuilt-binary download is never attempted).
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ALT_DIR = path.join(__dirname, '..', '.alt');
const PKG = '@raygun-nickj/mmap-io';
const VERSION = '1.4.0';
const PKG_DIR = path.join(ALT_DIR, 'node_modules', ...PKG.split('/'));
const LOG = path.join(ALT_DIR, 'build.log');

function tail(text, lines = 12) {
  return text.trim().split('\n').slice(-lines).join('\n');
}

// The ABI the addon was last built for: running the bench under another Node line rebuilds it.
const BUILT_ABI = path.join(ALT_DIR, 'built-abi');

function builtAddon() {
  const dir = path.join(PKG_DIR, 'build', 'Release');
  if (!fs.existsSync(path.join(dir, 'mmap_io.node'))) return false;
  return fs.existsSync(BUILT_ABI) && fs.readFileSync(BUILT_ABI, 'utf8').trim() === process.versions.modules;
}

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, npm_config_yes: 'true' } });
  fs.appendFileSync(LOG, `$ npm ${args.join(' ')}  (in ${cwd})\n${r.stdout ?? ''}${r.stderr ?? ''}\n`);
  if (r.error) return { ok: false, output: r.error.message };
  return { ok: r.status === 0, output: `${r.stdout}\n${r.stderr}` };
}

/**
 * Load the mmap-io fork; install and build it first when `install` is true.
 * Returns { mmap, name, version } or { error, name, version } (a finding, not a failure).
 */
function loadMmapIo({ install }) {
  const name = PKG;
  if (!builtAddon()) {
    if (!install) return { name, version: VERSION, error: `not built for this Node ABI (${process.versions.modules}): run the full bench, or pass --alt, to install and build it` };
    fs.mkdirSync(ALT_DIR, { recursive: true });
    fs.writeFileSync(LOG, '');
    fs.writeFileSync(
      path.join(ALT_DIR, 'package.json'),
      `${JSON.stringify({ name: 'node-pmem-bench-alternatives', private: true, description: 'installed by bench/run.js; not part of node-pmem', dependencies: { [PKG]: VERSION } }, null, 2)}\n`,
    );
    let r = npm(['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], ALT_DIR);
    if (!r.ok) return { name, version: VERSION, error: `npm install failed:\n${tail(r.output)}` };
    // The package's own install step is `node-pre-gyp install --fallback-to-build`; build from source directly.
    r = npm(['run', 'build-addon', '--', '--build-from-source'], PKG_DIR);
    if (r.ok) fs.writeFileSync(BUILT_ABI, `${process.versions.modules}\n`);
    if (!r.ok || !builtAddon()) return { name, version: VERSION, error: `native build failed (log: bench/.alt/build.log):\n${tail(r.output)}` };
  }
  try {
    const mmap = require(PKG_DIR);
    if (typeof mmap.map !== 'function' || typeof mmap.sync !== 'function') throw new Error('unexpected exports');
    return { name, version: VERSION, mmap };
  } catch (error) {
    return { name, version: VERSION, error: `built but does not load: ${error.message}` };
  }
}

module.exports = { loadMmapIo, ALT_DIR };
