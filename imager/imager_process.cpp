#include "imager/imager_process.h"

#include <ext2fs/ext2fs.h>
#include <malloc.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "imager/ext4_writer.h"
#include "imager/sizing.h"
#include "base/digest.h"
#include "ipc/tree_stream.h"
#include "security/helper_session.h"

namespace banger::imager {
namespace {

using nlohmann::json;

constexpr int kHeapFillByte = 0xff;  // allocations read as 0x00 (the complement)

Result<std::array<uint8_t, 16>> Hex16(const json& body, const char* key) {
  std::array<uint8_t, 16> out{};
  std::string hex = body.value(key, "");
  if (hex.size() != 32) return Error{ErrorCode::kMalformed, std::string("image request: ") + key + " is not 16 hex bytes"};
  for (size_t i = 0; i < 16; ++i) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error{ErrorCode::kMalformed, std::string("image request: ") + key + " is not hex"};
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

Result<void> Build(ipc::Channel& channel, ipc::Message& request) {
  BANGER_ASSIGN_OR_RETURN(json body, request.Json());
  const int image = request.fds[0].get();
  const int spool = request.fds[1].get();
  ipc::TreeStreamReader tree(request.fds[2].get());
  BANGER_ASSIGN_OR_RETURN(ipc::TreeSummary summary, tree.ReadSummary());
  BANGER_ASSIGN_OR_RETURN(FilesystemPlan plan, PlanFilesystem(summary, body.value("size_bytes", uint64_t{0})));
  FsParameters params;
  params.size_bytes = plan.filesystem_bytes;
  params.inode_count = plan.inode_count;
  BANGER_ASSIGN_OR_RETURN(params.uuid, Hex16(body, "uuid"));
  BANGER_ASSIGN_OR_RETURN(params.hash_seed, Hex16(body, "hash_seed"));
  params.timestamp = body.value("timestamp", 1704067200u);
  if (const auto layers = body.find("layers"); layers != body.end() && layers->is_array() && layers->size() <= 1024) {
    for (const json& layer : *layers) {
      const bool named = layer.is_string() && IsValidDigest(layer.get<std::string>());
      params.layer_names.push_back(named ? "layer " + layer.get<std::string>()
                                         : "layer " + std::to_string(params.layer_names.size()));
    }
  }
  if (::ftruncate(image, 0) != 0 || ::ftruncate(image, static_cast<off_t>(plan.filesystem_bytes)) != 0) {
    return Error::FromErrno("sizing the image file");
  }
  // libext2fs closes the descriptor it is given: it gets a duplicate, ours is flushed after.
  BANGER_ASSIGN_OR_RETURN(UniqueFd for_libext2fs, DupCloexec(image));
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<Ext4Writer> fs, Ext4Writer::Create(std::move(for_libext2fs), image, params));
  uint64_t entries = 0;
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(std::optional<ipc::TreeEntry> entry, tree.Next());
    if (!entry) break;
    ++entries;
    BANGER_TRY(fs->Add(*entry, spool));
  }
  if (entries != summary.entries) {
    return Error{ErrorCode::kMalformed, "the tree stream held " + std::to_string(entries) + " records, its summary " +
                                            std::to_string(summary.entries)};
  }
  BANGER_TRY(fs->Finish());
  if (::fdatasync(image) != 0) return Error::FromErrno("flushing the image");
  return channel.Send(ipc::Message::WithJson(ipc::MessageType::kImageDone,
                                             {{"filesystem_bytes", plan.filesystem_bytes},
                                              {"content_bytes", plan.content_bytes},
                                              {"inodes", plan.inode_count},
                                              {"entries", entries},
                                              {"blocks_used", fs->blocks_used()}}));
}

}  // namespace

int RunImagerProcess() {
  auto initialise = []() -> Result<void> {
    initialize_ext2_error_table();  // com_err tables, so libext2fs errors read as text
    // libext2fs writes some blocks from malloc'd buffers it never clears (an htree leaf
    // split, for one), so their unused tails would hold whatever the heap held and two
    // runs would differ. glibc's perturb option fills every allocation with one byte.
    ::mallopt(M_PERTURB, kHeapFillByte);
    return {};
  };
  auto serve = [](ipc::Channel& channel) -> security::MessageHandler {
    return [&channel](ipc::Message& message) -> Result<bool> {
      if (message.type != ipc::MessageType::kImageBegin) return false;
      BANGER_TRY(Build(channel, message));
      return true;
    };
  };
  return security::RunHelper("banger-imager", security::ProcessKind::kImager, initialise, serve);
}

}  // namespace banger::imager
