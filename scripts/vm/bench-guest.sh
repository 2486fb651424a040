#!/bin/sh
# Runs inside the VM, chrooted into the host's root (scripts/vm/guest-init.sh):
# `bench lab` with every mode on Debian's kernel, ipvs included. Progress lines
# go to the serial console; the results go to the job share, where the host
# (src/bench/lab/vm.ts) reads them.
#
#   bench-guest.sh REPO NODE [bench lab arguments]
set -u
repo=$1
node=$2
shift 2
out=/run/ekp-vm
. "$(dirname "$0")/guest-prepare.sh"

# stderr (the progress lines) through a pipe: the console is a terminal, and the
# progress bar would redraw one line forever instead of printing lines.
{ EKP_IN_VM=1 "$node" bin/ebpf-kube-proxy.js bench lab "$@" --json --out "$out/results" 2>&1 > "$out/result.json"
  echo $? > "$out/bench.status"; } | cat
status=$(cat "$out/bench.status" 2>/dev/null || echo 98)
echo "EKP-VM: bench exited $status"
exit $status
