/**
 * node-pmem against emulated persistent memory: QEMU guests (TCG) with ACPI NFIT NVDIMMs and virtio-pmem
 * devices, and one with a CXL Type-3 device of persistent capacity, running the guest tests of
 * test/vm/guest/ and the unit suite against this checkout's build.
 * See test/vm/README.md.
 *
 * The guest kernel and initramfs are provisioned on first use into ~/.cache/node-pmem-vm (as root, missing
 * Debian packages are installed with apt-get). A host that cannot run the guest FAILS this test with what to
 * install; NODE_PMEM_SKIP_VM=1 turns that into a reported skip. Inside the guest this file skips itself.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ENV } from './vm/layout';
import { createCxlImages, describeFailure, type CxlImages } from './vm/machine';
import { provision, type VmAssets } from './vm/provision';
import {
  checkCxl, checkDeviceSet, createDeviceSet, cxlPlan, devicePlan, makeWorkDir, newToken, runBoot, snapshotBuild, stepFailure, unitPlan,
  type BootPlan, type BootResult, type BuildSnapshot, type DeviceSet,
} from './vm/suite';
import { repoRoot } from './vm/util';

const skip =
  process.env[ENV.inVm] === '1'
    ? 'running inside the node-pmem test guest: the VM harness does not start guests within guests'
    : process.env.NODE_PMEM_SKIP_VM === '1'
      ? 'NODE_PMEM_SKIP_VM=1: the emulated-NVDIMM (QEMU) tests were skipped on request'
      : false;

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

const log = (msg: string) => process.stderr.write(`[vm] ${msg}\n`);

/** One host subtest per guest step; the guest's failures become the subtests' errors. */
async function report(t: TestContext, r: BootResult, extra?: { name: string; fn: () => void }): Promise<void> {
  t.diagnostic(`guest ran ${(r.guest.wallMs / 1000).toFixed(1)} s; job exit ${r.guest.jobExitCode ?? 'none'}`);
  let failed = 0;
  for (const s of r.steps) {
    const why = stepFailure(r, s);
    if (why) failed++;
    await t.test(s.step.name, (st) => {
      if (s.tap) st.diagnostic(`in the guest: ${s.tap.tests} tests, ${s.tap.pass} pass, ${s.tap.fail} fail, ${s.tap.skipped} skipped, ${s.tap.todo} todo`);
      for (const sk of s.tap?.skips ?? []) st.diagnostic(`skipped in the guest: ${sk}`);
      if (why) throw new Error(why);
    });
  }
  if (extra) {
    await t.test(extra.name, () => {
      try {
        extra.fn();
      } catch (err) {
        failed++;
        throw err;
      }
    });
  }
  // Failing steps already fail this test; otherwise a guest that died after its last step still must.
  if (failed === 0) {
    if (r.guest.jobExitCode === null) throw new Error(describeFailure(r.guest));
    assert.equal(r.guest.jobExitCode, 0, `the guest job failed (status ${r.guest.jobExitCode}):\n${describeFailure(r.guest)}`);
  }
}

const TITLE = 'emulated NVDIMM, virtio-pmem and CXL (QEMU guests)';

// A skipped test (not only a skipped suite), so the run's summary counts it under "skipped".
if (skip) it(TITLE, { skip }, () => {});
else describe(TITLE, () => {
  let assets: VmAssets;
  let workDir: string;
  let devices: DeviceSet;
  let cxl: CxlImages;
  let snapshot: BuildSnapshot;
  const token = newToken();
  let unitRun: Promise<Settled<BootResult>> | null = null;
  const parallel = process.env.NODE_PMEM_VM_PARALLEL !== '0';

  const boot = (plan: BootPlan) => runBoot(plan, { assets, workDir, images: devices.images, disk: devices.disk, cxl, snapshot, token });

  before(() => {
    const root = repoRoot();
    const missing = ['dist/index.js', 'build/Release/pmem.node'].filter((f) => !fs.existsSync(path.join(root, f)));
    if (missing.length) throw new Error(`the guests test this checkout's build, but ${missing.join(' and ')} is missing: run \`npm run build\``);
    const t0 = Date.now();
    assets = provision(log);
    log(`guest kernel ${assets.kernelVersion} ready (${((Date.now() - t0) / 1000).toFixed(1)} s), cache ${assets.cacheDir}`);
    workDir = makeWorkDir();
    devices = createDeviceSet(workDir);
    cxl = createCxlImages(path.join(workDir, 'cxl'));
    snapshot = snapshotBuild(workDir);
    // The unit suite needs no images: it runs in a second guest alongside the device boots (2 cores).
    if (parallel) unitRun = settle(boot(unitPlan()));
  });

  after(async () => {
    if (unitRun) await unitRun; // never leave a guest running
    if (!workDir) return;
    if (process.env.NODE_PMEM_VM_KEEP === '1') log(`NODE_PMEM_VM_KEEP=1: kept ${workDir} (images, job logs, TAP)`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  });

  it(devicePlan('write').title, async (t) => {
    await report(t, await boot(devicePlan('write')), {
      name: 'after the power-off, the host finds every durability record in the backing files, and not the control',
      fn: () => assert.deepEqual(checkDeviceSet(devices, token), []),
    });
  });

  it(devicePlan('verify').title, async (t) => {
    await report(t, await boot(devicePlan('verify')));
  });

  it(cxlPlan().title, async (t) => {
    await report(t, await boot(cxlPlan()), {
      name: 'after the power-off, the host finds the CXL durability records in the CXL backing file',
      fn: () => assert.deepEqual(checkCxl(cxl, token), []),
    });
  });

  it('boot 3: the unit suite (dist-test/test/*.test.js but this file) inside a guest', async (t) => {
    const r = unitRun ? await unitRun : await settle(boot(unitPlan()));
    if (!r.ok) throw r.error;
    await report(t, r.value);
  });
});
