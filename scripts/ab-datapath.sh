#!/usr/bin/env bash
# A/B of the eBPF datapath: this tree against another git revision, interleaved in
# one process (this machine is shared and noisy; only ratios from one run compare).
#
#   bash scripts/ab-datapath.sh REV [ROUNDS] [SERVICES]     e.g. REV = main, HEAD~3
#   ROUTED=0 bash scripts/ab-datapath.sh REV ...
#
# REV's TypeScript and BPF objects are built into a temporary root (its own ABI
# codec goes with its objects); both sides run the datapath bench's rig. Needs root.
# Like `bench datapath`, it runs in a scratch netns set up as a node (forwarding on,
# routes to the bench's addresses), so tc's FIB lookup succeeds and tc redirects.
# ROUTED=0 runs it in the calling netns instead, where forwarding is usually off and
# the lookup stops early.
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
# The BPF instruction set REV's binding.gyp asks for (none: clang's default, v1).
mcpu=$(grep -o -m1 -- '"-mcpu=v[0-9]*"' "$tmp/binding.gyp" | tr -d '"' || true)
for src in "$tmp"/bpf/*.bpf.c; do
  clang -target bpf $mcpu -O2 -g -Wall -Werror "-I/usr/include/$multiarch" -I"$tmp/bpf/include" -I"$tmp/bpf" \
    -c "$src" -o "$tmp/build/Release/bpf/$(basename "$src" .c).o"
done
(cd "$tmp" && npx tsc -p tsconfig.build.json)
run=(node scripts/ab-datapath.mjs "$rounds" "$services" "$rev=$tmp" "this tree=$PWD")
if [ "${ROUTED:-1}" = 1 ]; then
  # Like `bench datapath`: in a namespace of its own, set up as a node (src/bench/datapath/netns.ts).
  AB_PARENT_NETNS=$(readlink /proc/self/ns/net) unshare --net -- "${run[@]}"
else
  "${run[@]}"
fi
