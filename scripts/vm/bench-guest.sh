#!/bin/sh
# Runs inside the VM, chrooted into the host's root (scripts/vm/guest-init.sh):
# one benchmark suite (`bench lab`, `bench sync`) with every mode on Debian's
# kernel, ipvs included. Progress lines go to the serial console; the JSON
# result goes to the job share, where the host (src/bench/lab/vm.ts,
# src/bench/sync-vm.ts) reads it.
#
#   bench-guest.sh REPO NODE SUITE [suite arguments]
set -u
repo=$1
node=$2
shift 2
out=/run/ekp-vm
. "$(dirname "$0")/guest-prepare.sh"

# stderr (the progress lines) through a pipe: the console is a terminal, and the
# progress bar would redraw one line forever instead of printing lines.
{ EKP_IN_VM=1 "$node" bin/ebpf-kube-proxy.js bench "$@" --json 2>&1 > "$out/result.json"
  echo $? > "$out/bench.status"; } | tr '\r' '\n'
status=$(cat "$out/bench.status" 2>/dev/null || echo 98)
echo "EKP-VM: bench exited $status"
exit $status
