/**
 * Provisioning of the test guest, on first use, into a cache outside the repository:
 *
 *   $NODE_PMEM_VM_CACHE  (default ${XDG_CACHE_HOME:-~/.cache}/node-pmem-vm)
 *     kernel-<version>-<hash>/vmlinux         uncompressed ELF (PVH entry), extracted from Debian's bzImage
 *     kernel-<version>-<hash>/modules/*.ko    the modules the guest loads, with their dependencies
 *     initramfs-<version>-<hash>.cpio         busybox + test/vm/init.sh + those modules
 *
 * Host tools come from Debian packages; when they are missing and we are root they are installed with
 * apt-get, otherwise provisioning fails with the exact apt-get command to run. Every cache entry is built
 * in a private temporary path and renamed into place, so concurrent runs never see a half-built entry.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { STAGE1, STAGE2, buildInitramfs, resolveModules } from './initramfs';
import { atomicEntry, isRoot, repoRoot, run, runOk, sha256, sweepStaleTemps, tail, which } from './util';

/** Thrown when the host cannot run the guest; `install` names the Debian packages that are missing. */
export class VmUnavailableError extends Error {
  constructor(message: string, readonly install: string[] = []) {
    super(message);
    this.name = 'VmUnavailableError';
  }
}

export interface VmAssets {
  cacheDir: string;
  kernelVersion: string;
  vmlinux: string;
  initramfs: string;
  qemu: string;
}

type Log = (msg: string) => void;

/** Host commands the harness (host side and, through the shared root, guest side) needs, and their packages. */
export const TOOLS: readonly { cmd: string; pkg: string; why: string }[] = [
  { cmd: 'qemu-system-x86_64', pkg: 'qemu-system-x86', why: 'runs the guest' },
  { cmd: 'busybox', pkg: 'busybox-static', why: 'the initramfs (must be statically linked)' },
  { cmd: 'depmod', pkg: 'kmod', why: 'modules.dep of the guest kernel' },
  { cmd: 'xz', pkg: 'xz-utils', why: 'unpacks vmlinux from the bzImage' },
  { cmd: 'ndctl', pkg: 'ndctl', why: 'namespaces in the guest' },
  { cmd: 'daxctl', pkg: 'daxctl', why: 'device-dax in the guest' },
  { cmd: 'cxl', pkg: 'cxl', why: 'CXL regions in the CXL guest' },
  { cmd: 'mkfs.ext4', pkg: 'e2fsprogs', why: 'ext4 -o dax in the guest' },
  { cmd: 'mkfs.xfs', pkg: 'xfsprogs', why: 'XFS dax=inode in the guest' },
  { cmd: 'dpkg-deb', pkg: 'dpkg', why: 'unpacks the kernel package' },
  { cmd: 'apt-get', pkg: 'apt', why: 'downloads the kernel package' },
];

export const PACKAGES = TOOLS.map((t) => t.pkg).filter((p) => p !== 'dpkg' && p !== 'apt');

export function cacheDir(): string {
  if (process.env.NODE_PMEM_VM_CACHE) return path.resolve(process.env.NODE_PMEM_VM_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'node-pmem-vm');
}

/** True when the ELF file has no PT_INTERP program header, i.e. is statically linked. */
function isStaticElf(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(64);
    fs.readSync(fd, h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    fs.readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    fs.closeSync(fd);
  }
}

function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const t of TOOLS) {
    const p = which(t.cmd);
    if (!p) missing.add(t.pkg);
    else if (t.cmd === 'busybox' && !isStaticElf(p)) missing.add(t.pkg);
  }
  return [...missing];
}

