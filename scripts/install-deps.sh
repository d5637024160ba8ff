#!/usr/bin/env bash
# Installs what Ferry needs to build and test from Debian 12's packages (and npm for the
# JavaScript SDK tests). Does nothing that is already in place; needs root for apt-get.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  librocksdb-dev libjemalloc-dev libssl-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev librabbitmq-dev libnghttp2-dev
  clang clang-format libclang-rt-14-dev
  awscli curl python3-aiosmtpd python3-cbor2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--with-node" ] && [ -f tests/e2e/node/package.json ] &&
   [ ! -d tests/e2e/node/node_modules ]; then
  (cd tests/e2e/node && npm ci --no-audit --no-fund --loglevel=error)
fi
