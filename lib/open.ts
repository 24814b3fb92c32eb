/** open(): validates options, asks the native core to open and map, wraps the result. */
import { markAsUntransferable } from 'node:worker_threads';
import { native, type MappingBackend, type NativeOpenOptions } from './binding';
import { fileBadBlocks, type ByteRange } from './device-info';
import { invalidArgValue, pmemError, untransferableError } from './errors';
import { createMapping, type Mapping } from './mapping';
import type { OpenOptions } from './types';
import { validateBoolean, validateInteger, validateKeys, validateObject, validateOneOf, validatePath } from './validate';

const GRANULARITIES = ['auto', 'byte', 'cacheline', 'page'] as const;
const LOCKS = ['exclusive', 'shared', 'none'] as const;

const OPTION_KEYS = [
  'create', 'exclusive', 'size', 'sparse', 'readOnly', 'offset', 'length', 'granularity', 'lock', 'mode', 'allowBadBlocks',
] as const;

function flag(o: Record<string, unknown>, name: string): boolean {
  return o[name] === undefined ? false : validateBoolean(o[name], `options.${name}`);
}

/** What the native core needs, and what open() itself decides (the bad-block check). */
function parseOptions(options: unknown): { native: NativeOpenOptions; allowBadBlocks: boolean } {
  const o = options === undefined ? {} : validateObject(options, 'options');
  validateKeys(o, OPTION_KEYS, 'open()');
  const readOnly = flag(o, 'readOnly');
  const create = flag(o, 'create');
  const exclusive = flag(o, 'exclusive');
  const size = o.size === undefined ? -1 : validateInteger(o.size, 'options.size');
  if (exclusive && !create) throw invalidArgValue('options.exclusive', true, 'is only valid together with create: true');
  if (size >= 0 && !create)
    throw invalidArgValue('options.size', size, 'is only valid with create: true (to map part of a file, use offset and length)');
  if (create && readOnly) throw invalidArgValue('options.create', true, 'cannot be combined with readOnly: true');
  const length = o.length === undefined ? -1 : validateInteger(o.length, 'options.length');
  const nativeOptions: NativeOpenOptions = {
    create,
    exclusive,
    size,
    sparse: flag(o, 'sparse'),
    readOnly,
    offset: o.offset === undefined ? 0 : validateInteger(o.offset, 'options.offset'),
    length,
    granularity: o.granularity === undefined ? 'auto' : validateOneOf(o.granularity, 'options.granularity', GRANULARITIES),
    lock: o.lock === undefined ? (readOnly ? 'shared' : 'exclusive') : validateOneOf(o.lock, 'options.lock', LOCKS),
    mode: o.mode === undefined ? 0o600 : validateInteger(o.mode, 'options.mode', 0o7777),
  };
  return { native: nativeOptions, allowBadBlocks: flag(o, 'allowBadBlocks') };
}

/**
 * Maps a regular file, a pmem block device (/dev/pmemN) or a device-dax instance (/dev/daxX.Y)
 * and decides its durability tier. See OpenOptions for the options.
 */
export function open(path: string | Buffer | URL, options?: OpenOptions): Mapping {
  const p = validatePath(path);
  const { native: nativeOptions, allowBadBlocks } = parseOptions(options);
  const backend = native.open(p, nativeOptions);
  let badBlocks: ByteRange[];
  try {
    badBlocks = badBlocksInWindow(backend);
  } catch (error) {
    backend.close();
    throw error;
  }
  if (badBlocks.length > 0 && !allowBadBlocks) {
    backend.close();
    const list = badBlocks.map((r) => `[${r.offset}, ${r.offset + r.length})`).join(', ');
    const error = pmemError(
      'ERR_PMEM_BADBLOCKS',
      `'${p}' has known bad blocks inside the mapped range at ${list} (offsets in the mapping); a load from them ` +
        'raises SIGBUS. Pass allowBadBlocks: true to map it anyway and read those ranges with readSafe().',
      p,
    );
    Object.assign(error, { badBlocks });
    throw error;
  }
  sealBuffer(backend.buffer(), p);
  return createMapping(backend, undefined, badBlocks);
}

const detachKeys = native.buildInfo().detachKeys;

/**
 * Nothing but close() may detach the mapped buffer: a buffer moved elsewhere would outlive the
 * mapping. From Node 24 the addon's detach key makes V8 refuse every transfer (TypeError,
 * DataCloneError). On Node 22 the buffer has no key (see native/v8_compat.h): Node's untransferable
 * mark refuses structuredClone and postMessage, and transfer()/transferToFixedLength() are
 * shadowed on the buffer; ArrayBuffer.prototype.transfer.call(buffer) still moves it there, and
 * the moved buffer then reads scratch memory after close() (README, "Lifetime").
 */
function sealBuffer(buffer: ArrayBuffer, path: string): void {
  if (!detachKeys) markAsUntransferable(buffer);
  const refuse = {
    value: function transfer(): never {
      throw untransferableError(path);
    },
  };
  Object.defineProperties(buffer, { transfer: refuse, transferToFixedLength: refuse });
}

/**
 * Known bad ranges overlapping the mapped window, relative to the mapping, from the probe of the
 * descriptor the mapping was made from (never the path again: it may name another file by now).
 */
function badBlocksInWindow(backend: MappingBackend): ByteRange[] {
  const info = backend.info();
  const device = info.badblocks ?? [];
  if (device.length === 0) return [];
  const ranges = info.kind === 'block' || info.kind === 'devdax' ? device : fileBadBlocks(info.extents ?? new Float64Array(0), device);
  const start = info.offset;
  const end = info.offset + info.length;
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const s = Math.max(start, r.offset);
    const e = Math.min(end, r.offset + r.length);
    if (s < e) out.push({ offset: s - start, length: e - s });
  }
  return out;
}
