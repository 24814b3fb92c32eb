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
import { validateArray, validateString } from '../validate';
import { DurabilityModel, SimulatedBackend, allocDetachable, defaultAtomicUnit, registerSimulated, unitSizeOf, type CrashRecord } from './simulator';
import { KillRecorder, applyStep, cutPoints, watchViews, type KillStep } from './kill';

/** Tiers a simulated mapping can have. */
export type SimulatedGranularity = Granularity;

/** How an image of a crash point was chosen ('kill': the image of a kill point, whole or cut). */
export type ImageKind = 'none' | 'all' | 'random' | 'exhaustive' | 'replay' | 'kill';

/**
 * What ends the workload: a power failure (what reached the media survives, torn at `atomicUnit`)
 * or a kill of the process (every store made before the kill survives, none after).
 */
export type CrashKind = 'power-failure' | 'kill';

/** Options of {@link crashTest} (and {@link replayFailure}). */
export interface CrashTestOptions {
  /** Size of the simulated mapping in bytes. Optional when `initialImage` is given. */
  size?: number;
  /** Durability tier to simulate. Default 'cacheline'. */
  granularity?: SimulatedGranularity;
  /**
   * What the images model. 'power-failure' (default): at each durability point, any subset of
   * what is not yet durable may have reached the media. 'kill': the process is killed before any
   * node-pmem call or inside a write()/fill(); every store made before the kill is in the image,
   * the in-flight one cut after any byte (a page-cache mapping keeps them all).
   */
  crash?: CrashKind;
  /**
   * Power failure: the aligned piece of a line (a page at page tier) that lands whole. Default 8
   * at cacheline and byte tiers (x86-64 makes only aligned 8-byte stores atomic) and 512 at page
   * tier (a sector). 64 (whole lines) or 4096 (whole pages, for a device that writes pages
   * atomically, such as a BTT namespace) are weaker than most hardware promises. A power of two
   * from 8 to 64 (4096 at page tier).
   */
  atomicUnit?: number;
  /** The code under test. Receives a simulated Mapping with the API `open()` gives. Must be deterministic. */
  workload: (mapping: Mapping) => unknown;
  /**
   * Checks one crash image; throws (or rejects) when it is inconsistent. The image (exactly `size`
   * bytes) is only valid until recover settles: it is reused for the next image, copy it to keep
   * it. recover may modify it (repair it, or through `context.open()`), at a cost: images are
   * built incrementally while recover leaves them unchanged, with a full copy each once it does not.
   */
  recover: (image: Uint8Array, context: RecoverContext) => unknown;
  /** Random images per crash point, besides the extremes (kill: cut points per write/fill). Default 16. */
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
  /** What the image models. */
  crash: CrashKind;
  /** How the image was chosen. */
  kind: ImageKind;
  /** Seed of this image's choice, for random images; null otherwise. */
  imageSeed: number | null;
  /** Units (`unitSize` bytes: `atomicUnit`) whose non-durable content was kept in the image, ascending. Empty for kills. */
  keptUnits: number[];
  /** For each kept unit, which content: 0 = its content at the crash point, k >= 1 = its content in the k-th distinct flushed-but-unfenced snapshot. */
  keptVariants: number[];
  /** Number of maybe-units at this crash point (0 for kills). */
  maybeUnits: number;
  /** Size of a unit in bytes: the atomic unit (8 by default; 512 at page tier). */
  unitSize: number;
  /** Kill inside a write()/fill(): how many of its bytes were stored. null otherwise. */
  cutAt: number | null;
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
  /** What the images modelled. */
  crash: CrashKind;
  /** Size of a maybe-unit in bytes: the atomic unit. */
  unitSize: number;
  /** The seed used. */
  seed: number;
  /** Largest maybe-set of a crash point, in units (0 for kills). */
  maxMaybeUnits: number;
  /** Milliseconds spent running and recording the workload, and checking the images. */
  timing: { recordMs: number; checkMs: number };
}

