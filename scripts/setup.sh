#!/usr/bin/env bash
# Brings a machine from "Node, npm, git and root" to "ready to run and test":
# Debian packages, npm dependencies, the native addon, the BPF objects and the
# TypeScript build. Every step checks first, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

# Build: clang/libbpf for the datapath and addon. Run and test: the tools the
# fallback modes and the network-namespace lab drive.
packages=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool make g++ python3
  iproute2 iputils-ping nftables iptables ipset conntrack util-linux procps
  # e2e: a pod veth without checksum offload, so the stack checksums translated packets in software
  ethtool
  # ipvs mode, and the qemu VM that tests it (test/vm/): this host's kernel has no IP_VS,
  # Debian's packaged kernel has; the guest runs this machine's userland over 9p
  # (curl: `bench lab` checks each mode's path with it, here and in the guest).
  ipvsadm kmod curl qemu-system-x86 linux-image-amd64 busybox-static
  # the lab benchmark's load generator (`bench lab`): Node cannot drive enough load to measure a kernel path
  wrk
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci whenever node_modules was not installed from this exact lockfile. It
# runs the package's install script, which builds the addon and BPF objects.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.ekp-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.ekp-lock-hash
fi

# gyp evaluates the source list at configure time: reconfigure when binding.gyp
# or the set of BPF sources changes, then let make rebuild only what changed.
config_hash=$( { cat binding.gyp; find bpf test/native/fixtures -maxdepth 1 -name '*.bpf.c' 2>/dev/null | sort || true; find bpf -name '*.h' 2>/dev/null | sort || true; } | sha256sum | cut -d' ' -f1)
if [ ! -f build/Makefile ] || [ "$(cat build/.ekp-config-hash 2>/dev/null)" != "$config_hash" ]; then
  log "configuring the native build"
  npm run -s gyp -- configure --loglevel=error
  echo "$config_hash" > build/.ekp-config-hash
fi
npm run -s gyp -- build --loglevel=error >/dev/null
npx tsc -p tsconfig.build.json
