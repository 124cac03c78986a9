#!/usr/bin/env bash
# Installs every Debian package banger and its test suite need. Idempotent: packages
# already present are left alone, and apt-get runs only when something is missing.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libseccomp-dev libcap-dev libcurl4-openssl-dev nlohmann-json3-dev libarchive-dev
  libext2fs-dev comerr-dev libssl-dev libzstd-dev libisal-dev libsodium-dev
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev clang libclang-rt-14-dev
  # The test script links with mold: two builds' worth of test binaries link in seconds.
  mold
  docker-registry skopeo umoci mmdebstrap qemu-system-x86 linux-image-amd64 e2fsprogs python3 python3-cryptography apache2-utils iproute2 util-linux shellcheck file zstd
  # systemd-analyze checks the guest units and bangerd's (verify, security --offline).
  systemd
  # The shells first-boot.sh is tested under (busybox-static gives busybox ash; it
  # conflicts with busybox, which serves as well where it is installed).
  dash bash busybox-static
  # The man page is rendered (groff, man, col) and the live progress display is read
  # through a terminal (tmux) by the command-line tests.
  groff-base man-db bsdextrautils tmux
)

case "${1:-all}" in
  build) wanted=("${BUILD_PACKAGES[@]}") ;;
  all|test) wanted=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for package in "${wanted[@]}"; do
  if [ "$package" = busybox-static ] && installed busybox; then continue; fi
  if ! installed "$package"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
