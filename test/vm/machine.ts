/**
 * One QEMU guest: TCG (this machine's /dev/kvm does not work), the PVH vmlinux, the busybox initramfs,
 * the host root over 9p, a writable 9p job share, and the emulated persistent memory:
 * ACPI NFIT NVDIMMs (with a label area) and virtio-pmem devices, each backed by an image file.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CXL_LSA_BYTES, CXL_MEM_BYTES, DEVICES, DISK_SERIAL, LABEL_SIZE, imageBytes, type DeviceSpec, type Persistence } from './layout';
import type { VmAssets } from './provision';
import { tail } from './util';

export interface GuestImage {
  spec: DeviceSpec;
  path: string;
}

export interface GuestOptions {
  assets: VmAssets;
  /** Directory shared writable with the guest at the same path; must contain job.sh. */
  jobDir: string;
  /** Backing images, from createImages(); none for a guest without persistent memory. */
  images?: GuestImage[];
  /** A raw image attached as a virtio-blk disk with serial DISK_SERIAL (the guest's /dev/vda). */
  disk?: string;
  /**
   * A CXL Type-3 device with persistent capacity instead of NVDIMMs: a q35 machine with cxl=on (see
   * cxlArgs). Not combined with `images`.
   */
  cxl?: CxlImages;
  /** The machine's nvdimm-persistence property ('none': not set, so persistence_domain is absent). */
  persistence?: Persistence;
  timeoutMs: number;
  memMiB?: number;
  cpus?: number;
  /** Receives the guest's console output as it comes. */
  onConsole?: (chunk: string) => void;
}

export interface GuestResult {
  /** Exit status of job.sh, read from the job share; null when the guest never got there. */
  jobExitCode: number | null;
  timedOut: boolean;
  qemuExit: number | null;
  qemuSignal: NodeJS.Signals | null;
  console: string;
  wallMs: number;
  argv: string[];
}

/** Backing files of the emulated CXL Type-3 device: its persistent capacity and its label storage area. */
export interface CxlImages {
  mem: string;
  lsa: string;
}

/** Create fresh sparse backing files for the CXL device (CXL_MEM_BYTES of capacity, CXL_LSA_BYTES of labels). */
export function createCxlImages(dir: string): CxlImages {
  fs.mkdirSync(dir, { recursive: true });
  const make = (name: string, bytes: number) => {
    const p = path.join(dir, name);
    const fd = fs.openSync(p, 'wx', 0o600);
    fs.ftruncateSync(fd, bytes);
    fs.closeSync(fd);
    return p;
  };
  return { mem: make('cxl-mem.img', CXL_MEM_BYTES), lsa: make('cxl-lsa.img', CXL_LSA_BYTES) };
}

/**
 * One CXL host bridge (pxb-cxl) with a Type-3 device whose capacity is persistent (QEMU 7.2's `memdev=`;
 * `persistent-memdev=` does not exist there), and a fixed memory window routed to that bridge. Two root
 * ports although one device hangs off the first: with a single root port QEMU 7.2 commits the region
 * but drops every access (reads return zeros, the backing file stays zero), see ../shared/emulated-cxl.md.
 */
function cxlArgs(c: CxlImages): string[] {
  return [
    '-object', `memory-backend-file,id=cxl-mem0,share=on,mem-path=${c.mem},size=${fs.statSync(c.mem).size}`,
    '-object', `memory-backend-file,id=cxl-lsa0,share=on,mem-path=${c.lsa},size=${fs.statSync(c.lsa).size}`,
    '-device', 'pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1',
    '-device', 'cxl-rp,port=0,bus=cxl.1,id=cxl_rp0,chassis=0,slot=2',
    '-device', 'cxl-rp,port=1,bus=cxl.1,id=cxl_rp1,chassis=0,slot=3',
    '-device', 'cxl-type3,bus=cxl_rp0,memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0',
  ];
}

/** Create a sparse disk image of `bytes`. */
export function createDisk(file: string, bytes: number): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'wx', 0o600);
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
  return file;
}

/** Create fresh sparse backing images for every device of the layout in `dir`. */
export function createImages(dir: string): GuestImage[] {
  fs.mkdirSync(dir, { recursive: true });
  return DEVICES.map((spec) => {
    const p = path.join(dir, `${spec.role}.img`);
    const fd = fs.openSync(p, 'wx', 0o600);
    fs.ftruncateSync(fd, imageBytes(spec));
    fs.closeSync(fd);
    return { spec, path: p };
  });
}

