/**
 * Setup of the CXL boot (`node cxl-setup.js`; not a test file): waits for the Type-3 memdev, creates
 * a pmem region on it with `cxl create-region`, then an fsdax namespace (ext4 -b 4096, mounted -o dax)
 * and a devdax namespace on the nd region cxl_pmem made of it. Before each step it records what
 * deviceInfo() warns is missing, for guest/cxl.test.ts. Writes <job>/cxl.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deviceInfo } from 'node-pmem';
import { CXL_MANIFEST, MOUNTS, type CxlManifest } from '../layout';
import { chardevOf, jobDir, ndctlRegions, readSysNumber, sh, type NdNamespace } from './env';

const log = (msg: string) => console.log(`cxl-setup: ${msg}`);
const cxl = <T>(args: string[]): T => JSON.parse(sh('cxl', args) || '[]') as T;
const warnings = () => deviceInfo('/dev/shm').warnings;

function waitFor<T>(what: string, probe: () => T | undefined): T {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not appear`);
    sh('sleep', ['0.2']);
  }
}

function main(): void {
  const memdev = waitFor('a CXL memdev with persistent capacity', () =>
    cxl<{ memdev: string; pmem_size?: number }[]>(['list', '-M']).find((m) => (m.pmem_size ?? 0) > 0),
  ).memdev;
  const root = cxl<{ decoder: string; pmem_capable?: boolean }[]>(['list', '-D', '-d', 'root']).find((d) => d.pmem_capable);
  if (!root) throw new Error(`no pmem-capable root decoder: ${sh('cxl', ['list', '-D'])}`);
  const beforeRegion = warnings();
  log(`${memdev} on ${root.decoder}: cxl create-region`);
  const t0 = Date.now();
  const created = JSON.parse(sh('cxl', ['create-region', '-m', '-d', root.decoder, '-t', 'pmem', '-w', '1', memdev])) as { region: string };
  const createRegionSeconds = (Date.now() - t0) / 1000;
  const nd = waitFor('the nd region of the CXL region', () => ndctlRegions('CXL')[0]);
  const beforeNamespace = warnings();
  log(`${created.region} is nd ${nd.dev}: fsdax and devdax namespaces`);
  // 96 MiB each (guest/cxl.test.ts checks the raw namespace size against it).
  const make = (mode: string) =>
    JSON.parse(sh('ndctl', ['create-namespace', '-r', nd.dev, '-m', mode, '-s', '96M'])) as NdNamespace & Record<string, unknown>;
  const fsdaxNs = make('fsdax');
  const devdaxNs = make('devdax');
  const blockdev = `/dev/${fsdaxNs.blockdev}`;
  const chardev = chardevOf(devdaxNs);
  if (!fsdaxNs.blockdev || !chardev) throw new Error(`namespaces incomplete: ${JSON.stringify([fsdaxNs, devdaxNs])}`);
  // A 1 KiB block size would disable DAX (the page size is 4 KiB).
  sh('mkfs.ext4', ['-F', '-q', '-b', '4096', blockdev]);
  fs.mkdirSync(MOUNTS['cxl-fsdax'], { recursive: true });
  sh('mount', ['-t', 'ext4', '-o', 'dax', blockdev, MOUNTS['cxl-fsdax']]);
  const manifest: CxlManifest = {
    memdev,
    rootDecoder: root.decoder,
    cxlRegion: created.region,
    ndRegion: nd.dev,
    fsdax: { namespace: fsdaxNs.dev, blockdev, mount: MOUNTS['cxl-fsdax'] },
    devdax: {
      namespace: devdaxNs.dev,
      chardev: `/dev/${chardev}`,
      align: readSysNumber(`/sys/bus/dax/devices/${chardev}/align`),
      size: readSysNumber(`/sys/bus/dax/devices/${chardev}/size`),
    },
    warnings: { beforeRegion, beforeNamespace, after: warnings() },
    createRegionSeconds,
  };
  fs.writeFileSync(path.join(jobDir(), CXL_MANIFEST), JSON.stringify(manifest, null, 2));
  log(`wrote ${CXL_MANIFEST}: ${JSON.stringify(manifest)}`);
}

main();
