#!/usr/bin/env bash
# Installs every Debian 12 package tachyon needs to build, test and benchmark. Idempotent:
# packages already present are left alone, and apt-get runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libssl-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  # Oracles for the differential tests, and the fuzzing toolchain.
  ansible-core python3-jinja2 python3-yaml clang-14 libclang-rt-14-dev
  procps iproute2
  # Debian packages (cpack -G DEB computes Depends with dpkg-shlibdeps, which needs file), and
  # the sshd that the `tachyon agents install` test starts on 127.0.0.1.
  dpkg-dev file openssh-server openssh-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  [[ "$p" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
