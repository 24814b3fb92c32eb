/**
 * What the harness runs in its guests, and how the results come back.
 *
 * Three boots:
 *  - "devices-write": fresh images, machine without nvdimm-persistence (persistence_domain absent, treated
 *    as ADR → 'cacheline'), plus a plain virtio-blk disk. Sets the namespaces up (fsdax, devdax, raw, XFS;
 *    virtio-pmem fsdax and devdax) and ext4 on the disk, runs the device tests, and last writes the
 *    durability records (and a control record that is never synced). Powers off without syncing.
 *  - "devices-verify": the same images, nvdimm-persistence=cpu (→ 'byte'). Reads the durability records
 *    back first, then runs the device tests again at the byte tier.
 *  - "unit": the library's unit suite (dist-test/test/*.test.js without 90-vm) inside a guest, with a
 *    virtio-blk ext4 scratch disk as TMPDIR (the suite expects os.tmpdir() on a disk filesystem, as on the
 *    host; the guest's / is an overlay on 9p with a tmpfs upper layer).
 *
 * Every step of a boot writes into the job directory (a writable 9p share at the same path on both
 * sides): <step>.log (its console output), <step>.rc (exit status) and, for node:test steps, <step>.tap.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CXL_RECORDS, DISK_BYTES, DISK_SERIAL, ENV, MANIFEST, type Persistence, type Phase } from './layout';
import {
  createCxlImages, createDisk, createImages, describeFailure, runGuest, type CxlImages, type GuestImage, type GuestResult,
} from './machine';
import type { VmAssets } from './provision';
import { repoRoot, tail } from './util';

export interface Step {
  name: string;
  /** Command run in the guest with the repository as working directory. */
  argv: string[];
  /** TAP report file of a node:test step (relative to the job directory). */
  tap?: string;
  /** Stop the boot here when this step fails (setup). */
  critical?: boolean;
}

export interface BootPlan {
  name: string;
  title: string;
  phase?: Phase;
  persistence: Persistence;
  withImages: boolean;
  /** The CXL machine (q35 cxl=on) with RunOptions.cxl as its Type-3 device, instead of NVDIMMs. */
  withCxl?: boolean;
  /**
   * A virtio-blk disk: 'fresh' (32 GiB sparse, made for this boot: the unit suite's TMPDIR, because the suite
   * wants os.tmpdir() on a disk filesystem as on the host) or 'shared' (RunOptions.disk, kept across the
   * two device boots).
   */
  disk?: 'fresh' | 'shared';
  /** vCPUs (one host thread each under TCG). */
  cpus?: number;
  /** Extra environment of the guest job. */
  env?: Record<string, string>;
  steps: Step[];
  timeoutMs: number;
}

export interface StepResult {
  step: Step;
  /** null: the step never finished (guest died, timed out, or an earlier critical step failed). */
  rc: number | null;
  log: string;
  tap: TapSummary | null;
}

export interface BootResult {
  plan: BootPlan;
  guest: GuestResult;
  steps: StepResult[];
  manifest: unknown;
}

const GUEST_DIR = 'dist-test/test/vm/guest';

/**
 * Guest test files of the device boots, in the order of each phase. `health` adds bad blocks that only a reboot
 * clears: inside a file it keeps, and on the raw namespace only in boot 2, where it runs last.
 */
export const DEVICE_TESTS: Record<Phase, string[]> = {
  write: ['fsdax', 'devdax', 'block', 'virtio', 'kv', 'health', 'durability'],
  verify: ['durability', 'fsdax', 'devdax', 'block', 'virtio', 'kv', 'health'],
};