/** Second argument of `recover`. */
export interface RecoverContext {
  readonly crashPoint: number;
  readonly crash: CrashKind;
  readonly kind: ImageKind;
  /** Kill inside a write()/fill(): how many of its bytes were stored; null otherwise. */
  readonly cutAt: number | null;
  /** Seed of a random image's choice; null otherwise. */
  readonly imageSeed: number | null;
  /** The fencing operation of the crash point. */
  readonly operation: string;
  readonly granularity: SimulatedGranularity;
  readonly unitSize: number;
  /** Units whose non-durable content was kept in this image (computed on access; empty for kills). */
  readonly keptUnits: number[];
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
  /** Power failure: the kept units (default none). */
  keptUnits?: readonly number[];
  /** Default: 0 for every kept unit. */
  keptVariants?: readonly number[];
  /** Kill: bytes of the in-flight write/fill stored (default null: the kill point before it). */
  cutAt?: number | null;
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
  crash: CrashKind;
  atomicUnit: number;
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

const KINDS: readonly ImageKind[] = ['none', 'all', 'random', 'exhaustive', 'replay', 'kill'];
const CRASHES: readonly CrashKind[] = ['power-failure', 'kill'];
const MAX_SIZE = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);
export const GRANULARITIES: readonly Granularity[] = ['cacheline', 'byte', 'page'];

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

/** A power of two from 8 to the tier's unit; the tier's default when omitted. */
function atomicUnitOf(value: unknown, granularity: Granularity): number {
  const max = unitSizeOf(granularity);
  if (value === undefined) return defaultAtomicUnit(granularity);
  const n = checkInteger(value, 'options.atomicUnit', 8, max);
  if ((n & (n - 1)) !== 0) throw invalidArgValue('options.atomicUnit', value, `must be a power of two from 8 to ${max}`);
  return n;
}

const OPTION_KEYS: readonly (keyof CrashTestOptions)[] = [
  'size', 'granularity', 'crash', 'atomicUnit', 'workload', 'recover', 'imagesPerPoint', 'seed', 'extremes',
  'maxFailures', 'initialImage', 'path', 'captureStacks',
];

function normalize(options: unknown): Normalized {
  const o = checkOptionsObject(options, 'options', true, { allowed: OPTION_KEYS, fn: 'crashTest()' });
  const { size, initial } = sizeAndImage(o, 'options');
  const granularity = checkEnum(o.granularity, 'options.granularity', GRANULARITIES, 'cacheline');
  return {
    size,
    initial,
    granularity,
    crash: checkEnum(o.crash, 'options.crash', CRASHES, 'power-failure'),
    atomicUnit: atomicUnitOf(o.atomicUnit, granularity),
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
    atomicUnit: n.atomicUnit,
  });
  const initial = Buffer.from(model.durable); // copy: the model's durable image evolves
  await runWorkload(n, new SimulatedBackend(ab, n.granularity, n.path, false, model));
  model.fence('end', 0, 0, 'none', false, null);
  return { records: model.records!, initial, unit: model.atom };
}

/** Run the workload on `backend` to its end: persistAsync calls still in flight land, the mapping is closed. */
async function runWorkload(n: Normalized, backend: SimulatedBackend): Promise<void> {
  const mapping = createMapping(backend, n.path);
  registerSimulated(mapping, backend);
  if (backend.kill !== null) watchViews(mapping, backend.kill); // so that a kill point compares only what can have changed
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
}

interface KillRecording {
  steps: KillStep[];
  initial: Buffer;
}

/** Run the workload once with a kill point before every call on the mapping (kill model). */
async function recordKills(n: Normalized): Promise<KillRecording> {
  const ab = allocDetachable(n.size);
  const live = new Uint8Array(ab);
  if (n.initial !== null) live.set(n.initial);
  const initial = Buffer.from(live);
  const recorder = new KillRecorder(n.size, live);
  recorder.point('start', 0, 0, null);
  await runWorkload(n, new SimulatedBackend(ab, n.granularity, n.path, false, null, recorder));
  recorder.point('end', 0, 0, null);
  return { steps: recorder.steps, initial };
}

