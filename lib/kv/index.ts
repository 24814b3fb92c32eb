/**
 * node-pmem/kv: a crash-safe key-value store over one node-pmem mapping (a file, a file on a DAX
 * filesystem, or a device-dax character device).
 *
 * ```ts
 * import { open } from 'node-pmem/kv';
 * const db = open('/mnt/pmem/app.kv', { create: true, size: 256 * 1024 * 1024 });
 * db.put('user:1', JSON.stringify({ name: 'Ada' })); // durable when it returns
 * db.batch([{ type: 'put', key: 'a', value: '1' }, { type: 'del', key: 'b' }]); // all or nothing across a crash
 * db.get('user:1'); // '{"name":"Ada"}' (a string, as put)
 * db.close();
 * ```
 *
 * Every put, delete and batch is durable when it returns; every read is checksum-verified; open
 * recovers what a crash left; a file that is not a store is refused, never repaired. The design,
 * limits and on-media layout are in examples/kv/README.md of the repository.
 *
 * @packageDocumentation
 */
/// <reference types="node" preserve="true" />
export { open, KvStore, VERSION, MAX_KEY_BYTES, MAX_VALUE_BYTES, MIN_SIZE, MAX_SIZE, layout } from './store';
export type {
  BatchOp,
  FromMappingOptions,
  KvErrorCode,
  KvInput,
  KvKey,
  KvLimits,
  KvRecoveryStats,
  KvStats,
  KvValue,
  OpenOptions,
} from './store';
export type { Mapping } from '../mapping';