export function qemuArgs(o: GuestOptions): string[] {
  const machine = o.cxl ? ['q35', 'cxl=on', 'cxl-fmw.0.targets.0=cxl.1', 'cxl-fmw.0.size=4G'] : ['pc', 'nvdimm=on'];
  if (o.persistence && o.persistence !== 'none') machine.push(`nvdimm-persistence=${o.persistence}`);
  const images = o.images ?? [];
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-smp', String(o.cpus ?? 1),
    '-machine', machine.join(','),
    '-m', `${o.memMiB ?? 2048}M,slots=${Math.max(4, images.length + 2)},maxmem=32G`,
    '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', o.assets.vmlinux,
    '-initrd', o.assets.initramfs,
    '-append', `console=ttyS0 panic=-1 mitigations=off loglevel=4 nodepmem.job=${o.jobDir}`,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${o.jobDir},mount_tag=job,security_model=none,multidevs=remap`,
  ];
  if (o.disk) {
    args.push(
      '-drive', `file=${o.disk},if=none,id=disk,format=raw,cache=writeback,discard=unmap`,
      '-device', `virtio-blk-pci,drive=disk,serial=${DISK_SERIAL}`,
    );
  }
  if (o.cxl) args.push(...cxlArgs(o.cxl));
  images.forEach((img, i) => {
    const size = fs.statSync(img.path).size;
    args.push('-object', `memory-backend-file,id=pm${i},share=on,mem-path=${img.path},size=${size}`);
    if (img.spec.provider === 'ACPI.NFIT') {
      args.push('-device', `nvdimm,id=nv${i},memdev=pm${i},label-size=${LABEL_SIZE}`);
    } else {
      args.push('-device', `virtio-pmem-pci,id=vp${i},memdev=pm${i}`);
    }
  });
  return args;
}

/** Killers of the guests still running; on SIGINT/SIGTERM/exit of this process, they all die with it. */
const running = new Set<() => void>();
function onSignal(sig: NodeJS.Signals) {
  for (const k of running) k();
  process.exit(sig === 'SIGINT' ? 130 : 143);
}
function track(kill: () => void): () => void {
  if (running.size === 0) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  running.add(kill);
  process.once('exit', kill);
  return () => {
    running.delete(kill);
    process.removeListener('exit', kill);
    if (running.size === 0) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  };
}

/** Boot the guest, wait for it to power off (or kill it at the timeout), and collect what it left. */
export function runGuest(o: GuestOptions): Promise<GuestResult> {
  if (/\s/.test(o.jobDir)) throw new Error(`job directory must not contain white space: ${o.jobDir}`);
  fs.rmSync(path.join(o.jobDir, 'exit-code'), { force: true });
  const argv = qemuArgs(o);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // `timeout` kills QEMU even if this process dies without getting to (a killed test run). It makes
    // itself a process-group leader, so killing the group -pid reaches QEMU too.
    const hardLimit = String(Math.ceil(o.timeoutMs / 1000) + 30);
    const child = spawn('timeout', ['-s', 'KILL', hardLimit, o.assets.qemu, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killAll = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const untrack = track(killAll);
    let consoleText = '';
    const take = (b: Buffer) => {
      const s = b.toString('utf8');
      consoleText += s;
      if (consoleText.length > 4_000_000) consoleText = consoleText.slice(-2_000_000);
      o.onConsole?.(s);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killAll();
    }, o.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      untrack();
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      let jobExitCode: number | null = null;
      try {
        const t = fs.readFileSync(path.join(o.jobDir, 'exit-code'), 'utf8').trim();
        if (/^\d+$/.test(t)) jobExitCode = Number(t);
      } catch {
        /* the guest never finished the job */
      }
      resolve({
        jobExitCode, timedOut, qemuExit: code, qemuSignal: signal, console: consoleText,
        wallMs: Date.now() - started, argv,
      });
    });
  });
}

/** A human summary of a guest that did not complete its job. */
export function describeFailure(r: GuestResult, lines = 60): string {
  const how = r.timedOut
    ? `was killed after ${Math.round(r.wallMs / 1000)} s (timeout)`
    : r.jobExitCode === null
      ? `stopped (qemu ${r.qemuSignal ? 'signal ' + r.qemuSignal : 'exit ' + r.qemuExit}) before its job finished`
      : `finished its job with status ${r.jobExitCode}`;
  const text = tail(r.console, lines);
  return `the guest ${how}. ${text.trim() ? `Last ${lines} lines of its console:\n${text}` : 'Its console is empty.'}`;
}
