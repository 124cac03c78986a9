// Real Debian root filesystems for the tests that need one (the bookworm comparison,
// the boot tests, the benchmarks): built with mmdebstrap from the machine's own apt
// sources, once per build tree, and kept under build/test-fixtures/.
#pragma once

#include <string>
#include <vector>

namespace banger::testing {

struct DebianRootfs {
  std::string name;                   // file name stem, e.g. "bookworm-systemd"
  std::vector<std::string> includes;  // --include packages
  std::string variant = "minbase";
};

// The bookworm minbase + systemd, systemd-sysv, udev, iproute2 of issue 5.
DebianRootfs BookwormSystemd();
// The same without systemd: sysvinit-core and OpenRC (issue 7's OpenRC guest).
DebianRootfs BookwormOpenRc();

// Path of the rootfs tarball, built now if it is missing (under a lock, so parallel tests
// build it once). Fails the calling test and returns "" when mmdebstrap fails.
std::string DebianRootfsTar(const DebianRootfs& rootfs);

// An OCI image layout made from that tarball by tests/fixtures/rootfs_image.py, with
// `layers` 1 or 3 (see that script for the split); cached beside the tarball.
std::string DebianImageLayout(const DebianRootfs& rootfs, int layers);

}  // namespace banger::testing
