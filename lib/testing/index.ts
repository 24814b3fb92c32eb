/**
 * node-pmem/testing: a power-failure and kill simulator for code written against node-pmem's `Mapping`.
 *
 * ```ts
 * import { crashTest } from 'node-pmem/testing';
 * const { failures } = await crashTest({
 *   size: 4096,
 *   granularity: 'cacheline',
 *   workload: async (m) => { m.write(64, 'hello', { persist: true }); m.write(0, '\x01', { persist: true }); },
 *   recover: async (image) => { if (image[0] === 1 && image[64] !== 0x68) throw new Error('flag without data'); },
 * });
 * ```
 *
 * ## Model
 * A simulated mapping is an ordinary ArrayBuffer (what the CPU sees) plus a *durable image* (what
 * the media is guaranteed to hold). Bytes reach the durable image only through the tier's
 * durability operations:
 * - `'cacheline'`: a line flushed (`flush`, `persist`, `persistAsync`, `persistDirty`, `write`/`fill`
 *   with `persist`) becomes durable at the next fence (`drain`, or the fence those calls end
 *   with), with the content it had when it was flushed. A line stored again after its flush and
 *   before the fence may land with either content.
 * - `'byte'` (eADR): every fence makes every store so far durable; `flush` does nothing.
 * - `'page'` (msync): `flush`/`persist` make the touched pages durable at once; `drain` does nothing.
 *
 * Every durability point (every fence; every msync at page tier) is a numbered *crash point*, and
 * so is the end of the workload. Crash point k is the state just before fence k takes effect. Its
 * *maybe-units* are the aligned pieces of `atomicUnit` bytes (8-byte words by default; 512-byte
 * sectors at page tier) whose content differs from the durable image - compared byte for byte, so
 * stores made through `bytes()`/`dataView()`/`buffer` views are caught - plus those of lines
 * flushed but not yet fenced. Any subset of them may have reached the media: a crash image is the
 * durable image plus a subset of the maybe-units (each with its current content, or its flushed
 * content when it was stored again after the flush). So a line, or a page, can land torn, as on
 * hardware: x86-64 makes only aligned 8-byte stores power-fail atomic, and a page written back may
 * be torn at the device's sector. `atomicUnit: 64` (whole lines) or `4096` (whole pages) is the
 * weaker model, for devices that promise it (a BTT namespace writes sectors atomically).
 *
 * `persistAsync` flushes its range when called and fences when it completes: a JS-thread `drain`
 * does not make it durable earlier.
 *
 * Crash points are recorded during one run of the workload: at each one only the differing units
 * and their contents are kept (a diff against the durable image). Then, per crash point, the
 * images are built - all of them when there are few enough combinations, otherwise the two
 * extremes (nothing landed / everything landed) and `imagesPerPoint` random subsets from a seeded
 * PRNG - and handed to `recover`.
 *
 * `crash: 'kill'` models a process killed (SIGKILL) instead of a power failure: the kernel keeps
 * every store made before the kill, durable or not, and none after. Kill points are placed at the
 * start, before every call on the mapping and at the end, and inside each `write()`/`fill()`
 * (after any byte of it; all of them up to `imagesPerPoint`, else a seeded sample). Stores made
 * through views between two calls are one step: a kill is never placed between two of them.
 *
 * `recover` gets each image as a Uint8Array that is reused for the next image (copy it to keep
 * it). Images are built incrementally (only the maybe-units change between two images) as long as
 * recover leaves them unchanged - which is checked; a recover that writes to its image (repairs,
 * or stores through `context.open()`) is supported, at the cost of a full copy per image.
 *
 * Limits: a unit's intermediate contents between two crash points are not modelled (only its
 * content at the crash point and at its last flush); the workload must be deterministic for
 * {@link replayFailure}.
 *
 * @packageDocumentation
 */
/// <reference types="node" preserve="true" />
import { createMapping } from '../mapping';
import type { Mapping } from '../mapping';
import { invalidArgType } from '../errors';
import { checkBoolean, checkEnum, checkOptionsObject, checkString } from './options';
import { GRANULARITIES, sizeAndImage } from './crash';
import { DurabilityModel, SimulatedBackend, allocDetachable, backendOf, registerSimulated } from './simulator';
import type { Granularity } from '../types';

