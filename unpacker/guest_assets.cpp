#include "unpacker/guest_assets.h"

#include <string>
#include <vector>

namespace banger::unpacker {
namespace {

enum class For { kEvery, kSystemd, kOpenRc };

constexpr const char* kAgentAsset = "agent/banger-vsock-agent";

struct GuestPath {
  For init;
  std::string path;
  ipc::EntryKind kind;  // regular file or symlink
  uint32_t mode;
  std::string source;   // embedded asset name ("": an empty file), or symlink target
};

// docs/architecture.md, "Guest assets". Units are enabled the way `systemctl enable` and
// `rc-update add` would: a link in multi-user.target.wants/ or the default runlevel.
const std::vector<GuestPath>& GuestPaths() {
  static const std::vector<GuestPath> paths = [] {
    constexpr auto kFile = ipc::EntryKind::kRegular;
    constexpr auto kLink = ipc::EntryKind::kSymlink;
    std::vector<GuestPath> out = {
        {For::kEvery, "/usr/local/bin/banger-vsock-agent", kFile, 0755, kAgentAsset},
        {For::kEvery, "/usr/local/libexec/banger-network-bootstrap", kLink, 0777, "/usr/local/bin/banger-vsock-agent"},
        {For::kEvery, "/usr/local/libexec/banger-first-boot", kFile, 0755, "first-boot.sh"},
        {For::kEvery, "/etc/modules-load.d/banger-vsock.conf", kFile, 0644, "modules-load/banger-vsock.conf"},
        {For::kEvery, "/var/lib/banger/first-boot-pending", kFile, 0644, ""},
    };
    const char* kServices[] = {"banger-network", "banger-first-boot", "banger-vsock-agent"};
    for (const std::string service : kServices) {
      out.push_back({For::kSystemd, "/etc/systemd/system/" + service + ".service", kFile, 0644,
                     "systemd/" + service + ".service"});
    }
    for (const std::string service : kServices) {
      out.push_back({For::kSystemd, "/etc/systemd/system/multi-user.target.wants/" + service + ".service", kLink,
                     0777, "/etc/systemd/system/" + service + ".service"});
    }
    for (const std::string service : kServices) {
      out.push_back({For::kOpenRc, "/etc/init.d/" + service, kFile, 0755, "openrc/" + service});
    }
    for (const std::string service : kServices) {
      out.push_back({For::kOpenRc, "/etc/runlevels/default/" + service, kLink, 0777, "/etc/init.d/" + service});
    }
    return out;
  }();
  return paths;
}

// ELF e_machine (and class) of each architecture an OCI config may name.
struct ElfTarget {
  const char* architecture;
  uint16_t machine;
  bool wide;  // ELFCLASS64
};
constexpr ElfTarget kElfTargets[] = {
    {"amd64", 62, true},   {"arm64", 183, true}, {"386", 3, false},     {"arm", 40, false},
    {"riscv64", 243, true}, {"ppc64le", 21, true}, {"s390x", 22, true}, {"loong64", 258, true},
};

bool IsRegular(LayerTree& tree, const char* path) {
  return tree.KindAt(path, /*follow_final=*/true) == ipc::EntryKind::kRegular;
}

class Injector {
 public:
  Injector(LayerTree& tree, SpoolWriter& spool, const GuestAssetOptions& options)
      : tree_(tree), spool_(spool), time_{options.timestamp, 0} {}

  Result<void> Put(const GuestPath& item, std::string_view bytes) {
    const std::string path = item.path;
    for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      BANGER_TRY(EnsureDirectory(path.substr(0, slash)));
    }
    // Root runs these files: no one but root may replace them or a directory on the way
    // to them, whether the path names it or one of the image's symlinks leads through it.
    for (size_t slash = 0; slash != std::string::npos; slash = path.find('/', slash + 1)) {
      for (const std::string& changed : tree_.MakeRootOnly(slash == 0 ? "/" : path.substr(0, slash))) {
        result_.warnings.push_back("banger made the image's directory " + changed +
                                   " root-owned and not group- or world-writable: " + path + " below it runs as root");
      }
    }
    if (auto existing = tree_.KindAt(path, /*follow_final=*/false)) NoteReplaced(path, *existing);
    TarEntry entry = Entry(path, item.kind, item.mode);
    if (item.kind == ipc::EntryKind::kSymlink) entry.symlink_target = item.source;
    entry.size = item.kind == ipc::EntryKind::kRegular ? bytes.size() : 0;
    BANGER_TRY(tree_.Apply(entry, [&]() -> Result<std::vector<ipc::Extent>> {
      BANGER_TRY(spool_.Append(0, bytes.data(), bytes.size()));
      return spool_.TakeExtents();
    }));
    result_.injected.push_back(path);
    return {};
  }

