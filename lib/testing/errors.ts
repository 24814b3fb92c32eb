/**
 * Node-style argument errors for the testing module's own options (crashTest, replayFailure,
 * createSimulatedMapping). Kept local so the simulator does not depend on the native error table.
 * @internal
 */

/** An Error with a Node-style `code`. */
export interface CodedError extends Error {
  code: string;
}

function describeReceived(value: unknown): string {
  if (value === null) return 'Received null';
  if (value === undefined) return 'Received undefined';
  if (typeof value === 'function') {
    return value.name ? `Received function ${value.name}` : 'Received function';
  }
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor;
    return ctor && ctor.name ? `Received an instance of ${ctor.name}` : 'Received [object]';
  }
  let shown = String(value);
  if (typeof value === 'string') {
    if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
    shown = `'${shown}'`;
  } else if (typeof value === 'bigint') {
    shown += 'n';
  }
  return `Received type ${typeof value} (${shown})`;
}

function coded<E extends Error>(err: E, code: string): E & CodedError {
  const e = err as E & CodedError;
  e.code = code;
  // Show the code in the stack's first line as Node does ("TypeError [ERR_X]: ..."), then fall
  // back to the prototype's name.
  e.name = `${err.name} [${code}]`;
  void e.stack;
  delete (e as { name?: string }).name;
  return e;
}

/** TypeError ERR_INVALID_ARG_TYPE. `what` is e.g. 'The "options.size" property'. */
export function invalidArgType(what: string, expected: string, value: unknown): TypeError & CodedError {
  return coded(new TypeError(`${what} must be ${expected}. ${describeReceived(value)}`), 'ERR_INVALID_ARG_TYPE');
}

/** TypeError ERR_INVALID_ARG_VALUE. */
export function invalidArgValue(what: string, reason: string, value: unknown): TypeError & CodedError {
  let shown: string;
  try {
    shown = typeof value === 'string' ? `'${value}'` : typeof value === 'object' ? describeReceived(value).slice(9) : String(value);
  } catch {
    shown = '[value]';
  }
  return coded(new TypeError(`${what} ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

/** RangeError ERR_OUT_OF_RANGE. */
export function outOfRange(name: string, range: string, value: unknown): RangeError & CodedError {
  return coded(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** An Error with an arbitrary code (ERR_PMEM_*). */
export function codedError(code: string, message: string): Error & CodedError {
  return coded(new Error(message), code);
}

/** `options` must be undefined or a plain object. */
export function checkOptionsObject(value: unknown, name: string, required: boolean): Record<string, unknown> {
  if (value === undefined && !required) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(`The "${name}" argument`, 'of type object', value);
  }
  return value as Record<string, unknown>;
}

/** An integer option in [min, max]; `undefined` gives `dflt` (or throws when dflt is undefined). */
export function checkInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
  dflt?: number,
): number {
  if (value === undefined) {
    if (dflt !== undefined) return dflt;
    throw invalidArgType(`The "${name}" property`, 'of type number', value);
  }
  if (typeof value !== 'number') throw invalidArgType(`The "${name}" property`, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}

export function checkBoolean(value: unknown, name: string, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw invalidArgType(`The "${name}" property`, 'of type boolean', value);
  return value;
}

export function checkFunction<F>(value: unknown, name: string): F {
  if (typeof value !== 'function') throw invalidArgType(`The "${name}" property`, 'of type function', value);
  return value as F;
}

export function checkString(value: unknown, name: string, dflt: string): string {
  if (value === undefined) return dflt;
  if (typeof value !== 'string') throw invalidArgType(`The "${name}" property`, 'of type string', value);
  return value;
}

export function checkEnum<T extends string>(value: unknown, name: string, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value !== 'string') throw invalidArgType(`The "${name}" property`, 'of type string', value);
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(`The property '${name}'`, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}
