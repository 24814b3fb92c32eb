/**
 * Fuzzing (issue 11): seeded random sequences of calls with hostile arguments, run in child
 * processes (fixtures/fuzz-child), must give no signal, no uncoded error and no difference between
 * the file and a shadow copy (nor a call that contradicts the documented contract).
 *
 * 10,000 sequences by default, split over several children run two at a time; most on tmpfs, a
 * small share on disk (where msync really writes back, so it is slower). Knobs for local runs:
 *   NODE_PMEM_FUZZ_SEQUENCES  how many sequences (default 10000)
 *   NODE_PMEM_FUZZ_SEED       the first seed (default 1); the sequences use seeds [seed, seed + n)
 * A failing seed replays alone, with every call printed:
 *   node dist-test/test/fixtures/fuzz-child.js /dev/shm/x <seed> 1 --trace
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FIXTURES, REPO_ROOT, SHM } from './helpers';

const CHILD = path.join(FIXTURES, 'fuzz-child.js');
const SEQUENCES = envCount('NODE_PMEM_FUZZ_SEQUENCES', 10_000, 1);
const FIRST_SEED = envCount('NODE_PMEM_FUZZ_SEED', 1, 0);
const CONCURRENCY = 2;
/** Sequences per tmpfs child: small enough that a child dying early loses little, large enough to amortise start-up. */
const PER_CHILD = 1250;
/** The share of sequences run on disk (ext4 or whatever os.tmpdir() is): msync there costs real I/O. */
const DISK_SHARE = 0.04;
/** Per child; a sequence takes about 3 ms on tmpfs, 30 ms on disk. */
const CHILD_TIMEOUT_MS = 180_000;
const STALE_MS = 3600_000;
const PREFIX = 'node-pmem-fuzz-';

function envCount(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

/**
 * A fresh directory for this run under base, removed when the file's tests end. Directories of
 * runs that were killed before their after hook ran are removed once they are an hour old (an
 * active run keeps touching its directory: every sequence creates and removes a file in it).
 */
function runDir(base: string): string {
  let names: string[] = [];
  try {
    names = fs.readdirSync(base);
  } catch {
    /* no such base: mkdtemp below reports it */
  }
  for (const n of names) {
    if (!n.startsWith(PREFIX)) continue;
    const p = path.join(base, n);
    try {
      if (fs.lstatSync(p).mtimeMs < Date.now() - STALE_MS) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      /* removed by someone else */
    }
  }
  const dir = fs.mkdtempSync(path.join(base, PREFIX));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Job {
  first: number;
  count: number;
  dir: string;
  where: string;
}

interface JobResult extends Job {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
  /** From the DONE line, or null when the child never got there. */
  sequences: number | null;
  failures: number | null;
  calls: number | null;
  /** The seed the child was running when it stopped (its last BEGIN line). */
  lastSeed: number | null;
}

const running = new Set<ReturnType<typeof spawn>>();

function runJob(job: Job): Promise<JobResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, job.dir, String(job.first), String(job.count)], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const done = /^DONE sequences=(\d+) failures=(\d+) calls=(\d+)$/m.exec(stdout);
      const begins = [...stdout.matchAll(/^BEGIN (\d+)$/gm)];
      resolve({
        ...job,
        code,
        signal,
        timedOut,
        stdout,
        stderr,
        ms: Date.now() - started,
        sequences: done ? Number(done[1]) : null,
        failures: done ? Number(done[2]) : null,
        calls: done ? Number(done[3]) : null,
        lastSeed: begins.length ? Number(begins[begins.length - 1]![1]) : null,
      });
    });
  });
}

