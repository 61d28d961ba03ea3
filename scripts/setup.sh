#!/usr/bin/env bash
# Install what ferry and its tests need on Debian 12, build the control plane
# (cached outside the repo) and ferry (normal and ASan+UBSan builds).
# Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
step() { printf '\n==> %s\n' "$*"; }

PKGS=(build-essential cmake ninja-build pkg-config git curl ca-certificates openssl
      libnftnl-dev libmnl-dev libcurl4-openssl-dev libjson-c-dev libyaml-dev
      nftables conntrack iproute2 iputils-ping arping ndisc6 bird2 socat tcpdump
      python3 python3-pytest python3-yaml procps psmisc wrk iptables clang libclang-rt-14-dev gobgpd
      valgrind)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ "${CI:-}" = true ]; then
  step "apt-get: ${missing[*]:-(refreshing lists)}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's bird2 package may start a daemon; the tests start their own.
systemctl disable --now bird >/dev/null 2>&1 || true

command -v go >/dev/null || { echo "setup: Go is required (Go 1.26 or newer)" >&2; exit 1; }

step "control plane: Kubernetes and etcd from their Go modules (cached)"
K8S_BIN=$("$REPO/e2e/build-k8s" | tail -n 1)
export K8S_BIN

step "ferry: RelWithDebInfo build (build/) and ASan+UBSan build (build-asan/)"
cmake -S "$REPO" -B "$REPO/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$REPO/build"
cmake -S "$REPO" -B "$REPO/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Asan >/dev/null
ninja -C "$REPO/build-asan"
# What packagers and the Dockerfile build (-O3: warnings the other levels
# miss); built, not tested again.
step "ferry: Release build (build-release/)"
cmake -S "$REPO" -B "$REPO/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$REPO/build-release"
