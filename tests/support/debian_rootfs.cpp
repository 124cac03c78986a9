#include "tests/support/debian_rootfs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/registry_fixture.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

std::string FixtureCache() {
  const std::string dir = std::string(BANGER_BUILD_DIR) + "/test-fixtures";
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

bool Resolves(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Runs `make` unless `path` exists, holding `path`.lock so concurrent tests wait.
bool BuildOnce(const std::string& path, const std::function<bool()>& make) {
  const int lock = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    ADD_FAILURE() << "cannot lock " << path << ".lock";
    if (lock >= 0) ::close(lock);
    return false;
  }
  const bool ok = Resolves(path) || make();
  ::close(lock);
  return ok;
}

}  // namespace

DebianRootfs BookwormSystemd() { return {"bookworm-systemd", {"systemd", "systemd-sysv", "udev", "iproute2"}}; }

DebianRootfs BookwormOpenRc() { return {"bookworm-openrc", {"sysvinit-core", "openrc", "udev", "iproute2"}}; }

std::string DebianRootfsTar(const DebianRootfs& rootfs) {
  const std::string tar = FixtureCache() + "/" + rootfs.name + ".tar";
  const bool ok = BuildOnce(tar, [&] {
    std::string includes;
    for (const auto& p : rootfs.includes) includes += (includes.empty() ? "" : ",") + p;
    const std::string partial = tar + ".partial";
    CommandResult r = RunCommand("mmdebstrap --quiet --format=tar --variant=" + rootfs.variant +
                                 (includes.empty() ? "" : " --include=" + includes) + " bookworm " + partial +
                                 " 2>&1 && mv " + partial + " " + tar);
    if (r.exit_status != 0) ADD_FAILURE() << "mmdebstrap failed: " << r.output;
    return r.exit_status == 0;
  });
  return ok ? tar : "";
}

std::string DebianImageLayout(const DebianRootfs& rootfs, int layers) {
  const std::string tar = DebianRootfsTar(rootfs);
  if (tar.empty()) return "";
  const std::string layout = FixtureCache() + "/" + rootfs.name + "-" + std::to_string(layers) + "-layer.oci";
  const bool ok = BuildOnce(layout, [&] {
    const std::string partial = layout + ".partial";
    CommandResult r = RunCommand("rm -rf " + partial + " && /usr/bin/python3 " + FixturesDir() +
                                 "/rootfs_image.py --rootfs " + tar + " --out " + partial + " --tag image --layers " +
                                 std::to_string(layers) + " --level 1 >/dev/null && mv " + partial + " " + layout);
    if (r.exit_status != 0) ADD_FAILURE() << "rootfs_image.py failed: " << r.output;
    return r.exit_status == 0;
  });
  return ok ? layout : "";
}

}  // namespace banger::testing
