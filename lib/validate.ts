/** Argument validation, done in TS before any native call, with Node's error codes. */
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function validateInteger(value: unknown, name: string, max: number = MAX_SAFE, min = 0): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}

/**
 * (offset, length) within [0, total]. Fast when valid: the common case costs a few comparisons;
 * the precise error is worked out only on failure.
 */
export function validateRange(offset: unknown, length: unknown, total: number, offsetName = 'offset', lengthName = 'length'): void {
  if (
    typeof offset === 'number' && typeof length === 'number' &&
    Number.isSafeInteger(offset) && Number.isSafeInteger(length) &&
    offset >= 0 && length >= 0 && offset <= total && length <= total - offset
  ) {
    return;
  }
  validateInteger(offset, offsetName, total);
  const room = total - (offset as number);
  if (typeof length === 'number' && Number.isInteger(length) && length > room)
    throw outOfRange(lengthName, `>= 0 && <= ${room} (${offsetName} ${offset as number} of a ${total}-byte mapping)`, length);
  validateInteger(length, lengthName, room);
}

export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export function validateFunction<F>(value: unknown, name: string): F {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
  return value as F;
}

export function validateString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  return value;
}

export function validateOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    throw invalidArgValue(name, value, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`);
  return value as T;
}

export function validateArray(value: unknown, name: string): unknown[] {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value);
  return value;
}

export function validateObject(value: unknown, name: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value);
  return value as Record<string, unknown>;
}

/** A path: string (no NUL bytes), Buffer, or file: URL. */
export function validatePath(value: unknown, name = 'path'): string {
  let path: string;
  if (typeof value === 'string') path = value;
  else if (Buffer.isBuffer(value)) path = value.toString('utf8');
  else if (value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgValue(name, value.href, 'must be a file: URL');
    path = decodeURIComponent(value.pathname);
  } else throw invalidArgType(name, 'of type string or an instance of Buffer or URL', value);
  if (path.length === 0) throw invalidArgValue(name, path, 'must not be empty');
  if (path.includes('\u0000')) throw invalidArgValue(name, path, 'must be a string without null bytes');
  return path;
}

/** Edit distance, for "did you mean" (option names are short). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** A misspelt option must not be ignored (`{ creat: true }` would open without creating): refuse it, naming the closest. */
export function validateKeys(o: Record<string, unknown>, allowed: readonly string[], fn: string): void {
  for (const key of Object.keys(o)) {
    if (allowed.includes(key)) continue;
    const closest = [...allowed].sort((x, y) => distance(key, x) - distance(key, y))[0]!;
    const hint = distance(key, closest) <= Math.max(2, Math.floor(closest.length / 3)) ? ` (did you mean '${closest}'?)` : '';
    throw invalidArgValue(`options.${key}`, o[key], `is not an option of ${fn}${hint}; the options are ${allowed.join(', ')}`);
  }
}
