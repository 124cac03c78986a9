#include "broker/cli/commands.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/fd.h"
#include "base/json.h"
#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/host/accounts.h"
#include "broker/store/files.h"
#include "broker/store/image_lookup.h"
#include "broker/store/image_store.h"

namespace banger::broker {
namespace {

constexpr const char* kInspectUsage =
    "usage: banger image inspect [--json] IMAGE\n\nPrints an image's record (image.json) with its rootfs path, as JSON\n"
    "(--json also makes an error an event on stdout: docs/cli.md).\n"
    "IMAGE is the image's name, its ID or a unique prefix of it, or the reference it was\n"
    "pulled from (debian:bookworm is docker.io/library/debian:bookworm). An admin reaches a\n"
    "tenant's image as OWNER/NAME (docs/multi-tenant.md).\n";
constexpr const char* kRemoveUsage =
    "usage: banger image rm [-q] [--json] IMAGE...\n\nRemoves pulled images (their rootfs.ext4 and record) and prints\n"
    "each one's name and ID (nothing with -q; with --json, a \"removed\" event each).\n"
    "IMAGE is the image's name, its ID or a unique prefix of it, or the reference it was\n"
    "pulled from (debian:bookworm is docker.io/library/debian:bookworm). An admin reaches a\n"
    "tenant's image as OWNER/NAME (docs/multi-tenant.md).\n";
constexpr const char* kListUsage =
    "usage: banger image list [--json]\n\nLists the pulled images; for an admin, every tenant's too, with its owner.\n"
    "SIZE is what the image's rootfs.ext4 takes on disk (the file is sparse: its apparent\n"
    "size is the filesystem's, filesystem_bytes in the record). --json prints an array of\n"
    "image records, each with its rootfs path and allocated_bytes (docs/cli.md).\n";

// The image an argument names (image_lookup.h) in the requester's own store, or, as
// OWNER/NAME with OWNER a user and NAME an image name, in that tenant's (admins only);
// with the store it is in.
struct LocatedImage {
  ImageStore store;
  StoredImage image;
};

Result<LocatedImage> Locate(const CliContext& context, const std::string& argument) {
  const size_t slash = argument.find('/');
  const std::string owner = slash == std::string::npos ? "" : argument.substr(0, slash);
  const std::optional<uid_t> uid = owner.empty() ? std::nullopt : UserId(owner);
  if (!uid || !IsValidImageName(argument.substr(slash + 1))) {
    BANGER_ASSIGN_OR_RETURN(ImageStore store, ImageStore::OpenForReading(context.StateRoot()));
    BANGER_ASSIGN_OR_RETURN(StoredImage image, FindImage(store, argument));
    return LocatedImage{std::move(store), std::move(image)};
  }
  if (!context.requester.admin || !context.env.root) {
    return Error{ErrorCode::kInvalidArgument, "'" + argument + "': OWNER/NAME is for admins; your images are named NAME"};
  }
  BANGER_ASSIGN_OR_RETURN(ImageStore store, ImageStore::OpenForReading(context.TenantStateRoot(*uid)));
  BANGER_ASSIGN_OR_RETURN(StoredImage image, FindImage(store, argument.substr(slash + 1)));
  return LocatedImage{std::move(store), std::move(image)};
}

// The tenants whose images an admin sees beside its own: uid and user name, by uid.
std::vector<std::pair<uint32_t, std::string>> Tenants(const CliContext& context) {
  std::vector<std::pair<uint32_t, std::string>> tenants;
  if (!context.requester.admin || !context.env.root) return tenants;
  auto names = ListDirectory(DirectoryOf(context.TenantStateRoot(0)));
  if (!names) return tenants;  // no tenant has pulled yet
  for (const std::string& name : *names) {
    uint32_t uid = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), uid);
    if (name.empty() || ec != std::errc() || end != name.data() + name.size()) continue;
    if (uid == 0 || (context.requester.through_daemon && uid == context.requester.uid)) continue;
    const std::string user = UserName(uid);
    tenants.emplace_back(uid, user.empty() ? name : user);
  }
  std::sort(tenants.begin(), tenants.end());
  return tenants;
}


