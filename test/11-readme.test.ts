/**
 * The README examples run as written (README.md and examples/kv/README.md).
 *
 * Every fenced code block of both files is extracted (test/helpers/readme.ts has the parser and
 * the rules in full):
 *  - ```js / ```javascript / ```mjs / ```cjs blocks are run, each in its own child process with
 *    the node that runs this test (process.execPath), and must exit 0 with nothing on stderr
 *    (no warning, no leaked-mapping report) within the timeout;
 *  - a JavaScript block that cannot run says so right before its fence, on a line of its own:
 *    `<!-- not-runnable: reason -->`; ```ts / ```tsx / ```jsx blocks are not compiled here, so they
 *    need that marker too;
 *  - other blocks name their language (```sh, ```text, ...) and are counted, not run; a block
 *    without a language fails this test, so nothing is skipped silently.
 *
 * Module type: a ```mjs / ```cjs fence decides; otherwise a snippet with a static `import` (or
 * `export`) statement runs as an ES module (.mjs), one with `require(` as CommonJS (.cjs), one with
 * both fails (an ES module has no require), one with neither runs as an ES module. Comments and
 * strings do not count, so `// CommonJS: const { open } = require('node-pmem')` in an ESM
 * snippet is fine.
 *
 * Where a snippet runs: a directory of its own, its working directory, where it finds the package
 * as an installed user would: node_modules/node-pmem is a symlink to this checkout (package.json's
 * exports point at dist/, so `node-pmem`, `node-pmem/testing` and `node-pmem/kv` resolve to what
 * npm install built).
 *
 * Paths: the READMEs write `/mnt/pmem/...` for a directory on a DAX filesystem (fsdax). Every
 * string literal that starts with /mnt/pmem is pointed at <snippet dir>/mnt/pmem here, a plain
 * directory in os.tmpdir(): the snippets then run at the page tier (msync), as they do for a user
 * without persistent memory, which the README says next to the first example. No snippet opens a
 * device (/dev/daxX.Y, /dev/pmemN) in code; one that had to would be marked not-runnable.
 *
 * Clean-up: the scratch directory (node-pmem-readme-<pid>-XXXXXX in os.tmpdir(); the snippets
 * create files of 64 and 256 MiB) is removed when this file finishes, and a run killed before that
 * leaves one that the next run removes (its pid is dead).
 *
 * The last test reports how many snippets ran (and fails if none did) and how long they took.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, runNode, assertCleanExit } from './helpers';
import {
  classify,
  codeOnly,
  mapPmemPaths,
  moduleType,
  parseFences,
  runDir,
  sweepDeadRunDirs,
  type Snippet,
} from './helpers/readme';

const DOCS = ['README.md', 'examples/kv/README.md'];

/** Per snippet. Generous: the unit suite also runs in a TCG guest, where node starts slowly. */
const TIMEOUT_MS = 120_000;

const parsed = DOCS.map((f) => parseFences(f, fs.readFileSync(path.join(REPO_ROOT, f), 'utf8')));
const blocks = classify(parsed.flatMap((p) => p.fences));
const ruleErrors = [...parsed.flatMap((p) => p.errors), ...blocks.errors];

function slug(s: Snippet): string {
  return `${s.file.replace(/[^A-Za-z0-9.]+/g, '-')}-L${s.line}`;
}

/** A directory of the snippet's own, with node-pmem installed in it (a symlink to this checkout) and the snippet. */
function stage(root: string, s: Snippet): { dir: string; file: string; mapped: number } {
  const dir = path.join(root, slug(s));
  fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  fs.symlinkSync(REPO_ROOT, path.join(dir, 'node_modules', 'node-pmem'), 'dir');
  fs.mkdirSync(path.join(dir, 'mnt', 'pmem'), { recursive: true });
  const { code, count } = mapPmemPaths(s.code, dir);
  const file = path.join(dir, `snippet${s.type === 'module' ? '.mjs' : '.cjs'}`);
  fs.writeFileSync(file, code);
  return { dir, file, mapped: count };
}

