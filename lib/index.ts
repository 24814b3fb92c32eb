/** node-pmem: persistent memory for Node.js. */
export { open } from './open';
export { Mapping } from './mapping';
export type { RegionInfo } from './mapping';
export { getDax, setDax, cpuInfo, liveMappings } from './dax';
export type { ErrorCode, PmemError } from './errors';
export type {
  CpuInfo,
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
