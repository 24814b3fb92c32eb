/**
 * The emulated persistent-memory devices of the test guest, shared by the host (which creates the
 * backing images and the QEMU command line) and the guest (which finds each device again).
 *
 * The guest never picks a device by number: it lists the regions of one provider
 * (`ndctl list -R -b ACPI.NFIT` or `-b virtio-pmem`) and tells them apart by size, which is why no two
 * devices of one provider have the same size.
 */

export type Provider = 'ACPI.NFIT' | 'virtio-pmem';

export type Role =
  | 'nfit-fsdax'
  | 'nfit-devdax'
  | 'nfit-raw'
  | 'nfit-xfs'
  | 'virtio-fsdax'
  | 'virtio-devdax'
  /** Not pmem: a virtio-blk disk with ext4 (page-cache files, and the power-off control record). */
  | 'disk';

export interface DeviceSpec {
  role: Role;
  provider: Provider;
  /** Size of the persistent region the guest sees (the NFIT image file is this plus the label area). */
  sizeMiB: number;
  /** What the guest makes of it on the first boot. */
  purpose: string;
}

/** Label area of each NFIT NVDIMM, taken by QEMU from the end of the backing file. */
export const LABEL_SIZE = 128 * 1024;

export const DEVICES: readonly DeviceSpec[] = [
  { role: 'nfit-fsdax', provider: 'ACPI.NFIT', sizeMiB: 256, purpose: 'fsdax namespace, ext4 mounted -o dax' },
  { role: 'nfit-devdax', provider: 'ACPI.NFIT', sizeMiB: 128, purpose: 'devdax namespace (/dev/daxX.Y)' },
  { role: 'nfit-raw', provider: 'ACPI.NFIT', sizeMiB: 384, purpose: 'raw namespace, /dev/pmemN used as a block device' },
  { role: 'nfit-xfs', provider: 'ACPI.NFIT', sizeMiB: 512, purpose: 'fsdax namespace, XFS mounted -o dax=inode' },
  { role: 'virtio-fsdax', provider: 'virtio-pmem', sizeMiB: 256, purpose: 'virtio-pmem, ext4 mounted -o dax' },
  { role: 'virtio-devdax', provider: 'virtio-pmem', sizeMiB: 128, purpose: 'devdax namespace on a virtio-pmem region' },
];

/**
 * The CXL boot's Type-3 device: 256 MiB of persistent capacity (one region, two namespaces: fsdax and
 * devdax) and its label storage area, where the namespaces' labels live.
 */
export const CXL_MEM_BYTES = 256 * 1024 * 1024;
export const CXL_LSA_BYTES = 256 * 1024;

/** The virtio-blk disk of a boot, found by the guest by this serial (/sys/block/vdX/serial). */
export const DISK_SERIAL = 'nodepmem-scratch';
/** Size of the device boots' disk (the unit boot's is 32 GiB, sparse). */
export const DISK_BYTES = 256 * 1024 * 1024;

/** Size in bytes of the image file that backs a device. */
export function imageBytes(spec: DeviceSpec): number {
  return spec.sizeMiB * 1024 * 1024 + (spec.provider === 'ACPI.NFIT' ? LABEL_SIZE : 0);
}

/** Mount points in the guest. */
export const MOUNTS = {
  'cxl-fsdax': '/mnt/cxl-fsdax',
  'nfit-fsdax': '/mnt/nfit-fsdax',
  'nfit-xfs': '/mnt/nfit-xfs',
  'virtio-fsdax': '/mnt/virtio-fsdax',
  disk: '/mnt/disk',
} as const;

/** Environment variables of the guest side. */
export const ENV = {
  /** Set (to 1) inside the guest: test/90-vm.test.ts skips itself there instead of recursing. */
  inVm: 'NODE_PMEM_IN_VM',
  /** 'write' on the first boot of a set of images, 'verify' on the second. */
  phase: 'NODE_PMEM_VM_PHASE',
  /** 'none' or 'cpu': the machine's nvdimm-persistence setting. */
  persistence: 'NODE_PMEM_VM_PERSISTENCE',
  /** Random string written on the first boot and expected on the second. */
  token: 'NODE_PMEM_VM_TOKEN',
  /** Directory shared with the host (writable 9p), same path on both sides. */
  jobDir: 'NODE_PMEM_VM_JOB',
} as const;

export type Phase = 'write' | 'verify';
export type Persistence = 'none' | 'cpu';

/** File the guest setup writes into the job directory: what each role turned out to be. */
export const MANIFEST = 'devices.json';

export interface GuestDevice {
  role: Role;
  provider: Provider | 'virtio-blk';
  /** nd region, namespace and its mode (absent for the virtio-blk disk). */
  region?: string;
  /** Contents of regionN/persistence_domain, null when the file is absent. */
  persistenceDomain?: string | null;
  namespace?: string;
  mode?: string;
  /** /dev/pmemN for fsdax and raw namespaces. */
  blockdev?: string;
  /** /dev/daxX.Y for devdax namespaces. */
  chardev?: string;
  /** devdax: /sys/bus/dax/devices/daxX.Y/align and size. */
  align?: number;
  size?: number;
  /** Mount point of the filesystem on it, if any. */
  mount?: string;
  fstype?: string;
}

export interface Manifest {
  phase: Phase;
  persistence: Persistence;
  devices: Record<string, GuestDevice>;
  /** Raw `ndctl list` output, kept as evidence. */
  ndctl: unknown;
}

/** Labels of the durability records the CXL boot writes and the host looks for in its backing file. */
export const CXL_RECORDS = ['cxl-fsdax', 'cxl-devdax'] as const;

/** File the CXL boot's setup writes into the job directory. */
export const CXL_MANIFEST = 'cxl.json';

/** What the CXL boot's setup made, and what deviceInfo() warned before each step. */
export interface CxlManifest {
  memdev: string;
  rootDecoder: string;
  /** The CXL region (`cxl create-region` output) and the nd region cxl_pmem made of it. */
  cxlRegion: string;
  ndRegion: string;
  fsdax: { namespace: string; blockdev: string; mount: string };
  devdax: { namespace: string; chardev: string; align: number; size: number };
  /** deviceInfo('/dev/shm').warnings before `cxl create-region`, before the namespaces, and after. */
  warnings: { beforeRegion: string[]; beforeNamespace: string[]; after: string[] };
  /** Seconds `cxl create-region` took. */
  createRegionSeconds: number;
}
