// The guest files built into banger at build time (assets/CMakeLists.txt embeds them
// with .incbin), so an installed banger needs no data directory to inject them.
#pragma once

#include <span>
#include <string_view>

namespace banger::assets {

struct EmbeddedFile {
  std::string_view name;   // relative to assets/, e.g. "systemd/banger-network.service"
  std::string_view bytes;
};

std::span<const EmbeddedFile> EmbeddedFiles();
// nullptr when `name` was not embedded.
const EmbeddedFile* FindEmbedded(std::string_view name);

}  // namespace banger::assets