/** Runs the jobs `limit` at a time, in order; results in job order. */
async function pool(jobs: Job[], limit: number): Promise<JobResult[]> {
  const results: JobResult[] = new Array(jobs.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await runJob(jobs[i]!);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

/** The jobs: seeds [FIRST_SEED, FIRST_SEED + SEQUENCES), the disk share first (its I/O waits overlap the tmpfs children). */
function plan(shmDir: string, diskDir: string): Job[] {
  const jobs: Job[] = [];
  let seed = FIRST_SEED;
  const onDisk = SEQUENCES >= 100 ? Math.round(SEQUENCES * DISK_SHARE) : 0;
  if (onDisk > 0) {
    jobs.push({ first: seed, count: onDisk, dir: path.join(diskDir, 'c0'), where: `disk (${diskDir})` });
    seed += onDisk;
  }
  const rest = SEQUENCES - onDisk;
  const children = Math.max(1, Math.ceil(rest / PER_CHILD));
  for (let i = 0; i < children; i++) {
    const count = Math.floor(rest / children) + (i < rest % children ? 1 : 0);
    if (count === 0) continue;
    jobs.push({ first: seed, count, dir: path.join(shmDir, `c${jobs.length}`), where: `tmpfs (${SHM})` });
    seed += count;
  }
  return jobs;
}

function report(r: JobResult): string {
  const range = `seeds ${r.first}..${r.first + r.count - 1} on ${r.where}`;
  const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
  const summary = r.stdout.split('\n').filter((l) => l.startsWith('SUMMARY'));
  const shown = fails.slice(0, 15).map((l) => (l.length > 700 ? `${l.slice(0, 700)}...` : l));
  const replay = `replay one: node ${path.relative(REPO_ROOT, CHILD)} /dev/shm/fuzz-replay <seed> 1 --trace`;
  return [
    `${range}: exit code ${r.code}, signal ${r.signal}${r.timedOut ? ` (killed after ${CHILD_TIMEOUT_MS} ms)` : ''}, ` +
      `${r.failures ?? '?'} failing sequences of ${r.sequences ?? '?'}, running seed ${r.lastSeed ?? '?'} at the end`,
    ...shown,
    ...(fails.length > shown.length ? [`... and ${fails.length - shown.length} more FAIL lines`] : []),
    ...summary,
    ...(r.stderr.trim() ? ['--- stderr ---', r.stderr.trim().split('\n').slice(-20).join('\n')] : []),
    replay,
  ].join('\n');
}

// At the top level, as helpers' tmpDir() does: an after() registered inside a hook never runs.
const SHM_DIR = runDir(SHM);
const DISK_DIR = runDir(os.tmpdir());

// A run interrupted in the middle (Ctrl-C, or the runner's SIGTERM on a timeout) must not leave
// children fuzzing on their own, nor their files behind.
function abort(signal: NodeJS.Signals): void {
  for (const c of running) c.kill('SIGKILL');
  for (const d of [SHM_DIR, DISK_DIR]) fs.rmSync(d, { recursive: true, force: true, maxRetries: 5 });
  process.exit(signal === 'SIGINT' ? 130 : 143);
}
process.once('SIGINT', abort);
process.once('SIGTERM', abort);
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

describe('fuzzing: seeded random call sequences with hostile arguments (issue 11)', () => {
  it(`${SEQUENCES} sequences in child processes: no signal, no uncoded error, the file equals its shadow`, { timeout: 30 * 60_000 }, async () => {
    assert.ok(fs.existsSync(CHILD), `the compiled fixture ${CHILD} is missing (npm run build:test)`);
    const jobs = plan(SHM_DIR, DISK_DIR);
    const started = Date.now();
    const results = await pool(jobs, CONCURRENCY);
    const wall = Date.now() - started;
    const calls = results.reduce((n, r) => n + (r.calls ?? 0), 0);
    console.log(`fuzz: ${SEQUENCES} sequences, ${calls} calls, ${jobs.length} children, ${CONCURRENCY} at a time: ${wall} ms`);
    for (const r of results) {
      console.log(`  seeds ${r.first}..${r.first + r.count - 1} on ${r.where}: ${r.ms} ms, ${r.calls ?? '?'} calls, ${r.failures ?? '?'} failing`);
    }

    const bad = results.filter((r) => r.signal !== null || r.timedOut || r.code !== 0 || r.sequences !== r.count);
    if (bad.length > 0) {
      // What failed, over all children (each child counts the first failure of each failing sequence).
      const kinds = new Map<string, number>();
      for (const r of results) {
        for (const m of r.stdout.matchAll(/^SUMMARY (\d+) x (.+)$/gm)) kinds.set(m[2]!, (kinds.get(m[2]!) ?? 0) + Number(m[1]));
      }
      const failing = results.reduce((n, r) => n + (r.failures ?? 0), 0);
      const overall = [...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${n} x ${k}`);
      const signals = bad.filter((r) => r.signal !== null).map((r) => `seeds ${r.first}..${r.first + r.count - 1} died of ${r.signal} while running seed ${r.lastSeed ?? '?'}`);
      assert.fail([`${bad.length} of ${results.length} children failed; ${failing} failing sequences:`, ...signals, ...overall, '', ...bad.map(report)].join('\n'));
    }
    const total = results.reduce((n, r) => n + (r.sequences ?? 0), 0);
    assert.equal(total, SEQUENCES, 'sequences reported by the children');
  });
});
