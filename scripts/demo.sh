#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 machine (as root): install what is
# needed, build banger, start the real distribution registry on 127.0.0.1 with its own
# config, build a small real image (busybox-static) and push it, then
# `banger image pull` it into a bootable rootfs.ext4 and show what came out.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

bash scripts/install-deps.sh all
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed"; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox-static
fi
# Its own build directory: the test suite's stays as the test script configures it.
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DBANGER_BUILD_TESTS=OFF
cmake --build build-demo -j"$(nproc)"

work=$(mktemp -d /tmp/banger-demo-XXXXXX)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo
echo "== the sandbox on this kernel"
./build-demo/bin/banger system status

echo
echo "== a loopback registry (docker-registry, config written under $work)"
/usr/bin/python3 tests/fixtures/registry.py --root "$work/registry" > "$work/registry.out" &
registry_pid=$!
for _ in $(seq 100); do grep -q ready "$work/registry.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*ready port=\([0-9]*\).*/\1/p' "$work/registry.out")
[ -n "$port" ] || { echo "the registry did not start" >&2; exit 1; }
echo "registry on 127.0.0.1:$port"

echo
echo "== a small real image: busybox-static with its applets, users and an os-release"
root="$work/rootfs"
mkdir -p "$root"/{bin,etc,root,tmp,var/log}
cp /bin/busybox "$root/bin/busybox"
for applet in sh ls cat echo mount ps vi ip; do ln -s busybox "$root/bin/$applet"; done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:*:19000:0:99999:7:::\n' > "$root/etc/shadow"
chmod 0640 "$root/etc/shadow"
printf 'ID=busybox\nNAME="BusyBox demo"\n' > "$root/etc/os-release"
/usr/bin/python3 scripts/push_dir.py --dir "$root" --registry "127.0.0.1:$port" --repo demo/busybox --tag 1

echo
echo "== banger image pull"
export BANGER_STATE_DIR="$work/state" BANGER_CACHE_DIR="$work/cache"
./build-demo/bin/banger image pull "127.0.0.1:$port/demo/busybox:1" --kernel-ref generic-6.12
./build-demo/bin/banger image list
image=$(ls -d "$BANGER_STATE_DIR"/images/*/)
echo
echo "== what came out"
cat "$image/image.json"
ls -ls "$image/rootfs.ext4"
e2fsck -fn "$image/rootfs.ext4"
debugfs -R 'ls -l /bin' "$image/rootfs.ext4" 2>/dev/null | head -5
debugfs -R 'stat /etc/shadow' "$image/rootfs.ext4" 2>/dev/null | grep -E 'Mode|User'
debugfs -R 'stat /tmp' "$image/rootfs.ext4" 2>/dev/null | grep -E 'Mode'
echo "banger's guest files:"
debugfs -R 'ls -l /usr/local/bin' "$image/rootfs.ext4" 2>/dev/null | grep banger
debugfs -R 'ls -l /usr/local/libexec' "$image/rootfs.ext4" 2>/dev/null | grep banger
echo
echo "demo done: the rootfs above was pulled from a registry, unpacked and written by sandboxed helpers"
