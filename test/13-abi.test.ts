/**
 * A build for one Node ABI is refused by every other, with a coded error and never a signal.
 * The addon is plain V8 (native/mapping_wrap.h), so a build for another line must not run at all.
 * - A copy of this build whose marker names another ABI, and a file without a marker, are
 *   refused by loadNative() before anything is loaded.
 * - This build loaded by each other Node line found on the machine (the official binaries CI
 *   unpacks into .node-lines/, or NODE_PMEM_OTHER_NODES=path:path) is refused through the
 *   package (ERR_PMEM_ABI_MISMATCH naming both versions) and by Node's own dlopen check
 *   (ERR_DLOPEN_FAILED): the addon registers with NODE_MODULE_VERSION, not as N-API.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, tmpDir } from './helpers';

const { loadNative, native } = require(path.join(REPO_ROOT, 'dist', 'binding.js')) as typeof import('../lib/binding');
const ADDON = path.join(REPO_ROOT, 'build', 'Release', 'pmem.node');
const DIR = tmpDir();

function mismatch(err: unknown): NodeJS.ErrnoException & { builtFor: unknown; running: unknown } {
  const e = err as NodeJS.ErrnoException & { builtFor: unknown; running: unknown };
  assert.equal(e.code, 'ERR_PMEM_ABI_MISMATCH', String(e?.stack));
  assert.match(e.message, /npm rebuild node-pmem/);
  assert.match(e.message, new RegExp(`this is Node\\.js ${process.version.replace(/\./g, '\\.')} \\(NODE_MODULE_VERSION ${process.versions.modules}`));
  return e;
}

describe('a build for another ABI', () => {
  it('this build carries a marker with its ABI and loads', () => {
    const info = native.buildInfo();
    assert.equal(String(info.abi), process.versions.modules);
    assert.equal(info.node, process.versions.node);
    assert.match(fs.readFileSync(ADDON).toString('latin1'), new RegExp(`NODE_PMEM_BUILD abi=${process.versions.modules} node=${process.versions.node} arch=${process.arch};`));
  });

  it('a copy whose marker names another ABI is refused before it is loaded', () => {
    const bytes = fs.readFileSync(ADDON);
    const text = bytes.toString('latin1');
    const at = text.indexOf(`NODE_PMEM_BUILD abi=${process.versions.modules} `);
    assert.ok(at >= 0);
    const other = String(Number(process.versions.modules) === 999 ? 998 : 999).padStart(process.versions.modules.length, '1');
    bytes.write(`NODE_PMEM_BUILD abi=${other}`, at, 'latin1');
    const copy = path.join(DIR, 'stale.node');
    fs.writeFileSync(copy, bytes);
    const e = mismatch(captured(() => loadNative(copy)));
    assert.match(e.message, new RegExp(`NODE_MODULE_VERSION ${other}`));
    assert.deepEqual((e.builtFor as { abi: number }).abi, Number(other));
    assert.equal(e.path, copy);
  });

  it('a file without a marker (an older node-pmem) is refused', () => {
    const copy = path.join(DIR, 'old.node');
    fs.writeFileSync(copy, Buffer.alloc(4096));
    const e = mismatch(captured(() => loadNative(copy)));
    assert.match(e.message, /older node-pmem/);
    assert.equal(e.builtFor, null);
  });
});

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected a throw');
}

/** Other Node binaries on this machine whose ABI differs from this one's. */
function otherNodes(): { node: string; version: string; abi: string }[] {
  const candidates = new Set<string>();
  for (const p of (process.env.NODE_PMEM_OTHER_NODES ?? '').split(':')) if (p) candidates.add(p);
  const lines = path.join(REPO_ROOT, '.node-lines');
  if (fs.existsSync(lines))
    // <major>: this machine's architecture; <arch>-<major> holds another's (scripts/arm64.sh), which cannot run here.
    for (const major of fs.readdirSync(lines)) if (/^\d+$/.test(major)) candidates.add(path.join(lines, major, 'package', 'bin', 'node'));
  const out: { node: string; version: string; abi: string }[] = [];
  for (const node of candidates) {
    if (!fs.existsSync(node)) continue;
    const [version, abi] = execFileSync(node, ['-p', 'process.version + " " + process.versions.modules'], { encoding: 'utf8' }).trim().split(' ');
    if (abi !== process.versions.modules) out.push({ node, version: version!, abi: abi! });
  }
  return out;
}

/**
 * A package root holding only this checkout's build (dist/, bindings, build/Release): what a
 * checkout compiled under one line looks like to another line. (The checkout itself may also hold
 * prebuilt binaries for every line in lib/binding/, which the other line would rightly load.)
 */
function buildOnlyPackage(): string {
  const root = path.join(DIR, 'build-only');
  if (fs.existsSync(root)) return root;
  fs.mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(root, 'package.json'));
  fs.cpSync(path.join(REPO_ROOT, 'dist'), path.join(root, 'dist'), { recursive: true });
  for (const dep of ['bindings', 'file-uri-to-path'])
    fs.cpSync(path.join(REPO_ROOT, 'node_modules', dep), path.join(root, 'node_modules', dep), { recursive: true });
  fs.copyFileSync(ADDON, path.join(root, 'build', 'Release', 'pmem.node'));
  return root;
}

describe('this build under the other Node lines', () => {
  const others = otherNodes();
  it('at least one other line is here to try (CI unpacks all three into .node-lines/)', (t) => {
    if (others.length === 0) t.skip('no other Node line on this machine: run scripts/node-line.sh <major> or set NODE_PMEM_OTHER_NODES');
  });
  for (const other of others) {
    it(`Node ${other.version} refuses it through the package: a catchable ERR_PMEM_ABI_MISMATCH, no signal`, () => {
      const script = `try { require(${JSON.stringify(buildOnlyPackage())}).open; } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); process.exit(3); }`;
      const r = spawnSync(other.node, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.signal, null, r.stderr);
      assert.equal(r.status, 3, `${r.stdout}\n${r.stderr}`);
      const e = JSON.parse(r.stdout.trim()) as { code: string; message: string };
      assert.equal(e.code, 'ERR_PMEM_ABI_MISMATCH');
      assert.match(e.message, new RegExp(`built for Node\\.js ${process.version.replace(/\./g, '\\.')} \\(NODE_MODULE_VERSION ${process.versions.modules}`));
      assert.match(e.message, new RegExp(`this is Node\\.js ${other.version.replace(/\./g, '\\.')} \\(NODE_MODULE_VERSION ${other.abi}`));
      assert.match(e.message, /npm rebuild node-pmem/);
    });
    it(`Node ${other.version} refuses it in its own dlopen check too (ERR_DLOPEN_FAILED, no signal)`, () => {
      const script = `try { process.dlopen({ exports: {} }, ${JSON.stringify(ADDON)}); console.log('LOADED'); } catch (e) { console.log(e.code); console.log(e.message); }`;
      const r = spawnSync(other.node, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.signal, null, r.stderr);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^ERR_DLOPEN_FAILED$/m, r.stdout);
      assert.match(r.stdout, new RegExp(`NODE_MODULE_VERSION ${process.versions.modules}`), r.stdout);
    });
  }
});
