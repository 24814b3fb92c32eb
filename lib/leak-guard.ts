/**
 * The GC safety net, as fs/promises FileHandle has: a mapping whose ArrayBuffer is collected
 * without close() (the Mapping and every view of it unreachable) has already been released
 * natively, inside GC (native/mapping_wrap.h); the warning is emitted later, from a
 * FinalizationRegistry callback. The buffer, not the Mapping, is watched: a view that outlives
 * its Mapping keeps the memory mapped.
 */
const registry = new FinalizationRegistry<string>((path) => {
  process.emitWarning(
    `A node-pmem mapping of '${path}' was garbage-collected without close(); it has been unmapped. ` +
      'Call mapping.close() (or declare it with `using` where the Node line supports it).',
    { type: 'Warning', code: 'PMEM_MAPPING_LEAK' },
  );
});

/** Warn if `buffer` is collected before unguard(owner). */
export function guard(owner: object, buffer: ArrayBuffer, path: string): void {
  registry.register(buffer, path, owner);
}

export function unguard(owner: object): void {
  registry.unregister(owner);
}
