/**
 * Every error node-pmem throws from TypeScript. Codes follow Node: ERR_INVALID_ARG_TYPE,
 * ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE, plus ERR_PMEM_* for misuse and state, and errno names
 * (with errno, syscall, path) for failed system calls. The native side builds the same shapes
 * for the errors it throws (native/errors_wrap.cc).
 */
import { getSystemErrorMap } from 'node:util';
import { inspect } from 'node:util';

export type ErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_ILLEGAL_CONSTRUCTOR'
  | 'ERR_PMEM_CLOSED'
  | 'ERR_PMEM_READ_ONLY'
  | 'ERR_PMEM_LOCKED'
  | 'ERR_PMEM_UNSUPPORTED'
  | 'ERR_PMEM_UNALIGNED'
  | 'ERR_PMEM_EMPTY'
  | 'ERR_PMEM_ASYNC_FLUSH'
  | 'ERR_PMEM_TIER_UNAVAILABLE'
  | 'ERR_PMEM_BADBLOCKS'
  | 'ERR_PMEM_TRUNCATED'
  | 'ERR_PMEM_REPLAY_MISMATCH'
  | 'ERR_PMEM_ABI_MISMATCH'
  | 'ERR_PMEM_NOT_BUILT'
  | 'ERR_PMEM_UNTRANSFERABLE'
  | 'ERR_PMEM_PEER_DEPENDENCY'
  | 'ERR_INVALID_STATE'
  | 'ERR_KV_CORRUPT'
  | 'ERR_HEAP_NOT_A_POOL'
  | 'ERR_HEAP_LAYOUT'
  | 'ERR_HEAP_VERSION'
  | 'ERR_HEAP_CORRUPT'
  | 'ERR_HEAP_TOO_SMALL'
  | 'ERR_HEAP_CLOSED'
  | 'ERR_HEAP_NO_SPACE'
  | 'ERR_HEAP_BAD_FREE'
  | 'ERR_HEAP_BAD_REF'
  | 'ERR_HEAP_FOREIGN_REF'
  | 'ERR_HEAP_TX_LOG_FULL'
  | 'ERR_HEAP_TX_ABORTED'
  | 'ERR_HEAP_TX_ASYNC'
  | 'ERR_HEAP_TX_STATE'
  | 'ERR_HEAP_UNSAFE_SHUTDOWN';

/** Shape of node-pmem's errors: a standard Error (or TypeError/RangeError) with these fields. */
export interface PmemError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

