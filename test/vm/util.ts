/** Small host-side helpers of the VM harness: running commands, finding tools, atomic cache entries. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/** Run a command to completion without a shell; stdin is closed (CI has none). */
export function run(cmd: string, args: readonly string[], opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
  const res: RunResult = {
    status: r.status,
    signal: r.signal,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
  };
  if (r.error) res.error = r.error;
  return res;
}

/** Like run() but throws with the command's output when it does not exit 0. */
export function runOk(cmd: string, args: readonly string[], opts: SpawnSyncOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')} failed (${why})\n${tail(r.stderr || r.stdout, 40)}`);
  }
  return r.stdout;
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(-lines).join('\n');
}

const EXTRA_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable on $PATH (plus the sbin directories a non-root PATH lacks), or null. */
export function which(cmd: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_PATH];
  for (const dir of dirs) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** A PATH that includes the sbin directories (the guest tools live there). */
export function fullPath(): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean)];
  for (const d of EXTRA_PATH) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Directory of the repository (the one with node-pmem's package.json), found from this file. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'node-pmem') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find node-pmem's package.json above ${__dirname}`);
    dir = up;
  }
}

export function sha256(...parts: (string | Buffer)[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * Build a cache entry (file or directory) without ever exposing a half-built one: `build` fills a
 * private temporary path next to `dest`, which is then renamed into place. When two processes race,
 * both build and the loser's rename fails (or replaces an identical file); the entry is complete either way.
 */
export function atomicEntry(dest: string, build: (tmp: string) => void): string {
  if (fs.existsSync(dest)) return dest;
  const dir = path.dirname(dest);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.tmp-${path.basename(dest)}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    build(tmp);
    try {
      fs.renameSync(tmp, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A directory that another process renamed into place first: ENOTEMPTY/EEXIST. Keep theirs.
      if (!(code === 'ENOTEMPTY' || code === 'EEXIST') || !fs.existsSync(dest)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dest;
}

/** Remove temporary build leftovers (of crashed runs) older than an hour. */
export function sweepStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const cutoff = Date.now() - 3600_000;
  for (const n of names) {
    if (!n.startsWith('.tmp-')) continue;
    const p = path.join(dir, n);
    try {
      if (fs.lstatSync(p).mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      /* someone else removed it */
    }
  }
}