export {
  crashTest,
  replayFailure,
  type CrashTestOptions,
  type CrashTestResult,
  type CrashFailure,
  type RecoverContext,
  type ReplayTarget,
  type ReplayResult,
  type ImageKind,
  type CrashKind,
  type SimulatedGranularity,
} from './crash';
export { CACHE_LINE_SIZE, SIM_PAGE_SIZE } from './simulator';
export type { Mapping } from '../mapping';

/** Options of {@link createSimulatedMapping}. */
export interface SimulatedMappingOptions {
  /** Length of the mapping in bytes. Optional when `initialImage` is given. */
  size?: number;
  /** Initial contents (copied); also the initial durable image. Default zeros. */
  initialImage?: ArrayBufferView | ArrayBuffer;
  /** Durability tier. Default 'cacheline'. */
  granularity?: Granularity;
  /** `mapping.path`. Default '<simulated>'. */
  path?: string;
  /** A read-only mapping: write/fill/flush/persist throw ERR_PMEM_READ_ONLY. Default false. */
  readOnly?: boolean;
}

/**
 * A Mapping over ordinary memory, with the same API, validation and lifetime as one from
 * `open()`, that tracks what is durable. Use it to unit-test code written against Mapping without
 * persistent memory, with {@link durableImage} and {@link unpersistedLines} to check what a power
 * failure would keep. (crashTest's workloads get such a mapping too; the helpers work on them.)
 */
export function createSimulatedMapping(options: SimulatedMappingOptions): Mapping {
  const o = checkOptionsObject(options, 'options', true, {
    allowed: ['size', 'initialImage', 'granularity', 'path', 'readOnly'] satisfies (keyof SimulatedMappingOptions)[],
    fn: 'createSimulatedMapping()',
  });
  const { size, initial } = sizeAndImage(o, 'options');
  const granularity = checkEnum(o.granularity, 'options.granularity', GRANULARITIES, 'cacheline');
  const path = checkString(o.path, 'options.path', '<simulated>');
  const readOnly = checkBoolean(o.readOnly, 'options.readOnly', false);
  const ab = allocDetachable(size);
  const live = new Uint8Array(ab);
  if (initial !== null) live.set(initial);
  const model = new DurabilityModel(size, granularity, live, live, { keepRecords: false, captureStacks: false, stackAt: -1 });
  const backend = new SimulatedBackend(ab, granularity, path, readOnly, model);
  const mapping = createMapping(backend, path);
  registerSimulated(mapping, backend);
  return mapping;
}

function notSimulated(fn: string, mapping: unknown): Error {
  return invalidArgType(`The "mapping" argument of ${fn}()`, 'a mapping from createSimulatedMapping() or a crashTest workload', mapping);
}

function modelOf(mapping: unknown, fn: string): DurabilityModel {
  const model = backendOf(mapping)?.model ?? null;
  if (model === null) throw notSimulated(fn, mapping);
  return model;
}

/**
 * The number of crash points recorded so far on this mapping: the index the next one will get.
 * Use it in a workload to note when an operation was acknowledged: if it returned when this was
 * `n`, its effects must survive in every image of crash point `n` and later (the fences it
 * waited for were crash points `< n`). Recovery can then check durability, not only consistency.
 */
export function currentCrashPoint(mapping: Mapping): number {
  const points = backendOf(mapping)?.crashPoints() ?? null;
  if (points === null) throw notSimulated('currentCrashPoint', mapping);
  return points;
}

/**
 * What the media is guaranteed to hold now: a copy of the durable image (`mapping.length` bytes).
 * Works after close too.
 */
export function durableImage(mapping: Mapping): Uint8Array {
  return modelOf(mapping, 'durableImage').durableCopy();
}

/**
 * Units (64-byte lines; pages at page tier) not yet guaranteed durable: stored but not made
 * durable, or flushed but not fenced. Empty when a crash now would lose nothing.
 */
export function unpersistedLines(mapping: Mapping): number[] {
  return modelOf(mapping, 'unpersistedLines').unpersistedUnits();
}