  GuestInjection Take() { return std::move(result_); }
  GuestInjection& result() { return result_; }

 private:
  // A parent banger needs: kept when the image has it (a symlink to a directory
  // included), otherwise made 0755 root, replacing whatever blocked it.
  Result<void> EnsureDirectory(const std::string& path) {
    if (tree_.KindAt(path, /*follow_final=*/true) == ipc::EntryKind::kDirectory) return {};
    if (auto existing = tree_.KindAt(path, /*follow_final=*/false)) NoteReplaced(path, *existing);
    return tree_.Apply(Entry(path, ipc::EntryKind::kDirectory, 0755), nullptr);
  }

  void NoteReplaced(const std::string& path, ipc::EntryKind kind) {
    result_.replaced.push_back(path);
    result_.warnings.push_back(std::string("the image's ") + ipc::EntryKindName(kind) + " " + path +
                               " was replaced by banger's");
  }

  TarEntry Entry(const std::string& path, ipc::EntryKind kind, uint32_t mode) const {
    TarEntry entry;
    entry.path = path;
    entry.kind = kind;
    entry.mode = mode;
    entry.mtime = entry.atime = entry.ctime = time_;
    return entry;
  }

  LayerTree& tree_;
  SpoolWriter& spool_;
  ipc::Timestamp time_;
  GuestInjection result_;
};

}  // namespace

Result<void> CheckAgentRunsOn(std::string_view elf, const Platform& platform) {
  const std::string refusal = "banger's guest agent is built for " + GuestAgentPlatform().String() +
                              " only, and the image is " + platform.String() + "; use --no-guest-assets";
  if (elf.size() < 20 || elf.substr(0, 4) != "\x7f" "ELF" || elf[5] != 1) {
    return Error{ErrorCode::kInvalidArgument, "banger's guest agent is not a little-endian ELF executable"};
  }
  const bool wide = elf[4] == 2;
  const uint16_t machine = static_cast<uint16_t>(static_cast<unsigned char>(elf[18]) |
                                                 static_cast<unsigned char>(elf[19]) << 8);
  for (const ElfTarget& target : kElfTargets) {
    if (platform.os == "linux" && platform.architecture == target.architecture) {
      if (machine == target.machine && wide == target.wide) return {};
      break;
    }
  }
  return Error{ErrorCode::kInvalidArgument, refusal};
}

const char* GuestInitName(GuestInit init) {
  switch (init) {
    case GuestInit::kSystemd: return "systemd";
    case GuestInit::kOpenRc: return "openrc";
    case GuestInit::kBoth: return "systemd+openrc";
    case GuestInit::kNone: break;
  }
  return "none";
}

GuestInit DetectGuestInit(LayerTree& tree) {
  const bool systemd = IsRegular(tree, "/usr/lib/systemd/systemd") || IsRegular(tree, "/lib/systemd/systemd");
  const bool openrc = IsRegular(tree, "/sbin/openrc") || IsRegular(tree, "/usr/sbin/openrc");
  if (systemd && openrc) return GuestInit::kBoth;
  if (systemd) return GuestInit::kSystemd;
  return openrc ? GuestInit::kOpenRc : GuestInit::kNone;
}

Result<GuestInjection> InjectGuestAssets(LayerTree& tree, SpoolWriter& spool, const AssetSource& source,
                                         const GuestAssetOptions& options) {
  // Never a foreign binary: the agent's own ELF header decides, not what was built for.
  const auto agent = source(kAgentAsset);
  if (!agent) return Error{ErrorCode::kNotFound, std::string("guest asset ") + kAgentAsset + " is not built in"};
  BANGER_TRY(CheckAgentRunsOn(*agent, options.image_platform));
  tree.BeginLayer(options.layer_index, "banger's guest assets");
  const GuestInit init = DetectGuestInit(tree);
  Injector injector(tree, spool, options);
  injector.result().init = init;
  for (const GuestPath& item : GuestPaths()) {
    const bool wanted = item.init == For::kEvery ||
                        (item.init == For::kSystemd && (init == GuestInit::kSystemd || init == GuestInit::kBoth)) ||
                        (item.init == For::kOpenRc && (init == GuestInit::kOpenRc || init == GuestInit::kBoth));
    if (!wanted) continue;
    std::string_view bytes;
    if (item.kind == ipc::EntryKind::kRegular && !item.source.empty()) {
      auto found = source(item.source);
      if (!found) return Error{ErrorCode::kNotFound, "guest asset " + item.source + " is not built in"};
      bytes = *found;
    }
    BANGER_TRY(injector.Put(item, bytes));
  }
  if (init == GuestInit::kNone) {
    injector.result().warnings.push_back(
        "the image has neither systemd nor OpenRC: banger's agent and scripts are installed but no service is "
        "enabled");
  }
  return injector.Take();
}

}  // namespace banger::unpacker
