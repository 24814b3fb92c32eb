/**
 * Option checks of the testing module (crashTest, replayFailure, createSimulatedMapping): the
 * shared validators of lib/validate.ts with defaults for omitted options.
 * @internal
 */
import { validateBoolean, validateFunction, validateInteger, validateKeys, validateObject, validateOneOf, validateString } from '../validate';

/** `options` must be a plain object; an omitted optional one is `{}`. With `keys`, any other key is refused (for `fn`). */
export function checkOptionsObject(
  value: unknown,
  name: string,
  required: boolean,
  keys?: { allowed: readonly string[]; fn: string },
): Record<string, unknown> {
  if (value === undefined && !required) return {};
  const o = validateObject(value, name);
  if (keys !== undefined) validateKeys(o, keys.allowed, keys.fn);
  return o;
}

/** An integer in [min, max]; omitted gives `dflt` (required when dflt is undefined). */
export function checkInteger(value: unknown, name: string, min: number, max: number, dflt?: number): number {
  if (value === undefined && dflt !== undefined) return dflt;
  return validateInteger(value, name, max, min);
}

export function checkBoolean(value: unknown, name: string, dflt: boolean): boolean {
  return value === undefined ? dflt : validateBoolean(value, name);
}

export function checkFunction<F>(value: unknown, name: string): F {
  return validateFunction<F>(value, name);
}

export function checkString(value: unknown, name: string, dflt: string): string {
  return value === undefined ? dflt : validateString(value, name);
}

export function checkEnum<T extends string>(value: unknown, name: string, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value !== 'string') validateString(value, name);
  return validateOneOf(value, name, allowed);
}
