// banger's guest files, injected as the image's last layer: replayed by the same
// LayerTree as every layer, so parent symlinks resolve inside the image, a path the
// image already has is replaced (and reported), and the sizing counts them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/platform.h"
#include "base/result.h"
#include "unpacker/layer_tree.h"
#include "unpacker/spool_writer.h"

namespace banger::unpacker {

// Which init system the image boots with, as far as its files tell.
enum class GuestInit { kNone, kSystemd, kOpenRc, kBoth };
const char* GuestInitName(GuestInit init);

struct GuestInjection {
  GuestInit init = GuestInit::kNone;
  std::vector<std::string> injected;  // guest paths banger wrote
  std::vector<std::string> replaced;  // image paths banger's files replaced
  std::vector<std::string> warnings;
};

// Bytes of an embedded asset by its name under assets/; nullopt when it is missing.
using AssetSource = std::function<std::optional<std::string_view>(std::string_view name)>;

struct GuestAssetOptions {
  uint32_t layer_index = 0;       // one past the image's last layer
  int64_t timestamp = 1704067200;  // every injected inode's times, for reproducibility
  Platform image_platform;         // from the image config: the agent must run there
};

// Whether an ELF executable (its header) runs on `platform`: a Linux image of the
// architecture its e_machine and class name. The agent is never injected otherwise.
Result<void> CheckAgentRunsOn(std::string_view elf, const Platform& platform);

GuestInit DetectGuestInit(LayerTree& tree);

Result<GuestInjection> InjectGuestAssets(LayerTree& tree, SpoolWriter& spool, const AssetSource& source,
                                         const GuestAssetOptions& options);

}  // namespace banger::unpacker
