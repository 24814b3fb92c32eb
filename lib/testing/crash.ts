/**
 * crashTest / replayFailure: record every crash point of one run of a workload on a simulated
 * mapping, then build crash images per crash point and hand them to the user's recovery.
 * @internal
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { constants as bufferConstants } from 'node:buffer';
import { createMapping } from '../mapping';
import type { Mapping } from '../mapping';
import type { Granularity } from '../types';
import { invalidArgType, invalidArgValue, pmemError } from '../errors';
import { checkBoolean, checkEnum, checkFunction, checkInteger, checkOptionsObject, checkString } from './options';
import { DurabilityModel, SimulatedBackend, allocDetachable, registerSimulated, type CrashRecord } from './simulator';

/** Tiers a simulated mapping can have. */
export type SimulatedGranularity = Granularity;

/** How an image of a crash point was chosen. */
export type ImageKind = 'none' | 'all' | 'random' | 'exhaustive' | 'replay';

/** Options of {@link crashTest} (and {@link replayFailure}). */
export interface CrashTestOptions {
  /** Size of the simulated mapping in bytes. Optional when `initialImage` is given. */
  size?: number;
  /** Durability tier to simulate. Default 'cacheline'. */
  granularity?: SimulatedGranularity;
  /** The code under test. Receives a simulated Mapping with the API `open()` gives. Must be deterministic. */
  workload: (mapping: Mapping) => unknown;
  /**
   * Checks one crash image; throws (or rejects) when it is inconsistent. The image (exactly `size`
   * bytes) is only valid until recover settles: it is reused for the next image, copy it to keep
   * it. recover may modify it (repair it, or through `context.open()`), at a cost: images are
   * built incrementally while recover leaves them unchanged, with a full copy each once it does not.
   */
  recover: (image: Uint8Array, context: RecoverContext) => unknown;
  /** Random images per crash point, besides the extremes. Default 16. */
  imagesPerPoint?: number;
  /** Seed of the image choice (32-bit unsigned). Default 1. */
  seed?: number;
  /** Also check the two extreme images: no maybe-line landed, every line landed. Default true. */
  extremes?: boolean;
  /** Stop after this many failures. Default 10. */
  maxFailures?: number;
  /** Contents of the mapping (and of the media) before the workload. Default zeros. */
  initialImage?: ArrayBufferView | ArrayBuffer;
  /** `mapping.path` of the simulated mappings. Default '<simulated>'. */
  path?: string;
  /** Record the stack of every fencing call, reported in failures. Default false (costly). */
  captureStacks?: boolean;
}

/** One crash image that failed recovery. Plain data apart from `error`: can be kept as JSON and replayed. */
export interface CrashFailure {
  /** The crash point: index of the fence the crash happened just before; the last one is the end of the workload. */
  crashPoint: number;
  /** The run's seed (`options.seed`). */
  seed: number;
  /** How the image was chosen. */
  kind: ImageKind;
  /** Seed of this image's choice, for random images; null otherwise. */
  imageSeed: number | null;
  /** Units (64-byte lines; pages at page tier) whose non-durable content was kept in the image, ascending. */
  keptLines: number[];
  /** For each kept line, which content: 0 = its content at the crash point, k >= 1 = the k-th distinct flushed-but-unfenced content. */
  keptVariants: number[];
  /** Number of maybe-lines at this crash point. */
  maybeLines: number;
  /** Size of a unit in bytes (64, or 4096 at page tier). */
  unitSize: number;
  /** The fencing operation, e.g. 'persist(0, 128)', or 'end of workload'. */
  operation: string;
  /** Stack of the fencing call when `captureStacks` was set. */
  stack?: string;
  /** sha256 (hex, 32 chars) of the image as handed to recover; replayFailure checks it. */
  imageHash: string;
  /** What recover threw. */
  error: unknown;
  /** One-line summary, usable as an assertion message. */
  message: string;
}

