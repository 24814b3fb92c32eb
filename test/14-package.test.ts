/**
 * The package as a user gets it: a tarball with a prebuilt binary for this Node line, installed
 * with --ignore-scripts into a new project, used with no compiler on PATH (only node's own
 * directory), from CommonJS, from ESM and through the `node-pmem` command; and the install step
 * (scripts/install.js), which uses that binary or says why it compiles.
 *
 * The tarball is packed from a staging copy of the package's `files`, with this checkout's build
 * (build/Release/pmem.node) as the prebuilt binary of this line: `npm pack` of the checkout itself
 * runs scripts/prebuild.sh for every line, which needs the registry and minutes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { REPO_ROOT, tmpDir } from './helpers';

const DIR = tmpDir();
const TAG = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;
const NODE_DIR = path.dirname(process.execPath);

/** Run with nothing on PATH but this node's directory: no compiler, no make, no python3. */
function bare(args: string[], cwd: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; out: string } {
  const r = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: NODE_DIR, HOME: DIR, TMPDIR: DIR },
  });
  return Object.assign(r, { out: `${r.stdout}\n${r.stderr}` });
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** What `npm pack` of the checkout would ship, asked of npm itself (its `files` globs and rules). */
const PACKED_FILES = (JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], REPO_ROOT)) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);

/**
 * A package of the checkout's node_modules and, flat as npm installs them, the packages it
 * depends on, copied into `project`'s node_modules (for an optional peer a consumer installs).
 */
function copyWithDependencies(name: string, project: string, seen = new Set<string>()): void {
  if (seen.has(name)) return;
  seen.add(name);
  const from = path.join(REPO_ROOT, 'node_modules', name);
  fs.cpSync(from, path.join(project, 'node_modules', name), { recursive: true });
  const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(dependencies)) copyWithDependencies(dep, project, seen);
}

/** A copy of what the package ships, lib/binding/ replaced by this line's binary or by nothing. */
function stage(name: string, withBinary: boolean): string {
  const dir = path.join(DIR, name);
  for (const file of PACKED_FILES) {
    if (file.startsWith('lib/binding/')) continue;
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.copyFileSync(path.join(REPO_ROOT, file), path.join(dir, file));
  }
  if (withBinary) {
    fs.mkdirSync(path.join(dir, 'lib', 'binding', TAG), { recursive: true });
    fs.copyFileSync(path.join(REPO_ROOT, 'build', 'Release', 'pmem.node'), path.join(dir, 'lib', 'binding', TAG, 'pmem.node'));
  }
  return dir;
}

