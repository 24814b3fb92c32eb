/** open(): validates options, asks the native core to open and map, wraps the result. */
import { markAsUntransferable } from 'node:worker_threads';
import { native, type NativeOpenOptions } from './binding';
import { invalidArgValue } from './errors';
import { createMapping, type Mapping } from './mapping';
import type { OpenOptions } from './types';
import { validateBoolean, validateInteger, validateObject, validateOneOf, validatePath } from './validate';

const GRANULARITIES = ['auto', 'byte', 'cacheline', 'page'] as const;
const LOCKS = ['exclusive', 'shared', 'none'] as const;

function flag(o: Record<string, unknown>, name: string): boolean {
  return o[name] === undefined ? false : validateBoolean(o[name], `options.${name}`);
}

function nativeOptions(options: unknown): NativeOpenOptions {
  const o = options === undefined ? {} : validateObject(options, 'options');
  const readOnly = flag(o, 'readOnly');
  const create = flag(o, 'create');
  const exclusive = flag(o, 'exclusive');
  const size = o.size === undefined ? -1 : validateInteger(o.size, 'options.size');
  if (exclusive && !create) throw invalidArgValue('options.exclusive', true, 'is only valid together with create: true');
  if (size >= 0 && !create)
    throw invalidArgValue('options.size', size, 'is only valid with create: true (to map part of a file, use offset and length)');
  if (create && readOnly) throw invalidArgValue('options.create', true, 'cannot be combined with readOnly: true');
  const length = o.length === undefined ? -1 : validateInteger(o.length, 'options.length');
  return {
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
}

/**
 * Maps a regular file, a pmem block device (/dev/pmemN) or a device-dax instance (/dev/daxX.Y)
 * and decides its durability tier. See OpenOptions for the options.
 */
export function open(path: string | Buffer | URL, options?: OpenOptions): Mapping {
  const p = validatePath(path);
  const backend = native.open(p, nativeOptions(options));
  // postMessage/structuredClone must never move the mapped memory to a context that could
  // outlive munmap; marked untransferable, a transfer attempt fails with DataCloneError.
  markAsUntransferable(backend.buffer());
  return createMapping(backend);
}
