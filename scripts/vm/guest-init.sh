#!/bin/busybox sh
# /init of the test VM's initramfs (see src/vm/qemu.ts, which builds it).
#
# The guest runs the host's own userland: the host root arrives read-only over
# 9p (tag "host") and the job runs chrooted into it, so node, ipvsadm, ipset and
# iptables are exactly the host's. Writable places are the guest's own: tmpfs on
# /tmp, /run and /var/tmp, an overlay (tmpfs upper) on the repository, and the
# job share (tag "job", a host temp directory) for the script and its results.
# Everything the job prints goes to the serial console, which the host parses;
# then the VM powers off.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /host /newroot
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

say() { echo "EKP-VM: $*" > /dev/console; }
fail() { say "FAILED $*"; echo "EKP-VM-EXIT 99" > /dev/console; poweroff -f; }

# Modules that mounting the host root needs, in dependency order (insmod
# lines as `modprobe --show-depends` printed them on the host).
while read -r path params; do
  [ -n "$path" ] || continue
  insmod "$path" $params 2>/dev/null
done < /modules.order

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host || fail "mount host root"

# Module auto-loading (ip_vs schedulers, ipset types, xt matches, veth, dummy…)
# runs the host root's modprobe against its /lib/modules.
echo /sbin/ekp-modprobe > /proc/sys/kernel/modprobe

for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "/host/$d" || fail "tmpfs /$d"; done
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
mount -t cgroup2 cgroup2 /host/sys/fs/cgroup || fail "cgroup2"
mount -t bpf bpf /host/sys/fs/bpf 2>/dev/null

# The job share: the script to run and where results go.
mkdir -p /host/run/ekp-vm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /host/run/ekp-vm || fail "mount job share"

# The repository, made writable by an overlay (vite and vitest write caches
# under node_modules). Its path arrives in the job share.
repo=$(cat /host/run/ekp-vm/repo)
mkdir -p /ovl
mount -t tmpfs tmpfs /ovl
mkdir -p /ovl/upper /ovl/work /ovl/lower
# Under /tmp or /run the repository is hidden by the guest's tmpfs: the host
# exports it separately (tag "repo") for that case; otherwise it is in the host root.
if [ -e /host/run/ekp-vm/repo-share ] && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose repo /ovl/lower; then
  lower=/ovl/lower
else
  lower=/host$repo
fi
mkdir -p "/host$repo"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=/ovl/upper,workdir=/ovl/work" "/host$repo" || fail "overlay on $repo"

# crc32c-intel needs SSE4.2, which the emulated CPU may lack: the generic one
# first, so that libcrc32c (nf_conntrack, ip_vs) loads.
chroot /host /sbin/modprobe crc32c_generic 2>/dev/null
chroot /host /sbin/ip link set lo up

say "booted in $(cut -d' ' -f1 /proc/uptime) s"
chroot /host /usr/bin/env -i HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  /bin/sh /run/ekp-vm/job.sh > /dev/console 2>&1
echo "EKP-VM-EXIT $?" > /dev/console
sync
poweroff -f
