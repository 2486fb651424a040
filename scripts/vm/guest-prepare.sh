# Sourced by the guest jobs (ipvs-guest.sh, bench-guest.sh) after they set $repo and $node:
# into the repository, the guest's kernel in the log, ip_vs loaded, and a warm-up — as on a
# node that has been up for a while: the first run of node and of the CLI reads node and its
# modules over 9p and loads the netfilter modules the probe touches; under emulation that
# costs several seconds the lab's 20 s health wait and the benchmark's timings have not.
cd "$repo" || exit 90
echo "EKP-VM: kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
if ! modprobe ip_vs; then echo "EKP-VM: FAILED modprobe ip_vs"; exit 91; fi
# Bridged traffic through netfilter, as a node with a bridge CNI has it (kubeadm requires it);
# Debian builds it as a module. bridge-cni.test.ts needs it in ipvs mode.
modprobe br_netfilter || echo "EKP-VM: no br_netfilter"
"$node" bin/ebpf-kube-proxy.js probe > /dev/null 2>&1
