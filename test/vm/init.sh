#!/bin/busybox sh
# /init of node-pmem's test guest (PID 1, from the busybox initramfs built by test/vm/provision.ts).
#
# 1. loads the NFIT/libnvdimm and CXL modules, waits for the ACPI NVDIMM regions, then loads virtio-pmem, 9p,
#    overlayfs and the filesystems (the order keeps NFIT regions ahead of virtio-pmem's);
# 2. mounts the host's / (9p, read-only) under an overlayfs with a tmpfs upper layer, so the guest runs the
#    host's node, ndctl and mkfs and sees the repository (and the host's /tmp) at their host paths;
# 3. mounts the writable 9p share "job" at its host path (nodepmem.job=<path> on the kernel command line),
#    runs <path>/job.sh in that root, writes its exit status to <path>/exit-code;
# 4. powers off WITHOUT syncing (poweroff -n -f): whatever the tests did not make durable themselves is
#    lost, as at a power failure. Results on the 9p share are written through to the host as they go.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "node-pmem-vm: $*"; }
halt_now() { say "powering off"; poweroff -n -f; sleep 10; }
die() { say "FATAL: $*"; halt_now; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

load() {
  while read -r ko; do
    [ -n "$ko" ] || continue
    insmod "/lib/modules/$ko" 2>/tmp/insmod.err || say "insmod $ko: $(cat /tmp/insmod.err)"
  done < "$1"
}

load /etc/modules.stage1
if [ -e /sys/firmware/acpi/tables/NFIT ]; then
  i=0
  until ls /sys/bus/nd/devices 2>/dev/null | grep -q '^region'; do
    i=$((i + 1))
    [ "$i" -le 200 ] || { say "no NFIT region after 10 s"; break; }
    usleep 50000
  done
fi
load /etc/modules.stage2

JOB=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    nodepmem.job=*) JOB="${arg#nodepmem.job=}" ;;
  esac
done
[ -n "$JOB" ] || die "no nodepmem.job= on the kernel command line"

mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower || die "mounting the host root (9p) failed"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || die "overlayfs failed"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $R/run
mkdir -p "$R$JOB"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job "$R$JOB" || die "mounting the job share (9p) failed"
# Some tools want /etc/mtab and a hostname of their own.
ln -sf /proc/self/mounts $R/etc/mtab
hostname node-pmem-vm

say "running $JOB/job.sh"
chroot $R /bin/sh "$JOB/job.sh"
rc=$?
echo "$rc" > "$R$JOB/exit-code"
say "job.sh exited with status $rc"
halt_now
