/**
 * node-pmem/level builds on abstract-level, an optional peer dependency (so that node-pmem itself
 * depends on nothing but its loader). index.ts imports this module first: without it, a missing
 * abstract-level would surface as a bare MODULE_NOT_FOUND from inside node-pmem's dist/, and an
 * abstract-level of another major version as failures far from their cause.
 */
import { pmemError, type PmemError } from '../errors';

/** The abstract-level major version this adapter is written (and tested) against: peerDependencies says ^3. */
export const ABSTRACT_LEVEL_MAJOR = 3;

/**
 * Throws ERR_PMEM_PEER_DEPENDENCY unless the abstract-level that `require` resolves from `from`
 * (a directory) exists and is of major version 3. Returns the version found.
 */
export function checkAbstractLevel(from: string): string {
  let manifest: string;
  try {
    manifest = require.resolve('abstract-level/package.json', { paths: [from] });
  } catch (cause) {
    throw peerError(
      'node-pmem/level needs the package abstract-level (version 3), an optional peer dependency of node-pmem, ' +
        `and it is not installed where ${from} can find it: npm install abstract-level@${ABSTRACT_LEVEL_MAJOR}`,
      cause,
    );
  }
  const { version } = require(manifest) as { version?: unknown };
  if (typeof version !== 'string' || Number.parseInt(version, 10) !== ABSTRACT_LEVEL_MAJOR) {
    throw peerError(
      `node-pmem/level needs abstract-level ${ABSTRACT_LEVEL_MAJOR}.x; ${manifest} is version ${String(version)}: ` +
        `npm install abstract-level@${ABSTRACT_LEVEL_MAJOR}`,
    );
  }
  return version;
}

function peerError(message: string, cause?: unknown): PmemError {
  const error = pmemError('ERR_PMEM_PEER_DEPENDENCY', message);
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

checkAbstractLevel(__dirname);
