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
#include "broker/store/image_store.h"

namespace banger::broker {
namespace {

constexpr const char* kInspectUsage =
    "usage: banger image inspect NAME\n\nPrints an image's record (image.json) with its rootfs path.\n"
    "An admin reaches a tenant's image as OWNER/NAME (docs/multi-tenant.md).\n";
constexpr const char* kRemoveUsage =
    "usage: banger image rm NAME...\n\nRemoves pulled images (their rootfs.ext4 and record).\n"
    "An admin reaches a tenant's image as OWNER/NAME (docs/multi-tenant.md).\n";
constexpr const char* kListUsage =
    "usage: banger image list [--json]\n\nLists the pulled images; for an admin, every tenant's too, with its owner.\n";

// The store an image argument names and the name in it: NAME in the requester's own, or
// for an admin OWNER/NAME in that tenant's.
struct NamedImage {
  ImageStore store;
  std::string name;
};

Result<NamedImage> Locate(const CliContext& context, const std::string& argument) {
  const size_t slash = argument.find('/');
  if (slash == std::string::npos) {
    BANGER_ASSIGN_OR_RETURN(ImageStore store, ImageStore::OpenForReading(context.StateRoot()));
    return NamedImage{std::move(store), argument};
  }
  const std::string owner = argument.substr(0, slash);
  if (!context.requester.admin || !context.env.root) {
    return Error{ErrorCode::kInvalidArgument, "'" + argument + "': OWNER/NAME is for admins; your images are named NAME"};
  }
  const std::optional<uid_t> uid = UserId(owner);
  if (!uid) return Error{ErrorCode::kNotFound, "no user '" + owner + "' (in '" + argument + "')"};
  BANGER_ASSIGN_OR_RETURN(ImageStore store, ImageStore::OpenForReading(context.TenantStateRoot(*uid)));
  return NamedImage{std::move(store), argument.substr(slash + 1)};
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
  auto image = located->store.FindByName(located->name);
  if (!image) return ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + flags.positional[0] + "'"}, "");
  nlohmann::json record = image->record;
  record["rootfs"] = image->rootfs();
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
    auto image = located->store.FindByName(located->name);
    if (!image) {
      status = ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + name + "'"}, "");
      continue;
    }
    if (auto removed = located->store.Remove(*image); !removed) {
      status = ReportError(err, removed.error(), "");
      continue;
    }
    removed_images.push_back({{"image", name}, {"image_id", image->record.value("id", "")}});
    if (!flags.Has("-q")) out << "removed " << name << "\n";
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
    out << std::setw(24) << image.record.value("name", "") << std::setw(18) << image.id << std::setw(10)
        << HumanBytes(image.record.value("filesystem_bytes", uint64_t{0})) << image.record.value("ref", "") << "\n";
  }
  return kExitOk;
}

}  // namespace

const Command& ImageInspectCommand() {
  static const Command command{{"image inspect", kInspectUsage, {}, kOneImageName}, true, Inspect};
  return command;
}

const Command& ImageRemoveCommand() {
  static const Command command{
      {"image rm", kRemoveUsage, {.booleans = {"-q"}}, {1, SIZE_MAX, "takes at least one image name"}}, true, Remove,
      /*audited=*/true};
  return command;
}

const Command& ImageListCommand() {
  static const Command command{{"image list", kListUsage, {.booleans = {"--json"}}}, true, List};
  return command;
}

}  // namespace banger::broker
