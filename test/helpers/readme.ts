/**
 * Fenced code blocks of a Markdown file, classified for test/11-readme.test.ts, and the scratch
 * directory that test runs them in.
 *
 * The rules (the test's header explains why):
 *  - Every fenced block (``` or ~~~, indented or not, so also inside list items) must name a
 *    language. Unlabelled blocks are an error, so nothing is skipped by accident.
 *  - `js`, `javascript`, `mjs` and `cjs` blocks are run, unless the last non-blank line before the
 *    fence is `<!-- not-runnable: reason -->` (the reason is required and reported).
 *  - `ts`, `typescript`, `jsx` and `tsx` blocks are never run (the test does not compile them):
 *    each must carry the not-runnable marker, or it is an error.
 *  - Any other language (`sh`, `text`, `json`, ...) is not JavaScript and not run; it is counted.
 *  - A not-runnable marker that is not directly followed by a JavaScript-family fence is an error
 *    (a stale marker would otherwise hide nothing and mislead).
 *  - Module type of a run snippet: `mjs` / `cjs` fences decide; for `js` / `javascript`, a static
 *    `import`/`export` statement makes it ES module (.mjs), a `require(` makes it CommonJS (.cjs),
 *    both is an error, neither is ES module (so top-level await works). Comments and string
 *    contents are ignored for this decision ("// CommonJS: require(...)" in a comment is fine).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

export const RUN_LANGS = new Set(['js', 'javascript', 'mjs', 'cjs']);
export const NEVER_RUN_LANGS = new Set(['ts', 'typescript', 'jsx', 'tsx']);

export interface Fence {
  /** The Markdown file, as given. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string's first word, lower-cased ('' when the block is unlabelled). */
  lang: string;
  /** The block's content, with the fence's indentation removed. */
  code: string;
  /** The reason of a `<!-- not-runnable: reason -->` marker before the fence, or null. */
  notRunnable: string | null;
}

export type Snippet = Fence & { type: 'module' | 'commonjs' };

export interface Classified {
  run: Snippet[];
  notRunnable: Fence[];
  /** Blocks in other languages, by language. */
  otherLangs: Map<string, number>;
  /** Violations of the rules above; the test fails on any. */
  errors: string[];
}

const MARKER = /^\s{0,3}<!--\s*not-runnable\s*(?::(.*?))?-->\s*$/;
const MARKER_LOOSE = /<!--\s*not-runnable/;

/** All fenced code blocks of `text` (CommonMark fences: ``` or ~~~, closed by the same run or longer). */
export function parseFences(file: string, text: string): { fences: Fence[]; errors: string[] } {
  const lines = text.split('\n');
  const fences: Fence[] = [];
  const errors: string[] = [];
  let pendingMarker: { reason: string; line: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const open = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)(.*)$/.exec(l);
    if (open) {
      const indent = open[1]!.length;
      const run = open[2]!;
      const closeRe = new RegExp(`^\\s*${run[0] === '`' ? '`' : '~'}{${run.length},}\\s*$`);
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !closeRe.test(lines[j]!); j++) {
        const b = lines[j]!;
        // Remove up to the fence's indentation (CommonMark), never non-blank characters.
        let k = 0;
        while (k < indent && b[k] === ' ') k++;
        body.push(b.slice(k));
      }
      if (j >= lines.length) errors.push(`${file}:${i + 1}: fence ${run} is never closed`);
      fences.push({
        file,
        line: i + 1,
        lang: open[3]!.toLowerCase(),
        code: body.join('\n') + '\n',
        notRunnable: pendingMarker ? pendingMarker.reason : null,
      });
      pendingMarker = null;
      i = j;
      continue;
    }
    if (l.trim() === '') continue;
    if (pendingMarker) {
      errors.push(`${file}:${pendingMarker.line}: a not-runnable marker must be directly followed by the code block it marks`);
      pendingMarker = null;
    }
    const m = MARKER.exec(l);
    if (m) {
      const reason = (m[1] ?? '').trim();
      if (!reason) errors.push(`${file}:${i + 1}: a not-runnable marker needs a reason`);
      pendingMarker = { reason, line: i + 1 };
    } else if (MARKER_LOOSE.test(l)) {
      errors.push(`${file}:${i + 1}: malformed marker (expected a line of its own: <!-- not-runnable: reason -->)`);
    }
  }
  if (pendingMarker) errors.push(`${file}:${pendingMarker.line}: a not-runnable marker at the end of the file marks nothing`);
  return { fences, errors };
}

