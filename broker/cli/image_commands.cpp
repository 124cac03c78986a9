#include "broker/cli/image_commands.h"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/store/image_store.h"

namespace banger::broker {

int RunImageInspectCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err) {
  auto flags = ParseFlags(args, FlagSpec{{}, {"--help", "-h"}, {}});
  if (!flags) return ReportUsage(err, flags.error().message, "image inspect");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << "usage: banger image inspect NAME\n\nPrints an image's record (image.json) with its rootfs path.\n";
    return kExitOk;
  }
  if (flags->positional.size() != 1) return ReportUsage(err, "image inspect takes one image name", "image inspect");
  auto store = ImageStore::Open(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  auto image = store->FindByName(flags->positional[0]);
  if (!image) return ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + flags->positional[0] + "'"}, "");
  nlohmann::json record = image->record;
  record["rootfs"] = image->rootfs();
  out << record.dump(2) << "\n";
  return kExitOk;
}

int RunImageRemoveCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err) {
  auto flags = ParseFlags(args, FlagSpec{{}, {"--help", "-h", "-q"}, {}});
  if (!flags) return ReportUsage(err, flags.error().message, "image rm");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << "usage: banger image rm NAME...\n\nRemoves pulled images (their rootfs.ext4 and record).\n";
    return kExitOk;
  }
  if (flags->positional.empty()) return ReportUsage(err, "image rm takes at least one image name", "image rm");
  auto store = ImageStore::Open(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  int status = kExitOk;
  for (const std::string& name : flags->positional) {
    auto image = store->FindByName(name);
    if (!image) {
      status = ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + name + "'"}, "");
      continue;
    }
    if (auto removed = store->Remove(*image); !removed) {
      status = ReportError(err, removed.error(), "");
      continue;
    }
    if (!flags->Has("-q")) out << "removed " << name << "\n";
  }
  return status;
}

int RunImageListCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  FlagSpec spec{{}, {"--json", "--help", "-h"}, {}};
  auto flags = ParseFlags(args, spec);
  if (!flags) return ReportUsage(err, flags.error().message, "image list");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << "usage: banger image list [--json]\n\nLists the pulled images.\n";
    return kExitOk;
  }
  if (!flags->positional.empty()) return ReportUsage(err, "image list takes no arguments", "image list");
  auto store = ImageStore::Open(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  const auto images = store->List();
  if (flags->Has("--json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& image : images) list.push_back(image.record);
    out << list.dump(2) << "\n";
    return kExitOk;
  }
  out << std::left << std::setw(24) << "NAME" << std::setw(18) << "ID" << std::setw(10) << "SIZE" << "REF\n";
  for (const auto& image : images) {
    out << std::setw(24) << image.record.value("name", "") << std::setw(18) << image.id << std::setw(10)
        << HumanBytes(image.record.value("filesystem_bytes", uint64_t{0})) << image.record.value("ref", "") << "\n";
  }
  return kExitOk;
}

}  // namespace banger::broker
