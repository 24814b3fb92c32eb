/**
 * The GC safety net, as fs/promises FileHandle has: a mapping collected without close() is
 * unmapped natively and a warning is emitted later, from a FinalizationRegistry callback (never
 * inside GC itself).
 */
import type { MappingBackend } from './binding';

interface Held {
  backend: MappingBackend;
  path: string;
}

const registry = new FinalizationRegistry<Held>(({ backend, path }) => {
  backend.close();
  process.emitWarning(
    `A node-pmem mapping of '${path}' was garbage-collected without close(); it has been unmapped. ` +
      'Call mapping.close() or declare it with `using`.',
    { type: 'Warning', code: 'PMEM_MAPPING_LEAK' },
  );
});

export function guard(owner: object, backend: MappingBackend, path: string): void {
  registry.register(owner, { backend, path }, owner);
}

export function unguard(owner: object): void {
  registry.unregister(owner);
}