function aptGet(args: string[], log: Log): ReturnType<typeof run> {
  log(`apt-get ${args.join(' ')}`);
  return run('apt-get', ['-q', '-y', '-o', 'DPkg::Lock::Timeout=600', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Install missing host tools (as root), or explain exactly what to install. */
export function ensureTools(log: Log): void {
  let missing = missingPackages();
  if (missing.length === 0) return;
  const cmd = `apt-get install --no-install-recommends ${missing.join(' ')}`;
  if (!isRoot()) {
    throw new VmUnavailableError(
      `the emulated-NVDIMM guest needs Debian packages that are not installed: ${missing.join(' ')}.\n` +
        `Install them as root with:  ${cmd}\n` +
        'or set NODE_PMEM_SKIP_VM=1 to skip the VM tests.',
      missing,
    );
  }
  let r = aptGet(['install', '--no-install-recommends', ...missing], log);
  if (r.status !== 0) {
    // Most often a package list that was never fetched or is stale.
    const u = aptGet(['update'], log);
    if (u.status !== 0) log(`apt-get update failed:\n${tail(u.stderr, 10)}`);
    r = aptGet(['install', '--no-install-recommends', ...missing], log);
  }
  missing = missingPackages();
  if (r.status !== 0 || missing.length) {
    throw new VmUnavailableError(
      `could not install ${missing.join(' ') || 'the VM tools'} (\`${cmd}\` failed):\n${tail(r.stderr || r.stdout, 20)}`,
      missing,
    );
  }
}

/** The guest kernel's version: NODE_PMEM_VM_KERNEL, else the newest already cached, else Debian's current one. */
function kernelVersion(cache: string, log: Log): string {
  const forced = process.env.NODE_PMEM_VM_KERNEL;
  if (forced) return forced;
  const cached = fs.existsSync(cache)
    ? fs.readdirSync(cache)
        .map((n) => /^kernel-(.+)-([0-9a-f]{12})$/.exec(n))
        .filter((m): m is RegExpExecArray => m !== null && m[2] === moduleListHash())
        .map((m) => m[1]!)
        .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    : [];
  if (cached.length) return cached[cached.length - 1]!;
  const ask = () => {
    const r = run('apt-cache', ['depends', 'linux-image-amd64']);
    return /Depends:\s*linux-image-(\d[^\s]*-amd64)/.exec(r.stdout)?.[1] ?? null;
  };
  let v = ask();
  if (!v && isRoot()) {
    aptGet(['update'], log);
    v = ask();
  }
  if (!v) {
    throw new VmUnavailableError(
      '`apt-cache depends linux-image-amd64` names no kernel package: run `apt-get update` (as root), ' +
        'or set NODE_PMEM_VM_KERNEL to a version such as 6.1.0-56-amd64.',
    );
  }
  return v;
}

function moduleListHash(): string {
  return sha256(STAGE1.join(','), STAGE2.join(',')).slice(0, 12);
}

/** Find the compressed kernel inside a bzImage and decompress it into an ELF vmlinux. */
export function extractVmlinux(bzImage: Buffer): Buffer {
  const magics: { magic: Buffer; inflate: (b: Buffer) => Buffer | null }[] = [
    {
      magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]),
      inflate: (b) => {
        const r = spawnSync('xz', ['-dc', '--single-stream'], { input: b, maxBuffer: 1024 * 1024 * 1024 });
        return r.stdout && r.stdout.length ? r.stdout : null;
      },
    },
    {
      magic: Buffer.from([0x1f, 0x8b, 0x08]),
      inflate: (b) => {
        try {
          return zlib.gunzipSync(b);
        } catch {
          return null;
        }
      },
    },
  ];
  for (const { magic, inflate } of magics) {
    for (let off = bzImage.indexOf(magic); off >= 0; off = bzImage.indexOf(magic, off + 1)) {
      const out = inflate(bzImage.subarray(off));
      if (out && out.length > 4 && out.readUInt32BE(0) === 0x7f454c46) return out;
    }
  }
  throw new Error('no xz- or gzip-compressed ELF kernel found in the bzImage');
}

/** Download Debian's kernel package and keep vmlinux plus the guest's modules. */
function provisionKernel(cache: string, version: string, log: Log): string {
  const dest = path.join(cache, `kernel-${version}-${moduleListHash()}`);
  return atomicEntry(dest, (tmp) => {
    fs.mkdirSync(tmp, { recursive: true });
    const pkg = `linux-image-${version}`;
    log(`downloading ${pkg} into ${tmp}`);
    let r = run('apt-get', ['download', pkg], { cwd: tmp });
    if (r.status !== 0 && isRoot()) {
      aptGet(['update'], log);
      r = run('apt-get', ['download', pkg], { cwd: tmp });
    }
    if (r.status !== 0) {
      throw new VmUnavailableError(`\`apt-get download ${pkg}\` failed (run apt-get update?):\n${tail(r.stderr, 10)}`);
    }
    const deb = fs.readdirSync(tmp).find((n) => n.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    const root = path.join(tmp, 'root');
    runOk('dpkg-deb', ['-x', path.join(tmp, deb), root]);
    // The .deb ships no modules.dep; depmod -b looks in <root>/lib/modules/<version>.
    runOk(which('depmod') ?? 'depmod', ['-b', root, version]);
    const modulesDir = path.join(root, 'lib', 'modules', version);
    if (!fs.existsSync(path.join(modulesDir, 'modules.dep'))) throw new Error(`depmod wrote no ${modulesDir}/modules.dep`);
    const closure = resolveModules(modulesDir);
    const out = path.join(tmp, 'out');
    fs.mkdirSync(path.join(out, 'modules'), { recursive: true });
    for (const [flat, rel] of closure.files) fs.copyFileSync(path.join(modulesDir, rel), path.join(out, 'modules', flat));
    fs.writeFileSync(path.join(out, 'modules', 'stage1.list'), closure.stage1.join('\n') + '\n');
    fs.writeFileSync(path.join(out, 'modules', 'stage2.list'), closure.stage2.join('\n') + '\n');
    log('extracting vmlinux from the bzImage');
    fs.writeFileSync(path.join(out, 'vmlinux'), extractVmlinux(fs.readFileSync(path.join(root, 'boot', `vmlinuz-${version}`))));
    fs.writeFileSync(path.join(out, 'version'), version + '\n');
    fs.rmSync(path.join(tmp, deb));
    fs.rmSync(root, { recursive: true, force: true });
    // atomicEntry renames `tmp` itself: move the kept files up.
    for (const n of fs.readdirSync(out)) fs.renameSync(path.join(out, n), path.join(tmp, n));
    fs.rmdirSync(out);
  });
}

/** The guest's /init script from the repository. */
export function initScriptPath(): string {
  return path.join(repoRoot(), 'test', 'vm', 'init.sh');
}

function provisionInitramfs(cache: string, version: string, kernelDir: string): string {
  const busybox = which('busybox')!;
  const init = fs.readFileSync(initScriptPath(), 'utf8');
  const lists = ['stage1.list', 'stage2.list'].map((n) =>
    fs.readFileSync(path.join(kernelDir, 'modules', n), 'utf8').split('\n').filter(Boolean),
  );
  const hash = sha256(init, fs.readFileSync(busybox), kernelDir, lists.join('|')).slice(0, 12);
  const dest = path.join(cache, `initramfs-${version}-${hash}.cpio`);
  return atomicEntry(dest, (tmp) => {
    fs.writeFileSync(tmp, buildInitramfs({
      busybox, init, moduleDir: path.join(kernelDir, 'modules'), stage1: lists[0]!, stage2: lists[1]!,
    }));
  });
}

/**
 * Mark the entries in use (mtime = last use) and delete kernels and initramfs images that no run has used
 * for 30 days (left behind by older versions of the harness or of Debian's kernel).
 */
function pruneCache(cache: string, inUse: string[], log: Log): void {
  const now = new Date();
  for (const p of inUse) fs.utimesSync(p, now, now);
  const cutoff = Date.now() - 30 * 24 * 3600_000;
  for (const n of fs.readdirSync(cache)) {
    if (!/^(kernel-|initramfs-)/.test(n)) continue;
    const p = path.join(cache, n);
    if (inUse.includes(p)) continue;
    try {
      if (fs.statSync(p).mtimeMs < cutoff) {
        log(`removing ${p}, unused for 30 days`);
        fs.rmSync(p, { recursive: true, force: true });
      }
    } catch {
      /* removed by another run */
    }
  }
}

/** Make sure everything the guest needs exists; returns the paths. Idempotent and safe to race. */
export function provision(log: Log = () => {}): VmAssets {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new VmUnavailableError(`the VM harness runs on x86-64 Linux only (this is ${process.platform}/${process.arch})`);
  }
  ensureTools(log);
  const cache = cacheDir();
  fs.mkdirSync(cache, { recursive: true });
  sweepStaleTemps(cache);
  const version = kernelVersion(cache, log);
  const kernelDir = provisionKernel(cache, version, log);
  const initramfs = provisionInitramfs(cache, version, kernelDir);
  pruneCache(cache, [kernelDir, initramfs], log);
  return {
    cacheDir: cache,
    kernelVersion: version,
    vmlinux: path.join(kernelDir, 'vmlinux'),
    initramfs,
    qemu: which('qemu-system-x86_64')!,
  };
}
