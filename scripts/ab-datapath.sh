#!/usr/bin/env bash
# A/B of the eBPF datapath: this tree against another git revision, interleaved in
# one process (this machine is shared and noisy; only ratios from one run compare).
#
#   bash scripts/ab-datapath.sh REV [ROUNDS] [SERVICES]     e.g. REV = main, HEAD~3
#   ROUTED=1 bash scripts/ab-datapath.sh REV ...
#
# REV's TypeScript and BPF objects are built into a temporary root (its own ABI
# codec goes with its objects); both sides run the datapath bench's rig. Needs root.
# Like `bench datapath`, it runs in the calling netns, where forwarding is usually
# off and tc's FIB lookup stops early. ROUTED=1 runs it in a scratch netns with
# forwarding on and routes to the bench's addresses, so the lookup succeeds and tc
# redirects, as on a node.
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
for src in "$tmp"/bpf/*.bpf.c; do
  clang -target bpf -O2 -g -Wall -Werror "-I/usr/include/$multiarch" -I"$tmp/bpf/include" -I"$tmp/bpf" \
    -c "$src" -o "$tmp/build/Release/bpf/$(basename "$src" .c).o"
done
(cd "$tmp" && npx tsc -p tsconfig.build.json)
run=(node scripts/ab-datapath.mjs "$rounds" "$services" "$rev=$tmp" "this tree=$PWD")
if [ "${ROUTED:-}" = 1 ]; then
  # shellcheck disable=SC2016
  unshare --net bash -euc '
    ip link set lo up
    ip link add ab0 type veth peer name ab1
    ip link set ab0 up; ip link set ab1 up
    ip addr add 172.18.0.2/24 dev ab0
    ip neigh add 172.18.0.1 lladdr 02:00:00:00:00:01 dev ab0 nud permanent
    for net in 10.96.0.0/12 10.128.0.0/9 100.64.0.0/10 198.18.0.0/15 203.0.113.0/24; do ip route add "$net" via 172.18.0.1; done
    sysctl -qw net.ipv4.ip_forward=1
    exec "$@"' ab "${run[@]}"
else
  "${run[@]}"
fi
