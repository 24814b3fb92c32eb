/**
 * Run the guest tests from the command line, without the rest of `npm test`:
 *
 *   npm run build && npm run build:test
 *   node dist-test/test/vm/run.js [devices|cxl|unit|all] [--console] [--keep]
 *   node dist-test/test/vm/run.js exec [--images] [--cxl] [--persistence=cpu] [--timeout=SECONDS] -- 'shell command'
 *
 * `devices` runs the two device boots, `cxl` the CXL boot, `unit` the unit suite in a guest, `all` (default) all of them.
 * `exec` boots a guest (with fresh images when --images) and runs a shell command in it: for debugging.
 * --console streams the guests' consoles; --keep keeps the temporary directory (images, logs, TAP).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createCxlImages, createImages, describeFailure, runGuest } from './machine';
import { provision, VmUnavailableError } from './provision';
import {
  checkCxl, checkDeviceSet, createDeviceSet, cxlPlan, devicePlan, makeWorkDir, newToken, runBoot, snapshotBuild,
  stepFailure, unitPlan, type BootResult,
} from './suite';
import { ENV } from './layout';
import { repoRoot } from './util';

function report(r: BootResult): boolean {
  let ok = true;
  console.log(`\n== ${r.plan.title} (${(r.guest.wallMs / 1000).toFixed(1)} s)`);
  for (const s of r.steps) {
    const why = stepFailure(r, s);
    const t = s.tap ? ` (${s.tap.pass} pass, ${s.tap.fail} fail, ${s.tap.skipped} skipped)` : '';
    console.log(`${why ? 'FAIL' : 'ok  '} ${s.step.name}${t}`);
    if (why) {
      ok = false;
      console.log(why.replace(/^/gm, '    '));
    }
    for (const sk of s.tap?.skips ?? []) console.log(`     skipped: ${sk}`);
  }
  if (r.guest.jobExitCode === null) {
    ok = false;
    console.log(describeFailure(r.guest));
  }
  return ok;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const flag = (f: string) => args.includes(f);
  const streamConsole = flag('--console');
  const onConsole = streamConsole ? (s: string) => process.stdout.write(s) : undefined;
  const t0 = Date.now();
  const assets = provision((m) => console.log(`[provision] ${m}`));
  console.log(`[provision] ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: kernel ${assets.kernelVersion}, cache ${assets.cacheDir}`);
  const workDir = makeWorkDir();
  try {
    if (args[0] === 'exec') {
      const dash = args.indexOf('--');
      const cmd = dash >= 0 ? args.slice(dash + 1).join(' ') : 'ndctl list -RNi';
      const jobDir = path.join(workDir, 'job-exec');
      fs.mkdirSync(jobDir);
      fs.writeFileSync(
        path.join(jobDir, 'job.sh'),
        `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root ${ENV.inVm}=1\ncd '${repoRoot()}'\n${cmd}\n`,
      );
      const persistence = args.find((a) => a.startsWith('--persistence='))?.split('=')[1] === 'cpu' ? 'cpu' : 'none';
      const r = await runGuest({
        assets, jobDir, persistence,
        timeoutMs: 1000 * Number(args.find((a) => a.startsWith('--timeout='))?.split('=')[1] ?? 600),
        images: flag('--images') ? createImages(path.join(workDir, 'images')) : [],
        ...(flag('--cxl') ? { cxl: createCxlImages(path.join(workDir, 'cxl')) } : {}),
        onConsole: (s) => process.stdout.write(s),
      });
      console.log(`\n[exec] job exit ${r.jobExitCode}, ${(r.wallMs / 1000).toFixed(1)} s`);
      if (r.jobExitCode !== 0) console.log(describeFailure(r, 10));
      return r.jobExitCode === 0 ? 0 : 1;
    }
    const what = args.find((a) => !a.startsWith('--')) ?? 'all';
    const token = newToken();
    const base = { assets, workDir, token, snapshot: snapshotBuild(workDir), ...(onConsole ? { onConsole } : {}) };
    const jobs: Promise<boolean>[] = [];
    if (what === 'devices' || what === 'all') {
      const set = createDeviceSet(workDir);
      const opts = { ...base, images: set.images, disk: set.disk };
      jobs.push((async () => {
        let a = report(await runBoot(devicePlan('write'), opts));
        const problems = checkDeviceSet(set, token);
        console.log(`${problems.length ? 'FAIL' : 'ok  '} host: durability records in the backing files, control absent`);
        for (const p of problems) console.log(`    ${p}`);
        a &&= problems.length === 0;
        const b = report(await runBoot(devicePlan('verify'), opts));
        return a && b;
      })());
    }
    if (what === 'cxl' || what === 'all') {
      const cxl = createCxlImages(path.join(workDir, 'cxl'));
      const cxlBoot = async () => {
        const ok = report(await runBoot(cxlPlan(), { ...base, cxl }));
        const problems = checkCxl(cxl, token);
        console.log(`${problems.length ? 'FAIL' : 'ok  '} host: the CXL durability records in the CXL backing file`);
        for (const p of problems) console.log(`    ${p}`);
        return ok && problems.length === 0;
      };
      // After the device boots when both run: two guests at a time on two cores.
      if (jobs.length > 0) jobs[0] = jobs[0]!.then(async (a) => (await cxlBoot()) && a);
      else jobs.push(cxlBoot());
    }
    if (what === 'unit' || what === 'all') jobs.push(runBoot(unitPlan(), base).then(report));
    const ok = (await Promise.all(jobs)).every(Boolean);
    console.log(`\n${ok ? 'PASS' : 'FAIL'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return ok ? 0 : 1;
  } finally {
    if (flag('--keep')) console.log(`kept ${workDir}`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof VmUnavailableError ? err.message : err);
    process.exit(2);
  },
);