int Inspect(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto located = Locate(context, flags.positional[0]);
  if (!located) return ReportError(err, located.error(), "");
  nlohmann::json record = located->image.record;
  record["rootfs"] = located->image.rootfs();
  out << DumpJson(record, 2) << "\n";
  return kExitOk;
}

int Remove(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  int status = kExitOk;
  nlohmann::json removed_images = nlohmann::json::array();
  for (const std::string& name : flags.positional) {
    auto located = Locate(context, name);
    if (!located) {
      status = ReportError(err, located.error(), "");
      continue;
    }
    const StoredImage& image = located->image;
    if (auto removed = located->store.Remove(image); !removed) {
      status = ReportError(err, removed.error(), "");
      continue;
    }
    const std::string removed_name = StringField(image.record, "name");
    removed_images.push_back({{"image", removed_name}, {"image_id", image.id}});
    if (flags.Has("--json")) {
      EmitJsonEvent(out, {{"event", "removed"}, {"name", removed_name}, {"id", image.id}});
    } else if (!flags.Has("-q")) {
      out << "removed " << removed_name << " (" << image.id << ")\n";
    }
  }
  context.Note({{"removed", removed_images}});
  return status;
}

int List(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto store = ImageStore::OpenForReading(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  // The requester's own images, then (for an admin) each tenant's, with its owner.
  std::vector<std::pair<std::string, StoredImage>> images;
  for (auto& image : store->List()) images.emplace_back("", std::move(image));
  const auto tenants = Tenants(context);
  for (const auto& [uid, user] : tenants) {
    auto theirs = ImageStore::OpenForReading(context.TenantStateRoot(uid));
    if (!theirs) return ReportError(err, theirs.error(), "");
    for (auto& image : theirs->List()) images.emplace_back(user, std::move(image));
  }
  const bool owners = !tenants.empty();
  const std::string own = context.requester.user.empty() ? std::to_string(context.requester.uid) : context.requester.user;
  if (flags.Has("--json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [owner, image] : images) {
      list.push_back(image.record);
      list.back()["rootfs"] = image.rootfs();
      // What the sparse rootfs.ext4 takes on disk, not its apparent size (base/fd.h).
      list.back()["allocated_bytes"] = AllocatedBytes(image.rootfs());
      if (owners) list.back()["owner"] = owner.empty() ? own : owner;
    }
    out << DumpJson(list, 2) << "\n";
    return kExitOk;
  }
  out << std::left;
  if (owners) out << std::setw(16) << "OWNER";
  out << std::setw(24) << "NAME" << std::setw(18) << "ID" << std::setw(10) << "SIZE" << "REF\n";
  for (const auto& [owner, image] : images) {
    if (owners) out << std::setw(16) << TerminalSafe(owner.empty() ? own : owner);
    out << std::setw(24) << TerminalSafe(StringField(image.record, "name")) << std::setw(18) << image.id << std::setw(10)
        << HumanBytes(AllocatedBytes(image.rootfs())) << TerminalSafe(StringField(image.record, "ref")) << "\n";
  }
  return kExitOk;
}

}  // namespace

const Command& ImageInspectCommand() {
  static const Command command{{"image inspect", kInspectUsage, {.booleans = {"--json"}}, kOneImageName}, true, Inspect};
  return command;
}

const Command& ImageRemoveCommand() {
  static const Command command{
      {"image rm", kRemoveUsage, {.booleans = {"-q", "--json"}}, {1, SIZE_MAX, "takes at least one image"}}, true, Remove,
      /*audited=*/true};
  return command;
}

const Command& ImageListCommand() {
  static const Command command{{"image list", kListUsage, {.booleans = {"--json"}}}, true, List};
  return command;
}

}  // namespace banger::broker
