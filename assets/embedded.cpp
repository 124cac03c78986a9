#include "assets/embedded.h"

namespace banger::assets {

const EmbeddedFile* FindEmbedded(std::string_view name) {
  for (const EmbeddedFile& file : EmbeddedFiles()) {
    if (file.name == name) return &file;
  }
  return nullptr;
}

}  // namespace banger::assets