/** What {@link crashTest} resolves to. */
export interface CrashTestResult {
  /** Crash points recorded: one per fence (per msync at page tier) plus the end of the workload. */
  crashPoints: number;
  /** Crash points identical to the previous one (nothing stored or made durable in between): not checked again. */
  duplicateCrashPoints: number;
  /** Crash images handed to recover. */
  imagesChecked: number;
  /** Failed images, in crash point order, at most maxFailures. */
  failures: CrashFailure[];
  /** True when checking stopped early at maxFailures. */
  truncated: boolean;
  /** Size of a maybe-line in bytes (64, or 4096 at page tier). */
  unitSize: number;
  /** The seed used. */
  seed: number;
  /** Largest maybe-set of a crash point, in units. */
  maxMaybeLines: number;
  /** Milliseconds spent running and recording the workload, and checking the images. */
  timing: { recordMs: number; checkMs: number };
}

/** Second argument of `recover`. */
export interface RecoverContext {
  readonly crashPoint: number;
  readonly kind: ImageKind;
  /** Seed of a random image's choice; null otherwise. */
  readonly imageSeed: number | null;
  /** The fencing operation of the crash point. */
  readonly operation: string;
  readonly granularity: SimulatedGranularity;
  readonly unitSize: number;
  /** Units whose non-durable content was kept in this image (computed on access). */
  readonly keptLines: number[];
  /**
   * Map the crash image as a simulated Mapping, the way recovery code would `open()` the file after
   * the crash. The mapping works on the image in place (stores through it change `image`) and, as a
   * real mapping, detaches its buffer on close: `image` is then unusable, but open() may be called
   * again and maps the contents as they were left. Only one mapping may be open at a time
   * (ERR_PMEM_LOCKED, as an exclusive lock would). Mappings still open when recover settles are
   * closed. Flush and fence calls work and do nothing.
   */
  open(options?: { readOnly?: boolean }): Mapping;
}

/** Options of {@link replayFailure}'s second argument: a {@link CrashFailure}, or the parts of it replay needs. */
export interface ReplayTarget {
  crashPoint: number;
  keptLines: readonly number[];
  /** Default: 0 for every kept line. */
  keptVariants?: readonly number[];
  /** When present, the rebuilt image must hash to it (else ERR_PMEM_REPLAY_MISMATCH). */
  imageHash?: string;
  kind?: ImageKind;
  imageSeed?: number | null;
}

/** What {@link replayFailure} resolves to when recover passes on the replayed image. */
export interface ReplayResult {
  crashPoint: number;
  operation: string;
  /** Stack of the fencing call (always captured on replay). */
  stack: string | undefined;
  imageHash: string;
}

interface Normalized {
  size: number;
  granularity: Granularity;
  workload: (mapping: Mapping) => unknown;
  recover: (image: Uint8Array, context: RecoverContext) => unknown;
  imagesPerPoint: number;
  seed: number;
  extremes: boolean;
  maxFailures: number;
  initial: Uint8Array | null;
  path: string;
  captureStacks: boolean;
}

const KINDS: readonly ImageKind[] = ['none', 'all', 'random', 'exhaustive', 'replay'];
const MAX_SIZE = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);
const GRANULARITIES: readonly Granularity[] = ['cacheline', 'byte', 'page'];

/** Validate an initial image and give a Uint8Array view of it. */
export function viewOf(value: unknown, name: string): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType(name, 'an instance of ArrayBuffer, Buffer, TypedArray, or DataView', value);
}

/** Validate the size / initialImage pair. */
export function sizeAndImage(o: Record<string, unknown>, prefix: string): { size: number; initial: Uint8Array | null } {
  const initial = o.initialImage === undefined ? null : viewOf(o.initialImage, `${prefix}.initialImage`);
  if (initial !== null && o.size === undefined) {
    if (initial.byteLength < 1) throw invalidArgValue(`${prefix}.initialImage`, o.initialImage, 'must not be empty');
    if (initial.byteLength > MAX_SIZE) {
      throw invalidArgValue(`${prefix}.initialImage`, o.initialImage, `must be at most ${MAX_SIZE} bytes`);
    }
    return { size: initial.byteLength, initial };
  }
  const size = checkInteger(o.size, `${prefix}.size`, 1, MAX_SIZE);
  if (initial !== null && initial.byteLength !== size) {
    throw invalidArgValue(
      `${prefix}.initialImage`,
      o.initialImage,
      `must be ${prefix}.size (${size}) bytes long, got ${initial.byteLength}`,
    );
  }
  return { size, initial };
}

