/**
 * Helpers of the guest-side tests (test/vm/guest/*.test.ts). These files run only inside the QEMU guest
 * booted by test/90-vm.test.ts; on any other machine they skip themselves with that reason.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ENV, MANIFEST, type GuestDevice, type Manifest, type Persistence, type Phase, type Role } from '../layout';

export const IN_VM = process.env[ENV.inVm] === '1';
/** Skip reason for the guest-only files when they are run anywhere else. */
export const GUEST_ONLY = IN_VM
  ? false
  : 'guest-only test: it needs the emulated NVDIMMs of the QEMU guest that test/90-vm.test.ts boots';

export const MiB = 1024 * 1024;

/** Run a command; returns stdout, throws with stderr on failure. */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

export function jobDir(): string {
  const d = process.env[ENV.jobDir];
  if (!d) throw new Error(`${ENV.jobDir} is not set`);
  return d;
}

export function phase(): Phase {
  const p = process.env[ENV.phase];
  if (p !== 'write' && p !== 'verify') throw new Error(`${ENV.phase} must be write or verify, not ${p}`);
  return p;
}

export function persistence(): Persistence {
  return process.env[ENV.persistence] === 'cpu' ? 'cpu' : 'none';
}

/** The tier node-pmem must detect on an ACPI NFIT region of this machine. */
export function nfitTier(): 'byte' | 'cacheline' {
  return persistence() === 'cpu' ? 'byte' : 'cacheline';
}

export function token(): string {
  const t = process.env[ENV.token];
  if (!t) throw new Error(`${ENV.token} is not set`);
  return t;
}

let manifestCache: Manifest | null = null;
export function manifest(): Manifest {
  manifestCache ??= JSON.parse(fs.readFileSync(path.join(jobDir(), MANIFEST), 'utf8')) as Manifest;
  return manifestCache;
}

export function device(role: Role): GuestDevice {
  const d = manifest().devices[role];
  if (!d) throw new Error(`guest setup found no device for ${role}: ${JSON.stringify(manifest().devices)}`);
  return d;
}

/** Mount (or remount with other options) a device's filesystem at its mount point. */
export function remount(dev: GuestDevice, options: string): void {
  assert.ok(dev.blockdev && dev.mount && dev.fstype, `${dev.role} has no filesystem`);
  if (isMounted(dev.mount)) sh('umount', [dev.mount]);
  fs.mkdirSync(dev.mount, { recursive: true });
  sh('mount', ['-t', dev.fstype, '-o', options, dev.blockdev, dev.mount]);
}

export function isMounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

/** Mount options of the filesystem mounted at dir. */
export function mountOptions(dir: string): string {
  const line = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === dir);
  return line?.split(' ')[3] ?? '';
}

/** Create a file of `size` bytes (filled with zero) and make its existence and size durable. */
export function durableFile(file: string, size: number): void {
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    fs.ftruncateSync(fd, size);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const dfd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

/** Assert that fn throws an error with this `code` (and a message matching `message` if given). */
export function throwsCode(fn: () => unknown, code: string, message?: RegExp): Error & { code?: string } {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected an error with code ${code}, but nothing was thrown`);
  const e = caught as Error & { code?: string };
  assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
  if (message) assert.match(e.message, message);
  return e;
}

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function textOf(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** Regions of one provider, as `ndctl list -R -N -i -b <provider>` reports them (`extra`: more flags, e.g. -v). */
export function ndctlRegions(provider: string, extra: string[] = []): NdRegion[] {
  const out = sh('ndctl', ['list', '-R', '-N', '-i', ...extra, '-b', provider]).trim();
  if (!out) return [];
  return findRegions(JSON.parse(out));
}

export interface NdNamespace {
  dev: string;
  mode: string;
  size: number;
  blockdev?: string;
  chardev?: string;
  align?: number;
  [k: string]: unknown;
}

export interface NdRegion {
  dev: string;
  size: number;
  namespaces?: NdNamespace[];
  [k: string]: unknown;
}

function findRegions(v: unknown): NdRegion[] {
  if (Array.isArray(v)) return v.flatMap(findRegions);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.dev === 'string' && o.dev.startsWith('region')) return [o as unknown as NdRegion];
    if (Array.isArray(o.regions)) return findRegions(o.regions);
  }
  return [];
}

/** The char device of a devdax namespace, from ndctl's JSON (its shape differs between list and create). */
export function chardevOf(ns: Record<string, unknown>): string | undefined {
  if (typeof ns.chardev === 'string') return ns.chardev;
  const dr = ns.daxregion as { devices?: { chardev?: string }[] } | undefined;
  return dr?.devices?.find((d) => typeof d.chardev === 'string')?.chardev;
}

export function readSysNumber(file: string): number {
  const t = fs.readFileSync(file, 'utf8').trim();
  const n = t.startsWith('0x') ? parseInt(t, 16) : Number(t);
  if (!Number.isFinite(n)) throw new Error(`${file}: not a number: ${t}`);
  return n;
}