describe('the markdown rules (parser self-check)', () => {
  const md = [
    'text',
    '```js',
    "const { open } = require('node-pmem');",
    '```',
    '',
    '<!-- not-runnable: a type signature -->',
    '',
    '```ts',
    'open(path: string): Mapping',
    '```',
    '- a list item:',
    '  ```mjs',
    '  await 1;',
    '  ```',
    '~~~~javascript',
    "import { open } from 'node-pmem'; // CommonJS: require('node-pmem')",
    '```',
    '~~~~',
    '```',
    'unlabelled',
    '```',
    '```ts',
    'let x: number = 1;',
    '```',
    '```js',
    "import fs from 'node:fs';",
    "const pmem = require('node-pmem');",
    '```',
    '<!-- not-runnable: stale -->',
    'prose',
    '<!-- not-runnable: on a shell block -->',
    '```sh',
    'ls',
    '```',
    '<!-- not-runnable -->',
    '```cjs',
    '```',
  ].join('\n');
  const p = parseFences('x.md', md);
  const c = classify(p.fences);

  it('finds every fence, with its line, language, marker and unindented content', () => {
    assert.deepEqual(
      p.fences.map((f) => [f.line, f.lang, f.notRunnable]),
      [[2, 'js', null], [8, 'ts', 'a type signature'], [12, 'mjs', null], [15, 'javascript', null],
        [19, '', null], [22, 'ts', null], [25, 'js', null], [32, 'sh', 'on a shell block'], [36, 'cjs', '']],
    );
    assert.equal(p.fences[2]!.code, 'await 1;\n');
    assert.equal(p.fences[3]!.code, "import { open } from 'node-pmem'; // CommonJS: require('node-pmem')\n```\n");
  });

  it('runs js/javascript/mjs/cjs, with the module type the rule gives', () => {
    assert.deepEqual(c.run.map((s) => [s.line, s.type]), [[2, 'commonjs'], [12, 'module'], [15, 'module']]);
    assert.deepEqual(c.notRunnable.map((f) => f.line), [8, 36]);
    assert.deepEqual([...c.otherLangs], [['sh', 1]]);
  });

  it('reports unlabelled blocks, unmarked TypeScript, import with require, stray and empty markers', () => {
    const all = [...p.errors, ...c.errors];
    for (const re of [
      /x\.md:29: a not-runnable marker must be directly followed/,
      /x\.md:35: a not-runnable marker needs a reason/,
      /x\.md:19: a code block without a language/,
      /x\.md:22: a ```ts block is not compiled/,
      /x\.md:25: uses both static import and require/,
      /x\.md:32: a not-runnable marker on a ```sh block/,
    ]) {
      assert.ok(all.some((e) => re.test(e)), `expected an error matching ${re}; got:\n${all.join('\n')}`);
    }
    assert.equal(all.length, 6, all.join('\n'));
  });

  it('ignores comments and strings when deciding the module type', () => {
    assert.equal(moduleType('js', "// import x from 'y'\nconst a = 'require(1)';\n"), 'module');
    assert.equal(moduleType('js', "/* require(x) */ const m = await import('node-pmem');\n"), 'module');
    assert.equal(moduleType('js', "const { open } = require('node-pmem'); // or: import { open } from 'node-pmem'\n"), 'commonjs');
    assert.equal(codeOnly("a('b//c') // d\n"), "a('') \n");
  });

  it('points /mnt/pmem string literals (only) at the scratch directory', () => {
    const r = mapPmemPaths("open('/mnt/pmem/data'); info(\"/mnt/pmem\"); // '/mnt/pmemx' /mnt/pmem\n`/mnt/pmem/${n}`", '/t/d');
    assert.equal(r.code, "open('/t/d/mnt/pmem/data'); info(\"/t/d/mnt/pmem\"); // '/mnt/pmemx' /mnt/pmem\n`/t/d/mnt/pmem/${n}`");
    assert.equal(r.count, 3);
  });
});

describe('README examples run as written', () => {
  const swept = sweepDeadRunDirs();
  const root = runDir();
  const timings: { name: string; ms: number }[] = [];
  let attempted = 0;

  it('every code block names its language, and every JavaScript block runs or says why not', (t) => {
    const langs = [...blocks.otherLangs].map(([l, n]) => `${n} ${l}`).join(', ');
    t.diagnostic(`${blocks.run.length} to run, ${blocks.notRunnable.length} marked not-runnable, not JavaScript: ${langs || 'none'}`);
    for (const f of blocks.notRunnable) t.diagnostic(`not run: ${f.file}:${f.line} (${f.lang}): ${f.notRunnable}`);
    for (const d of swept) t.diagnostic(`removed ${d}, left by a run that was killed`);
    assert.deepEqual(ruleErrors, []);
  });

  for (const s of blocks.run) {
    it(`${s.file}:${s.line} (${s.type === 'module' ? 'ES module' : 'CommonJS'})`, (t) => {
      attempted++;
      const { dir, file, mapped } = stage(root, s);
      const t0 = performance.now();
      const r = runNode(file, [], { cwd: dir, timeout: TIMEOUT_MS });
      const ms = performance.now() - t0;
      timings.push({ name: `${s.file}:${s.line}`, ms });
      const where = `${s.file}: line N of the snippet is line ${s.line}+N of the file; ${mapped} /mnt/pmem path(s) pointed at ${dir}/mnt/pmem`;
      assertCleanExit(Object.assign(r, { log: `${where}\n${r.log}` }));
      assert.equal(r.stderr, '', `the snippet wrote to stderr\n${where}\n${r.log}`);
      const out = r.stdout.trim().split('\n');
      t.diagnostic(`exit 0 in ${ms.toFixed(0)} ms, ${mapped} /mnt/pmem path(s) mapped${r.stdout.trim() ? `; stdout: ${out[0]}${out.length > 1 ? ` (+${out.length - 1} lines)` : ''}` : ''}`);
    });
  }

  it('ran at least one snippet, and every one it found', (t) => {
    const total = timings.reduce((a, x) => a + x.ms, 0);
    t.diagnostic(`ran ${attempted} of ${blocks.run.length} snippets (${DOCS.join(', ')}) with node ${process.version} in ${total.toFixed(0)} ms`);
    assert.ok(blocks.run.length > 0, 'no runnable snippet found in the READMEs');
    assert.equal(attempted, blocks.run.length);
  });
});
