/**
 * `node-pmem info [--json] <path...>`: what each path is, how durable stores to it will be, and
 * whether its media is healthy. Exit codes: 0 ok, 1 a path could not be examined, 2 unhealthy
 * (known bad blocks).
 */
import { deviceInfo, type DeviceInfo } from './device-info';

const USAGE = 'usage: node-pmem info [--json] <path...>';
const HELP = `${USAGE}
       node-pmem --help | --version

info: what each path is (file, fsdax, devdax, block), how durable stores to it are (the tier, and why),
its nd region, persistence domain and media health. --json prints the same as JSON.
Exit status: 0 healthy, 1 a path could not be examined (or a usage error), 2 known bad blocks.`;

function version(): string {
  return (require('../package.json') as { version: string }).version;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]} (${n} B)`;
}

const TIER_WORDS: Record<string, string> = {
  byte: 'byte: stores are durable once fenced (CPU caches are persistent, eADR)',
  cacheline: 'cacheline: durable after a cache-line flush and a fence',
  page: 'page: durable only after msync (page cache or asynchronous flush)',
};

function rows(info: DeviceInfo): [string, string][] {
  const r: [string, string][] = [];
  r.push(['kind', info.kind]);
  r.push(['size', formatBytes(info.size)]);
  if (info.filesystem) {
    const fs = info.filesystem;
    r.push(['filesystem', `${fs.type} on ${fs.source}, mounted at ${fs.mountPoint}`]);
    r.push(['mount dax', fs.dax ?? 'not set']);
  }
  if (info.blockDevice) r.push(['block device', info.blockDevice]);
  if (info.namespace) r.push(['namespace', `${info.namespace.name} (${info.namespace.mode ?? 'unknown mode'})`]);
  if (info.region) {
    const reg = info.region;
    r.push(['region', `${reg.name}, provider ${reg.provider ?? 'unknown'}, NUMA node ${reg.numaNode ?? 'unknown'}`]);
    r.push(['persistence', reg.persistenceDomain ?? 'not stated (assume memory_controller)']);
    r.push(['deep flush', reg.deepFlush ? 'available' : 'not available']);
    if (reg.dimms.length > 0)
      r.push(['unsafe shutdowns', reg.dimms.map((d) => `${d.name}: ${d.dirtyShutdown ?? 'n/a'}`).join(', ')]);
  } else {
    r.push(['region', 'none (not persistent memory)']);
  }
  if (info.cxl) {
    const c = info.cxl;
    r.push(['cxl region', `${c.region} from root decoder ${c.rootDecoder}, ${c.committed ? 'committed' : 'NOT committed'}`]);
    r.push(['interleave', `${c.interleaveWays} way(s), granularity ${c.interleaveGranularity} B`]);
    for (const m of c.memdevs)
      r.push([`memdev ${m.position}`, `${m.name ?? 'unknown'} (decoder ${m.decoder}), serial ${m.serial ?? 'n/a'}, firmware ${m.firmwareVersion ?? 'n/a'}, health not in sysfs (cxl list -H)`]);
  }
  if (info.align !== null) r.push(['align', formatBytes(info.align)]);
  r.push(['tier', info.tier.granularity ? TIER_WORDS[info.tier.granularity]! : info.tier.openRefused ? 'refused for writing' : 'unknown']);
  r.push(['why', info.tier.reason]);
  r.push(['dax', info.dax ? `${info.dax.effective === null ? 'unknown' : info.dax.effective ? 'on' : 'off'} (${info.dax.mechanism})` : `n/a: ${info.daxError ?? ''}`]);
  r.push(['bad blocks', info.badBlocks.length === 0 ? 'none known' : info.badBlocks.map((b) => `[${b.offset}, +${b.length})`).join(', ')]);
  return r;
}

export function main(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): number {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help' || (command === 'info' && (rest.includes('--help') || rest.includes('-h')))) {
    out(HELP);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    out(version());
    return 0;
  }
  if (command !== 'info') {
    err(USAGE);
    return 1;
  }
  const json = rest.includes('--json');
  const paths = rest.filter((a) => a !== '--json');
  if (paths.length === 0 || paths.some((p) => p.startsWith('--'))) {
    err(USAGE);
    return 1;
  }
  let code = 0;
  const results: (DeviceInfo | { path: string; error: { code: string; message: string } })[] = [];
  for (const path of paths) {
    try {
      const info = deviceInfo(path);
      if (!info.healthy && code === 0) code = 2;
      results.push(info);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      code = 1;
      results.push({ path, error: { code: e.code ?? 'ERR', message: e.message } });
    }
  }
  if (json) {
    out(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
    return code;
  }
  results.forEach((res, i) => {
    if (i > 0) out('');
    out(res.path);
    if ('error' in res) {
      out(`  error: ${res.error.message}`);
      return;
    }
    const table = rows(res);
    const width = Math.max(...table.map(([k]) => k.length));
    for (const [k, v] of table) out(`  ${k.padEnd(width)}  ${v}`);
    for (const w of res.warnings) out(`  warning: ${w}`);
  });
  return code;
}
