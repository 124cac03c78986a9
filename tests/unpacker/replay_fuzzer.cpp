// libFuzzer target for the unpacker's tar-to-tree path: any bytes, as a layer (gzip,
// zstd or tar, sniffed), replayed into a tree and streamed out. Errors are fine;
// crashes, leaks and undefined behaviour are not. The stream it writes must decode.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

#include "ipc/fd.h"
#include "ipc/tree_stream.h"
#include "unpacker/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  UniqueFd layer(::memfd_create("layer", MFD_CLOEXEC));
  UniqueFd spool(::memfd_create("spool", MFD_CLOEXEC));
  UniqueFd tree(::memfd_create("tree", MFD_CLOEXEC));
  if (::write(layer.get(), data, size) != static_cast<ssize_t>(size)) return 0;
  unpacker::ReplayLimits limits;
  limits.stream.max_uncompressed_bytes = 8 << 20;
  limits.tree.max_entries = 4096;
  limits.tree.max_depth = 256;
  // The diff_id cannot match by chance; replay still parses everything before checking it.
  std::vector<unpacker::LayerInput> layers = {{layer.get(), "sha256:" + std::string(64, 'f'), "fuzz"}};
  auto outcome = unpacker::ReplayLayers(layers, {"sha256:" + std::string(64, '0')}, spool.get(), tree.get(), limits);
  if (outcome) std::abort();  // impossible: the diff_id is wrong
  if (outcome.error().message.empty()) std::abort();
  return 0;
}
