/**
 * node-pmem/heap: transactions and a crash-safe allocator over one mapping, the layer PMDK's
 * libpmemobj was for C.
 *
 * ```ts
 * import { Heap } from 'node-pmem/heap';
 * const heap = Heap.open('/mnt/pmem/app.heap', { layout: 'app-v1', create: true, size: 64 << 20, rootSize: 64 });
 * heap.transaction((tx) => {
 *   const node = heap.alloc(128);            // freed again if the transaction rolls back
 *   node.setString(0, 'hello');              // logged first, durable at commit
 *   heap.root.setRef(0, node);               // a persistent pointer: valid at any address
 * });                                        // all of it durable here, or none of it after a crash
 * heap.close();
 * ```
 *
 * The model (what is durable when, what a transaction may not do, what open recovers) is in the
 * README's "Transactions and an allocator" section; the on-media layout in lib/heap/layout.ts.
 *
 * @packageDocumentation
 */
/// <reference types="node" preserve="true" />
export { Heap, Transaction, MAX_POOL_SIZE } from './heap';
export type { HeapOpenOptions, HeapFromMappingOptions, HeapOpenReport, HeapStats, AllocOptions } from './heap';
export type { AllocatorStats } from './allocator';
export { Ref, REF_BYTES } from './ref';
export { MIN_POOL_SIZE, VERSION, SIZE_CLASSES, CHUNK_SIZE } from './layout';
export type { Mapping } from '../mapping';