function normalize(options: unknown): Normalized {
  const o = checkOptionsObject(options, 'options', true);
  const { size, initial } = sizeAndImage(o, 'options');
  return {
    size,
    initial,
    granularity: checkEnum(o.granularity, 'options.granularity', GRANULARITIES, 'cacheline'),
    workload: checkFunction(o.workload, 'options.workload'),
    recover: checkFunction(o.recover, 'options.recover'),
    imagesPerPoint: checkInteger(o.imagesPerPoint, 'options.imagesPerPoint', 0, 2 ** 31 - 1, 16),
    seed: checkInteger(o.seed, 'options.seed', 0, 0xffffffff, 1),
    extremes: checkBoolean(o.extremes, 'options.extremes', true),
    maxFailures: checkInteger(o.maxFailures, 'options.maxFailures', 1, Number.MAX_SAFE_INTEGER, 10),
    path: checkString(o.path, 'options.path', '<simulated>'),
    captureStacks: checkBoolean(o.captureStacks, 'options.captureStacks', false),
  };
}

// ---------------------------------------------------------------------------------------------
// Recording

interface Recording {
  records: CrashRecord[];
  /** The durable image before the workload, padded to whole units. */
  initial: Buffer;
  unit: number;
}

/** Run the workload once on a recording simulated mapping. */
async function record(n: Normalized, stackAt: number): Promise<Recording> {
  const ab = allocDetachable(n.size);
  const live = new Uint8Array(ab);
  if (n.initial !== null) live.set(n.initial);
  const model = new DurabilityModel(n.size, n.granularity, live, live, {
    keepRecords: true,
    captureStacks: n.captureStacks,
    stackAt,
  });
  const initial = Buffer.from(model.durable); // copy: the model's durable image evolves
  const backend = new SimulatedBackend(ab, n.granularity, n.path, false, model);
  const mapping = createMapping(backend, n.path);
  registerSimulated(mapping, backend);
  try {
    await n.workload(mapping);
    // persistAsync completions are fences too: let the ones still in flight land.
    while (backend.pins() > 0) await new Promise<void>((resolve) => setImmediate(resolve));
  } finally {
    if (!backend.isClosed) {
      // The end of the workload is a crash point; closing makes nothing durable (munmap does not flush).
      if (!mapping.closed) mapping.close();
      else backend.close();
    }
  }
  model.fence('end', 0, 0, 'none', false, null);
  return { records: model.records!, initial, unit: model.unit };
}