function nodeTestStep(name: string, files: string[], runner: boolean): Step {
  const tap = `${name}.tap`;
  const argv = [process.execPath];
  if (runner) argv.push('--test', '--test-concurrency=1');
  argv.push('--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=@JOB@/${tap}`, ...files);
  return { name, argv, tap };
}

function envSeconds(name: string): number | null {
  const v = process.env[name];
  if (!v) return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a number of seconds, not ${JSON.stringify(v)}`);
  return n * 1000;
}

export function devicePlan(phase: Phase): BootPlan {
  const persistence: Persistence = phase === 'write' ? 'none' : 'cpu';
  return {
    name: `devices-${phase}`,
    title:
      phase === 'write'
        ? 'boot 1: fresh NFIT + virtio-pmem images (no nvdimm-persistence): setup, device tests, durability write'
        : 'boot 2: same images, nvdimm-persistence=cpu: durability read-back, device tests at the byte tier',
    phase,
    persistence,
    withImages: true,
    disk: 'shared',
    steps: [
      { name: 'setup', argv: [process.execPath, `${GUEST_DIR}/setup.js`], critical: true },
      ...DEVICE_TESTS[phase].map((t) => nodeTestStep(t, [`${GUEST_DIR}/${t}.test.js`], false)),
    ],
    // A hang guard: about 3.5 minutes here, and within a second of 5 beside other TCG guests.
    timeoutMs: envSeconds('NODE_PMEM_VM_TIMEOUT') ?? 600_000,
  };
}

/**
 * The library's own unit suite, as `npm test` runs it on the host, minus this harness, the
 * packaging test (14-package: it packs and installs with npm, which the guest does not have, and
 * tests nothing a device changes), the aarch64 suite (16-arm64: scripts/arm64.sh runs it under
 * qemu-user) and the crash-simulator suites (70-crash-sim, 80-kv-crash, 84-heap-crash,
 * 85-heap-queue: plain JavaScript over simulated memory, which no kernel or device changes; under
 * TCG they took most of the boot's time budget: with 84 and 85 in it the unit boot ran 1498 s, on
 * a machine also busy with other work, against 285 s without them; the host runs them in every npm test).
 */
const NOT_IN_GUEST = ['90-vm', '14-package', '16-arm64', '70-crash-sim', '80-kv-crash', '84-heap-crash', '85-heap-queue'];

export function unitFiles(root = repoRoot()): string[] {
  const dir = path.join(root, 'dist-test', 'test');
  return fs.readdirSync(dir)
    .filter((n) => n.endsWith('.test.js') && !NOT_IN_GUEST.some((prefix) => n.startsWith(prefix)))
    .sort()
    .map((n) => `dist-test/test/${n}`);
}

/** Find the disk by its serial, make ext4 on it and mount it at /scratch. */
const SCRATCH_SCRIPT = [
  'set -e',
  'dev=',
  `for b in /sys/block/vd*; do if [ "$(cat "$b/serial" 2>/dev/null)" = ${DISK_SERIAL} ]; then dev=/dev/\${b##*/}; fi; done`,
  '[ -n "$dev" ] || { echo "no virtio-blk disk with serial ' + DISK_SERIAL + '"; exit 1; }',
  'mkfs.ext4 -F -q -b 4096 "$dev"',
  'mkdir -p /scratch',
  'mount -t ext4 "$dev" /scratch',
  'chmod 1777 /scratch',
  'echo "scratch: $dev mounted at /scratch"',
].join('\n');

export function unitPlan(): BootPlan {
  return {
    name: 'unit',
    title: 'the unit suite (dist-test/test/*.test.js) inside the guest',
    persistence: 'none',
    withImages: false,
    disk: 'fresh',
    // One vCPU: with two, MTTCG made the suite take twice as long here (208 s against 104 s).
    cpus: Number(process.env.NODE_PMEM_VM_UNIT_CPUS ?? 1),
    // The fuzzer (test/12-fuzz) checks argument handling, which a guest does not change: 10,000
    // sequences take 20 s on the host and over ten minutes under TCG, so the guest runs a sample.
    env: { TMPDIR: '/scratch', NODE_PMEM_FUZZ_SEQUENCES: process.env.NODE_PMEM_VM_FUZZ_SEQUENCES ?? '300' },
    steps: [
      { name: 'scratch', argv: ['/bin/sh', '-c', SCRATCH_SCRIPT], critical: true },
      nodeTestStep('unit', unitFiles(), true),
    ],
    // A hang guard, not a speed target: the boot takes about 13 minutes on an idle 2-core machine
    // and ran past 15 beside two other TCG guests.
    timeoutMs: envSeconds('NODE_PMEM_VM_UNIT_TIMEOUT') ?? envSeconds('NODE_PMEM_VM_TIMEOUT') ?? 1_800_000,
  };
}

/**
 * The CXL boot: a q35 machine with one CXL Type-3 device of persistent capacity (fresh backing files).
 * `cxl-setup` creates the region and the namespaces; `cxl` runs the tests and, last, writes the
 * durability records that the host then looks for in the backing file (checkCxl).
 */
export function cxlPlan(): BootPlan {
  return {
    name: 'cxl',
    title: 'boot 4: emulated CXL Type-3 pmem (q35 cxl=on): cxl create-region, fsdax and devdax, deviceInfo against cxl/ndctl, KV, durability write',
    persistence: 'none',
    withImages: false,
    withCxl: true,
    steps: [
      { name: 'cxl-setup', argv: [process.execPath, `${GUEST_DIR}/cxl-setup.js`], critical: true },
      nodeTestStep('cxl', [`${GUEST_DIR}/cxl.test.js`], false),
    ],
    timeoutMs: envSeconds('NODE_PMEM_VM_TIMEOUT') ?? 600_000,
  };
}

/** The durability records of the CXL boot (guest/cxl.test.ts) that are not in the CXL backing file. */
export function checkCxl(images: CxlImages, token: string): string[] {
  return CXL_RECORDS.flatMap((role) => recordsInImages([{ role, path: images.mem }], token))
    .filter((x) => !x.found)
    .map((x) => `the ${x.role} record is not in ${x.image}`);
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell script the guest's /init runs (in the host root, chrooted) for a boot. */
/**
 * A copy of the build outputs the guests run (dist/, dist-test/, build/Release/*.node), taken once per run
 * and bind-mounted over the repository's directories in each guest. The guest's 9p root caches file sizes
 * (cache=loose), so a rebuild on the host during a run could otherwise hand it torn files; and every boot
 * tests the same build as the host suite.
 */
export interface BuildSnapshot {
  /** [copy, repository directory] pairs. */
  mounts: [string, string][];
}

export function snapshotBuild(workDir: string, root = repoRoot()): BuildSnapshot {
  const snap = path.join(workDir, 'build-snapshot');
  const mounts: [string, string][] = [];
  for (const rel of ['dist', 'dist-test']) {
    const src = path.join(root, rel);
    if (!fs.existsSync(src)) continue;
    fs.cpSync(src, path.join(snap, rel), { recursive: true });
    mounts.push([path.join(snap, rel), src]);
  }
  const release = path.join(root, 'build', 'Release');
  if (fs.existsSync(release)) {
    const dst = path.join(snap, 'build-Release');
    fs.mkdirSync(dst, { recursive: true });
    for (const n of fs.readdirSync(release)) if (n.endsWith('.node')) fs.copyFileSync(path.join(release, n), path.join(dst, n));
    mounts.push([dst, release]);
  }
  return { mounts };
}

export function jobScript(plan: BootPlan, jobDir: string, token: string, snapshot?: BuildSnapshot): string {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    [ENV.inVm]: '1',
    [ENV.jobDir]: jobDir,
    [ENV.persistence]: plan.persistence,
    [ENV.token]: token,
  };
  if (plan.phase) env[ENV.phase] = plan.phase;
  Object.assign(env, plan.env ?? {});
  const lines = [
    '#!/bin/sh',
    `# Generated by test/vm/suite.ts for the "${plan.name}" boot.`,
    ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`),
    `J=${q(jobDir)}`,
    ...(snapshot?.mounts ?? []).map(([copy, dir]) => `mount --bind ${q(copy)} ${q(dir)} || exit 98`),
    `cd ${q(repoRoot())} || exit 99`,
    'echo "node-pmem-vm: guest $(uname -r), node $(node --version 2>&1)"',
    // step NAME CMD...: console output to the console and NAME.log, exit status to NAME.rc
    'step() {',
    '  name=$1; shift',
    '  echo "node-pmem-vm: step $name: $*"',
    '  { "$@" 2>&1; echo $? > "$J/$name.rc"; } | tee "$J/$name.log"',
    '  rc=$(cat "$J/$name.rc")',
    '  echo "node-pmem-vm: step $name exited with status $rc"',
    '  [ "$rc" = 0 ]',
    '}',
    'status=0',
  ];
  for (const s of plan.steps) {
    const cmd = s.argv.map((a) => q(a).replace(/@JOB@/g, `'"$J"'`)).join(' ');
    if (s.critical) lines.push(`step ${q(s.name)} ${cmd} || exit 1`);
    else lines.push(`step ${q(s.name)} ${cmd} || status=1`);
  }
  lines.push('exit $status', '');
  return lines.join('\n');
}

export interface TapSummary {
  tests: number;
  pass: number;
  fail: number;
  skipped: number;
  todo: number;
  /** Top-level and nested "not ok" lines with their YAML diagnostics. */
  failures: string[];
  /** Names of skipped tests with their reasons. */
  skips: string[];
}

/** Read the totals and the failures out of node:test's TAP report. */
export function parseTap(text: string): TapSummary {
  const num = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const lines = text.split('\n');
  const failures: string[] = [];
  const skips: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^\s*not ok \d+ /.test(l)) {
      const block = [l];
      const indent = /^(\s*)/.exec(l)![1]!.length;
      // The YAML block follows, indented two more spaces, from --- to ...
      for (let j = i + 1; j < lines.length; j++) {
        const m = lines[j]!;
        if (/^\s*(ok|not ok) \d+ /.test(m) || /^\s*# Subtest:/.test(m)) break;
        if (/^\s*$/.test(m)) continue;
        if (/^(\s*)/.exec(m)![1]!.length <= indent && !/^\s*(---|\.\.\.)/.test(m)) break;
        block.push(m);
        if (/^\s*\.\.\.\s*$/.test(m)) break;
      }
      failures.push(block.join('\n'));
    }
    const sk = /^\s*ok \d+ - (.*?) # SKIP ?(.*)$/.exec(l);
    if (sk) skips.push(`${sk[1]}: ${sk[2] || '(no reason)'}`);
  }
  return { tests: num('tests'), pass: num('pass'), fail: num('fail'), skipped: num('skipped'), todo: num('todo'), failures, skips };
}

export interface RunOptions {
  assets: VmAssets;
  /** Temporary directory of this run (images and job directories go below it). */
  workDir: string;
  /** Images shared by the two device boots. */
  images?: GuestImage[];
  /** Disk image shared by the two device boots. */
  disk?: string;
  /** Backing files of the CXL boot's Type-3 device. */
  cxl?: CxlImages;
  /** The build the guests run; without it they see the live repository. */
  snapshot?: BuildSnapshot;
  token: string;
  onConsole?: (chunk: string) => void;
}

/** Run one boot of a plan and collect its step results. */
export async function runBoot(plan: BootPlan, o: RunOptions): Promise<BootResult> {
  const jobDir = path.join(o.workDir, `job-${plan.name}`);
  fs.mkdirSync(jobDir, { recursive: true });
  fs.writeFileSync(path.join(jobDir, 'job.sh'), jobScript(plan, jobDir, o.token, o.snapshot), { mode: 0o755 });
  const guest = await runGuest({
    assets: o.assets,
    jobDir,
    images: plan.withImages ? o.images : [],
    ...(plan.withCxl && o.cxl ? { cxl: o.cxl } : {}),
    persistence: plan.persistence,
    timeoutMs: plan.timeoutMs,
    ...(plan.cpus ? { cpus: plan.cpus } : {}),
    ...(plan.disk === 'fresh' ? { disk: createDisk(path.join(o.workDir, `${plan.name}-disk.img`), 32 * 1024 ** 3) } : {}),
    ...(plan.disk === 'shared' && o.disk ? { disk: o.disk } : {}),
    ...(o.onConsole ? { onConsole: o.onConsole } : {}),
  });
  const read = (n: string) => {
    try {
      return fs.readFileSync(path.join(jobDir, n), 'utf8');
    } catch {
      return null;
    }
  };
  const steps = plan.steps.map((step): StepResult => {
    const rcText = read(`${step.name}.rc`);
    const tapText = step.tap ? read(step.tap) : null;
    return {
      step,
      rc: rcText !== null && /^\d+\s*$/.test(rcText) ? Number(rcText) : null,
      log: read(`${step.name}.log`) ?? '',
      tap: tapText !== null ? parseTap(tapText) : null,
    };
  });
  let manifest: unknown = null;
  const m = read(MANIFEST);
  if (m) {
    try {
      manifest = JSON.parse(m);
    } catch {
      manifest = m;
    }
  }
  return { plan, guest, steps, manifest };
}

/** Why a step failed, in a few dozen lines; null when it passed. */
export function stepFailure(r: BootResult, s: StepResult): string | null {
  if (s.rc === 0) {
    if (s.tap && s.tap.fail > 0) return `${s.tap.fail} failing test(s) although the step exited 0:\n${s.tap.failures.join('\n')}`;
    return null;
  }
  const parts: string[] = [];
  if (s.rc === null) {
    const idx = r.steps.indexOf(s);
    const critical = r.steps.slice(0, idx).find((p) => p.step.critical && p.rc !== 0 && p.rc !== null);
    if (critical) return `not run: step "${critical.step.name}" failed first`;
    const stuck = r.steps.find((p) => p.rc === null)!;
    if (stuck !== s) return `not run: the guest stopped during step "${stuck.step.name}"`;
    // The console tail shows this step's output as far as it got.
    const started = r.guest.console.includes(`node-pmem-vm: step ${s.step.name}:`);
    return `step "${s.step.name}" ${started ? 'did not finish' : 'was never reached'}: ${describeFailure(r.guest)}`;
  } else {
    parts.push(`step "${s.step.name}" exited with status ${s.rc}`);
  }
  if (s.tap && s.tap.failures.length) {
    parts.push(`failing tests (TAP):\n${s.tap.failures.join('\n').slice(0, 20_000)}`);
  } else if (s.log) {
    parts.push(`last lines of its output:\n${tail(s.log, 60)}`);
  }
  return parts.join('\n');
}

/**
 * Look for the durability records of the guest (`<token>|<role>|...`, see guest/durability.test.ts) in the
 * backing image files on the host: after the guest powered off without syncing, each must be there.
 * With `label`, look for that record (e.g. 'control') in every image instead.
 */
export function recordsInImages(
  images: { role: string; path: string }[], token: string, label?: string,
): { role: string; image: string; found: boolean }[] {
  const CHUNK = 8 * 1024 * 1024;
  return images.map((img) => {
    const needle = Buffer.from(`${token}|${label ?? img.role}|`);
    const fd = fs.openSync(img.path, 'r');
    let found = false;
    try {
      const buf = Buffer.alloc(CHUNK + needle.length);
      let carry = 0;
      for (let pos = 0; !found; ) {
        const n = fs.readSync(fd, buf, carry, CHUNK, pos);
        if (n <= 0) break;
        found = buf.subarray(0, carry + n).indexOf(needle) >= 0;
        // Keep the last needle-length bytes, so a record split across chunks is still found.
        const keep = Math.min(needle.length, carry + n);
        buf.copy(buf, 0, carry + n - keep, carry + n);
        carry = keep;
        pos += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    return { role: img.role, image: img.path, found };
  });
}

/** Prefix of each run's temporary directory in os.tmpdir(). */
export const WORKDIR_PREFIX = 'node-pmem-vm-';

/** Make this run's temporary directory, removing those that killed runs left behind (older than 12 h). */
export function makeWorkDir(): string {
  const tmp = os.tmpdir();
  const cutoff = Date.now() - 12 * 3600_000;
  for (const n of fs.readdirSync(tmp)) {
    if (!n.startsWith(WORKDIR_PREFIX)) continue;
    const p = path.join(tmp, n);
    try {
      if (fs.statSync(p).mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      /* gone already */
    }
  }
  return fs.mkdtempSync(path.join(tmp, WORKDIR_PREFIX));
}

/** The backing files of the two device boots: the pmem images and the virtio-blk disk. */
export interface DeviceSet {
  images: GuestImage[];
  disk: string;
}

export function createDeviceSet(workDir: string): DeviceSet {
  const dir = path.join(workDir, 'images');
  const images = createImages(dir);
  return { images, disk: createDisk(path.join(dir, 'disk.img'), DISK_BYTES) };
}

/**
 * What the host sees in the backing files after the first device boot powered off: every durability record
 * present, the un-synced control record (guest/durability.test.ts) absent. Returns the problems found.
 */
export function checkDeviceSet(set: DeviceSet, token: string): string[] {
  const all = [...set.images.map((i) => ({ role: i.spec.role, path: i.path })), { role: 'disk', path: set.disk }];
  const problems = recordsInImages(all, token)
    .filter((x) => !x.found)
    .map((x) => `the ${x.role} record is not in ${x.image}`);
  for (const x of recordsInImages(all, token, 'control')) {
    if (x.found) problems.push(`the control record, written without fsync, reached ${x.image}: the power-off is not a power cut`);
  }
  return problems;
}

export function newToken(): string {
  return `node-pmem-vm-${crypto.randomBytes(8).toString('hex')}`;
}

export { createCxlImages, createDisk, createImages };