describe('the packed package, installed with --ignore-scripts, on a machine without a compiler', () => {
  let project = '';
  /** require('node-pmem/level') before abstract-level was installed: its code and message. */
  let withoutPeer = { status: null as number | null, out: '' };
  before(() => {
    const staged = stage('stage', true);
    const tarball = run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', DIR], staged).trim().split('\n').pop()!;
    project = path.join(DIR, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', path.join(DIR, tarball)], project);
    // Its types name @types/node as an optional peer: a TypeScript consumer has it installed.
    for (const types of ['@types/node', 'undici-types']) {
      fs.cpSync(path.join(REPO_ROOT, 'node_modules', types), path.join(project, 'node_modules', types), { recursive: true });
    }
    // node-pmem/level needs abstract-level, an optional peer dependency, which npm does not
    // install by itself: first what loading it says without, then as a user who installed it.
    assert.equal(fs.existsSync(path.join(project, 'node_modules', 'abstract-level')), false, 'npm installed no optional peer');
    withoutPeer = bare(['-e', `try { require('node-pmem/level'); } catch (e) { console.log(e.code); console.log(e.message); process.exit(3); }`], project);
    copyWithDependencies('abstract-level', project);
  });

  it('without abstract-level installed, node-pmem/level says to install it (ERR_PMEM_PEER_DEPENDENCY)', () => {
    assert.equal(withoutPeer.status, 3, withoutPeer.out);
    assert.match(withoutPeer.out, /^ERR_PMEM_PEER_DEPENDENCY$/m);
    assert.match(withoutPeer.out, /npm install abstract-level@3/);
  });

  it(`the tarball carries this line's binary (lib/binding/${TAG}) and no build directory`, () => {
    const installed = path.join(project, 'node_modules', 'node-pmem');
    assert.ok(fs.existsSync(path.join(installed, 'lib', 'binding', TAG, 'pmem.node')));
    assert.ok(!fs.existsSync(path.join(installed, 'build')), 'nothing was compiled');
  });

  it('require() works and maps a file; node-pmem/kv, node-pmem/level and node-pmem/heap store and read back', () => {
    const f = path.join(DIR, 'cjs.bin');
    const pool = path.join(DIR, 'cjs.heap');
    const store = path.join(DIR, 'cjs.kv');
    const level = path.join(DIR, 'cjs.level');
    const r = bare(['-e', `const p = require('node-pmem'); const m = p.open(${JSON.stringify(f)}, { create: true, size: 4096 });
      m.write(0, 'cjs', { persist: true }); console.log(m.read(0, 3).toString(), m.granularity); m.close();
      const kv = require('node-pmem/kv'); const db = kv.open(${JSON.stringify(store)}, { create: true, size: kv.MIN_SIZE });
      db.put('k', 'kv'); db.close(); const again = kv.open(${JSON.stringify(store)}); console.log(again.get('k'), again.count); again.close();
      const { Heap } = require('node-pmem/heap');
      const heap = Heap.open(${JSON.stringify(pool)}, { layout: 'pkg', create: true, size: 1 << 20 });
      heap.transaction(() => heap.root.setString(0, 'heap')); heap.close();
      const h2 = Heap.open(${JSON.stringify(pool)}, { layout: 'pkg' }); console.log(h2.root.getString(0), h2.openReport.cleanShutdown); h2.close();
      const { PmemLevel } = require('node-pmem/level');
      (async () => {
        const ldb = new PmemLevel(${JSON.stringify(level)}, { size: kv.MIN_SIZE, valueEncoding: 'json' });
        await ldb.put('k', { via: 'level' }); await ldb.close(); await ldb.open();
        console.log(JSON.stringify(await ldb.get('k')), ldb.supports.permanence); await ldb.close();
      })();`], project);
    assert.equal(r.status, 0, r.out);
    assert.match(r.stdout, /^cjs page$/m);
    assert.match(r.stdout, /^kv 1$/m);
    assert.match(r.stdout, /^heap true$/m);
    assert.match(r.stdout, /^\{"via":"level"\} true$/m);
  });

  it('import works, node-pmem/testing, node-pmem/kv, node-pmem/level and node-pmem/heap too', () => {
    const level = path.join(DIR, 'esm.level');
    const r = bare(['--input-type=module', '-e', `import { open, cpuInfo } from 'node-pmem'; import { createSimulatedMapping } from 'node-pmem/testing';
      import { open as openStore, KvStore, MAX_KEY_BYTES } from 'node-pmem/kv';
      import { PmemLevel, DEFAULT_SIZE } from 'node-pmem/level';
      import { Heap, MIN_POOL_SIZE } from 'node-pmem/heap';
      console.log(typeof open, typeof createSimulatedMapping, cpuInfo().arch);
      const heap = Heap.fromMapping(createSimulatedMapping({ size: 4 * MIN_POOL_SIZE }), { layout: 'esm', create: true });
      console.log('heap', heap.alloc(100).size);
      const db = KvStore.fromMapping(createSimulatedMapping({ size: 262144 }), { create: true });
      db.put('k', 'esm'); console.log(typeof openStore, db.get('k'), MAX_KEY_BYTES);
      const ldb = new PmemLevel(${JSON.stringify(level)}, { size: 262144 });
      await ldb.batch([{ type: 'put', key: 'b', value: '2' }, { type: 'put', key: 'a', value: '1' }]);
      console.log(JSON.stringify(await ldb.iterator().all()), DEFAULT_SIZE); await ldb.close();`], project);
    assert.equal(r.status, 0, r.out);
    assert.match(r.stdout, /^function function x86_64|^function function \w+/m);
    assert.match(r.stdout, /^function esm 1024$/m);
    assert.match(r.stdout, /^heap 128$/m);
    assert.match(r.stdout, /^\[\["a","1"\],\["b","2"\]\] 67108864$/m);
  });

  it('the node-pmem command runs (info)', () => {
    const r = bare([path.join(project, 'node_modules', '.bin', 'node-pmem'), 'info', DIR], project);
    assert.equal(r.status, 0, r.out);
    assert.match(r.stdout, /kind\s+directory/);
  });

  it('npx node-pmem info runs (npx and the shell it runs commands with beside node on PATH)', () => {
    const tools = path.join(DIR, 'tools');
    fs.mkdirSync(tools, { recursive: true });
    for (const tool of ['npx', 'sh']) {
      const at = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      assert.ok(at, `${tool} is installed`);
      fs.symlinkSync(fs.realpathSync(at), path.join(tools, tool));
    }
    const r = spawnSync(path.join(tools, 'npx'), ['--offline', 'node-pmem', 'info', DIR], {
      cwd: project,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: `${tools}:${NODE_DIR}`, HOME: DIR, TMPDIR: DIR, npm_config_cache: path.join(DIR, 'npm-cache') },
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /kind\s+directory/);
  });

  it('every source map it ships resolves to a file in the package', () => {
    const installed = path.join(project, 'node_modules', 'node-pmem');
    const maps = fs.readdirSync(path.join(installed, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.map'));
    assert.ok(maps.length >= 20, `maps: ${maps.length}`);
    for (const map of maps) {
      const at = path.join(installed, 'dist', map);
      const { sources } = JSON.parse(fs.readFileSync(at, 'utf8')) as { sources: string[] };
      for (const source of sources) assert.ok(fs.existsSync(path.resolve(path.dirname(at), source)), `${map} -> ${source}`);
    }
  });

  // Each resolution mode as a consumer project would configure it, with the file extensions it
  // uses; the @ts-expect-error lines make the check fail if the types resolved to `any`.
  const consumers: { resolution: string; module: string; files: string[] }[] = [
    { resolution: 'node10', module: 'commonjs', files: ['consumer.ts'] },
    { resolution: 'node16', module: 'node16', files: ['consumer.mts', 'consumer.cts'] },
    { resolution: 'nodenext', module: 'nodenext', files: ['consumer.mts', 'consumer.cts'] },
    { resolution: 'bundler', module: 'esnext', files: ['consumer.ts'] },
  ];
  for (const { resolution, module, files } of consumers) {
    it(`a TypeScript consumer of every entry point typechecks under moduleResolution ${resolution}`, () => {
      const dir = path.join(project, `ts-${resolution}`);
      fs.mkdirSync(dir);
      const source = `import { open, type Mapping } from 'node-pmem';
import { crashTest, type CrashTestResult } from 'node-pmem/testing';
import { open as openStore, KvStore, MAX_KEY_BYTES, type KvStats, type KvValue, type OpenOptions } from 'node-pmem/kv';
import { PmemLevel, DEFAULT_SIZE, type PmemLevelOptions } from 'node-pmem/level';
const m: Mapping = open('/tmp/x', { create: true, size: 4096 });
export const tier: 'byte' | 'cacheline' | 'page' = m.granularity;
export const data: Buffer = m.read(0, 2);
export const result: Promise<CrashTestResult> = crashTest({ size: 4096, workload: (sim) => sim.write(0, 'a'), recover: () => {} });
// @ts-expect-error an option key that does not exist
open('/tmp/x', { creat: true });
// @ts-expect-error granularity is read-only
m.granularity = 'byte';
const options: OpenOptions = { create: true, size: 1 << 20, granularity: 'cacheline' };
const db: KvStore = openStore('/tmp/x.kv', options);
db.batch([{ type: 'put', key: Buffer.from([1]), value: 'v' }, { type: 'del', key: 'k' }]);
export const value: KvValue | undefined = db.get('k');
export const stats: KvStats = db.stats();
export const maxKey: number = MAX_KEY_BYTES;
export const over: KvStore = KvStore.fromMapping(m, { create: true });
// @ts-expect-error a number is not a key
db.put(1, 'v');
// @ts-expect-error an op type that does not exist
db.batch([{ type: 'zap', key: 'k' }]);
const levelOptions: PmemLevelOptions<string, Buffer> = { size: DEFAULT_SIZE, granularity: 'cacheline', valueEncoding: 'buffer' };
const ldb = new PmemLevel<string, Buffer>('/tmp/x.level', levelOptions);
export const got: Promise<Buffer | undefined> = ldb.get('k');
export const entries: Promise<[string, Buffer][]> = ldb.iterator({ gte: 'a', limit: 10 }).all();
export const sub = ldb.sublevel<string, { n: number }>('s', { valueEncoding: 'json' });
// @ts-expect-error the location is a string
new PmemLevel(42);
// @ts-expect-error size is a number of bytes
new PmemLevel('/tmp/y.level', { size: '64M' });
// @ts-expect-error values of this database are Buffers
ldb.put('k', 42);
`;
      for (const file of files) fs.writeFileSync(path.join(dir, file), source);
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { module, moduleResolution: resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false },
        files,
      }));
      const r = bare([path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
      assert.equal(r.status, 0, r.out);
    });
  }

  it('its install step finds the prebuilt binary and compiles nothing', () => {
    const r = bare([path.join('node_modules', 'node-pmem', 'scripts', 'install.js')], project);
    assert.equal(r.status, 0, r.out);
    assert.match(r.stdout, new RegExp(`^node-pmem: using the prebuilt binary for Node\\.js ${process.version.replace(/\./g, '\\.')} \\(${TAG}\\)$`, 'm'));
  });
});

describe('the install step without a prebuilt binary for this line', () => {
  it('says in one line why it compiles, and fails plainly when node-gyp cannot run', () => {
    const staged = stage('no-binary', false);
    const r = bare([path.join(staged, 'scripts', 'install.js')], staged);
    assert.match(r.stdout, new RegExp(`^node-pmem: no prebuilt binary for Node\\.js ${process.version.replace(/\./g, '\\.')} \\(${TAG}\\) here: compiling it with node-gyp \\(needs a C\\+\\+ compiler, make and python3\\)$`, 'm'));
    assert.notEqual(r.status, 0, 'nothing could have been built');
    assert.equal(r.signal, null);
    assert.match(r.stderr, /could not run node-gyp/);
  });

  it('loading then says how to build it (ERR_PMEM_NOT_BUILT), not "Could not locate the bindings file"', () => {
    const staged = stage('not-built', false);
    fs.cpSync(path.join(REPO_ROOT, 'node_modules', 'bindings'), path.join(staged, 'node_modules', 'bindings'), { recursive: true });
    fs.cpSync(path.join(REPO_ROOT, 'node_modules', 'file-uri-to-path'), path.join(staged, 'node_modules', 'file-uri-to-path'), { recursive: true });
    const r = bare(['-e', `try { require('./'); } catch (e) { console.log(e.code); console.log(e.message); process.exit(3); }`], staged);
    assert.equal(r.status, 3, r.out);
    assert.match(r.stdout, /^ERR_PMEM_NOT_BUILT$/m);
    assert.match(r.stdout, /npm rebuild node-pmem/);
  });
});

describe('a local build for another line next to the right prebuilt binary', () => {
  it('the prebuilt binary for this line is loaded', () => {
    const staged = stage('stale-build', true);
    const stale = fs.readFileSync(path.join(REPO_ROOT, 'build', 'Release', 'pmem.node'));
    const at = stale.toString('latin1').indexOf(`NODE_PMEM_BUILD abi=${process.versions.modules} `);
    stale.write(`NODE_PMEM_BUILD abi=${'9'.repeat(process.versions.modules.length)}`, at, 'latin1');
    fs.mkdirSync(path.join(staged, 'build', 'Release'), { recursive: true });
    fs.writeFileSync(path.join(staged, 'build', 'Release', 'pmem.node'), stale);
    const { locateNative } = require(path.join(REPO_ROOT, 'dist', 'binding.js')) as typeof import('../lib/binding');
    assert.equal(locateNative(staged), path.join(staged, 'lib', 'binding', TAG, 'pmem.node'));
    fs.rmSync(path.join(staged, 'lib', 'binding'), { recursive: true });
    assert.equal(locateNative(staged), path.join(staged, 'build', 'Release', 'pmem.node'), 'with nothing better, the stale build (refused when loaded)');
  });
});
