#!/bin/sh
# Runs inside the test VM, chrooted into the host's root (scripts/vm/guest-init.sh):
# the ipvs end-to-end file (the scenario table in ipvs mode, and auto falling back
# to ipvs) with vitest. Progress goes to the serial console; vitest's JSON report
# goes to the job share, where the host (test/vm/ipvs.test.ts) reads it.
#
#   ipvs-guest.sh REPO NODE [more vitest arguments]
set -u
repo=$1
node=$2
shift 2
out=/run/ekp-vm
cd "$repo" || exit 90

echo "EKP-VM: kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
if ! modprobe ip_vs; then echo "EKP-VM: FAILED modprobe ip_vs"; exit 91; fi

# Warm-up, as on a node that has been up for a while: the first run of node and of the
# CLI reads node and its modules over 9p and loads the netfilter modules the probe
# touches; under emulation that costs several seconds the lab's 20 s health wait has not.
"$node" bin/ebpf-kube-proxy.js probe > /dev/null 2>&1

start=$(cut -d' ' -f1 /proc/uptime)
# Through a pipe: the serial console is a terminal, and vitest would redraw it.
{ EKP_IN_VM=1 NO_COLOR=1 "$node" node_modules/vitest/vitest.mjs run test/e2e/ipvs.test.ts \
    --reporter=verbose --reporter=json --outputFile.json="$out/vitest.json" "$@" 2>&1
  echo $? > "$out/vitest.status"; } | cat
status=$(cat "$out/vitest.status" 2>/dev/null || echo 98)
echo "EKP-VM: vitest exited $status after $(awk -v s="$start" '{printf "%.0f", $1 - s}' /proc/uptime) s"
exit $status