function describeKill(step: KillStep, index: number, last: boolean, cutAt: number | null): string {
  if (last && step.op === 'end') return 'kill at the end of workload';
  if (index === 0 && step.op === 'start') return 'kill #0: before the workload';
  const call = step.op === 'write' || step.op === 'fill' ? `${step.op}(${step.offset}, <${step.length} bytes>)` : `${step.op}(${step.offset}, ${step.length})`;
  if (cutAt === null) return `kill #${index}: before ${step.op === 'persistDirty' ? 'persistDirty()' : call}`;
  return `kill #${index}: inside ${call}, after ${cutAt} of its ${step.length} bytes`;
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

/**
 * mulberry32: small, fast, good enough to pick subsets. Returns floats in [0, 1). The one PRNG of
 * the project: the tests use it too (a seed replays the same sequence everywhere).
 * @internal
 */
export function prng(seed: number): () => number {
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

/** Which image recover gets: what a failure records and the context tells. */
interface ImageAt {
  crashPoint: number;
  crash: CrashKind;
  kind: ImageKind;
  imageSeed: number | null;
  cutAt: number | null;
  operation: string;
  unitSize: number;
  maybeUnits: number;
  /** The kept units and their variants (computed when asked: images are many, failures few). */
  kept: () => { lines: number[]; variants: number[] };
}

const NOTHING_KEPT = () => ({ lines: [], variants: [] });

/** A failure of recover on the image `at`, whose bytes are `image`. */
function failureOf(at: ImageAt, seed: number, image: Uint8Array, error: unknown, stack: string | undefined): CrashFailure {
  const { lines, variants } = at.kept();
  const seedText = at.imageSeed === null ? '' : ` (image seed ${at.imageSeed})`;
  const what = at.crash === 'kill' ? 'kill image' : `${at.kind} image${seedText}, seed ${seed}: kept ${lines.length} of ${at.maybeUnits} maybe-units ${listLines(lines)}`;
  const f: CrashFailure = {
    crashPoint: at.crashPoint,
    seed,
    crash: at.crash,
    kind: at.kind,
    imageSeed: at.imageSeed,
    keptUnits: lines,
    keptVariants: variants,
    maybeUnits: at.maybeUnits,
    unitSize: at.unitSize,
    cutAt: at.cutAt,
    operation: at.operation,
    imageHash: hashOf(image),
    error,
    message: `crash point ${at.crashPoint} (${at.operation}), ${what}: ${errorText(error)}`,
  };
  if (stack !== undefined) f.stack = stack;
  return f;
}

/** The per-image recovery context. */
class Context implements RecoverContext {
  private backend: SimulatedBackend | null = null;
  private mapping: Mapping | null = null;
  /** The image's memory: starts as the work buffer, moves on each close. */
  buffer: ArrayBuffer;
  private keptCache: number[] | null = null;
  private finished = false;
  readonly crashPoint: number;
  readonly crash: CrashKind;
  readonly kind: ImageKind;
  readonly imageSeed: number | null;
  readonly cutAt: number | null;
  readonly operation: string;
  readonly unitSize: number;

  constructor(
    private readonly at: ImageAt,
    readonly granularity: Granularity,
    buffer: ArrayBuffer,
    private readonly path: string,
  ) {
    this.buffer = buffer;
    this.crashPoint = at.crashPoint;
    this.crash = at.crash;
    this.kind = at.kind;
    this.imageSeed = at.imageSeed;
    this.cutAt = at.cutAt;
    this.operation = at.operation;
    this.unitSize = at.unitSize;
  }

  get keptUnits(): number[] {
    this.keptCache ??= this.at.kept().lines;
    return this.keptCache.slice();
  }

  open(options?: { readOnly?: boolean }): Mapping {
    const o = checkOptionsObject(options, 'options', false, { allowed: ['readOnly'], fn: 'context.open()' });
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
  if (n.crash === 'kill') return killTest(n);
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
        const at: ImageAt = {
          crashPoint: k,
          crash: 'power-failure',
          kind: plan.kind,
          imageSeed: plan.imageSeed,
          cutAt: null,
          operation,
          unitSize: unit,
          maybeUnits: m,
          kept: () => kept(rec, plan.choice),
        };
        const ctx = new Context(at, n.granularity, img.ab, n.path);
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
        const f = failureOf(at, n.seed, scratch, error, rec.stack);
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
    crash: 'power-failure',
    unitSize: unit,
    seed: n.seed,
    maxMaybeUnits: maxMaybe,
    timing: { recordMs: t1 - t0, checkMs: performance.now() - t1 },
  };
}

/** Where a kill image cuts the write or fill in flight at kill point k: the cuts to check. */
function killCuts(step: KillStep, n: Normalized, k: number): number[] {
  if (step.cut === null) return [];
  return cutPoints(step.cut.bytes.length, n.imagesPerPoint, n.extremes, prng(imageSeedOf(n.seed, k, 0)));
}

/** `image` := the image of kill point k (`state`, the image before the call) with `cutAt` bytes of the call stored. */
function buildKillImage(state: Buffer, step: KillStep, cutAt: number | null, image: Buffer): void {
  state.copy(image, 0, 0, image.length);
  if (cutAt !== null) step.cut!.bytes.copy(image, step.cut!.offset, 0, cutAt);
}

function killImageAt(n: Normalized, steps: KillStep[], k: number, cutAt: number | null): ImageAt {
  return {
    crashPoint: k,
    crash: 'kill',
    kind: 'kill',
    imageSeed: null,
    cutAt,
    operation: describeKill(steps[k], k, k === steps.length - 1, cutAt),
    unitSize: 1,
    maybeUnits: 0,
    kept: NOTHING_KEPT,
  };
}

/** crashTest in the kill model: every kill point's image, and cuts of each write/fill in flight. */
async function killTest(n: Normalized): Promise<CrashTestResult> {
  const t0 = performance.now();
  const { steps, initial } = await recordKills(n);
  const t1 = performance.now();
  const state = Buffer.from(initial);
  let work = allocDetachable(n.size);
  const failures: CrashFailure[] = [];
  let imagesChecked = 0;
  let duplicates = 0;
  let truncated = false;
  for (let k = 0; k < steps.length && !truncated; k++) {
    const step = steps[k];
    applyStep(state, step, n.size);
    if (step.sameAsPrevious) {
      duplicates++;
      continue;
    }
    for (const cutAt of [null, ...killCuts(step, n, k)]) {
      // A fresh copy per image: recover may change its image, and kills are few next to power-failure images.
      if (work.byteLength !== n.size) work = allocDetachable(n.size);
      buildKillImage(state, step, cutAt, Buffer.from(work));
      const at = killImageAt(n, steps, k, cutAt);
      const ctx = new Context(at, n.granularity, work, n.path);
      imagesChecked++;
      try {
        await n.recover(new Uint8Array(work), ctx);
      } catch (error) {
        const image = Buffer.alloc(n.size);
        buildKillImage(state, step, cutAt, image);
        failures.push(failureOf(at, n.seed, image, error, undefined));
        if (failures.length >= n.maxFailures) {
          truncated = true;
          break;
        }
      } finally {
        work = ctx.finish();
      }
    }
  }
  return {
    crashPoints: steps.length,
    duplicateCrashPoints: duplicates,
    imagesChecked,
    failures,
    truncated,
    crash: 'kill',
    unitSize: 1,
    seed: n.seed,
    maxMaybeUnits: 0,
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

interface Target {
  crashPoint: number;
  keptUnits: readonly number[];
  keptVariants: readonly number[];
  cutAt: number | null;
  imageHash: string | undefined;
  kind: ImageKind;
  imageSeed: number | null;
}

function normalizeTarget(target: unknown): Target {
  const t = checkOptionsObject(target, 'failure', true);
  const crashPoint = checkInteger(t.crashPoint, 'failure.crashPoint', 0, 2 ** 32);
  const units = validateArray(t.keptUnits ?? [], 'failure.keptUnits');
  for (const l of units) checkInteger(l, 'failure.keptUnits[]', 0, 2 ** 32);
  let variants: readonly number[];
  if (t.keptVariants === undefined) {
    variants = units.map(() => 0);
  } else {
    const kept = validateArray(t.keptVariants, 'failure.keptVariants');
    if (kept.length !== units.length) {
      throw invalidArgValue('failure.keptVariants', t.keptVariants, 'must have one entry per kept unit');
    }
    for (const v of kept) checkInteger(v, 'failure.keptVariants[]', 0, 255);
    variants = kept as number[];
  }
  const cutAt = t.cutAt === undefined || t.cutAt === null ? null : checkInteger(t.cutAt, 'failure.cutAt', 1, Number.MAX_SAFE_INTEGER);
  if (t.imageHash !== undefined) validateString(t.imageHash, 'failure.imageHash');
  return {
    crashPoint,
    keptUnits: units as number[],
    keptVariants: variants,
    cutAt,
    imageHash: t.imageHash as string | undefined,
    kind: typeof t.kind === 'string' && KINDS.includes(t.kind as ImageKind) ? (t.kind as ImageKind) : 'replay',
    imageSeed: typeof t.imageSeed === 'number' ? t.imageSeed : null,
  };
}

/**
 * Reproduce one failure exactly: run the workload again (the same options), rebuild the crash
 * image of `failure` from its crash point and kept units (for a kill: its cut), check it is
 * byte-identical to the one that failed, and hand it to `recover` (`options.recover`). Rejects
 * with what recover throws, so a debugger breakpoint or extra logging in recover sees the failing
 * image; resolves when recover passes (e.g. once fixed).
 */
export async function replayFailure(options: CrashTestOptions, failure: ReplayTarget | CrashFailure): Promise<ReplayResult> {
  const n = normalize(options);
  const t = normalizeTarget(failure);
  const work = allocDetachable(n.size);
  let at: ImageAt;
  let stack: string | undefined;
  if (n.crash === 'kill') {
    const { steps, initial } = await recordKills(n);
    if (t.crashPoint >= steps.length) {
      throw mismatch(`kill point ${t.crashPoint} does not exist (the run has ${steps.length})`);
    }
    const state = Buffer.from(initial);
    for (let k = 0; k <= t.crashPoint; k++) applyStep(state, steps[k], n.size);
    const step = steps[t.crashPoint];
    if (t.cutAt !== null && (step.cut === null || t.cutAt >= step.cut.bytes.length)) {
      throw mismatch(`kill point ${t.crashPoint} (${step.op}) cannot be cut after ${t.cutAt} bytes`);
    }
    buildKillImage(state, step, t.cutAt, Buffer.from(work));
    at = killImageAt(n, steps, t.crashPoint, t.cutAt);
  } else {
    const { records, initial, unit } = await record(n, t.crashPoint);
    if (t.crashPoint >= records.length) {
      throw mismatch(`crash point ${t.crashPoint} does not exist (the run has ${records.length})`);
    }
    const dur = Buffer.from(initial);
    for (let k = 0; k < t.crashPoint; k++) applyCommit(dur, records[k], unit);
    const rec = records[t.crashPoint];
    const groups = groupsOf(rec);
    const choice = choiceOf(rec, groups, t);
    buildImage(dur, rec, groups, choice, unit, Buffer.from(work));
    stack = rec.stack;
    at = {
      crashPoint: t.crashPoint,
      crash: 'power-failure',
      kind: t.kind,
      imageSeed: t.imageSeed,
      cutAt: null,
      operation: describeOp(rec, t.crashPoint, t.crashPoint === records.length - 1, n.granularity),
      unitSize: unit,
      maybeUnits: groups.length - 1,
      kept: () => kept(rec, choice),
    };
  }
  const imageHash = hashOf(new Uint8Array(work));
  if (t.imageHash !== undefined && t.imageHash !== imageHash) throw mismatch('the rebuilt image differs');
  const ctx = new Context(at, n.granularity, work, n.path);
  try {
    await n.recover(new Uint8Array(work), ctx);
  } finally {
    ctx.finish();
  }
  return { crashPoint: t.crashPoint, operation: at.operation, stack, imageHash };
}

/** The image choice of a replay target at its crash point. */
function choiceOf(rec: CrashRecord, groups: Uint32Array, t: Target): Int32Array {
  const m = groups.length - 1;
  const choice = new Int32Array(m).fill(-1);
  for (let i = 0; i < t.keptUnits.length; i++) {
    const unit = t.keptUnits[i];
    // Binary search the group of this unit.
    let lo = 0;
    let hi = m - 1;
    let g = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = rec.units[groups[mid]];
      if (u === unit) {
        g = mid;
        break;
      }
      if (u < unit) lo = mid + 1;
      else hi = mid - 1;
    }
    if (g < 0) throw mismatch(`unit ${unit} is not a maybe-unit of crash point ${t.crashPoint}`);
    let e = -1;
    for (let j = groups[g]; j < groups[g + 1]; j++) if (rec.variants[j] === t.keptVariants[i]) e = j;
    if (e < 0) throw mismatch(`unit ${unit} has no variant ${t.keptVariants[i]} at crash point ${t.crashPoint}`);
    choice[g] = e;
  }
  return choice;
}
