/** DAX state of files, directories and devices (statx, FS_XFLAG_DAX, BLKDAXGET/BLKDAXSET). */
import { native } from './binding';
import type { CpuInfo, DaxState } from './types';
import { validateBoolean, validatePath } from './validate';

/**
 * Reads the DAX state: statx STATX_ATTR_DAX (effective) and FS_XFLAG_DAX (per-inode flag) for
 * files and directories; BLKDAXGET for block devices, which current kernels answer with an error
 * (ENOTTY from /dev/pmemN, EINVAL from loop) thrown with its explanation; device-dax is always DAX.
 */
export function getDax(path: string | Buffer | URL): DaxState {
  return native.getDax(validatePath(path));
}

/** Sets FS_XFLAG_DAX on a file or directory (or issues BLKDAXSET on a block device). */
export function setDax(path: string | Buffer | URL, enabled: boolean): DaxState {
  const p = validatePath(path);
  return native.setDax(p, validateBoolean(enabled, 'enabled'));
}

/** The CPU's flush and non-temporal store support, and which routines node-pmem chose. */
export function cpuInfo(): CpuInfo {
  return native.cpuInfo();
}

/** Mappings of this thread that are still mapped (closed ones with in-flight work count until it ends). */
export function liveMappings(): number {
  return native.liveMappings();
}
