/** node-pmem: persistent memory for Node.js. */
// The public types use Buffer and other Node types: kept in the emitted .d.ts so a consumer gets them
// (or a plain "cannot find type definition file for 'node'") without listing "node" in its own config.
/// <reference types="node" preserve="true" />
export { open } from './open';
export { Mapping } from './mapping';
export type { RegionInfo } from './mapping';
export { getDax, setDax, cpuInfo, liveMappings } from './dax';
export type { ErrorCode, PmemError } from './errors';
export type {
  CpuInfo,
  CpuInfoX64,
  CpuInfoArm64,
  CpuInfoOther,
  DaxState,
  Granularity,
  LockMode,
  MappingKind,
  OpenOptions,
  PersistDirtyResult,
  WriteOptions,
} from './types';
export { deviceInfo } from './device-info';
export type { ByteRange, DeviceInfo, FilesystemInfo } from './device-info';