function describeOp(rec: CrashRecord, index: number, last: boolean, granularity: Granularity): string {
  if (last && rec.op === 'end') return 'end of workload';
  const what = granularity === 'page' ? 'msync' : 'fence';
  switch (rec.op) {
    case 'drain':
      return `${what} #${index}: drain()`;
    case 'persistDirty':
      return `${what} #${index}: persistDirty() over [${rec.offset}, ${rec.offset + rec.length})`;
    case 'write':
    case 'fill':
      return `${what} #${index}: ${rec.op}(${rec.offset}, <${rec.length} bytes>, { persist: true })`;
    case 'flush':
      return `msync #${index}: flush(${rec.offset}, ${rec.length})`;
    default:
      return `${what} #${index}: ${rec.op}(${rec.offset}, ${rec.length})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Images

/** Entries of a record grouped by unit: group g has entries [start[g], start[g + 1]). */
function groupsOf(rec: CrashRecord): Uint32Array {
  const units = rec.units;
  const starts: number[] = [];
  for (let i = 0; i < units.length; i++) if (i === 0 || units[i] !== units[i - 1]) starts.push(i);
  starts.push(units.length);
  return Uint32Array.from(starts);
}

/** A 32-bit mixer (murmur3 fmix32). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Seed of random image `i` of crash point `k`: independent of the other crash points' draws. */
export function imageSeedOf(seed: number, k: number, i: number): number {
  return mix32(mix32(seed ^ 0x9e3779b9) ^ mix32(Math.imul(k + 1, 0x2545f491) ^ Math.imul(i + 1, 0x9e3779b1)));
}

/** mulberry32: small, fast, good enough to pick subsets. Returns floats in [0, 1). */
function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Plan {
  kind: ImageKind;
  imageSeed: number | null;
  /** Per group: the chosen entry, or -1 for the durable content. */
  choice: Int32Array;
}

function choiceKey(choice: Int32Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < choice.length; i++) {
    const c = choice[i] + 1;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ (c + i), 0x5bd1e995);
  }
  return `${h1 >>> 0}:${h2 >>> 0}`;
}

/** The images to check at crash point k. */
function* plans(rec: CrashRecord, groups: Uint32Array, n: Normalized, k: number): Generator<Plan> {
  const m = groups.length - 1;
  const budget = n.imagesPerPoint + (n.extremes ? 2 : 0);
  if (budget === 0) return;
  // Few enough combinations: check them all.
  let combos = 1;
  for (let g = 0; g < m && combos <= budget; g++) combos *= groups[g + 1] - groups[g] + 1;
  if (combos <= budget) {
    const digits = new Int32Array(m);
    for (;;) {
      const choice = new Int32Array(m);
      let none = true;
      let all = true;
      for (let g = 0; g < m; g++) {
        choice[g] = digits[g] === 0 ? -1 : groups[g] + digits[g] - 1;
        if (choice[g] >= 0) none = false;
        if (choice[g] !== (rec.variants[groups[g]] === 0 ? groups[g] : -1)) all = false;
      }
      // The extremes keep their names when they come up in the enumeration.
      yield { kind: none ? 'none' : all ? 'all' : 'exhaustive', imageSeed: null, choice };
      let g = 0;
      for (; g < m; g++) {
        if (++digits[g] <= groups[g + 1] - groups[g]) break;
        digits[g] = 0;
      }
      if (g === m) return;
    }
  }
  const seen = new Set<string>();
  if (n.extremes) {
    const none = new Int32Array(m).fill(-1);
    const all = new Int32Array(m);
    for (let g = 0; g < m; g++) all[g] = rec.variants[groups[g]] === 0 ? groups[g] : -1;
    seen.add(choiceKey(none));
    yield { kind: 'none', imageSeed: null, choice: none };
    seen.add(choiceKey(all));
    yield { kind: 'all', imageSeed: null, choice: all };
  }
  let made = 0;
  for (let i = 0; made < n.imagesPerPoint && i < n.imagesPerPoint * 8; i++) {
    const imageSeed = imageSeedOf(n.seed, k, i);
    const rnd = prng(imageSeed);
    // Swarm-style: a keep probability per image, so images near both extremes are drawn too.
    const p = rnd();
    const choice = new Int32Array(m);
    for (let g = 0; g < m; g++) {
      const c = groups[g + 1] - groups[g];
      choice[g] = rnd() < p ? groups[g] + (c === 1 ? 0 : Math.floor(rnd() * c)) : -1;
    }
    const key = choiceKey(choice);
    if (seen.has(key)) continue;
    seen.add(key);
    made++;
    yield { kind: 'random', imageSeed, choice };
  }
}

/** durable image + the chosen entries, into `out` (exactly `size` bytes). */
function buildImage(dur: Buffer, rec: CrashRecord, groups: Uint32Array, choice: Int32Array, unit: number, out: Buffer): void {
  const size = out.length;
  dur.copy(out, 0, 0, size);
  for (let g = 0; g < choice.length; g++) {
    const e = choice[g];
    if (e < 0) continue;
    const at = rec.units[groups[g]] * unit;
    rec.data.copy(out, at, e * unit, e * unit + Math.min(unit, size - at));
  }
}

function applyCommit(dur: Buffer, rec: CrashRecord, unit: number): void {
  for (const e of rec.commit) rec.data.copy(dur, rec.units[e] * unit, e * unit, (e + 1) * unit);
}

function hashOf(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('hex').slice(0, 32);
}

function kept(rec: CrashRecord, choice: Int32Array): { lines: number[]; variants: number[] } {
  const lines: number[] = [];
  const variants: number[] = [];
  for (let g = 0; g < choice.length; g++) {
    const e = choice[g];
    if (e < 0) continue;
    lines.push(rec.units[e]);
    variants.push(rec.variants[e]);
  }
  return { lines, variants };
}

/** The per-image recovery context. */
class Context implements RecoverContext {
  private backend: SimulatedBackend | null = null;
  private mapping: Mapping | null = null;
  /** The image's memory: starts as the work buffer, moves on each close. */
  buffer: ArrayBuffer;
  private keptCache: number[] | null = null;
  private finished = false;

  constructor(
    readonly crashPoint: number,
    readonly kind: ImageKind,
    readonly imageSeed: number | null,
    readonly operation: string,
    readonly granularity: Granularity,
    readonly unitSize: number,
    private readonly rec: CrashRecord,
    private readonly choice: Int32Array,
    buffer: ArrayBuffer,
    private readonly path: string,
  ) {
    this.buffer = buffer;
  }

  get keptLines(): number[] {
    if (this.keptCache === null) this.keptCache = kept(this.rec, this.choice).lines;
    return this.keptCache.slice();
  }

  open(options?: { readOnly?: boolean }): Mapping {
    const o = checkOptionsObject(options, 'options', false);
    const readOnly = checkBoolean(o.readOnly, 'options.readOnly', false);
    if (this.finished) {
      throw pmemError('ERR_INVALID_STATE', 'Invalid state: recover has settled; its crash image is gone');
    }
    this.reap();
    if (this.mapping !== null) {
      throw pmemError('ERR_PMEM_LOCKED', `The crash image is already mapped by this recovery (${this.path})`);
    }
    this.backend = new SimulatedBackend(this.buffer, this.granularity, this.path, readOnly, null);
    this.mapping = createMapping(this.backend, this.path);
    return this.mapping;
  }

  /** Forget a mapping the user closed; its contents moved to a new buffer. */
  private reap(): void {
    if (this.backend !== null && this.backend.isClosed) {
      this.buffer = this.backend.retained!;
      this.backend = null;
      this.mapping = null;
    }
  }

  /** After recover: close what is still open; return the buffer holding the image now. */
  finish(): ArrayBuffer {
    this.finished = true;
    if (this.mapping !== null && !this.backend!.isClosed) {
      try {
        this.mapping.close();
      } catch {
        this.backend!.close();
      }
    }
    this.reap();
    return this.buffer;
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return `non-error thrown: ${String(error)}`;
  } catch {
    return 'non-error thrown';
  }
}

function listLines(lines: number[]): string {
  const shown = lines.slice(0, 16).join(', ');
  return `[${shown}${lines.length > 16 ? `, ... (${lines.length} in all)` : ''}]`;
}

/**
 * The image buffer handed to recover, kept equal to "durable image + the applied entries".
 *
 * Incremental mode (the default): between images only the units the previous image kept and the
 * ones the next keeps are rewritten, so an image costs O(maybe-lines), not O(size). That is only
 * right if recover leaves the image as it found it, which is checked: every unit is compared with
 * what it should hold before it is rewritten, and the whole buffer with the durable image at the
 * end of each crash point (so a change is seen before anything could hide it). When recover did
 * change the image, the crash point is checked again in copy mode (a full copy of the durable
 * image per image), which the rest of the run keeps.
 */
class ImageBuffer {
  ab: ArrayBuffer;
  buf: Buffer;
  incremental = true;
  /** Set when recover was seen to have changed the image (incremental mode). */
  tainted = false;
  /** (unit, entry) pairs of the entries the buffer holds now (incremental mode). */
  private applied: number[] = [];
  private appliedRec: CrashRecord | null = null;

  constructor(
    readonly size: number,
    readonly unit: number,
    private readonly dur: Buffer,
  ) {
    this.ab = allocDetachable(size);
    this.buf = Buffer.from(this.ab);
    dur.copy(this.buf, 0, 0, size);
  }

  /** After recover: the image memory may have moved (a context mapping was closed) or been detached. */
  adopt(ab: ArrayBuffer): void {
    if (ab.byteLength === this.size) {
      if (ab !== this.ab) {
        this.ab = ab;
        this.buf = Buffer.from(ab);
      }
    } else {
      // Detached by a user we did not see: the contents are gone.
      this.ab = allocDetachable(this.size);
      this.buf = Buffer.from(this.ab);
      this.dur.copy(this.buf, 0, 0, this.size);
      this.applied.length = 0;
      if (this.incremental) this.tainted = true;
    }
  }

  private span(u: number): [number, number] {
    const at = u * this.unit;
    return [at, Math.min(at + this.unit, this.size)];
  }

  /** Put the durable content back in the units the buffer holds entries in, checking them first. */
  private revert(): void {
    const rec = this.appliedRec;
    const unit = this.unit;
    for (let i = 0; i < this.applied.length; i += 2) {
      const [at, end] = this.span(this.applied[i]);
      const e = this.applied[i + 1];
      if (rec !== null && this.buf.compare(rec.data, e * unit, e * unit + (end - at), at, end) !== 0) this.tainted = true;
      this.dur.copy(this.buf, at, at, end);
    }
    this.applied.length = 0;
    this.appliedRec = null;
  }

  /** Make the buffer the image of `choice`. */
  build(rec: CrashRecord, groups: Uint32Array, choice: Int32Array): void {
    if (!this.incremental) {
      buildImage(this.dur, rec, groups, choice, this.unit, this.buf);
      return;
    }
    this.revert();
    const unit = this.unit;
    for (let g = 0; g < choice.length; g++) {
      const e = choice[g];
      if (e < 0) continue;
      const u = rec.units[e];
      const [at, end] = this.span(u);
      if (this.buf.compare(this.dur, at, end, at, end) !== 0) this.tainted = true;
      rec.data.copy(this.buf, at, e * unit, e * unit + (end - at));
      this.applied.push(u, e);
    }
    this.appliedRec = rec;
  }

  /**
   * End of a crash point: back to the durable image. Returns false when recover changed the image
   * (then the buffer is rebuilt and incremental mode is over).
   */
  settle(): boolean {
    if (!this.incremental) return true;
    this.revert();
    if (!this.tainted && this.buf.compare(this.dur, 0, this.size, 0, this.size) === 0) return true;
    this.incremental = false;
    this.tainted = false;
    this.dur.copy(this.buf, 0, 0, this.size);
    return false;
  }

  /** The fence's commit, applied to the durable image (and to the buffer in incremental mode). */
  commit(rec: CrashRecord): void {
    applyCommit(this.dur, rec, this.unit);
    if (this.incremental) {
      for (const e of rec.commit) {
        const [at, end] = this.span(rec.units[e]);
        this.dur.copy(this.buf, at, at, end);
      }
    }
  }
}

/**
 * Run `workload` once on a simulated mapping, recording every crash point (every fence, every
 * msync at page tier, and the end of the workload), then hand crash images of each crash point to
 * `recover`, which throws when an image is inconsistent. See the module documentation for the model.
 *
 * @example
 * ```ts
 * const result = await crashTest({
 *   size: 4096,
 *   granularity: 'cacheline',
 *   workload: (m) => {
 *     m.write(64, payload, { persist: true }); // data first...
 *     m.dataView(0, 4).setUint32(0, 1, true); // ...then the commit flag
 *     m.persist(0, 4);
 *   },
 *   recover: (image) => {
 *     if (image[0] === 1 && !Buffer.from(image.subarray(64, 64 + payload.length)).equals(payload)) {
 *       throw new Error('committed but the data is not there');
 *     }
 *   },
 * });
 * assert.deepEqual(result.failures, []);
 * ```
 * @returns the number of crash points and images checked, and the failures (each replayable with
 *   {@link replayFailure}). Rejects with the workload's error if the workload throws, and with
 *   ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE for bad options.
 */
export async function crashTest(options: CrashTestOptions): Promise<CrashTestResult> {
  const n = normalize(options);
  const t0 = performance.now();
  const { records, initial, unit } = await record(n, -1);
  const t1 = performance.now();
  const size = n.size;
  const dur = Buffer.from(initial);
  const img = new ImageBuffer(size, unit, dur);
  let scratch: Buffer | null = null;
  const failures: CrashFailure[] = [];
  let imagesChecked = 0;
  let duplicates = 0;
  let maxMaybe = 0;
  let truncated = false;

  for (let k = 0; k < records.length && !truncated; k++) {
    const rec = records[k];
    if (rec.sameAsPrevious) {
      duplicates++;
      img.commit(rec);
      continue;
    }
    const groups = groupsOf(rec);
    const m = groups.length - 1;
    if (m > maxMaybe) maxMaybe = m;
    const operation = describeOp(rec, k, k === records.length - 1, n.granularity);
    for (let attempt = 0; ; attempt++) {
      const failuresBefore = failures.length;
      const checkedBefore = imagesChecked;
      for (const plan of plans(rec, groups, n, k)) {
        img.build(rec, groups, plan.choice);
        if (img.tainted) break; // a recover changed its image: this crash point is checked again
        const ctx = new Context(k, plan.kind, plan.imageSeed, operation, n.granularity, unit, rec, plan.choice, img.ab, n.path);
        imagesChecked++;
        let error: unknown = undefined;
        let failed = false;
        try {
          await n.recover(new Uint8Array(img.ab), ctx);
        } catch (e) {
          failed = true;
          error = e;
        } finally {
          img.adopt(ctx.finish());
        }
        if (!failed) continue;
        scratch ??= Buffer.alloc(size);
        buildImage(dur, rec, groups, plan.choice, unit, scratch);
        const { lines, variants } = kept(rec, plan.choice);
        const seedText = plan.imageSeed === null ? '' : ` (image seed ${plan.imageSeed})`;
        const f: CrashFailure = {
          crashPoint: k,
          seed: n.seed,
          kind: plan.kind,
          imageSeed: plan.imageSeed,
          keptLines: lines,
          keptVariants: variants,
          maybeLines: m,
          unitSize: unit,
          operation,
          imageHash: hashOf(scratch),
          error,
          message:
            `crash point ${k} (${operation}), ${plan.kind} image${seedText}, seed ${n.seed}: ` +
            `kept ${lines.length} of ${m} maybe-lines ${listLines(lines)}: ${errorText(error)}`,
        };
        if (rec.stack !== undefined) f.stack = rec.stack;
        failures.push(f);
        if (failures.length >= n.maxFailures) {
          truncated = true;
          break;
        }
      }
      if (img.settle() || attempt > 0) break;
      // recover changed the image: what this crash point saw after that is void; check it again
      // with a fresh copy per image.
      failures.length = failuresBefore;
      imagesChecked = checkedBefore;
      truncated = false;
    }
    img.commit(rec);
  }

  return {
    crashPoints: records.length,
    duplicateCrashPoints: duplicates,
    imagesChecked,
    failures,
    truncated,
    unitSize: unit,
    seed: n.seed,
    maxMaybeLines: maxMaybe,
    timing: { recordMs: t1 - t0, checkMs: performance.now() - t1 },
  };
}

function mismatch(message: string): Error {
  return pmemError(
    'ERR_PMEM_REPLAY_MISMATCH',
    `${message}: the replayed run did not reach the state of the failure (is the workload deterministic, ` +
      'and are the options the same?)',
  );
}

function normalizeTarget(target: unknown): Required<Pick<ReplayTarget, 'crashPoint' | 'keptLines' | 'keptVariants'>> & ReplayTarget {
  const t = checkOptionsObject(target, 'failure', true);
  const crashPoint = checkInteger(t.crashPoint, 'failure.crashPoint', 0, 2 ** 32);
  const lines = t.keptLines;
  if (!Array.isArray(lines)) throw invalidArgType('failure.keptLines', 'an instance of Array', lines);
  for (const l of lines) checkInteger(l, 'failure.keptLines[]', 0, 2 ** 32);
  let variants: readonly number[];
  if (t.keptVariants === undefined) {
    variants = lines.map(() => 0);
  } else {
    if (!Array.isArray(t.keptVariants)) {
      throw invalidArgType('failure.keptVariants', 'an instance of Array', t.keptVariants);
    }
    if (t.keptVariants.length !== lines.length) {
      throw invalidArgValue('failure.keptVariants', t.keptVariants, 'must have one entry per kept line');
    }
    for (const v of t.keptVariants) checkInteger(v, 'failure.keptVariants[]', 0, 255);
    variants = t.keptVariants as number[];
  }
  if (t.imageHash !== undefined && typeof t.imageHash !== 'string') {
    throw invalidArgType('failure.imageHash', 'of type string', t.imageHash);
  }
  return {
    crashPoint,
    keptLines: lines as number[],
    keptVariants: variants,
    imageHash: t.imageHash as string | undefined,
    kind: typeof t.kind === 'string' && KINDS.includes(t.kind as ImageKind) ? (t.kind as ImageKind) : 'replay',
    imageSeed: typeof t.imageSeed === 'number' ? t.imageSeed : null,
  };
}

/**
 * Reproduce one failure exactly: run the workload again (the same options), rebuild the crash
 * image of `failure` from its crash point and kept lines, check it is byte-identical to the one
 * that failed, and hand it to `recover` (`options.recover`). Rejects with what recover throws, so a
 * debugger breakpoint or extra logging in recover sees the failing image; resolves when recover
 * passes (e.g. once fixed).
 */
export async function replayFailure(options: CrashTestOptions, failure: ReplayTarget | CrashFailure): Promise<ReplayResult> {
  const n = normalize(options);
  const t = normalizeTarget(failure);
  const { records, initial, unit } = await record(n, t.crashPoint);
  if (t.crashPoint >= records.length) {
    throw mismatch(`crash point ${t.crashPoint} does not exist (the run has ${records.length})`);
  }
  const dur = Buffer.from(initial);
  for (let k = 0; k < t.crashPoint; k++) applyCommit(dur, records[k], unit);
  const rec = records[t.crashPoint];
  const groups = groupsOf(rec);
  const m = groups.length - 1;
  const choice = new Int32Array(m).fill(-1);
  for (let i = 0; i < t.keptLines.length; i++) {
    const line = t.keptLines[i];
    // Binary search the group of this unit.
    let lo = 0;
    let hi = m - 1;
    let g = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = rec.units[groups[mid]];
      if (u === line) {
        g = mid;
        break;
      }
      if (u < line) lo = mid + 1;
      else hi = mid - 1;
    }
    if (g < 0) throw mismatch(`line ${line} is not a maybe-line of crash point ${t.crashPoint}`);
    let e = -1;
    for (let j = groups[g]; j < groups[g + 1]; j++) if (rec.variants[j] === t.keptVariants[i]) e = j;
    if (e < 0) throw mismatch(`line ${line} has no variant ${t.keptVariants[i]} at crash point ${t.crashPoint}`);
    choice[g] = e;
  }
  const work = allocDetachable(n.size);
  buildImage(dur, rec, groups, choice, unit, Buffer.from(work));
  const imageHash = hashOf(new Uint8Array(work));
  if (t.imageHash !== undefined && t.imageHash !== imageHash) throw mismatch('the rebuilt image differs');
  const operation = describeOp(rec, t.crashPoint, t.crashPoint === records.length - 1, n.granularity);
  const ctx = new Context(
    t.crashPoint,
    t.kind ?? 'replay',
    t.imageSeed ?? null,
    operation,
    n.granularity,
    unit,
    rec,
    choice,
    work,
    n.path,
  );
  try {
    await n.recover(new Uint8Array(work), ctx);
  } finally {
    ctx.finish();
  }
  return { crashPoint: t.crashPoint, operation, stack: rec.stack, imageHash };
}
