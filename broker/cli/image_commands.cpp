#include "broker/cli/commands.h"

#include <cstdint>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/json.h"
#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/store/image_store.h"

namespace banger::broker {
namespace {

constexpr const char* kInspectUsage =
    "usage: banger image inspect NAME\n\nPrints an image's record (image.json) with its rootfs path.\n";
constexpr const char* kRemoveUsage = "usage: banger image rm NAME...\n\nRemoves pulled images (their rootfs.ext4 and record).\n";
constexpr const char* kListUsage = "usage: banger image list [--json]\n\nLists the pulled images.\n";


int Inspect(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto store = ImageStore::Open(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  auto image = store->FindByName(flags.positional[0]);
  if (!image) return ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + flags.positional[0] + "'"}, "");
  nlohmann::json record = image->record;
  record["rootfs"] = image->rootfs();
  out << DumpJson(record, 2) << "\n";
  return kExitOk;
}

int Remove(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto store = ImageStore::Open(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  int status = kExitOk;
  nlohmann::json removed_images = nlohmann::json::array();
  for (const std::string& name : flags.positional) {
    auto image = store->FindByName(name);
    if (!image) {
      status = ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + name + "'"}, "");
      continue;
    }
    if (auto removed = store->Remove(*image); !removed) {
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
  auto store = ImageStore::Open(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  const auto images = store->List();
  if (flags.Has("--json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& image : images) list.push_back(image.record);
    out << DumpJson(list, 2) << "\n";
    return kExitOk;
  }
  out << std::left << std::setw(24) << "NAME" << std::setw(18) << "ID" << std::setw(10) << "SIZE" << "REF\n";
  for (const auto& image : images) {
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
