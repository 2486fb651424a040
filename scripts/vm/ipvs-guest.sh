#!/bin/sh
# Runs inside the test VM, chrooted into the host's root (scripts/vm/guest-init.sh):
# the ipvs end-to-end file (the scenario table in ipvs mode, and auto falling back
# to ipvs), ipvs with pods on a bridge (bridge-cni.test.ts), the guest side of `bench sync --vm` (ipvs at 10 services), and every BPF
# object loaded and run on this kernel (test/e2e/bpf-kernel.test.ts) with vitest. Progress goes to the serial console; vitest's JSON report
# goes to the job share, where the host (test/vm/ipvs.test.ts) reads it.
#
#   ipvs-guest.sh REPO NODE [more vitest arguments]
set -u
repo=$1
node=$2
shift 2
out=/run/ekp-vm
. "$(dirname "$0")/guest-prepare.sh"

start=$(cut -d' ' -f1 /proc/uptime)
# Through a pipe: the serial console is a terminal, and vitest would redraw it.
{ EKP_IN_VM=1 NO_COLOR=1 "$node" node_modules/vitest/vitest.mjs run test/e2e/ipvs.test.ts test/e2e/bridge-cni.test.ts test/e2e/bench-sync-ipvs.test.ts test/e2e/bpf-kernel.test.ts \
    --reporter=verbose --reporter=json --outputFile.json="$out/vitest.json" "$@" 2>&1
  echo $? > "$out/vitest.status"; } | cat
status=$(cat "$out/vitest.status" 2>/dev/null || echo 98)
echo "EKP-VM: vitest exited $status after $(awk -v s="$start" '{printf "%.0f", $1 - s}' /proc/uptime) s"
exit $status