function withCode<E extends Error>(error: E, code: string): E & { code: string } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & { code: string };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : inspect(value, { depth: -1 });
  }
  let shown = inspect(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

// Node's wording: a dotted name ("options.size") is a property, a plain one an argument.
function isProperty(name: string): boolean {
  return name.includes('.') || name.includes('[');
}

/** TypeError ERR_INVALID_ARG_TYPE. `name` may also be a whole subject ('The "mapping" argument of f()'). */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const subject = name.startsWith('The ') ? name : `The "${name}" ${isProperty(name) ? 'property' : 'argument'}`;
  return withCode(new TypeError(`${subject} must be ${expected}. Received ${describe(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  const subject = `The ${isProperty(name) ? 'property' : 'argument'} '${name}'`;
  let shown: string;
  try {
    shown = inspect(value, { depth: 0, breakLength: Infinity, maxStringLength: 40, maxArrayLength: 4 });
  } catch {
    shown = '[value]';
  }
  return withCode(new TypeError(`${subject} ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${inspect(actual)}`), 'ERR_OUT_OF_RANGE');
}

export function pmemError(code: ErrorCode, message: string, path?: string): PmemError {
  const error = withCode(new Error(message), code) as PmemError;
  if (path !== undefined) error.path = path;
  return error;
}

export function closedError(path: string): PmemError {
  return pmemError('ERR_PMEM_CLOSED', `The mapping of '${path}' is closed`, path);
}

export function untransferableError(path: string): PmemError {
  return pmemError(
    'ERR_PMEM_UNTRANSFERABLE',
    `The ArrayBuffer of the mapping of '${path}' cannot be transferred: only close() detaches it. Copy it with slice() instead`,
    path,
  );
}

export function readOnlyError(path: string, method: string): PmemError {
  return pmemError('ERR_PMEM_READ_ONLY', `${method}() is not allowed on the read-only mapping of '${path}'`, path);
}

export function illegalConstructor(): TypeError {
  return withCode(new TypeError('Illegal constructor: mappings are made by open()'), 'ERR_ILLEGAL_CONSTRUCTOR');
}

const systemErrors = getSystemErrorMap();
// libuv words errno 95 for sockets ("operation not supported on socket"); on Linux it is also
// EOPNOTSUPP, which is what file systems and mappings mean by it. native/errors_wrap.cc says the same.
systemErrors.set(-95, ['ENOTSUP', 'operation not supported']);

/**
 * A negative status from a hot native call (-errno) as a Node system error, in Node's shape:
 * "EIO: i/o error, pread '/mnt/pmem/f'", with code, errno, syscall and path.
 */
export function statusError(status: number, syscall: string, path: string): PmemError {
  const [name, text] = systemErrors.get(status) ?? ['EIO', 'i/o error'];
  const error = withCode(new Error(`${name}: ${text}, ${syscall} '${path}'`), name) as PmemError;
  error.errno = status;
  error.syscall = syscall;
  error.path = path;
  return error;
}

/**
 * The status a hot native call returns, instead of -errno, when the file or device is now shorter
 * than the mapped window (native/status.h, kStatusTruncated): below every errno.
 */
export const STATUS_TRUNCATED = -4096;
/** node-pmem/kv's native index descent met a damaged node (native/kv_index.h says which and why). */
export const STATUS_INDEX_CORRUPT = -4097;
/** A SIGBUS in memory a native call was given as a view: the mapping it belongs to can say why. */
export const STATUS_FAULT = -4098;

/**
 * ERR_PMEM_TRUNCATED: another process truncated the file under a live mapping, so the pages past
 * its new end are gone. node-pmem's own calls report it (native/sigbus_guard.h); an access through
 * a view dies of SIGBUS. `size` is the size now, or negative when it could not be read.
 */
export function truncatedError(path: string, offset: number, length: number, size: number): PmemError {
  const now = size >= 0 ? `is now ${size} bytes` : 'now ends before the mapping does';
  return pmemError(
    'ERR_PMEM_TRUNCATED',
    `'${path}' was truncated under its mapping of bytes [${offset}, ${offset + length}): it ${now}. ` +
      'The mapped pages past its end are gone: stores to them were lost, and any access to them faults ' +
      '(through a view, SIGBUS kills the process). Stop whatever truncates the file while it is mapped, ' +
      'close() this mapping, and open it again once the file has its size back',
    path,
  );
}

/** Re-labels an fs error with node-pmem's context, keeping code, errno and syscall. */
export function pmemSystemError(cause: NodeJS.ErrnoException, syscall: string, path: string, what: string): PmemError {
  const code = cause.code ?? 'EIO';
  const error = withCode(new Error(`${code}: ${what}, ${syscall} '${path}'`, { cause }), code) as PmemError;
  if (cause.errno !== undefined) error.errno = cause.errno;
  error.syscall = syscall;
  error.path = path;
  return error;
}

/** The addon on disk was built for another Node ABI (or by an older node-pmem); see lib/binding.ts. */
export function abiMismatch(
  message: string,
  file: string,
  builtFor: { abi: number; node: string; arch: string } | null,
): PmemError {
  const error = pmemError('ERR_PMEM_ABI_MISMATCH', message, file);
  Object.assign(error, {
    builtFor,
    running: { abi: Number(process.versions.modules), node: process.versions.node, arch: process.arch },
  });
  return error;
}

/** No addon at all: neither a local build nor a prebuilt binary for this Node (lib/binding.ts). */
export function notBuilt(message: string): PmemError {
  return pmemError('ERR_PMEM_NOT_BUILT', message);
}
