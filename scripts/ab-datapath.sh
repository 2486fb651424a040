#!/usr/bin/env bash
# A/B of the eBPF datapath: this tree against another git revision, interleaved in
# one process (this machine is shared and noisy; only ratios from one run compare).
#
#   bash scripts/ab-datapath.sh REV [ROUNDS] [SERVICES]     e.g. REV = main, HEAD~3
#
# REV's TypeScript and BPF objects are built into a temporary root (its own ABI
# codec goes with its objects); both sides run the datapath bench's rig. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: ab-datapath.sh REV [ROUNDS] [SERVICES]}
rounds=${2:-15}
services=${3:-10000}
bash scripts/setup.sh >/dev/null
tmp=$(mktemp -d /tmp/ekp-ab.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git archive "$rev" src bpf package.json binding.gyp tsconfig.json tsconfig.build.json | tar -x -C "$tmp"
ln -s "$PWD/node_modules" "$tmp/node_modules"
mkdir -p "$tmp/build/Release/bpf"
ln -s "$PWD/build/Release/ekp_native.node" "$tmp/build/Release/ekp_native.node"
multiarch=$(gcc -print-multiarch)
for o in tc_lb xdp_lb xdp_floor; do
  clang -target bpf -O2 -g -Wall -Werror "-I/usr/include/$multiarch" -I"$tmp/bpf/include" -I"$tmp/bpf" \
    -c "$tmp/bpf/$o.bpf.c" -o "$tmp/build/Release/bpf/$o.bpf.o"
done
(cd "$tmp" && npx tsc -p tsconfig.build.json)
node scripts/ab-datapath.mjs "$rounds" "$services" "$rev=$tmp" "this tree=$PWD"