/**
 * The code with comments removed and string/template contents blanked (quotes kept), so that
 * `import`/`require` are only seen where they are code. A small scanner, good enough for the
 * README's snippets (no regex literals containing quotes or slashes).
 */
export function codeOnly(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      out += c;
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') i++;
        else if (src[i] === '\n') out += '\n';
        i++;
      }
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** How a `js`/`javascript` snippet is run, by the rule in this file's header; a string is an error. */
export function moduleType(lang: string, code: string): 'module' | 'commonjs' | string {
  if (lang === 'mjs') return 'module';
  if (lang === 'cjs') return 'commonjs';
  const c = codeOnly(code);
  const esm = /^\s*(import\s*(?:[\w$*{]|'|")|export\s)/m.test(c);
  const cjs = /\brequire\s*\(/.test(c);
  if (esm && cjs) return 'uses both static import and require(): an ES module has no require, pick one';
  return cjs ? 'commonjs' : 'module';
}

export function classify(fences: Fence[]): Classified {
  const out: Classified = { run: [], notRunnable: [], otherLangs: new Map(), errors: [] };
  for (const f of fences) {
    const where = `${f.file}:${f.line}`;
    if (f.lang === '') {
      out.errors.push(`${where}: a code block without a language (use \`\`\`text, \`\`\`sh, \`\`\`js, ...)`);
    } else if (RUN_LANGS.has(f.lang) || NEVER_RUN_LANGS.has(f.lang)) {
      if (f.notRunnable !== null) out.notRunnable.push(f);
      else if (NEVER_RUN_LANGS.has(f.lang)) {
        out.errors.push(`${where}: a \`\`\`${f.lang} block is not compiled by this test: write the example in JavaScript, or mark it <!-- not-runnable: reason -->`);
      } else {
        const type = moduleType(f.lang, f.code);
        if (type === 'module' || type === 'commonjs') out.run.push({ ...f, type });
        else out.errors.push(`${where}: ${type}`);
      }
    } else {
      if (f.notRunnable !== null) out.errors.push(`${where}: a not-runnable marker on a \`\`\`${f.lang} block (only JavaScript blocks are run; drop the marker)`);
      out.otherLangs.set(f.lang, (out.otherLangs.get(f.lang) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * The path convention of the READMEs: `/mnt/pmem` stands for a directory on a DAX filesystem.
 * Every string literal that starts with `/mnt/pmem` (followed by `/` or the closing quote) is
 * pointed at `<dir>/mnt/pmem`. Unquoted mentions (in comments, say) are left as they are.
 */
export const PMEM_DIR = '/mnt/pmem';

export function mapPmemPaths(code: string, dir: string): { code: string; count: number } {
  let count = 0;
  const mapped = code.replace(/(['"`])\/mnt\/pmem(?=[/'"`])/g, (_, q: string) => {
    count++;
    return q + path.join(dir, 'mnt', 'pmem');
  });
  return { code: mapped, count };
}

/** Prefix of this test's scratch directories in os.tmpdir(): node-pmem-readme-<pid>-XXXXXX. */
export const RUN_DIR_PREFIX = 'node-pmem-readme-';

/**
 * Remove scratch directories left by runs that were killed before their after() hook ran (the
 * snippets create files of 64 and 256 MiB): those whose pid is no longer alive. A live pid (a run
 * going on in parallel, or a reused pid) keeps its directory.
 */
export function sweepDeadRunDirs(base = os.tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return removed;
  }
  for (const n of names) {
    const m = new RegExp(`^${RUN_DIR_PREFIX}(\\d+)-`).exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // alive (or EPERM below: alive, someone else's)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const p = path.join(base, n);
    try {
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      /* not ours to remove, or gone already */
    }
  }
  return removed;
}

/** This run's scratch directory, removed when the test file finishes (and by the next run if killed). */
export function runDir(base = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(base, `${RUN_DIR_PREFIX}${process.pid}-`));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
