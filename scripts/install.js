#!/usr/bin/env node
// npm's install step. A packed node-pmem carries a binary per supported Node line
// (lib/binding/node-v<ABI>-<platform>-<arch>/pmem.node, made by scripts/prebuild.sh); when one
// matches this Node nothing is compiled. Otherwise (a git checkout, another Node line or platform)
// node-gyp builds it, which needs a C++ compiler, make and python3.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const tag = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;
if (fs.existsSync(path.join(root, 'lib', 'binding', tag, 'pmem.node'))) {
  console.log(`node-pmem: using the prebuilt binary for Node.js ${process.version} (${tag})`);
  process.exit(0);
}
console.log(
  `node-pmem: no prebuilt binary for Node.js ${process.version} (${tag}) here: compiling it with node-gyp ` +
    '(needs a C++ compiler, make and python3)',
);
// npm puts its own node-gyp on PATH for install scripts; a checkout also has it in node_modules.
let local = null;
try {
  local = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
} catch {}
const r = local
  ? spawnSync(process.execPath, [local, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
if (r.error) console.error(`node-pmem: could not run node-gyp: ${r.error.message}`);
process.exit(r.status ?? 1);
